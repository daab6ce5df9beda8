//! Where things are: the workspace root, its target directory, the cargo
//! and rustup homes, and what the workspace can build.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cargo_metadata::{MetadataCommand, TargetKind};

use crate::manifest::{self, Manifests, WorkspaceBinaries};

/// The static target every image binary is built for.
pub const IMAGE_TARGET: &str = "x86_64-unknown-linux-musl";

pub struct Project {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub binaries: WorkspaceBinaries,
}

impl Project {
    /// The workspace this xtask belongs to, or the one `XTASK_WORKSPACE`
    /// names (the xtask's own tests point it at scratch workspaces).
    pub fn locate() -> Result<Self> {
        if let Some(root) = std::env::var_os("XTASK_WORKSPACE") {
            return Self::at(Path::new(&root));
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf();
        Self::at(&root)
    }

    pub fn at(root: &Path) -> Result<Self> {
        let metadata = MetadataCommand::new()
            .manifest_path(root.join("Cargo.toml"))
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
