//! A range of 20 headers from a real node (anvil), not a multiple of the
//! segment size, proven as one aggregated proof by the declared workflow:
//! `cargo xtask run header-range` cuts the witness into segments (16 + 4),
//! runs one prover task per segment and the aggregation task, the verifier
//! task, and the host's check against the range key the verifier image pins.
//!
//! That run (25 minutes: the aggregation circuit is k = 21 and its wrapper
//! k = 22) is made once and shared by the two tests here
//! (`end_to_end::shared_artifact`, named by the static programs' bytes).
//! Both are the heavy tier (`cargo xtask test --heavy`): CI checks that
//! `tests/heavy-record.json` holds their pass for the sources they cover.
//!
//! - the workflow and the host: segments out of order, not one chain (a
//!   broken link), of the wrong flavour, edited, or under another setup are
//!   refused before any aggregation work; range proofs with an edited
//!   statement, instance, accumulator or trailing bytes are refused;
//! - the one on-chain path, the range key's contract on anvil: the proof
//!   accepted under the gas ceiling, each tampering rejected by the
//!   contract, what `evm-submit` refuses before asking, look-alikes, and
//!   the same verdicts as snark-verifier's own unmodified contract.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use header_chain::halo2_proofs::halo2curves::bn256::Fr;
use header_chain::proof::{fr_from_hex, fr_to_hex, ProofFile, Transcript};
use header_range::files::{self, PinnedRangeKey, RangeKeyError, RangeKeyFile, RangeProofFile, RangeRejection};
use serde_json::{json, Value};

/// What checking a range proof on chain may cost: the wrapper's few columns
/// keep it under this (BENCHMARKS.md "Ranges" has the measurement).
const GAS_CEILING: u64 = 500_000;

/// The range proof's public instances: the statement's 6, the accumulator's 12.
const INSTANCES: usize = 18;

/// The static programs `cargo xtask run` built for the images (optimised:
/// the refusals below regenerate segment keys).
fn static_program(program: &str) -> PathBuf {
    end_to_end::target_dir().join("x86_64-unknown-linux-musl/release").join(program)
}

