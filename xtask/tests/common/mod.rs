//! Helpers shared by the xtask's integration tests.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A process's stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A second checkout of this workspace's committed tree at `dir/name`
/// (`git archive HEAD`): no target directory, no untracked files.
pub fn committed_checkout(dir: &Path, name: &str) -> PathBuf {
    let checkout = dir.join(name);
    std::fs::create_dir(&checkout).unwrap();
    let archive = Command::new("git").arg("-C").arg(root()).args(["archive", "HEAD"]).output().unwrap();
    assert!(archive.status.success(), "{}", text(&archive));
    let mut tar = Command::new("tar").arg("-x").arg("-C").arg(&checkout).stdin(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(tar.stdin.as_mut().unwrap(), &archive.stdout).unwrap();
    drop(tar.stdin.take());
    assert!(tar.wait().unwrap().success());
    checkout
}

/// Replaces `from` with `to` in `file`, which must contain it.
pub fn edit(file: &Path, from: &str, to: &str) {
    let original = std::fs::read_to_string(file).unwrap();
    assert!(original.contains(from), "{} no longer contains {from:?}: update the test", file.display());
    std::fs::write(file, original.replace(from, to)).unwrap();
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the root), else `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// Skips (or, under `CI=true`, fails) a test that lacks `what`.
pub fn require<T>(what: Option<T>, missing: &str) -> Option<T> {
    if what.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and {missing}");
        }
        eprintln!("SKIPPED: {missing}");
    }
    what
}
