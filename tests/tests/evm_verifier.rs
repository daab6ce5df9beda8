//! Proofs a contract accepts, on a real anvil: `cargo xtask evm-verifier`
//! writes and splits the Solidity verifier for the pinned 8-header key, an
//! anvil-mined chain is proven by the static prover with the Keccak
//! transcript, `cargo xtask evm-deploy` deploys the parts and the verifier,
//! and `cargo xtask evm-submit` gets ACCEPTED; a tampered proof, a tampered
//! public input and a proof for another key are rejected by the contract;
//! bad input (the other flavour, no code, no node) is refused before asking.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use end_to_end::{output_text as text, target_dir, workspace_root};
use serde_json::{json, Value};

fn xtask(args: &[&str]) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .arg("xtask")
        .args(args)
        .output()
        .expect("cargo xtask runs")
}

/// The static prover and verifier, as `cargo xtask` built them for the images.
fn static_binary(name: &str) -> PathBuf {
    target_dir().join("x86_64-unknown-linux-musl/release").join(name)
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program).args(args).output().expect("program runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
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

fn edited(dir: &Path, name: &str, proof: &Value, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut copy = proof.clone();
    edit(&mut copy);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&copy).unwrap()).unwrap();
    path
}

#[test]
fn an_anvil_chain_proven_for_the_evm_is_accepted_by_the_generated_contract() {
    let dir = tempfile::tempdir().unwrap();

    // The contract for the key the verifier image pins, split to fit EIP-170.
    let o = xtask(&["evm-verifier", "--headers", "8", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let made: Value = serde_json::from_slice(&o.stdout).unwrap();
    let limit = made["code_size_limit"].as_u64().unwrap();
    assert_eq!(limit, 24_576);
    assert!(made["unsplit_runtime_bytes"].as_u64().unwrap() > limit, "the split is needed: {made}");
    let parts = made["parts"].as_array().unwrap();
    assert!(parts.len() > 1);
    for part in parts.iter().chain([&made["verifier"]]) {
        let size = part["runtime_bytes"].as_u64().unwrap();
        assert!(size > 0 && size <= limit, "{part}");
    }
    let key = target_dir().join("keys/header-chain-8.key.json");
    let srs = target_dir().join("srs/kzg_bn254_14.INSECURE-DEV.srs");
    assert!(srs.is_file(), "the prover image's SRS is made with the key: {}", srs.display());

    // An 8-header chain mined by anvil, proven with the Keccak transcript.
    let node = end_to_end::start_anvil(None).unwrap();
    node.mine_with_transactions(8).unwrap();
    let (prover, verifier) = (static_binary("prover"), static_binary("verifier"));
    // Blocks 1..=last captured, then proven with the Keccak transcript.
    let prove_chain = |last: &str| {
        let witness = dir.path().join(format!("witness-{last}.json"));
        let o = run(&prover, &["witness-capture", "-r", &node.url, "--from", "1", "--to", last, "-w", s(&witness)]);
        assert!(o.status.success(), "{}", text(&o));
        let proof = dir.path().join(format!("proof-{last}.json"));
        let o = run(&prover, &["prove", "-w", s(&witness), "-k", s(&srs), "-p", s(&proof), "--transcript", "keccak"]);
        assert!(o.status.success(), "{}", text(&o));
        proof
    };
    let proof_path = prove_chain("8");
    let proof: Value = serde_json::from_slice(&std::fs::read(&proof_path).unwrap()).unwrap();
    assert_eq!(proof["transcript"], "keccak");
    assert_eq!(proof["key_id"], made["key_id"], "the contract and the proof share the pinned key");
    let proof_bytes = (proof["proof"].as_str().unwrap().len() - 2) / 2;
    assert_eq!(
        made["calldata_bytes"].as_u64().unwrap() as usize,
        6 * 32 + proof_bytes,
        "calldata: instances, then the proof"
    );

    // The verifier program checks this flavour too.
    let report = dir.path().join("report.json");
    let o = run(&verifier, &["verify", "-p", s(&proof_path), "--key", s(&key), "--report", s(&report)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!((r["valid"].clone(), r["transcript"].clone()), (json!(true), json!("keccak")), "{r}");

    // The key is the development SRS's: deploying is refused unless asked.
    assert_eq!(made["insecure_dev_srs"], true);
    let o = xtask(&["evm-deploy", "--rpc", &node.url, "--headers", "8"]);
    assert!(!o.status.success() && text(&o).contains("refusing to deploy"), "{}", text(&o));
    assert_eq!(node.call("eth_getTransactionCount", json!([anvil_harness::DEV_ACCOUNT_0, "latest"])).unwrap(), "0x8");

    // Deployed from anvil's development account; accepted, with its gas.
    let o = xtask(&["evm-deploy", "--rpc", &node.url, "--headers", "8", "--allow-insecure-srs", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let deployment: Value = serde_json::from_slice(&o.stdout).unwrap();
    let address = deployment["verifier"].as_str().unwrap().to_string();
    assert_eq!(deployment["parts"].as_array().unwrap().len(), parts.len());
    let submit = |proof: &Path, extra: &[&str]| {
        let mut args = vec!["evm-submit", "--rpc", &node.url, "--address", &address, "--proof", s(proof)];
        args.extend(extra);
        xtask(&args)
    };
    let o = submit(&proof_path, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let verdict: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(verdict["accepted"], true, "{verdict}");
    assert!(verdict["gas"].as_u64().unwrap() > 21_000, "{verdict}");
    assert_eq!(verdict["statement"]["last_number"], 8);

    // The contract rejects a tampered proof and a tampered public input.
    let tampered_proof = edited(dir.path(), "tampered-proof.json", &proof, |p| {
        let mut bytes = hex::decode(&p["proof"].as_str().unwrap()[2..]).unwrap();
        bytes[1000] ^= 1;
        p["proof"] = format!("0x{}", hex::encode(bytes)).into();
    });
    let tampered_input = edited(dir.path(), "tampered-input.json", &proof, |p| {
        // The last block number, one more (still a canonical field element).
        p["instances"][5] = format!("0x{:064x}", 9).into();
        p["statement"]["last_number"] = 9.into();
    });
    // The same number plus the field's modulus: snark-verifier's code alone
    // would reduce it and accept; the verifier requires canonical instances.
    let r = "30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
    let eight_plus_r = format!("0x{}9", &r[..63]);
    assert_eq!(u8::from_str_radix(&r[63..], 16).unwrap() + 8, 9);
    let non_canonical = edited(dir.path(), "non-canonical.json", &proof, |p| {
        p["instances"][5] = eight_plus_r.clone().into();
    });
    // Likewise a scalar of the proof itself (its first evaluation): without
    // the check the same proof would have a second encoding that verifies.
    let scalar_words: Vec<[usize; 2]> = serde_json::from_value(made["scalar_words"].clone()).unwrap();
    assert_eq!(scalar_words[0], [0, 6 * 32], "the instances are the first scalars");
    let evaluation = scalar_words[1][0] - 6 * 32;
    let non_canonical_proof = edited(dir.path(), "non-canonical-proof.json", &proof, |p| {
        let mut bytes = hex::decode(&p["proof"].as_str().unwrap()[2..]).unwrap();
        let shifted = plus_modulus(&bytes[evaluation..evaluation + 32]);
        bytes[evaluation..evaluation + 32].copy_from_slice(&shifted);
        p["proof"] = format!("0x{}", hex::encode(bytes)).into();
    });
    for bad in [&tampered_proof, &tampered_input, &non_canonical, &non_canonical_proof] {
        let o = submit(bad, &[]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("REJECTED"), "{}", text(&o));
    }

    // A proof for another key (a 1-header chain): refused before asking,
    // and rejected by the contract when asked anyway.
    let other = prove_chain("1");
    let o = submit(&other, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("verifies key") && text(&o).contains("was made for key"), "{}", text(&o));
    let o = submit(&other, &["--skip-key-check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("REJECTED"), "{}", text(&o));

    // Bad input, each refused with a reason and exit 2: the other flavour,
    // an address without code, a node that is not there.
    let blake = edited(dir.path(), "blake.json", &proof, |p| {
        p.as_object_mut().unwrap().remove("transcript");
    });
    let o = submit(&blake, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("blake2b-transcript proof"), "{}", text(&o));
    let o = xtask(&[
        "evm-submit",
        "--rpc",
        &node.url,
        "--address",
        &format!("0x{}", "11".repeat(20)),
        "--proof",
        s(&proof_path),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no contract at"), "{}", text(&o));
    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let o = xtask(&["evm-submit", "--rpc", &closed, "--address", &address, "--proof", s(&proof_path)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot reach the JSON-RPC node"), "{}", text(&o));

    // The contract itself takes exactly its calldata length...
    let call = |data: &str| node.call("eth_call", json!([{ "to": address, "data": data }, "latest"]));
    let calldata = |p: &Value| {
        let mut data: String =
            p["instances"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()[2..].to_string()).collect();
        data.push_str(&p["proof"].as_str().unwrap()[2..]);
        data
    };
    let honest = calldata(&proof);
    call(&format!("0x{honest}")).expect("the honest calldata verifies");
    assert!(call(&format!("0x{honest}00")).is_err(), "a longer calldata is refused");
    assert!(call(&format!("0x{}", &honest[..honest.len() - 64])).is_err(), "a shorter calldata is refused");
    // ...and a verifier given parts other than its own refuses to deploy.
    let record: Value =
        serde_json::from_slice(&std::fs::read(target_dir().join("keys/header-chain-8.evm.json")).unwrap()).unwrap();
    let mut swapped: Vec<&str> = deployment["parts"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    swapped.swap(0, 1);
    let mut args = format!("{:064x}{:064x}", 32, swapped.len());
    for a in &swapped {
        args.push_str(&format!("{:0>64}", &a[2..]));
    }
    let creation = format!("0x{}{args}", record["verifier"]["creation_code"].as_str().unwrap());
    // anvil mines after it answers: wait for the receipt, then read it.
    let sent =
        node.send_transaction(json!({ "from": anvil_harness::DEV_ACCOUNT_0, "data": creation, "gas": "0x1c9c380" }));
    match sent {
        Err(e) => {
            assert!(e.to_string().contains("revert"), "the swapped-parts deployment failed for another reason: {e}")
        }
        Ok(receipt) => {
            assert_eq!(receipt["status"], "0x0", "a verifier with swapped parts was deployed: {receipt}");
            let at = receipt["contractAddress"].as_str().unwrap_or_default();
            let code = node.call("eth_getCode", json!([at, "latest"])).unwrap();
            assert_eq!(code, "0x", "code left at {at} by the refused deployment");
        }
    }
}
