//! `cargo xtask test`: what CI runs, and what a contributor runs before
//! pushing. Installs the pinned test tools, runs the whole test suite
//! (which includes the reproducibility check: `tests/tests/release_images.rs`
//! rebuilds the release in a clean checkout at another path), checks
//! formatting, and runs clippy with warnings denied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::host::system_packages;
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct TestFlags {
    /// Skip clippy.
    #[arg(long)]
    pub skip_clippy: bool,
    /// Extra arguments for `cargo test` (after `--`).
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}

impl TestFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        // The operating system's packages first: without root, the one command
        // to run is the whole answer, before anything is built or fetched.
        // QEMU is for the boot tests (the kernel comes from XTASK_NANOS_DIR or ~/.ops).
        system_packages::ensure(sh, &[&system_packages::MUSL_GCC, &system_packages::QEMU])?;
        let project = Project::locate()?;
        let _dir = sh.push_dir(&project.root);
        crate::host::tools::ensure_musl_target(sh)?;
        let anvil = crate::host::tools::ensure_anvil(sh, &project)?;
        crate::host::tools::ensure_vsock_helper(sh, &project)?;
        let _env = sh.push_env("ANVIL_BIN", &anvil);
        let extra = &self.cargo_test_args;
        // The images `deploy` would ship and the deployment records are the user's:
        // tests work in scratch directories and must leave them byte-identical.
        let guarded = [crate::pipeline::image::images_dir(&project), project.root.join("deployments")];
        let before = snapshot(&guarded)?;
        let tests = cmd!(sh, "cargo test --workspace --locked {extra...}").run().context("the test suite failed");
        let touched = changed(&before, &snapshot(&guarded)?);
        if !touched.is_empty() {
            bail!(
                "the tests changed the workspace's own images or deployment records: {}; a test must use a scratch directory (XTASK_IMAGES_DIR, --record-dir)",
                touched.join(", ")
            );
        }
        tests?;
        cmd!(sh, "cargo fmt --all -- --check").run().context("the code is not formatted: run `cargo fmt --all`")?;
        if !self.skip_clippy {
            cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings")
                .run()
                .context("clippy found problems")?;
        }
        Ok(())
    }
}

/// BLAKE3 of every file directly in `dirs` (missing directories are empty).
fn snapshot(dirs: &[PathBuf]) -> Result<BTreeMap<PathBuf, String>> {
    let mut files = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries {
            let path = entry?.path();
            if path.is_file() {
                let mut hasher = blake3::Hasher::new();
                hasher.update_reader(std::fs::File::open(&path)?)?;
                files.insert(path, hasher.finalize().to_hex().to_string());
            }
        }
    }
    Ok(files)
}

/// Files added, removed or changed between two snapshots.
fn changed(before: &BTreeMap<PathBuf, String>, after: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let show = |p: &Path| p.display().to_string();
    let mut out: Vec<String> =
        before
            .iter()
            .filter(|(p, h)| after.get(*p) != Some(*h))
            .map(|(p, _)| {
                if after.contains_key(p) {
                    format!("{} (changed)", show(p))
                } else {
                    format!("{} (removed)", show(p))
                }
            })
            .collect();
    out.extend(after.keys().filter(|p| !before.contains_key(*p)).map(|p| format!("{} (added)", show(p))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_added_or_removed_image_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(images.join("a.img"), b"one").unwrap();
        std::fs::write(images.join("b.img"), b"two").unwrap();
        let dirs = [images.clone(), dir.path().join("no-deployments")];
        let before = snapshot(&dirs).unwrap();
        assert!(changed(&before, &snapshot(&dirs).unwrap()).is_empty());
        std::fs::write(images.join("a.img"), b"ONE").unwrap();
        std::fs::remove_file(images.join("b.img")).unwrap();
        std::fs::write(images.join("c.img"), b"three").unwrap();
        let touched = changed(&before, &snapshot(&dirs).unwrap());
        assert_eq!(touched.len(), 3, "{touched:?}");
        assert!(touched[0].ends_with("a.img (changed)") && touched[1].ends_with("b.img (removed)"), "{touched:?}");
        assert!(touched[2].ends_with("c.img (added)"), "{touched:?}");
    }
}
