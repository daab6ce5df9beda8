//! Where things are: the workspace root, its target directory, the cargo
//! and rustup homes, and what the workspace can build.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cargo_metadata::{MetadataCommand, TargetKind};

use crate::spec::manifest::{self, HostPath, Manifests, WorkspaceBinaries};

/// The static target every image binary is built for.
pub const IMAGE_TARGET: &str = "x86_64-unknown-linux-musl";

pub struct Project {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub binaries: WorkspaceBinaries,
}

impl Project {
    /// The workspace to act on, found when the xtask runs (never fixed when
    /// it was compiled: one binary in a shared target directory serves
    /// every checkout): `XTASK_WORKSPACE` (the xtask's tests point it at
    /// scratch workspaces), else the workspace of the package `cargo run`
    /// started (`CARGO_MANIFEST_DIR` in the environment), else the
    /// workspace holding the current directory.
    pub fn locate() -> Result<Self> {
        let (start, why) = workspace_start()?;
        Self::at(&start).with_context(|| format!("looking for the workspace from {} ({why})", start.display()))
    }

    /// The workspace that contains `dir` (its root or any member's directory).
    pub fn at(dir: &Path) -> Result<Self> {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            bail!("{} has no Cargo.toml: run `cargo xtask` inside a checkout of the workspace", dir.display());
        }
        let metadata = MetadataCommand::new()
            .manifest_path(manifest)
            .no_deps()
            .exec()
            .context("cannot read the workspace with `cargo metadata`; does `cargo build` work here?")?;
        let mut binaries = WorkspaceBinaries::new();
        for package in metadata.workspace_packages() {
            let bins =
                package.targets.iter().filter(|t| t.kind.contains(&TargetKind::Bin)).map(|t| t.name.clone()).collect();
            binaries.insert(package.name.to_string(), bins);
        }
        Ok(Self {
            root: metadata.workspace_root.into_std_path_buf(),
            target_dir: metadata.target_directory.into_std_path_buf(),
            binaries,
        })
    }

    pub fn manifests(&self) -> Result<Manifests> {
        manifest::load(&self.root, &self.binaries)
            .map_err(|e| anyhow::anyhow!("{e}\nfix the manifests above and run the command again"))
    }

    /// A path for display: relative to the root when inside it.
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }

    /// The host file a manifest names (see [`HostPath`]).
    pub fn host(&self, path: &HostPath) -> PathBuf {
        path.resolve(&self.root, &self.target_dir)
    }

    /// Why a manifest's host file is missing, when the likely reason is a
    /// target directory moved by `CARGO_TARGET_DIR`: a literal `target/…`
    /// names the checkout's `target/`, while the commands that make
    /// generated files write under cargo's target directory. Empty otherwise.
    pub fn moved_target_hint(&self, path: &HostPath) -> String {
        let Some(rest) = path.as_str().strip_prefix("target/") else { return String::new() };
        if self.target_dir == self.root.join("target") {
            return String::new();
        }
        format!(
            "; the manifest names {}, but cargo's target directory is {} (CARGO_TARGET_DIR), where generated files are written: write \"{}/{rest}\" to name {}",
            self.root.join(path.as_str()).display(),
            self.target_dir.display(),
            crate::spec::manifest::TARGET_PLACEHOLDER,
            self.target_dir.join(rest).display()
        )
    }
}

/// Where to look for the workspace, and what chose it.
fn workspace_start() -> Result<(PathBuf, &'static str)> {
    if let Some(root) = std::env::var_os("XTASK_WORKSPACE") {
        return Ok((PathBuf::from(root), "XTASK_WORKSPACE"));
    }
    if let Some(package) = std::env::var_os("CARGO_MANIFEST_DIR") {
        return Ok((PathBuf::from(package), "CARGO_MANIFEST_DIR, set by `cargo run`"));
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let found = cwd.ancestors().find(|d| d.join("Cargo.toml").is_file()).with_context(|| {
        format!("no Cargo.toml in {} or above: run `cargo xtask` inside a checkout of the workspace", cwd.display())
    })?;
    Ok((found.to_path_buf(), "the current directory"))
}

pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

pub fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME").map(PathBuf::from).or_else(|| home_dir().map(|h| h.join(".cargo")))
}

pub fn rustup_home() -> Option<PathBuf> {
    std::env::var_os("RUSTUP_HOME").map(PathBuf::from).or_else(|| home_dir().map(|h| h.join(".rustup")))
}

/// A program on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}
