//! A range of 20 headers from a real node (anvil), not a multiple of the
//! segment size, proven as one aggregated proof by the declared workflow:
//! `cargo xtask run header-range` cuts the witness into segments (16 + 4),
//! runs one prover task per segment and the aggregation task, the verifier
//! task, and the host's check against the range key the verifier image pins.
//! The range proof (keccak transcript) is then accepted by the range key's
//! EVM verifier on anvil, and edited ones are rejected by it.
//!
//! Refused: segments out of order, not one chain (a broken link), of the
//! wrong flavour, edited, or under another setup (before any aggregation
//! work); range proofs with an edited statement, instance, accumulator or
//! trailing bytes, on the host and on the contract.
//!
//! Costly (the aggregation circuit is k = 21 and its wrapper k = 22: minutes
//! each to key and prove on two cores, and once more for the pinned key,
//! cached in target/keys): one test does it all.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use header_chain::halo2_proofs::halo2curves::bn256::Fr;
use header_chain::proof::{fr_from_hex, fr_to_hex, ProofFile, Transcript};
use header_range::files::{self, PinnedRangeKey, RangeKeyFile, RangeProofFile, RangeRejection};
use serde_json::Value;

/// What checking a range proof on chain may cost: the wrapper's few columns
/// keep it under this (BENCHMARKS.md "Ranges" has the measurement).
const GAS_CEILING: u64 = 500_000;

/// The static programs `cargo xtask run` built for the images (optimised:
/// the refusals below regenerate segment keys).
fn run(program: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let binary = end_to_end::target_dir().join("x86_64-unknown-linux-musl/release").join(program);
    Command::new(binary).args(args).output().expect("the program runs")
}

