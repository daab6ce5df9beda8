//! `cargo xtask srs`: SRS files for the images.
//!
//! `generate` writes the explicitly insecure, deterministic development SRS
//! (its secret is derivable from a constant seed: fine for tests and local
//! demos, worthless as a proof to anyone else). `downsize` turns a large raw
//! SRS into the small one a circuit needs, once, reading only the points it
//! keeps. `verify` checks a file's structure, points, pairing and pin.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use header_chain::srs;
use xshell::Shell;

use crate::hashing::sha256_file;
use crate::project::Project;

#[derive(clap::Args, Debug)]
pub struct SrsFlags {
    #[command(subcommand)]
    pub command: SrsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SrsCommand {
    /// Write the INSECURE deterministic development SRS of degree k.
    Generate {
        #[arg(long)]
        k: u32,
        /// Output file (default: target/srs/kzg_bn254_{k}.INSECURE-DEV.srs).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Write kzg_bn254_{K}.srs from a larger raw SRS file.
    Downsize {
        /// The large raw SRS file.
        #[arg(long)]
        from: PathBuf,
        /// The degree to keep.
        #[arg(long)]
        k: u32,
        /// Output file (default: kzg_bn254_{K}.srs beside the source).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// Load the whole source and downsize in memory, as halo2's
        /// `ParamsKZG::downsize` does (for benchmark comparisons).
        #[arg(long, hide = true)]
        whole_file: bool,
        /// Print time and peak memory as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a raw SRS file: size, header, points, pairing, and its sha256 pin.
    Verify {
        file: PathBuf,
        /// The sha256 the file must have.
        #[arg(long)]
        sha256: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Downsizes `from` to `k` into `out`, with a progress bar over the bytes read.
pub fn downsize(from: &std::path::Path, k: u32, out: &std::path::Path, whole_file: bool) -> Result<()> {
    let total = 4 + (1u64 << k) * srs::G1_BYTES;
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template("reading powers of tau [{bar:30}] {bytes}/{total_bytes}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let t = Instant::now();
    let params = if whole_file {
        let mut params = srs::read(from)?;
        if k > header_chain::halo2_proofs::poly::commitment::Params::k(&params) {
            bail!("{} has a smaller k than {k}", from.display());
        }
        header_chain::halo2_proofs::poly::commitment::Params::downsize(&mut params, k);
        params
    } else {
        srs::downsize(from, k, |n| bar.set_position(n))?
    };
    bar.finish_and_clear();
    let spinner = crate::progress::units("writing (Lagrange points computed)");
    srs::write(&params, out).with_context(|| format!("cannot write {}", out.display()))?;
    spinner.finish_and_clear();
    eprintln!("downsized {} to k = {k} in {:.1} s", from.display(), t.elapsed().as_secs_f64());
    Ok(())
}

/// Where the development SRS of degree k lives by default.
pub fn default_dev_path(project: &Project, k: u32) -> PathBuf {
    project.target_dir.join("srs").join(srs::dev_srs_file_name(k))
}

/// Makes sure the development SRS of degree k exists (generating it once).
pub fn ensure_dev(project: &Project, k: u32) -> Result<PathBuf> {
    let path = default_dev_path(project, k);
    if srs::read_k(&path).ok() == Some(k) {
        return Ok(path);
    }
    generate(&path, k)?;
    Ok(path)
}

fn generate(path: &std::path::Path, k: u32) -> Result<()> {
    if !(1..=srs::MAX_K).contains(&k) {
        bail!("k = {k} is out of range: give 1 <= k <= {}", srs::MAX_K);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let spinner = crate::progress::units(&format!("generating the INSECURE development SRS, k = {k}"));
    let t = Instant::now();
    let params = srs::generate_insecure_dev(k);
    srs::write(&params, path).with_context(|| format!("cannot write {}", path.display()))?;
    spinner.finish_and_clear();
    eprintln!("generated {} in {:.1} s", path.display(), t.elapsed().as_secs_f64());
    Ok(())
}

impl SrsFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        match self.command {
            SrsCommand::Generate { k, out, force } => {
                let path = out.unwrap_or_else(|| default_dev_path(&project, k));
                if path.exists() && !force {
                    bail!("{} exists; pass --force to overwrite it", path.display());
                }
                generate(&path, k)?;
                println!("{}  {}", sha256_file(&path)?, project.show(&path));
                println!("INSECURE: anyone can derive this SRS's secret; use it for development only, never in a deployed image");
            }
            SrsCommand::Downsize { from, k, out, force, whole_file, json } => {
                let out = out.unwrap_or_else(|| from.with_file_name(format!("kzg_bn254_{k}.srs")));
                if out.exists() && !force {
                    bail!("{} exists; pass --force to overwrite it", out.display());
                }
                if out == from {
                    bail!("--out is the source file; choose another path");
                }
                let t = Instant::now();
                downsize(&from, k, &out, whole_file)?;
                let seconds = t.elapsed().as_secs_f64();
                let digest = sha256_file(&out)?;
                if json {
                    let report = serde_json::json!({
                        "seconds": seconds,
                        "peak_rss_bytes": header_chain::metrics::peak_rss_bytes(),
                        "source_bytes": std::fs::metadata(&from)?.len(),
                        "output_bytes": std::fs::metadata(&out)?.len(),
                        "sha256": digest,
                    });
                    println!("{report}");
                } else {
                    println!("{digest}  {}", out.display());
                }
            }
            SrsCommand::Verify { file, sha256, json } => {
                let report = srs::verify_file(&file, sha256.as_deref())?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!(
                        "ok: {} is a raw BN254 SRS of k = {} ({} bytes), points on their curves, pairing check passed, sha256 {}{}",
                        file.display(), report.k, report.bytes, report.sha256,
                        if sha256.is_some() { " (matches the pin)" } else { "" }
                    );
                }
            }
        }
        Ok(())
    }
}

/// The SRS file an image carries: the manifest's source, checked against its
/// pin, downsized once to the manifest's k into a cache keyed by the
/// source's digest and k. The development SRS is generated when missing.
pub fn srs_for_image(
    project: &Project,
    image: &crate::manifest::Image,
    srs_decl: &crate::manifest::SrsSection,
) -> Result<PathBuf> {
    let k = srs_decl.k.get();
    let source = project.host(&srs_decl.source);
    if !source.exists() {
        let from_k = srs::read_k(&source).ok();
        let dev_k = (1..=srs::MAX_K).find(|dk| default_dev_path(project, *dk) == source);
        match (from_k, dev_k) {
            (_, Some(dk)) => {
                ensure_dev(project, dk)?;
            }
            _ => bail!(
                "the SRS {} of image {} does not exist at {}; download the ceremony file its sha256 pin names, or use `cargo xtask srs generate --k {k}` for development{}",
                srs_decl.source,
                image.name,
                source.display(),
                project.moved_target_hint(&srs_decl.source)
            ),
        }
    }
    let digest = sha256_file(&source).with_context(|| format!("cannot read {}", source.display()))?;
    if digest != srs_decl.sha256.as_str() {
        bail!(
            "{} has sha256 {digest}, but {} pins {}: it is not the file the manifest names",
            srs_decl.source,
            image.manifest.display(),
            srs_decl.sha256
        );
    }
    let source_k = srs::read_k(&source)?;
    if source_k == k {
        return Ok(source);
    }
    if source_k < k {
        bail!("{} has k = {source_k}, but {} asks for k = {k}", srs_decl.source, image.manifest.display());
    }
    let cached = project.target_dir.join("srs-cache").join(format!("{digest}-k{k}")).join(format!("kzg_bn254_{k}.srs"));
    if srs::read_k(&cached).ok() != Some(k) {
        std::fs::create_dir_all(cached.parent().expect("has a parent"))?;
        eprintln!("downsizing {} (k = {source_k}) to k = {k}, once", srs_decl.source);
        downsize(&source, k, &cached, false)?;
    }
    Ok(cached)
}
