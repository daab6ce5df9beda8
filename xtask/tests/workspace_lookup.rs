//! One xtask binary, two checkouts: with a shared target directory, `cargo
//! xtask` in checkout B may run the binary last built from checkout A. It
//! must act on B, the checkout it was started in, never on A.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{committed_checkout, edit, text};

/// A second checkout whose pair and prover image have other names.
fn second_checkout(dir: &Path) -> std::path::PathBuf {
    let checkout = committed_checkout(dir, "checkout-b");
    let prover = checkout.join("manifests/images/header-prover.toml");
    edit(&prover, "name = \"header-prover\"", "name = \"checkout-b-prover\"");
    let pair = checkout.join("manifests/pairs/header-chain.toml");
    edit(&pair, "prover = \"header-prover\"", "prover = \"checkout-b-prover\"");
    checkout
}

/// The xtask binary built from this checkout, started in `cwd` (with
/// `CARGO_MANIFEST_DIR` as `cargo run` would set it, when given).
fn xtask_in(cwd: &Path, manifest_dir: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(["check"]).current_dir(cwd).env_remove("XTASK_WORKSPACE").env_remove("XTASK_MANIFESTS_DIR");
    match manifest_dir {
        Some(dir) => c.env("CARGO_MANIFEST_DIR", dir),
        None => c.env_remove("CARGO_MANIFEST_DIR"),
    };
    c.output().unwrap()
}

#[test]
fn the_binary_of_one_checkout_acts_on_the_checkout_it_runs_in() {
    let dir = tempfile::tempdir().unwrap();
    let b = second_checkout(dir.path());

    // `cargo xtask check` in B: cargo sets CARGO_MANIFEST_DIR to B's xtask package.
    let o = xtask_in(&b, Some(&b.join("xtask")));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("checkout-b-prover"), "read another checkout's manifests: {}", text(&o));
    assert!(!text(&o).contains("image header-prover"), "{}", text(&o));

    // The binary started directly in a subdirectory of B: found from the current directory.
    let o = xtask_in(&b.join("prover/src"), None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("checkout-b-prover"), "{}", text(&o));

    // Outside any checkout: an error that says where to run it, not another tree's answer.
    let o = xtask_in(dir.path(), None);
    assert!(!o.status.success());
    assert!(text(&o).contains("no Cargo.toml") && text(&o).contains("inside a checkout"), "{}", text(&o));
}
