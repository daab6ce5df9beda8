//! `cargo xtask build [IMAGE...]`: the images' programs built static and
//! reproducible (`crate::pipeline::build`), printed as a table or JSON;
//! `--verify-reproducible` builds again from a copy at another path and
//! compares.

use crate::pipeline::build::{copy_checkout, execute, plan, BuiltBinary, HostPaths};
use crate::spec::manifest::Image;
use crate::spec::project::{cargo_home, rustup_home, Project};
use anyhow::{bail, Result};
use serde::Serialize;
use xshell::Shell;

#[derive(clap::Args, Debug, Default)]
pub struct BuildFlags {
    /// Images whose programs to build (default: all).
    pub images: Vec<String>,
    /// Print the plan (cargo arguments and flags) and stop before anything
    /// is built.
    #[arg(long)]
    pub dry_run: bool,
    /// Also build in a fresh copy of the checkout at another path and require byte-identical binaries.
    #[arg(long)]
    pub verify_reproducible: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

impl BuildFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let manifests = project.manifests()?;
        let images = manifests.select(&self.images).map_err(anyhow::Error::msg)?;
        let host = HostPaths::of(&project);
        let plan = plan(&images, &host);
        if self.dry_run {
            println!("{}", serde_json::to_string_pretty(&plan)?);
            return Ok(());
        }
        let built = execute(sh, &project, &plan, &images, &project.root, None)?;
        if self.verify_reproducible {
            let copy = verify_reproducible(sh, &project, &images, &built)?;
            if self.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({"binaries": built, "reproducible": copy}))?
                );
            }
            return Ok(());
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(&built)?);
        } else {
            print_table(&built);
        }
        Ok(())
    }
}

pub fn print_table(built: &[BuiltBinary]) {
    let width = built.iter().map(|b| b.path.len()).max().unwrap_or(4);
    println!("{:<width$}  {:>12}  sha256", "binary", "bytes");
    for b in built {
        println!("{:<width$}  {:>12}  {}", b.path, b.size, b.sha256);
    }
}

#[derive(Debug, Serialize)]
pub struct ReproducibilityReport {
    pub other_checkout: String,
    pub identical: bool,
    pub binaries: Vec<(String, String, String)>,
}

/// Copies the checkout (tracked and untracked-but-not-ignored files) to a
/// fresh directory at another path, builds there with its own target
/// directory, and compares every binary's sha256 with `built`.
fn verify_reproducible(
    sh: &Shell,
    project: &Project,
    images: &[&Image],
    built: &[BuiltBinary],
) -> Result<ReproducibilityReport> {
    let scratch = tempfile::Builder::new().prefix("xtask-repro-").tempdir()?;
    let copy = scratch.path().join("another").join("checkout-path");
    copy_checkout(sh, &project.root, &copy)?;
    let copy_target = scratch.path().join("target");
    eprintln!("reproducibility: building again in {} (a fresh copy, empty target directory)", copy.display());
    let host = HostPaths {
        checkout: copy.clone(),
        target_dir: copy_target.clone(),
        cargo_home: cargo_home(),
        rustup_home: rustup_home(),
    };
    let plan = plan(images, &host);
    let again = execute(sh, project, &plan, images, &copy, Some(&copy_target))?;
    let mut rows = Vec::new();
    let mut identical = true;
    println!("{:<16}  {:<64}  {:<64}  same", "binary", "this checkout", "fresh copy");
    for (a, b) in built.iter().zip(&again) {
        let same = a.sha256 == b.sha256;
        identical &= same;
        println!("{:<16}  {}  {}  {}", a.bin, a.sha256, b.sha256, if same { "yes" } else { "NO" });
        rows.push((a.bin.clone(), a.sha256.clone(), b.sha256.clone()));
    }
    let report = ReproducibilityReport { other_checkout: copy.display().to_string(), identical, binaries: rows };
    if !identical {
        bail!("the binaries differ between two checkouts of the same sources: the build is not reproducible (a host path or timestamp leaks in; compare them with `diffoscope`)");
    }
    println!("reproducible: {} binaries byte-identical across two checkout paths", built.len());
    Ok(report)
}
