//! The task workspace: `/workspace` inside the VM, any directory on a host.
//! Task paths are always VM paths (`/workspace/...`); this maps them.

use std::path::{Path, PathBuf};

/// Where the node mounts the workspace inside the VM.
pub const WORKSPACE: &str = "/workspace";

#[derive(Clone, Debug)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory standing for `/workspace`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a VM path under `/workspace/` to the file it names here. Paths
    /// outside the workspace never reach a Gevulot VM, so they are refused.
    pub fn resolve(&self, vm_path: &str) -> Result<PathBuf, String> {
        let rest = vm_path
            .strip_prefix(WORKSPACE)
            .and_then(|r| r.strip_prefix('/'))
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                format!("{vm_path:?} is outside the task workspace: task files must be under {WORKSPACE}/ (the node delivers nothing else)")
            })?;
        if rest.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(format!("{vm_path:?} has empty, '.' or '..' components; give a plain path under {WORKSPACE}/"));
        }
        Ok(self.root.join(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_workspace_paths_and_refuses_others() {
        let ws = Workspace::new("/tmp/ws");
        assert_eq!(ws.resolve("/workspace/proof.json").unwrap(), Path::new("/tmp/ws/proof.json"));
        assert_eq!(ws.resolve("/workspace/a/b.json").unwrap(), Path::new("/tmp/ws/a/b.json"));
        for bad in [
            "/etc/passwd",
            "proof.json",
            "/workspace",
            "/workspace/",
            "/workspaces/x",
            "/workspace/../etc/passwd",
            "/workspace/a//b",
            "/workspace/./a",
        ] {
            assert!(ws.resolve(bad).is_err(), "{bad} accepted");
        }
    }
}