fn run(program: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(static_program(program)).args(args).output().expect("the program runs")
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

/// One `cargo xtask run header-range` over anvil's blocks 1..=20: its
/// `--json` outcome and the files it kept, copied out of its run directory.
struct RangeRun {
    outcome: Value,
    segments: Vec<PathBuf>,
    range: PathBuf,
    witness: PathBuf,
    first_piece: PathBuf,
}

fn range_run() -> RangeRun {
    let root = end_to_end::workspace_root();
    // The programs first: the shared run is named by their bytes.
    let o = xtask(&["build", "range-prover", "range-verifier"]);
    assert!(o.status.success(), "cargo xtask build failed:\n{}", stderr(&o));
    let inputs = [
        static_program("prover"),
        static_program("verifier"),
        root.join("manifests/pairs/header-range.toml"),
        root.join("manifests/images/range-prover.toml"),
        root.join("manifests/images/range-verifier.toml"),
    ];
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let dir = end_to_end::shared_artifact("header-range-run", &inputs, |out| {
        let o = xtask(&["run", "header-range", "--json"]);
        assert!(o.status.success(), "cargo xtask run header-range failed:\n{}", stderr(&o));
        let outcome: Value = serde_json::from_slice(&o.stdout).unwrap();
        for (i, s) in outcome["segments"].as_array().expect("segments").iter().enumerate() {
            let name = format!("segment-{}.proof.json", i + 1);
            std::fs::copy(root.join(s["workspace"].as_str().unwrap()).join(&name), out.join(&name)).unwrap();
        }
        let range = root.join(outcome["prover"]["outputs"][0].as_str().unwrap());
        let run_dir = root.join(outcome["prover"]["workspace"].as_str().unwrap()).parent().unwrap().to_path_buf();
        std::fs::copy(range, out.join("range.proof.json")).unwrap();
        std::fs::copy(run_dir.join("witness.json"), out.join("witness.json")).unwrap();
        std::fs::copy(run_dir.join("pieces/1.json"), out.join("piece-1.witness.json")).unwrap();
        write(&out.join("outcome.json"), &outcome);
    });
    let outcome: Value = read(&dir.join("outcome.json"));
    let count = outcome["segments"].as_array().map_or(0, Vec::len);
    RangeRun {
        segments: (1..=count).map(|i| dir.join(format!("segment-{i}.proof.json"))).collect(),
        range: dir.join("range.proof.json"),
        witness: dir.join("witness.json"),
        first_piece: dir.join("piece-1.witness.json"),
        outcome,
    }
}

fn range_key() -> PathBuf {
    end_to_end::target_dir().join("keys/header-range-20-by-16.key.json")
}

#[test]
#[ignore = "heavy tier (`cargo xtask test --heavy`): a range run aggregates at k = 21 and wraps at k = 22, 25 minutes and 16 GB on 2 cores"]
fn a_twenty_header_range_is_one_aggregated_proof_the_host_checks() {
    let RangeRun { outcome, segments: segment_files, range, witness, first_piece } = range_run();
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
    assert_eq!(segment_files.len(), 2, "{outcome}");
    let segment_proofs: Vec<ProofFile> = segment_files.iter().map(|p| read(p)).collect();
    assert_eq!(segment_proofs.iter().map(|s| s.shape.num_headers).collect::<Vec<_>>(), [16, 4]);
    assert!(segment_proofs.iter().all(|s| s.transcript == Transcript::Poseidon));
    let range_key = range_key();
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
    let o = run("verifier", &[&"check", &"-p", &range, &"--witness", &first_piece, &"--key", &range_key]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // Edited range proofs, each refused with its reason.
    let proof: RangeProofFile = read(&range);
    assert_eq!(proof.transcript, Transcript::Keccak);
    let pinned = [PinnedRangeKey::new(read::<RangeKeyFile>(&range_key)).unwrap()];
    // A key file of another circuit or version is refused by name, not read as this one.
    let mut other_circuit: RangeKeyFile = read(&range_key);
    other_circuit.circuit = "header-range-wrapped/v1".into();
    assert!(matches!(PinnedRangeKey::new(other_circuit), Err(RangeKeyError::Format { .. })));
    let mut other_version: RangeKeyFile = read(&range_key);
    other_version.version += 1;
    assert!(matches!(PinnedRangeKey::new(other_version), Err(RangeKeyError::Format { .. })));
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
    // The identity twice passes any pairing: refused, as the contract refuses it.
    assert_eq!(files::decide(points, &[Fr::from(0u64); 12]), Err(RangeRejection::BadAccumulator));
}

/// `word + r` as 32 big-endian bytes (r: BN254's scalar modulus; no
/// overflow for a canonical word, since 2r < 2^256).
fn plus_modulus(word: &[u8]) -> Vec<u8> {
    let r = hex::decode("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001").unwrap();
    let mut sum = vec![0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let v = word[i] as u16 + r[i] as u16 + carry;
        sum[i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0, "a canonical scalar plus r fits in 256 bits");
    sum
}

/// A copy of the proof file `proof` (JSON) with `edit` applied, at `dir/name`.
fn edited(dir: &Path, name: &str, proof: &Value, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut copy = proof.clone();
    edit(&mut copy);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&copy).unwrap()).unwrap();
    path
}

/// The calldata a proof file makes: its instances (32 bytes each), then the proof.
fn calldata_of(proof: &Value) -> Vec<u8> {
    let mut data: Vec<u8> = proof["instances"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| hex::decode(&i.as_str().unwrap()[2..]).unwrap())
        .collect();
    data.extend(hex::decode(&proof["proof"].as_str().unwrap()[2..]).unwrap());
    data
}

#[test]
#[ignore = "heavy tier (`cargo xtask test --heavy`): a range run aggregates at k = 21 and wraps at k = 22, 25 minutes and 16 GB on 2 cores"]
fn the_range_contract_accepts_the_range_proof_and_rejects_each_tampering() {
    let RangeRun { range, .. } = range_run();
    let dir = tempfile::tempdir().unwrap();
    let proof: Value = read(&range);

    // The contract for the key the range-verifier image pins (the default):
    // one contract under EIP-170's limit.
    let o = xtask(&["evm-verifier", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(made["instances"], INSTANCES, "{made}");
    assert_eq!(made["headers"], 20, "{made}");
    assert_eq!(made["key_id"], proof["key_id"], "the contract and the proof share the pinned key: {made}");
    assert!(made["verifier"]["runtime_bytes"].as_u64().unwrap() <= 24_576, "{made}");
    assert!(made["reference_runtime_bytes"].as_u64().unwrap() > 0, "{made}");
    let honest = calldata_of(&proof);
    assert_eq!(made["calldata_bytes"].as_u64().unwrap() as usize, honest.len(), "calldata: instances, then the proof");
    let scalar_words: Vec<[usize; 2]> = serde_json::from_value(made["scalar_words"].clone()).unwrap();
    assert_eq!(scalar_words[0], [0, INSTANCES * 32], "the instances are the first scalars");
    let first_evaluation = scalar_words[1][0];
    let key_word = format!("0x{}", made["key_id"].as_str().unwrap());

    // Deployed from anvil's development account, only when the dev SRS is allowed.
    let node = end_to_end::start_anvil(None).unwrap();
    let o = xtask(&["evm-deploy", "--rpc", &node.url, "--json"]);
    assert_eq!(o.status.code(), Some(1), "the dev SRS is refused without --allow-insecure-srs");
    assert!(stderr(&o).contains("INSECURE development SRS"), "{}", stderr(&o));
    let o = xtask(&["evm-deploy", "--rpc", &node.url, "--allow-insecure-srs", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deployed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let address = deployed["verifier"].as_str().unwrap().to_string();
    let submit_to = |to: &str, proof: &Path, extra: &[&str]| {
        let mut args = vec!["evm-submit", "--rpc", &node.url, "--address", to, "--proof", proof.to_str().unwrap()];
        args.extend(extra);
        xtask(&args)
    };
    let submit = |proof: &Path, extra: &[&str]| submit_to(&address, proof, extra);

    // Accepted, with its gas and the statement decoded from the instances.
    let o = submit(&range, &["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let verdict: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((verdict["accepted"].clone(), verdict["recognised"].clone()), (json!(true), json!(true)), "{verdict}");
    assert_eq!(verdict["statement"], proof["statement"], "{verdict}");
    assert_eq!(verdict["statement"]["last_number"], 20, "{verdict}");
    let gas = verdict["gas"].as_u64().unwrap();
    assert!(gas <= GAS_CEILING, "a range proof costs {gas} gas on chain, over {GAS_CEILING}");

    // Refused before asking (exit 2): a statement edited without its
    // instances, a proof of another key, an instance + r (encodes no statement).
    let forged_claim = edited(dir.path(), "forged-claim.json", &proof, |p| {
        p["statement"]["last_hash"] = format!("0x{}", "ab".repeat(32)).into();
    });
    let other_key = edited(dir.path(), "other-key.json", &proof, |p| p["key_id"] = "00".repeat(32).into());
    let twenty_plus_r = format!("0x{}", hex::encode(plus_modulus(&hex::decode(format!("{:064x}", 20)).unwrap())));
    let non_canonical =
        edited(dir.path(), "non-canonical.json", &proof, |p| p["instances"][5] = twenty_plus_r.clone().into());
    for (bad, says) in [
        (&forged_claim, "is not the one its instances encode"),
        (&other_key, "was made for key"),
        (&non_canonical, "does not fit 64 bits"),
    ] {
        let o = submit(bad, &[]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "expected {says:?}: {}", stderr(&o));
    }

    // Rejected by the contract itself (exit 1, REJECTED): a bit of the proof,
    // a later last number, an accumulator limb (a point off the curve: it
    // reverts, never runs out of gas), a proof scalar + r.
    let flip_proof_byte = edited(dir.path(), "flipped.json", &proof, |p| {
        let mut bytes = hex::decode(&p["proof"].as_str().unwrap()[2..]).unwrap();
        bytes[1000] ^= 1;
        p["proof"] = format!("0x{}", hex::encode(bytes)).into();
    });
    let later = edited(dir.path(), "later.json", &proof, |p| {
        p["instances"][5] = format!("0x{:064x}", 21).into();
        p["statement"]["last_number"] = 21.into();
    });
    let limb = edited(dir.path(), "limb.json", &proof, |p| p["instances"][7] = format!("0x{:064x}", 7).into());
    let evaluation_plus_r = edited(dir.path(), "evaluation-plus-r.json", &proof, |p| {
        let mut bytes = hex::decode(&p["proof"].as_str().unwrap()[2..]).unwrap();
        let at = first_evaluation - INSTANCES * 32;
        let shifted = plus_modulus(&bytes[at..at + 32]);
        bytes[at..at + 32].copy_from_slice(&shifted);
        p["proof"] = format!("0x{}", hex::encode(bytes)).into();
    });
    for bad in [&flip_proof_byte, &later, &limb, &evaluation_plus_r] {
        let o = submit(bad, &["--json"]);
        assert_eq!(o.status.code(), Some(1), "{}: {}", bad.display(), stderr(&o));
        assert!(stderr(&o).contains("REJECTED"), "{}: {}", bad.display(), stderr(&o));
        let verdict: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        assert_ne!(verdict["accepted"], true, "{}: {verdict}", bad.display());
    }

    // The contract takes exactly its calldata, each instance canonical.
    let call = |to: &str, data: &[u8]| {
        node.call("eth_call", json!([{ "to": to, "data": format!("0x{}", hex::encode(data)) }, "latest"]))
    };
    assert_eq!(call(&address, &honest).unwrap().as_str(), Some(key_word.as_str()), "the success word is the key id");
    assert!(call(&address, &[&honest[..], &[0]].concat()).is_err(), "a longer calldata is refused");
    assert!(call(&address, &honest[..honest.len() - 32]).is_err(), "a shorter calldata is refused");
    assert!(call(&address, &calldata_of(&read(&non_canonical))).is_err(), "an instance + r is refused");

    // Look-alikes: code no record describes, however it answers, is refused
    // by evm-submit; the record's code at another address is the verifier
    // (one contract: its behaviour is its code).
    let set_code = |at: &str, code: &str| node.call("anvil_setCode", json!([at, code])).unwrap();
    let always_yes = format!("0x{}", "b2".repeat(20));
    // PUSH32 key; PUSH1 0; MSTORE; PUSH1 32; PUSH1 0; RETURN
    set_code(&always_yes, &format!("0x7f{}60005260206000f3", &key_word[2..]));
    let o = submit_to(&always_yes, &flip_proof_byte, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not a verifier any record"), "{}", stderr(&o));
    let copy = format!("0x{}", "a1".repeat(20));
    let runtime = node.call("eth_getCode", json!([address, "latest"])).unwrap();
    set_code(&copy, runtime.as_str().unwrap());
    assert!(submit_to(&copy, &range, &[]).status.success(), "the record's code elsewhere is recognised");
    assert_eq!(submit_to(&copy, &flip_proof_byte, &[]).status.code(), Some(1));

    // Differential: snark-verifier's own contract, unmodified, gives the
    // same verdict on the same calldata; only scalars + r and wrong lengths
    // are refused by ours alone (it reduces the one and ignores the other).
    let reference_code =
        std::fs::read_to_string(end_to_end::target_dir().join("evm/header-range-20-by-16/Halo2Verifier.creation.hex"))
            .unwrap();
    let receipt = node
        .send_transaction(
            json!({ "from": anvil_harness::DEV_ACCOUNT_0, "data": format!("0x{}", reference_code.trim()) }),
        )
        .unwrap();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let reference = receipt["contractAddress"].as_str().unwrap().to_string();
    let ours_says = |data: &[u8]| match call(&address, data) {
        Ok(result) => {
            assert_eq!(result.as_str(), Some(key_word.as_str()), "our verifier succeeded without its success word");
            true
        }
        Err(_) => false,
    };
    let reference_says = |data: &[u8]| call(&reference, data).is_ok_and(|result| result == "0x");
    let modified = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut data = honest.clone();
        edit(&mut data);
        data
    };
    let flip = |at: usize| move |d: &mut Vec<u8>| d[at] ^= 0x01;
    let proof_start = INSTANCES * 32;
    let p_modulus = hex::decode("30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47").unwrap();
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("honest", honest.clone(), true),
        ("a bit of a statement instance", modified(&flip(5 * 32 + 31)), false),
        ("a bit of an accumulator limb", modified(&flip(7 * 32 + 31)), false),
        ("a bit of the first commitment", modified(&flip(proof_start + 40)), false),
        ("a bit of a later commitment", modified(&flip(proof_start + 64 * 3 + 3)), false),
        ("a bit of an evaluation", modified(&flip(first_evaluation + 17)), false),
        ("a bit of the opening proof", modified(&flip(honest.len() - 1)), false),
        (
            "an evaluation + 1",
            modified(&|d: &mut Vec<u8>| {
                let mut i = first_evaluation + 31;
                loop {
                    d[i] = d[i].wrapping_add(1);
                    if d[i] != 0 {
                        break;
                    }
                    i -= 1;
                }
            }),
            false,
        ),
        (
            "the first commitment negated",
            modified(&|d: &mut Vec<u8>| {
                let y = proof_start + 32;
                let mut borrow = 0i16;
                let mut negated = [0u8; 32];
                for k in (0..32).rev() {
                    let v = p_modulus[k] as i16 - d[y + k] as i16 - borrow;
                    negated[k] = v.rem_euclid(256) as u8;
                    borrow = i16::from(v < 0);
                }
                d[y..y + 32].copy_from_slice(&negated);
            }),
            false,
        ),
        (
            "two commitments swapped",
            modified(&|d: &mut Vec<u8>| {
                let (a, b) = (proof_start, proof_start + 64);
                let first: Vec<u8> = d[a..a + 64].to_vec();
                d.copy_within(b..b + 64, a);
                d[b..b + 64].copy_from_slice(&first);
            }),
            false,
        ),
        (
            "the accumulator's two points swapped",
            modified(&|d: &mut Vec<u8>| {
                let (a, b) = (6 * 32, 12 * 32);
                let lhs: Vec<u8> = d[a..b].to_vec();
                d.copy_within(b..18 * 32, a);
                d[b..18 * 32].copy_from_slice(&lhs);
            }),
            false,
        ),
    ];
    for (what, data, valid) in &cases {
        let (ours, theirs) = (ours_says(data), reference_says(data));
        assert_eq!((ours, theirs), (*valid, *valid), "{what}: ours {ours}, snark-verifier's {theirs}");
    }
    let plus_r = modified(&|d: &mut Vec<u8>| {
        let shifted = plus_modulus(&d[first_evaluation..first_evaluation + 32]);
        d[first_evaluation..first_evaluation + 32].copy_from_slice(&shifted);
    });
    assert_eq!((ours_says(&plus_r), reference_says(&plus_r)), (false, true), "an evaluation + r");
    let longer = modified(&|d: &mut Vec<u8>| d.push(0));
    assert_eq!((ours_says(&longer), reference_says(&longer)), (false, true), "one byte more");

    // Gas: too little never accepts. An honest proof below its gas either
    // fails or (near the top) succeeds with the success word; a tampered
    // one never succeeds, however much gas it is given.
    let needed = node
        .call("eth_estimateGas", json!([{ "to": address, "data": format!("0x{}", hex::encode(&honest)) }]))
        .unwrap();
    let needed = u64::from_str_radix(needed.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let tampered = modified(&flip(proof_start + 40));
    for tenth in [1u64, 3, 5, 7, 9, 10, 20] {
        let gas = format!("{:#x}", needed * tenth / 10);
        let with_gas = |data: &[u8]| {
            node.call(
                "eth_call",
                json!([{ "to": address, "data": format!("0x{}", hex::encode(data)), "gas": gas }, "latest"]),
            )
        };
        match with_gas(&honest) {
            Ok(result) => assert_eq!(result.as_str(), Some(key_word.as_str()), "at {gas} gas"),
            Err(_) => assert!(tenth < 20, "the honest proof failed with {gas} gas, twice its estimate"),
        }
        assert!(with_gas(&tampered).is_err(), "a tampered proof was accepted with {gas} gas");
    }
}