fn xtask(args: &[&str]) -> Output {
    let anvil = end_to_end::anvil_binary().expect("anvil (cargo xtask test installs it)");
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(end_to_end::workspace_root())
        .env("ANVIL_BIN", anvil)
        .arg("xtask")
        .args(args)
        .output()
        .expect("cargo xtask runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write<T: serde::Serialize>(path: &Path, value: &T) {
    header_chain::fsutil::write_json_atomic(path, value).unwrap();
}

#[test]
fn a_twenty_header_range_is_one_aggregated_proof_a_contract_accepts() {
    let root = end_to_end::workspace_root();
    let o = xtask(&["run", "header-range", "--json"]);
    assert!(o.status.success(), "cargo xtask run header-range failed:\n{}", stderr(&o));
    let outcome: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(outcome["valid"], true, "{outcome}");
    assert_eq!(outcome["verifier_valid"], true, "{outcome}");
    assert!(outcome["inputs_source"].as_str().unwrap().contains("anvil"), "{outcome}");
    let report = &outcome["host"]["report"];
    assert!(report["pinned_keys"][0].as_str().unwrap().ends_with("header-range-20-by-16.key.json"), "{outcome}");
    assert_eq!(report["segments"], 2, "{outcome}");
    assert_eq!(report["headers"], 20, "{outcome}");
    assert_eq!(report["witness_statement"], report["statement"], "{outcome}");
    assert_eq!(outcome["verdict"]["statement"]["first_number"], 1, "{outcome}");
    assert_eq!(outcome["verdict"]["statement"]["last_number"], 20, "{outcome}");

    // The files the run kept: each segment task's proof, the range proof.
    let segments = outcome["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{outcome}");
    let segment_files: Vec<PathBuf> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| root.join(s["workspace"].as_str().unwrap()).join(format!("segment-{}.proof.json", i + 1)))
        .collect();
    let segment_proofs: Vec<ProofFile> = segment_files.iter().map(|p| read(p)).collect();
    assert_eq!(segment_proofs.iter().map(|s| s.shape.num_headers).collect::<Vec<_>>(), [16, 4]);
    assert!(segment_proofs.iter().all(|s| s.transcript == Transcript::Poseidon));
    let run_dir = root.join(outcome["prover"]["workspace"].as_str().unwrap()).parent().unwrap().to_path_buf();
    let range = root.join(outcome["prover"]["outputs"][0].as_str().unwrap());
    let witness = run_dir.join("witness.json");
    let range_key = end_to_end::target_dir().join("keys/header-range-20-by-16.key.json");
    let srs = end_to_end::target_dir().join("srs/kzg_bn254_22.INSECURE-DEV.srs");

    // A broken link and the other bad segments are refused before any
    // keying or aggregation, each naming its reason, nothing written.
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let refused = |segments: &[&Path], expect: &str| {
        let out = at("refused.json");
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"aggregate"];
        for s in segments {
            args.push(&"--segment");
            args.push(s);
        }
        args.extend([&"--srs" as &dyn AsRef<std::ffi::OsStr>, &srs, &"-p", &out]);
        let o = run("prover", &args);
        assert!(!o.status.success(), "aggregated {segments:?}");
        assert!(stderr(&o).contains(expect), "expected {expect:?} in: {}", stderr(&o));
        assert!(!out.exists(), "a refused aggregation wrote its proof");
    };
    let (s1, s2) = (segment_files[0].as_path(), segment_files[1].as_path());
    refused(&[s2, s1], "not a range plan");
    refused(&[s1, s1], "not one chain");
    let edit = |name: &str, change: &dyn Fn(&mut ProofFile)| {
        let mut edited = segment_proofs[1].clone();
        change(&mut edited);
        write(&at(name), &edited);
        at(name)
    };
    let blake = edit("blake.json", &|s| s.transcript = Transcript::Blake2b);
    refused(&[s1, &blake], "only poseidon-transcript segment proofs");
    let flipped = edit("flipped.json", &|s| {
        let mut bytes = s.proof.to_vec();
        bytes[100] ^= 1;
        s.proof = bytes.into();
    });
    refused(&[s1, &flipped], "segment 1 does not verify");
    let other_setup = edit("other.json", &|s| s.key_id = "11".repeat(32));
    refused(&[s1, &other_setup], "prove it again with this SRS");

    // The host's check: valid for the range's witness, not for another (the first segment's).
    let o = run(
        "verifier",
        &[&"check", &"-p", &range, &"--witness", &witness, &"--key", &range_key, &"--report", &at("report.json")],
    );
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    let o =
        run("verifier", &[&"check", &"-p", &range, &"--witness", &run_dir.join("pieces/1.json"), &"--key", &range_key]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // Edited range proofs, each refused with its reason.
    let proof: RangeProofFile = read(&range);
    assert_eq!(proof.transcript, Transcript::Keccak);
    let pinned = [PinnedRangeKey::new(read::<RangeKeyFile>(&range_key)).unwrap()];
    files::verify(&pinned, &proof).unwrap();
    let mut later = proof.clone();
    later.statement.last_number += 1;
    later.instances[5] = fr_to_hex(&Fr::from(later.statement.last_number));
    assert_eq!(files::verify(&pinned, &later), Err(RangeRejection::Invalid(Transcript::Keccak)));
    let mut claimed = proof.clone();
    claimed.statement.first_number -= 1;
    assert_eq!(files::verify(&pinned, &claimed), Err(RangeRejection::StatementMismatch));
    let mut limb = proof.clone();
    limb.instances[7] = fr_to_hex(&Fr::from(7u64));
    assert_eq!(files::verify(&pinned, &limb), Err(RangeRejection::Invalid(Transcript::Keccak)));
    let mut trailing = proof.clone();
    trailing.proof = [&proof.proof[..], &[0u8]].concat().into();
    assert_eq!(files::verify(&pinned, &trailing), Err(RangeRejection::TrailingBytes(1)));
    let mut unknown = proof.clone();
    unknown.key_id = "00".repeat(32);
    assert!(matches!(files::verify(&pinned, &unknown), Err(RangeRejection::UnknownKey { .. })));
    write(&at("later.json"), &later);
    let o = run("verifier", &[&"verify", &"-p", &at("later.json"), &"--key", &range_key]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // The accumulator's pairing is what makes the segment proofs count: the
    // same two points swapped fail it.
    let limbs: Vec<Fr> = proof.instances[6..].iter().map(|s| fr_from_hex(s).unwrap()).collect();
    let points = pinned[0].points();
    files::decide(points, &limbs).unwrap();
    let swapped = [&limbs[6..], &limbs[..6]].concat();
    assert_eq!(files::decide(points, &swapped), Err(RangeRejection::AccumulatorFails));

    // On chain: the range key's verifier, one contract under EIP-170's limit.
    let key_arg = range_key.to_str().unwrap();
    let o = xtask(&["evm-verifier", "--key", key_arg, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(made["instances"], 18, "{made}");
    assert_eq!(made["headers"], 20, "{made}");
    assert_eq!(made["parts"].as_array().map(Vec::len), Some(0), "{made}");
    assert!(made["verifier"]["runtime_bytes"].as_u64().unwrap() <= 24_576, "{made}");
    let node = end_to_end::start_anvil(None).unwrap();
    let o = xtask(&["evm-deploy", "--rpc", &node.url, "--key", key_arg, "--json"]);
    assert_eq!(o.status.code(), Some(1), "the dev SRS is refused without --allow-insecure-srs");
    assert!(stderr(&o).contains("INSECURE development SRS"), "{}", stderr(&o));
    let o = xtask(&["evm-deploy", "--rpc", &node.url, "--key", key_arg, "--allow-insecure-srs", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deployed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let address = deployed["verifier"].as_str().unwrap();
    let submit = |proof: &Path| {
        xtask(&["evm-submit", "--rpc", &node.url, "--address", address, "--proof", proof.to_str().unwrap(), "--json"])
    };
    let o = submit(&range);
    assert!(o.status.success(), "{}", stderr(&o));
    let verdict: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(verdict["accepted"], true, "{verdict}");
    assert_eq!(verdict["statement"]["last_number"], 20, "{verdict}");
    let gas = verdict["gas"].as_u64().unwrap();
    assert!(gas <= GAS_CEILING, "a range proof costs {gas} gas on chain, over {GAS_CEILING}");
    // The contract itself refuses an edited accumulator limb and a later last number.
    for (name, edited) in [("limb.json", &limb), ("later.json", &later)] {
        write(&at(name), edited);
        let o = submit(&at(name));
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        let verdict: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        assert_ne!(verdict["accepted"], true, "{name}: {verdict}");
    }
}
