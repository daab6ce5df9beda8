//! `cargo xtask new-pair`: the committed second pair is exactly what the
//! scaffold makes; bad names and existing pairs are refused with nothing
//! written; and a scaffolded pair builds, images and passes `run` without
//! edits, in a scratch copy of the workspace.

mod common;

use std::path::Path;
use std::process::Command;

use common::{committed_checkout, root, target_dir, text};

fn xtask(workspace: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.env("XTASK_WORKSPACE", workspace).env("CARGO_TARGET_DIR", target_dir()).current_dir(workspace);
    c
}

#[test]
fn the_committed_blake_chain_pair_is_the_scaffold() {
    for (path, text) in xtask::cmd::new_pair::render("blake-chain").unwrap() {
        let committed = std::fs::read_to_string(root().join(&path)).unwrap_or_else(|e| {
            panic!("{}: {e} (regenerate with `cargo xtask new-pair blake-chain --regenerate`)", path.display())
        });
        assert_eq!(
            committed,
            text,
            "{} differs from the scaffold's template (regenerate with `cargo xtask new-pair blake-chain --regenerate`)",
            path.display()
        );
    }
}

#[test]
fn regenerate_rewrites_only_the_scaffolded_files_that_drifted() {
    let scratch = tempfile::tempdir().unwrap();
    let checkout = committed_checkout(scratch.path(), "ws");
    let main = checkout.join("pairs/blake-chain/prover/src/main.rs");
    let original = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{original}\n// a drifted edit\n")).unwrap();
    // A file of the user's beside the scaffold stays as it is.
    std::fs::write(checkout.join("pairs/blake-chain/NOTES.md"), b"mine").unwrap();
    let o = xtask(&checkout).args(["new-pair", "blake-chain", "--regenerate"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("1 of 8 scaffolded files rewritten") && text(&o).contains("prover/src/main.rs"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&main).unwrap(), original);
    assert_eq!(std::fs::read(checkout.join("pairs/blake-chain/NOTES.md")).unwrap(), b"mine");
    // Only an existing pair can be regenerated.
    let o = xtask(&checkout).args(["new-pair", "fresh", "--regenerate"]).output().unwrap();
    assert!(!o.status.success() && text(&o).contains("no pair named \"fresh\" to regenerate"), "{}", text(&o));
    assert!(!checkout.join("pairs/fresh").exists());
}

#[test]
fn bad_or_taken_names_are_refused_and_nothing_is_written() {
    let scratch = tempfile::tempdir().unwrap();
    let checkout = committed_checkout(scratch.path(), "ws");
    // Every file and directory of the checkout, to compare before and after.
    let listing = || {
        let o = Command::new("find").arg(&checkout).output().unwrap();
        let mut paths: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect();
        paths.sort();
        paths
    };
    let before = listing();
    for (name, expected) in [
        ("Bad_Name", "cannot name a pair"),
        ("blake-chain", "a pair named \"blake-chain\" already exists"),
        ("header", "an image named \"header-prover\" already exists"),
    ] {
        let o = xtask(&checkout).args(["new-pair", name]).output().unwrap();
        assert!(!o.status.success(), "{name}: {}", text(&o));
        assert!(text(&o).contains(expected), "{name}: {}", text(&o));
    }
    // A file in the way (no manifest names it) is refused too, and kept.
    std::fs::write(checkout.join("pairs/demo"), b"the user's notes").unwrap();
    let o = xtask(&checkout).args(["new-pair", "demo"]).output().unwrap();
    assert!(!o.status.success() && text(&o).contains("pairs/demo already exists"), "{}", text(&o));
    assert_eq!(std::fs::read(checkout.join("pairs/demo")).unwrap(), b"the user's notes");
    std::fs::remove_file(checkout.join("pairs/demo")).unwrap();
    assert_eq!(listing(), before, "a refused scaffold wrote something");
}

#[test]
fn a_scaffolded_pair_builds_images_and_runs_without_edits() {
    let scratch = tempfile::tempdir().unwrap();
    let checkout = committed_checkout(scratch.path(), "ws");
    let o = xtask(&checkout).args(["new-pair", "demo"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(checkout.join("pairs/demo/prover/src/main.rs").is_file());
    let lock = std::fs::read_to_string(checkout.join("Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"demo-prover\"") && lock.contains("name = \"demo-verifier\""), "Cargo.lock");

    // `check` knows the new pair; `run` proves and verifies natively, and the host's check agrees.
    let o = xtask(&checkout).args(["check"]).output().unwrap();
    assert!(o.status.success() && text(&o).contains("demo"), "{}", text(&o));
    let input = checkout.join("pairs/demo/example-input.txt");
    let o = xtask(&checkout)
        .args(["run", "demo", "--json", "--input"])
        .arg(format!("data={}", input.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(outcome["valid"], true, "{outcome}");
    assert_eq!(outcome["verifier_valid"], true, "{outcome}");
    assert_eq!(outcome["host"]["report"]["valid"], true, "{outcome}");
    assert_eq!(outcome["verdict"]["rounds"], 1_000, "{outcome}");

    // Without --input, the pair's declared default: the scaffold's example input.
    let o = xtask(&checkout).args(["run", "demo", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(outcome["valid"], true, "{outcome}");
    assert_eq!(outcome["inputs_source"], "data from pairs/demo/example-input.txt (the pair's default)", "{outcome}");

    // The images, written natively with the real kernel.
    let images = scratch.path().join("images");
    let nanos = std::env::var_os("XTASK_NANOS_DIR");
    if let Some(nanos) = nanos.filter(|d| Path::new(d).join("kernel.img").is_file()) {
        let o = xtask(&checkout)
            .env("XTASK_IMAGES_DIR", &images)
            .env("XTASK_NANOS_DIR", &nanos)
            .args(["image", "demo-prover", "demo-verifier", "--builder", "native", "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(images.join("demo-prover.img").is_file() && images.join("demo-verifier.img").is_file());
    } else {
        common::require(None::<()>, "XTASK_NANOS_DIR names no Nanos kernel, so the scaffold's images were not built");
    }
}
