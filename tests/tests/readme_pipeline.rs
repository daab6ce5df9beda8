//! The README's first command, `cargo xtask run header-chain`, on this checkout: static
//! binaries, the development SRS, a witness from anvil (or the committed
//! fixture), the prover task and the verifier task through the shim
//! protocol, and a VALID verdict.

use std::path::Path;
use std::process::Command;

#[test]
fn cargo_xtask_run_proves_and_verifies_the_pair() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let anvil = end_to_end::anvil_binary().expect("anvil (cargo xtask test installs it)");
    let o = Command::new(cargo)
        .current_dir(root)
        .env("ANVIL_BIN", anvil)
        .args(["xtask", "run", "header-chain", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "cargo xtask run failed:\n{stderr}");
    let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(outcome["valid"], true, "{outcome}");
    // The verdict is the host's own check against the pinned key, and agrees with the verifier's.
    assert_eq!(outcome["host"]["valid"], true, "{outcome}");
    assert_eq!(outcome["verifier_valid"], true, "{outcome}");
    // The pair's declared check: the verifier program, the key the image pins, the witness's statement.
    let report = &outcome["host"]["report"];
    assert_eq!(report["pinned_keys"].as_array().unwrap().len(), 1, "{outcome}");
    assert!(report["pinned_keys"][0].as_str().unwrap().ends_with("header-chain-8.key.json"), "{outcome}");
    assert_eq!(report["witness_statement"], report["statement"], "{outcome}");
    assert!(stderr.contains("carries the INSECURE development SRS"), "run warns about the dev SRS:\n{stderr}");
    assert_eq!(outcome["verdict"]["statement"]["last_number"], 8);
    assert!(outcome["inputs_source"].as_str().unwrap().contains("anvil"), "{outcome}");
    for step in ["prover", "verifier"] {
        for output in outcome[step]["outputs"].as_array().unwrap() {
            assert!(root.join(output.as_str().unwrap()).is_file(), "{output} missing");
        }
    }
}
