//! `cargo xtask srs generate|downsize|verify`: SRS files (`crate::pipeline::srs`).

use crate::pipeline::programs;
use crate::pipeline::srs::{default_dev_path, downsize, generate};
use crate::spec::project::Project;
use crate::support::hashing::sha256_file;
use anyhow::{bail, Result};
use std::path::PathBuf;
use xshell::Shell;

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

impl SrsFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        match self.command {
            SrsCommand::Generate { k, out, force } => {
                let path = out.unwrap_or_else(|| default_dev_path(&project, k));
                if path.exists() && !force {
                    bail!("{} exists; pass --force to overwrite it", path.display());
                }
                generate(&project, &path, k)?;
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
                let mut report = downsize(&project, &from, k, &out, whole_file)?;
                let digest = sha256_file(&out)?;
                if json {
                    report["sha256"] = digest.into();
                    println!("{report}");
                } else {
                    println!("{digest}  {}", out.display());
                }
            }
            SrsCommand::Verify { file, sha256, json } => {
                let prover = programs::program(&project, programs::PROVER_BIN)?;
                let mut args = crate::os_args!["srs", "verify", &file].to_vec();
                if let Some(pin) = &sha256 {
                    programs::extend(&mut args, ["--sha256", pin.as_str()]);
                }
                let report = programs::run_json(&prover, &args)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!(
                        "ok: {} is a raw BN254 SRS of k = {} ({} bytes), points on their curves, pairing check passed, sha256 {}{}",
                        file.display(), report["k"], report["bytes"], report["sha256"].as_str().unwrap_or_default(),
                        if sha256.is_some() { " (matches the pin)" } else { "" }
                    );
                }
            }
        }
        Ok(())
    }
}
