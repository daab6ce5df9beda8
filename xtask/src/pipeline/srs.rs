//! SRS files for the images (the library behind `cmd/srs.rs`).
//!
//! `generate` writes the explicitly insecure, deterministic development SRS
//! (its secret is derivable from a constant seed: fine for tests and local
//! demos, worthless as a proof to anyone else). `downsize` turns a large raw
//! SRS into the small one a circuit needs, once, reading only the points it
//! keeps. `verify` checks a file's structure, points, pairing and pin.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::pipeline::programs;
use crate::spec::project::Project;
use crate::support::hashing::sha256_file;

/// The largest k a BN254 FFT domain supports.
pub const MAX_K: u32 = 28;
const G1_BYTES: u64 = 64;
const G2_BYTES: u64 = 128;

/// Size in bytes of a raw `kzg_bn254_{k}.srs`: the k header, g and
/// g_lagrange (G1), g2 and s_g2 (G2).
pub fn raw_size(k: u32) -> u64 {
    4 + 2 * (1u64 << k) * G1_BYTES + 2 * G2_BYTES
}

/// File name of the insecure development SRS: unmistakable on purpose.
pub fn dev_srs_file_name(k: u32) -> String {
    format!("kzg_bn254_{k}.INSECURE-DEV.srs")
}

/// The k a raw SRS file declares, when its size agrees with it.
pub fn read_k(path: &Path) -> Result<u32> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot read SRS file {}", path.display()))?;
    let len = file.metadata()?.len();
    let mut header = [0u8; 4];
    file.read_exact(&mut header).with_context(|| format!("SRS file {} is too short for a header", path.display()))?;
    let k = u32::from_le_bytes(header);
    if k > MAX_K || len != raw_size(k) {
        bail!("{} is not a raw kzg_bn254 SRS file (header k = {k}, {len} bytes)", path.display());
    }
    Ok(k)
}

/// Downsizes `from` to `k` into `out` with the prover binary; its JSON report.
pub fn downsize(project: &Project, from: &Path, k: u32, out: &Path, whole_file: bool) -> Result<serde_json::Value> {
    let prover = programs::program(project, programs::PROVER_BIN)?;
    let mut args = crate::os_args!["srs", "downsize", "--from", from, "--k", k.to_string(), "--out", out].to_vec();
    if whole_file {
        args.push("--whole-file".into());
    }
    let spinner = crate::support::progress::units(&format!("downsizing {} to k = {k}", from.display()));
    let report = programs::run_json(&prover, &args);
    spinner.finish_and_clear();
    report
}

/// Where the development SRS of degree k lives by default.
pub fn default_dev_path(project: &Project, k: u32) -> PathBuf {
    project.target_dir.join("srs").join(dev_srs_file_name(k))
}

/// The degree of the development SRS whose default path is `path`, if it is one.
pub fn dev_k_of(project: &Project, path: &Path) -> Option<u32> {
    (1..=MAX_K).find(|k| default_dev_path(project, *k) == path)
}

/// Makes sure the development SRS of degree k exists (generating it once).
pub fn ensure_dev(project: &Project, k: u32) -> Result<PathBuf> {
    let path = default_dev_path(project, k);
    if read_k(&path).ok() == Some(k) {
        return Ok(path);
    }
    // Minutes at k = 21 and up: another process may be making it already.
    let _making = crate::support::dir_lock::DirLock::take(path.parent().expect("in target/srs"), "SRS generation")?;
    if read_k(&path).ok() == Some(k) {
        return Ok(path);
    }
    generate(project, &path, k)?;
    Ok(path)
}

/// Writes the development SRS of degree k to `path` with the prover binary.
pub fn generate(project: &Project, path: &Path, k: u32) -> Result<()> {
    if !(1..=MAX_K).contains(&k) {
        bail!("k = {k} is out of range: give 1 <= k <= {MAX_K}");
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let prover = programs::program(project, programs::PROVER_BIN)?;
    let spinner = crate::support::progress::units(&format!("generating the INSECURE development SRS, k = {k}"));
    let report = programs::run_json(&prover, &crate::os_args!["srs", "generate", "--k", k.to_string(), "--out", path]);
    spinner.finish_and_clear();
    let report = report?;
    eprintln!("generated {} in {:.1} s", path.display(), report["seconds"].as_f64().unwrap_or_default());
    Ok(())
}

/// The SRS file an image carries: the manifest's source, checked against its
/// pin, downsized once to the manifest's k into a cache keyed by the
/// source's digest and k. The development SRS is generated when missing.
pub fn srs_for_image(
    project: &Project,
    image: &crate::spec::manifest::Image,
    srs_decl: &crate::spec::manifest::SrsSection,
) -> Result<PathBuf> {
    let k = srs_decl.k.get();
    let source = project.host(&srs_decl.source);
    if !source.exists() {
        match dev_k_of(project, &source) {
            Some(dk) => {
                ensure_dev(project, dk)?;
            }
            None => bail!(
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
    let source_k = read_k(&source)?;
    if source_k == k {
        return Ok(source);
    }
    if source_k < k {
        bail!("{} has k = {source_k}, but {} asks for k = {k}", srs_decl.source, image.manifest.display());
    }
    let cached = project.target_dir.join("srs-cache").join(format!("{digest}-k{k}")).join(format!("kzg_bn254_{k}.srs"));
    if read_k(&cached).ok() != Some(k) {
        std::fs::create_dir_all(cached.parent().expect("has a parent"))?;
        eprintln!("downsizing {} (k = {source_k}) to k = {k}, once", srs_decl.source);
        downsize(project, &source, k, &cached, false)?;
    }
    Ok(cached)
}
