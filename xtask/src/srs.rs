//! `cargo xtask srs`: SRS files for the images.
//!
//! `generate` writes the explicitly insecure, deterministic development SRS
//! (its secret is derivable from a constant seed: fine for tests and local
//! demos, worthless as a proof to anyone else).

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
        }
        Ok(())
    }
}
