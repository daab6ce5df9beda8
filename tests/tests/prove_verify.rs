//! End to end with the real binaries: capture a chain from anvil, prove it
//! offline, verify it with the pinned key; then every bad input the prover
//! and the verifier must refuse, with nothing half-written.

use end_to_end::output_text as text;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use end_to_end::workspace_binary;
use header_chain::srs;

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(workspace_binary(bin)).args(args).output().expect("binary runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    witness: PathBuf,
    srs: PathBuf,
    proof: PathBuf,
    key: PathBuf,
}

fn setup() -> Setup {
    let node = end_to_end::start_anvil(Some("cancun")).unwrap();
    node.mine_with_transactions(2).unwrap();
    node.mine_empty(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("witness.json");
    let o = run("prover", &["witness-capture", "-r", &node.url, "-b", "1", "--count", "3", "-w", s(&witness)]);
    assert!(o.status.success(), "{}", text(&o));
    let loaded = header_chain::witness::WitnessFile::load(&witness).unwrap();
    let k = header_chain::prover::shape_for(&loaded).unwrap().k;
    let srs_path = dir.path().join(srs::dev_srs_file_name(k));
    srs::write(&srs::generate_insecure_dev(k), &srs_path).unwrap();
    let proof = dir.path().join("proof.json");
    let key = dir.path().join("key.json");
    Setup { witness, srs: srs_path, proof, key, dir }
}

#[test]
fn capture_prove_verify_and_refuse_bad_inputs() {
    let t = setup();
    let o = run("prover", &["prove", "-w", s(&t.witness), "-k", s(&t.srs), "-p", s(&t.proof), "--key-out", s(&t.key)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("proof of blocks 1..=3"), "{}", text(&o));

    let report = t.dir.path().join("report.json");
    let o = run("verifier", &["verify", "-p", s(&t.proof), "--key", s(&t.key), "--report", s(&report)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["valid"], true);
    assert_eq!(r["statement"]["last_number"], 3);
    // The key is the development SRS's: the verdict says so, in its output and its report.
    assert_eq!(r["insecure_setup"], "header-chain's development SRS", "{r}");
    assert!(text(&o).contains("WARNING: the pinned key is from header-chain's development SRS"), "{}", text(&o));

    // --- the prover refuses bad witnesses, SRS files; writes no proof ---
    let bad_proof = t.dir.path().join("never.json");
    let prove_with = |witness: &Path, srs_file: &Path| {
        let o = run("prover", &["prove", "-w", s(witness), "-k", s(srs_file), "-p", s(&bad_proof)]);
        assert!(!o.status.success(), "accepted: {}", text(&o));
        assert!(!bad_proof.exists(), "a proof was written");
        text(&o)
    };
    let original = std::fs::read_to_string(&t.witness).unwrap();
    let edited = t.dir.path().join("edited.json");

    std::fs::write(&edited, &original[..original.len() / 2]).unwrap();
    assert!(prove_with(&edited, &t.srs).contains("is not valid witness JSON"));

    std::fs::write(&edited, original.replacen("\"version\": 1", "\"version\": 2", 1)).unwrap();
    assert!(prove_with(&edited, &t.srs).contains("has version 2"));

    // One byte of a header changed (inside the last header's RLP hex).
    let at = original.rfind("\"rlp\": \"0x").unwrap() + 200;
    let mut bytes = original.clone().into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&edited, bytes).unwrap();
    let e = prove_with(&edited, &t.srs);
    assert!(e.contains("hashes to") || e.contains("does not decode"), "{e}");

    let srs_bytes = std::fs::read(&t.srs).unwrap();
    let bad_srs = t.dir.path().join("bad.srs");
    std::fs::write(&bad_srs, &srs_bytes[..srs_bytes.len() - 100]).unwrap();
    assert!(prove_with(&t.witness, &bad_srs).contains("truncated or corrupted"));

    let small = t.dir.path().join("small.srs");
    srs::write(&srs::generate_insecure_dev(9), &small).unwrap();
    assert!(prove_with(&t.witness, &small).contains("the circuit needs k ="));

    let mut corrupt = srs_bytes.clone();
    corrupt[4 + 64 * 3 + 5] ^= 0xff; // inside g[3]
    std::fs::write(&bad_srs, &corrupt).unwrap();
    let e = prove_with(&t.witness, &bad_srs);
    assert!(e.contains("invalid curve point"), "{e}");

    // --- the verifier refuses tampered proofs and foreign keys ---
    let proof_text = std::fs::read_to_string(&t.proof).unwrap();
    let tampered = t.dir.path().join("tampered.json");
    let verify = |proof: &Path, key: &Path| run("verifier", &["verify", "-p", s(proof), "--key", s(key)]);

    let mut json: serde_json::Value = serde_json::from_str(&proof_text).unwrap();
    let proof_hex = json["proof"].as_str().unwrap().to_string();
    let flip = if &proof_hex[100..101] == "0" { "1" } else { "0" };
    json["proof"] = format!("{}{}{}", &proof_hex[..100], flip, &proof_hex[101..]).into();
    std::fs::write(&tampered, json.to_string()).unwrap();
    let o = verify(&tampered, &t.key);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("invalid"), "{}", text(&o));

    let mut json: serde_json::Value = serde_json::from_str(&proof_text).unwrap();
    json["statement"]["last_number"] = 4.into();
    std::fs::write(&tampered, json.to_string()).unwrap();
    assert_eq!(verify(&tampered, &t.key).status.code(), Some(1));

    let other_key = t.dir.path().join("other-key.json");
    let o = run("prover", &["keygen", "--headers", "1", "--srs", s(&t.srs), "--out", s(&other_key)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&t.proof, &other_key);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("does not pin"), "{}", text(&o));

    std::fs::write(&tampered, "{not json").unwrap();
    let o = verify(&tampered, &t.key);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is not proof JSON"), "{}", text(&o));
    let o = verify(&t.proof, &tampered);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("is not valid key JSON"), "{}", text(&o));

    // The prover's typed errors: unusable input files exit 2, naming the file.
    let proof_out = t.dir.path().join("never.json");
    let o = run("prover", &["prove", "--witness", s(&tampered), "--srs", s(&t.srs), "--proof", s(&proof_out)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(s(&tampered)), "{}", text(&o));
    let short_srs = t.dir.path().join("short.srs");
    std::fs::write(&short_srs, [9u8, 0, 0]).unwrap();
    let o = run("prover", &["prove", "--witness", s(&t.witness), "--srs", s(&short_srs), "--proof", s(&proof_out)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("too short for a header"), "{}", text(&o));
    assert!(!proof_out.exists());
}
