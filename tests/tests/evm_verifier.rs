//! The EVM commands without proving: what `evm-submit` counts as the
//! contract's answer (against a JSON-RPC node double), and what the EVM
//! commands refuse before any work (a chain key, a chain proof: one proof
//! kind on chain, the range proof). The range contract itself, on a real
//! anvil with a real range proof, is `range_workflow.rs`.

use std::path::Path;
use std::process::{Command, Output};

use end_to_end::{output_text as text, workspace_root};
use serde_json::{json, Value};

fn xtask(args: &[&str]) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .arg("xtask")
        .args(args)
        .output()
        .expect("cargo xtask runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A range proof file, synthetic but consistent: its statement is what its
/// first six instances encode; the twelve accumulator limbs and the proof
/// bytes are filler (only a node double ever sees them).
fn range_proof(key: &str) -> Value {
    let limb = |hex_tail: &str| format!("0x{:0>64}", hex_tail);
    let mut instances = vec![
        limb(&"11".repeat(16)),
        limb(&"11".repeat(16)),
        limb("1"),
        limb(&"22".repeat(16)),
        limb(&"33".repeat(16)),
        limb("14"),
    ];
    instances.extend((0..12).map(|i| limb(&format!("{:x}", i + 1))));
    json!({
        "kind": "header-range-proof",
        "key_id": key,
        "transcript": "keccak",
        "statement": {
            "first_parent_hash": format!("0x{}", "11".repeat(32)),
            "first_number": 1,
            "last_hash": format!("0x{}{}", "22".repeat(16), "33".repeat(16)),
            "last_number": 20,
        },
        "instances": instances,
        "proof": "0x00",
    })
}

#[test]
fn chain_keys_and_chain_proofs_are_pointed_at_the_range_proof() {
    let dir = tempfile::tempdir().unwrap();
    // `--headers N` named the chain key's split verifier, now retired.
    for command in ["evm-verifier", "evm-deploy"] {
        let mut args = vec![command, "--headers", "8"];
        if command == "evm-deploy" {
            args.extend(["--rpc", "http://127.0.0.1:9"]);
        }
        let o = xtask(&args);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("a contract checks range proofs only"), "{}", text(&o));
        assert!(text(&o).contains("cargo xtask run header-range"), "{}", text(&o));
    }
    // A chain key file, by its kind, and a file that is no key at all.
    let chain_key = dir.path().join("header-chain-8.key.json");
    std::fs::write(
        &chain_key,
        json!({ "kind": "header-chain-verifier-key", "shape": { "num_headers": 8 } }).to_string(),
    )
    .unwrap();
    let o = xtask(&["evm-verifier", "--key", s(&chain_key)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("is a chain key: a contract checks range proofs only"), "{}", text(&o));
    let not_a_key = dir.path().join("other.key.json");
    std::fs::write(&not_a_key, r#"{"kind": "something-else"}"#).unwrap();
    let o = xtask(&["evm-verifier", "--key", s(&not_a_key)]);
    assert!(text(&o).contains("is not a header-range verifier key"), "{}", text(&o));
    // A chain proof is refused before any node is asked (none is there).
    let mut chain_proof = range_proof(&"5a".repeat(32));
    chain_proof["kind"] = "header-chain-proof".into();
    let proof_path = dir.path().join("chain.proof.json");
    std::fs::write(&proof_path, chain_proof.to_string()).unwrap();
    let address = format!("0x{}", "77".repeat(20));
    let o = xtask(&["evm-submit", "--rpc", "http://127.0.0.1:9", "--address", &address, "--proof", s(&proof_path)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is a chain proof; a contract checks range proofs only"), "{}", text(&o));
    // A range proof of another transcript, likewise.
    let mut blake = range_proof(&"5a".repeat(32));
    blake.as_object_mut().unwrap().remove("transcript");
    std::fs::write(&proof_path, blake.to_string()).unwrap();
    let o = xtask(&["evm-submit", "--rpc", "http://127.0.0.1:9", "--address", &address, "--proof", s(&proof_path)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("blake2b-transcript proof"), "{}", text(&o));
}

/// What evm-submit counts as the contract's answer, against a JSON-RPC
/// node double (named as such: a fake answering eth_call as told): only a
/// successful call returning exactly the success word is ACCEPTED; a revert
/// or any other return is REJECTED (exit 1); an answer that is not the
/// contract's (a null result, an error that is not a revert) is "could not
/// ask" (exit 2). No proving: the proof file is synthetic and consistent.
#[test]
fn evm_submit_counts_only_the_contracts_success_word() {
    let key = "5a".repeat(32);
    let dir = tempfile::tempdir().unwrap();
    let proof = range_proof(&key);
    let proof_path = dir.path().join("proof.json");
    std::fs::write(&proof_path, proof.to_string()).unwrap();
    let node_answering = |eth_call: Value| {
        end_to_end::fake_json_rpc(move |request| {
            let result = match request["method"].as_str().unwrap_or_default() {
                "eth_chainId" => json!({ "result": "0x7a69" }),
                "eth_getCode" => json!({ "result": "0x6000" }),
                "eth_estimateGas" => json!({ "result": "0x5208" }),
                "eth_call" => eth_call.clone(),
                _ => json!({ "error": { "code": -32601, "message": "method not found" } }),
            };
            let mut answer = json!({ "jsonrpc": "2.0", "id": request["id"] });
            answer.as_object_mut().unwrap().extend(result.as_object().unwrap().clone());
            Some(answer.to_string())
        })
    };
    let submit = |url: &str, extra: &[&str]| {
        let address = format!("0x{}", "77".repeat(20));
        let mut args = vec!["evm-submit", "--rpc", url, "--address", &address, "--proof", s(&proof_path)];
        args.extend(extra);
        xtask(&args)
    };
    let success = format!("0x{key}");
    let cases = [
        (json!({ "result": success }), Some(0), "ACCEPTED"),
        (json!({ "result": null }), Some(2), "could not ask"),
        (json!({ "result": "0x" }), Some(1), "instead of the verifier's success word"),
        (json!({ "result": format!("0x{}", "00".repeat(32)) }), Some(1), "REJECTED"),
        (json!({ "error": { "code": 3, "message": "execution reverted" } }), Some(1), "REJECTED"),
        (json!({ "error": { "code": -32005, "message": "rate limit exceeded" } }), Some(2), "not a revert"),
        (json!({ "error": { "code": -32000, "message": "gas required exceeds allowance" } }), Some(2), "not a revert"),
    ];
    for (eth_call, code, says) in cases {
        let url = node_answering(eth_call.clone());
        // Code no record describes: refused unless asked for.
        let o = submit(&url, &[]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("is not a verifier any record"), "{}", text(&o));
        let o = submit(&url, &["--unrecognised-contract"]);
        assert_eq!(o.status.code(), code, "eth_call answering {eth_call}: {}", text(&o));
        assert!(text(&o).contains(says), "eth_call answering {eth_call}: {}", text(&o));
    }
    // The statement printed is decoded from the instances sent.
    let url = node_answering(json!({ "result": success }));
    let o = submit(&url, &["--unrecognised-contract"]);
    assert!(text(&o).contains(&format!("last hash 0x{}{}", "22".repeat(16), "33".repeat(16))), "{}", text(&o));
}
