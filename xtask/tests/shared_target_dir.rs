//! A target directory outside the workspace (`CARGO_TARGET_DIR`, as many
//! users set it globally): the commands that make generated inputs and the
//! commands that use them agree on where they are (`${target}/…` in the
//! manifests).
//!
//! Building the static binaries into a second target directory costs a
//! full release build, so this test uses the target directory it was built
//! in when that one is outside the workspace (`.ci/run` puts CI's there),
//! and otherwise reports itself SKIPPED; under `CI=true` it must run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{committed_checkout, require, root, text};

/// `CARGO_TARGET_DIR` when it is outside the workspace, else why not.
fn outside_target_dir() -> Result<PathBuf, String> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .ok_or("CARGO_TARGET_DIR is not set (`.ci/run` sets it outside the checkout)")?;
    let dir = if dir.is_absolute() { dir } else { root().join(dir) };
    let dir = dir.canonicalize().map_err(|e| format!("CARGO_TARGET_DIR {}: {e}", dir.display()))?;
    if dir.starts_with(root().canonicalize().unwrap()) {
        return Err(format!("CARGO_TARGET_DIR {} is inside the workspace", dir.display()));
    }
    Ok(dir)
}

fn xtask(args: &[&str], images: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root())
        .env_remove("XTASK_WORKSPACE")
        .env_remove("XTASK_MANIFESTS_DIR")
        .env("XTASK_IMAGES_DIR", images)
        .output()
        .unwrap()
}

#[test]
fn srs_keys_image_and_run_agree_on_an_outside_target_dir() {
    let outside = outside_target_dir();
    let why = outside.as_ref().err().cloned().unwrap_or_default();
    let Some(target) = require(outside.ok(), &why) else { return };
    let scratch = tempfile::tempdir().unwrap();
    let images = scratch.path().join("images");
    let checkout_target_before = listing(&root().join("target"));

    // The development SRS and the key land in the outside target directory...
    // (--force: another test may have made it already; the file is deterministic and replaced atomically.)
    let o = xtask(&["srs", "generate", "--k", "14", "--force"], &images);
    assert!(o.status.success(), "{}", text(&o));
    let srs = target.join("srs/kzg_bn254_14.INSECURE-DEV.srs");
    assert!(srs.is_file(), "srs generate did not write {}: {}", srs.display(), text(&o));
    let o = xtask(&["keys", "--headers", "8"], &images);
    assert!(o.status.success(), "{}", text(&o));
    let key = target.join("keys/header-chain-8.key.json");
    assert!(text(&o).contains(&key.display().to_string()), "{}", text(&o));

    // ...where `image` and `run` look for them.
    let o = xtask(&["image", "--json"], &images);
    assert!(o.status.success(), "{}", text(&o));
    assert!(images.join("header-verifier.img").is_file() && images.join("header-prover.img").is_file());
    let witness = root().join("tests/fixtures/anvil-chain-8.witness.json");
    let o = xtask(&["run", "header-chain", "--witness", witness.to_str().unwrap(), "--json"], &images);
    assert!(o.status.success(), "{}", text(&o));
    let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(outcome["valid"], true, "{outcome}");
    assert!(target.join("run/header-chain").is_dir(), "run's files are not in the target directory");

    // Nothing was generated in the checkout's own `target/`.
    assert_eq!(listing(&root().join("target")), checkout_target_before, "files changed in the checkout's target/");
}

/// Generated files under `dir` (srs, keys, run) with their modification times.
fn listing(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = ["srs", "keys", "run"].iter().map(|d| dir.join(d)).collect();
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let (path, meta) = (entry.path(), entry.metadata().unwrap());
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.push((path, meta.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_literal_target_path_names_both_places() {
    // A checkout whose manifests predate `${target}`, with the target directory moved.
    let scratch = tempfile::tempdir().unwrap();
    let checkout = committed_checkout(scratch.path(), "checkout");
    for dir in ["images", "pairs"] {
        for entry in std::fs::read_dir(checkout.join("manifests").join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap().replace("${target}/", "target/");
            std::fs::write(&path, text).unwrap();
        }
    }
    let moved = scratch.path().join("elsewhere");
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["doctor"])
        .current_dir(&checkout)
        .env("CARGO_TARGET_DIR", &moved)
        .env("XTASK_WORKSPACE", &checkout)
        .env_remove("XTASK_MANIFESTS_DIR")
        .output()
        .unwrap();
    let t = text(&o);
    let line = t.lines().find(|l| l.contains("/keys/header-chain-8.key.json for header-verifier")).expect(&t);
    assert!(line.starts_with("MISSING"), "{line}");
    assert!(line.contains(&checkout.join("target/keys/header-chain-8.key.json").display().to_string()), "{line}");
    assert!(line.contains(&moved.join("keys/header-chain-8.key.json").display().to_string()), "{line}");
    assert!(line.contains("\"${target}/keys/header-chain-8.key.json\""), "{line}");
}
