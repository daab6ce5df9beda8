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
    let prove_range = |first: &str, last: &str| {
        let witness = dir.path().join(format!("witness-{first}-{last}.json"));
        let o = run(&prover, &["witness-capture", "-r", &node.url, "--from", first, "--to", last, "-w", s(&witness)]);
        assert!(o.status.success(), "{}", text(&o));
        let proof = dir.path().join(format!("proof-{first}-{last}.json"));
        let o = run(&prover, &["prove", "-w", s(&witness), "-k", s(&srs), "-p", s(&proof), "--transcript", "keccak"]);
        assert!(o.status.success(), "{}", text(&o));
        proof
    };
    let prove_chain = |last: &str| prove_range("1", last);
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
    assert_eq!(verdict["recognised"], true, "{verdict}");
    assert!(verdict["gas"].as_u64().unwrap() > 21_000, "{verdict}");
    // The statement printed is the one decoded from the instances sent.
    assert_eq!(verdict["statement"], proof["statement"], "{verdict}");
    assert_eq!(verdict["statement"]["last_number"], 8);

    // A file whose statement was edited but not its instances: refused
    // before asking (the contract would check the instances, not the claim).
    let forged_claim = edited(dir.path(), "forged-claim.json", &proof, |p| {
        p["statement"]["last_hash"] = format!("0x{}", "ab".repeat(32)).into();
    });
    let o = submit(&forged_claim, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is not the one its instances encode"), "{}", text(&o));

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
    for bad in [&tampered_proof, &tampered_input, &non_canonical_proof] {
        let o = submit(bad, &[]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("REJECTED"), "{}", text(&o));
    }
    // An instance + r encodes no statement: evm-submit refuses to send it
    // (the contract's own refusal is checked below, called directly).
    let o = submit(&non_canonical, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("does not fit 64 bits"), "{}", text(&o));

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
    let plus_r_instance = calldata(&serde_json::from_slice(&std::fs::read(&non_canonical).unwrap()).unwrap());
    assert!(call(&format!("0x{plus_r_instance}")).is_err(), "an instance + r is refused");
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

    // A part called directly: reverts, whatever it is sent. Its fallback
    // runs one slice of the computation; only its verifier may ask it.
    let part_addresses: Vec<String> =
        deployment["parts"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    let part_calls = |part: &str, memory: u64| {
        let padded = format!("0x{honest}{}", "00".repeat(memory as usize));
        [String::from("0x"), format!("0x{honest}"), padded, "0x62696e64".into()]
            .into_iter()
            .map(|data| node.call("eth_call", json!([{ "to": part, "data": data }, "latest"])))
            .collect::<Vec<_>>()
    };
    for (i, part) in part_addresses.iter().enumerate() {
        let memory = record["parts"][i]["memory_bytes"].as_u64().unwrap();
        for (k, answer) in part_calls(part, memory).into_iter().enumerate() {
            assert!(answer.is_err(), "part {i} answered call {k} from a stranger: {answer:?}");
        }
    }
    // evm-submit refuses a part (not a verifier it recognises) and, told to
    // ask anyway, gets REJECTED even for a tampered proof.
    let last_part = part_addresses.last().unwrap().as_str();
    let submit_to = |to: &str, proof: &Path, extra: &[&str]| {
        let mut args = vec!["evm-submit", "--rpc", &node.url, "--address", to, "--proof", s(proof)];
        args.extend(extra);
        xtask(&args)
    };
    let o = submit_to(last_part, &tampered_proof, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is not a verifier any record"), "{}", text(&o));
    let o = submit_to(last_part, &tampered_proof, &["--unrecognised-contract"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("REJECTED"), "{}", text(&o));

    // Look-alikes: the verifier's runtime code, byte for byte, at other
    // addresses (anvil_setCode), with other parts in its storage.
    let runtime = node.call("eth_getCode", json!([address, "latest"])).unwrap();
    let set_code = |at: &str, code: &Value| node.call("anvil_setCode", json!([at, code])).unwrap();
    let set_slot = |at: &str, slot: usize, value: &str| {
        let word = format!("0x{:0>64}", value.trim_start_matches("0x"));
        node.call("anvil_setStorageAt", json!([at, format!("{slot:#x}"), word])).unwrap()
    };
    let key_word = format!("0x{}", made["key_id"].as_str().unwrap());
    // (a) The genuine parts, which are bound to the genuine verifier: they refuse it.
    let borrowed = format!("0x{}", "a1".repeat(20));
    set_code(&borrowed, &runtime);
    for (i, part) in part_addresses.iter().enumerate() {
        set_slot(&borrowed, i, part);
    }
    // (b) Copies of the parts bound to it, but a last part that always
    // answers the success word: its code hash is not the one compiled in.
    let faked = format!("0x{}", "b2".repeat(20));
    set_code(&faked, &runtime);
    for (i, part) in part_addresses.iter().enumerate() {
        let copy = format!("0x{}{:02x}", "c3".repeat(19), i);
        let code = if i + 1 == part_addresses.len() {
            // PUSH32 key; PUSH1 0; MSTORE; PUSH1 32; PUSH1 0; RETURN
            json!(format!("0x7f{}60005260206000f3", &key_word[2..]))
        } else {
            node.call("eth_getCode", json!([part, "latest"])).unwrap()
        };
        set_code(&copy, &code);
        set_slot(&copy, 0, &faked);
        set_slot(&faked, i, &copy);
    }
    for (look_alike, why) in [(&borrowed, "is not bound to the verifier"), (&faked, "does not run")] {
        for bad in [&proof_path, &tampered_proof] {
            let answer = node.call("eth_call", json!([{ "to": look_alike, "data": format!("0x{}", calldata(&serde_json::from_slice(&std::fs::read(bad).unwrap()).unwrap())) }, "latest"]));
            assert!(answer.is_err(), "the look-alike at {look_alike} answered: {answer:?}");
        }
        let o = submit_to(look_alike, &proof_path, &[]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(why), "{}", text(&o));
    }

    // Differential: snark-verifier's unsplit contract (on an anvil without
    // the size limit) and the split verifier give the same verdict on the
    // same modified calldata; only non-canonical scalars and wrong lengths
    // are refused by the split verifier alone.
    let unlimited = anvil_harness::Anvil::start_with(
        &end_to_end::anvil_binary().unwrap(),
        None,
        &["--disable-code-size-limit", "--gas-limit", "200000000"],
    )
    .unwrap();
    let creation = std::fs::read_to_string(target_dir().join("evm/header-chain-8/Halo2Verifier.creation.hex")).unwrap();
    let receipt = unlimited
        .send_transaction(json!({ "from": anvil_harness::DEV_ACCOUNT_0, "data": format!("0x{}", creation.trim()), "gas": "0x8f0d180" }))
        .unwrap();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let unsplit = receipt["contractAddress"].as_str().unwrap().to_string();
    let split_says = |data: &[u8]| match call(&format!("0x{}", hex::encode(data))) {
        Ok(result) => {
            assert_eq!(
                result.as_str(),
                Some(key_word.as_str()),
                "the split verifier succeeded without its success word"
            );
            true
        }
        Err(_) => false,
    };
    let unsplit_says = |data: &[u8]| {
        let answer = unlimited
            .call("eth_call", json!([{ "to": unsplit, "data": format!("0x{}", hex::encode(data)) }, "latest"]));
        answer.is_ok_and(|result| result == "0x")
    };
    let honest_bytes = hex::decode(&honest).unwrap();
    let other_chain = prove_range("2", "9");
    let other: Value = serde_json::from_slice(&std::fs::read(&other_chain).unwrap()).unwrap();
    let other_bytes = hex::decode(calldata(&other)).unwrap();
    let first_evaluation = scalar_words[1][0];
    let modified = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut data = honest_bytes.clone();
        edit(&mut data);
        data
    };
    let flip = |at: usize| move |d: &mut Vec<u8>| d[at] ^= 0x01;
    let p_modulus = hex::decode("30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47").unwrap();
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("honest", honest_bytes.clone(), true),
        ("another chain's honest proof", other_bytes.clone(), true),
        ("a bit of an instance", modified(&flip(31)), false),
        ("a bit of the first commitment", modified(&flip(6 * 32 + 40)), false),
        ("a bit of a later commitment", modified(&flip(6 * 32 + 64 * 10 + 3)), false),
        ("a bit of an evaluation", modified(&flip(first_evaluation + 17)), false),
        ("a bit of the opening proof", modified(&flip(honest_bytes.len() - 1)), false),
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
                let y = 6 * 32 + 32;
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
                let (a, b) = (6 * 32, 6 * 32 + 64);
                let first: Vec<u8> = d[a..a + 64].to_vec();
                d.copy_within(b..b + 64, a);
                d[b..b + 64].copy_from_slice(&first);
            }),
            false,
        ),
        (
            "this proof with another chain's instances",
            modified(&|d: &mut Vec<u8>| d[..6 * 32].copy_from_slice(&other_bytes[..6 * 32])),
            false,
        ),
    ];
    for (what, data, valid) in &cases {
        let (split, unsplit) = (split_says(data), unsplit_says(data));
        assert_eq!((split, unsplit), (*valid, *valid), "{what}: split {split}, unsplit {unsplit}");
    }
    // What the split verifier alone refuses: a scalar + r, and wrong lengths.
    let plus_r = modified(&|d: &mut Vec<u8>| {
        let shifted = plus_modulus(&d[first_evaluation..first_evaluation + 32]);
        d[first_evaluation..first_evaluation + 32].copy_from_slice(&shifted);
    });
    assert_eq!((split_says(&plus_r), unsplit_says(&plus_r)), (false, true), "an evaluation + r");
    let longer = modified(&|d: &mut Vec<u8>| d.push(0));
    assert_eq!((split_says(&longer), unsplit_says(&longer)), (false, true), "one byte more");
    assert!(!split_says(&honest_bytes[..honest_bytes.len() - 32]), "32 bytes fewer");

    // Gas: too little never accepts. An honest proof below its gas either
    // fails or (near the top) succeeds with the success word; a tampered one
    // never succeeds, however much gas it is given.
    let needed = u64::from_str_radix(
        node.call("eth_estimateGas", json!([{ "to": address, "data": format!("0x{honest}") }]))
            .unwrap()
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let tampered_bytes = modified(&flip(6 * 32 + 40));
    for tenth in [1u64, 3, 5, 7, 9, 10, 20] {
        let gas = format!("{:#x}", needed * tenth / 10);
        let honest_answer =
            node.call("eth_call", json!([{ "to": address, "data": format!("0x{honest}"), "gas": gas }, "latest"]));
        if let Ok(result) = &honest_answer {
            assert_eq!(result.as_str(), Some(key_word.as_str()), "at {gas} gas");
        } else {
            assert!(tenth < 20, "the honest proof failed with {gas} gas, twice its estimate");
        }
        let tampered_answer = node.call(
            "eth_call",
            json!([{ "to": address, "data": format!("0x{}", hex::encode(&tampered_bytes)), "gas": gas }, "latest"]),
        );
        assert!(tampered_answer.is_err(), "a tampered proof was accepted with {gas} gas: {tampered_answer:?}");
    }
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
    let limb = |hex_tail: &str| format!("0x{:0>64}", hex_tail);
    let proof = json!({
        "kind": "header-chain-proof",
        "key_id": key,
        "transcript": "keccak",
        "statement": {
            "first_parent_hash": format!("0x{}", "11".repeat(32)),
            "first_number": 1,
            "last_hash": format!("0x{}{}", "22".repeat(16), "33".repeat(16)),
            "last_number": 8,
        },
        "instances": [limb(&"11".repeat(16)), limb(&"11".repeat(16)), limb("1"), limb(&"22".repeat(16)), limb(&"33".repeat(16)), limb("8")],
        "proof": "0x00",
    });
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
