//! Real keygen, SHPLONK proofs and verification on the insecure development
//! SRS, and the verifier's refusals: tampered proofs, edited statements,
//! another circuit's key, unpinned keys.

use alloy_primitives::B256;
use header_chain::proof::{fr_from_hex, fr_to_hex, keygen, verify, PinnedKey, Rejection, Transcript, VerifierKeyFile};
use header_chain::prover::{prove_witness, shape_for};
use header_chain::srs;
use header_chain::witness::{WitnessFile, WitnessHeader};
use rand::{Rng, SeedableRng};

fn prague_witness() -> WitnessFile {
    let fixtures: serde_json::Value = serde_json::from_str(include_str!("fixtures/mainnet-headers.json")).unwrap();
    let f = &fixtures["headers"][1];
    let rlp = hex::decode(f["rlp"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    WitnessFile {
        kind: header_chain::witness::WITNESS_KIND.into(),
        version: header_chain::witness::WITNESS_VERSION,
        chain_id: Some(1),
        headers: vec![WitnessHeader {
            number: f["number"].as_u64().unwrap(),
            hash: f["hash"].as_str().unwrap().parse().unwrap(),
            rlp: rlp.into(),
        }],
    }
}

fn dev_srs(dir: &std::path::Path, k: u32) -> std::path::PathBuf {
    let path = dir.join(srs::dev_srs_file_name(k));
    srs::write(&srs::generate_insecure_dev(k), &path).unwrap();
    path
}

#[test]
fn prove_verify_and_reject_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let witness = prague_witness();
    let k = shape_for(&witness).unwrap().k;
    // A larger SRS than needed is downsized in memory.
    let srs_path = dev_srs(dir.path(), k + 1);
    let proved = prove_witness(&witness, &srs_path, Transcript::Blake2b, |_| {}).unwrap();
    let key = proved.keys.verifier.clone();
    let pinned_key = PinnedKey::new(key.clone()).unwrap();
    let pinned = std::slice::from_ref(&pinned_key);
    verify(pinned, &proved.proof).expect("an honest proof verifies");
    assert_eq!(proved.proof.statement.last_number, 23_513_000);

    // The Keccak (EVM) flavour: the same key verifies it; a flavour label
    // that lies fails the proof, both ways.
    let params = srs::read_for_k(&srs_path, k).unwrap();
    let keccak = header_chain::proof::prove(
        &params,
        &proved.keys,
        witness.rlp_headers(),
        &witness.statement(),
        Transcript::Keccak,
    )
    .unwrap();
    assert_eq!((keccak.transcript, &keccak.key_id), (Transcript::Keccak, &proved.proof.key_id));
    verify(pinned, &keccak).expect("an honest keccak-transcript proof verifies");
    // Bytes after the transcript: one proof would have many encodings.
    for (honest, extra) in [(&proved.proof, &[0u8][..]), (&keccak, &[1, 2, 3][..])] {
        let mut longer = honest.clone();
        longer.proof = [&honest.proof[..], extra].concat().into();
        assert_eq!(verify(pinned, &longer), Err(Rejection::TrailingBytes(extra.len())));
    }
    let mut relabelled = keccak.clone();
    relabelled.transcript = Transcript::Blake2b;
    assert_eq!(verify(pinned, &relabelled), Err(Rejection::Invalid(Transcript::Blake2b)));
    let mut relabelled = proved.proof.clone();
    relabelled.transcript = Transcript::Keccak;
    assert_eq!(verify(pinned, &relabelled), Err(Rejection::Invalid(Transcript::Keccak)));
    // The file names the flavour only when it is not the native one.
    let blake_json = serde_json::to_value(&proved.proof).unwrap();
    assert!(blake_json.get("transcript").is_none());
    let keccak_json = serde_json::to_value(&keccak).unwrap();
    assert_eq!(keccak_json["transcript"], "keccak");
    let reread: header_chain::proof::ProofFile = serde_json::from_value(keccak_json).unwrap();
    verify(pinned, &reread).expect("a keccak proof survives a JSON round trip");

    // The key survives a JSON round trip with the same id.
    let key_json = serde_json::to_vec(&key).unwrap();
    let reread: VerifierKeyFile = serde_json::from_slice(&key_json).unwrap();
    assert_eq!(reread.key_id(), key.key_id());

    // 1,000 random single-byte changes to the proof bytes or the instances.
    let loop_started = std::time::Instant::now();
    // Two threads of 500 rounds each (verification is ~50 ms).
    std::thread::scope(|scope| {
        for seed in [7u64, 8] {
            let proof = &proved.proof;
            scope.spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                for round in 0..500 {
                    let mut tampered = proof.clone();
                    if rng.gen_bool(0.8) {
                        let mut bytes = tampered.proof.to_vec();
                        let at = rng.gen_range(0..bytes.len());
                        bytes[at] ^= rng.gen_range(1..=255u8);
                        tampered.proof = bytes.into();
                    } else {
                        // Change one byte of one instance: it is no longer a
                        // field element, or no longer matches the statement
                        // (the pairing-level case is tested just below).
                        let i = rng.gen_range(0..tampered.instances.len());
                        let mut raw = hex::decode(&tampered.instances[i][2..]).unwrap();
                        let at = rng.gen_range(16..32);
                        raw[at] ^= rng.gen_range(1..=255u8);
                        tampered.instances[i] = format!("0x{}", hex::encode(&raw));
                        if let Some(x) = fr_from_hex(&tampered.instances[i]) {
                            assert_ne!(fr_to_hex(&x), proof.instances[i]);
                        }
                    }
                    assert!(verify(pinned, &tampered).is_err(), "seed {seed} round {round}: a tampered proof verified");
                }
            });
        }
    });
    eprintln!("1,000 tampered proofs rejected in {:?}", loop_started.elapsed());
    // An edited statement with matching instances fails the proof itself.
    let mut edited = proved.proof.clone();
    edited.statement.last_hash = B256::repeat_byte(0xab);
    edited.instances = edited.statement.instances().iter().map(fr_to_hex).collect();
    assert_eq!(verify(pinned, &edited), Err(Rejection::Invalid(Transcript::Blake2b)));

    // Instances that disagree with the claimed statement.
    let mut mismatch = proved.proof.clone();
    mismatch.statement.first_number += 1;
    assert_eq!(verify(pinned, &mismatch), Err(Rejection::StatementMismatch));

    // A proof claiming another key is refused before any pairing.
    let mut other_key = proved.proof.clone();
    other_key.key_id = "00".repeat(32);
    assert!(matches!(verify(pinned, &other_key), Err(Rejection::UnknownKey { .. })));

    // The same circuit keyed with another SRS (another tau) is another key.
    let other_params = header_chain::halo2_proofs::poly::kzg::commitment::ParamsKZG::setup(
        k,
        rand_chacha::ChaCha20Rng::from_seed([9; 32]),
    );
    let foreign = PinnedKey::new(keygen(&other_params, &key.shape).unwrap().verifier).unwrap();
    assert_ne!(foreign.id, key.key_id());
    assert!(matches!(verify(std::slice::from_ref(&foreign), &proved.proof), Err(Rejection::UnknownKey { .. })));
    // Even if a proof names the foreign key, it does not verify under it.
    let mut renamed = proved.proof.clone();
    renamed.key_id = foreign.id.clone();
    assert_eq!(verify(std::slice::from_ref(&foreign), &renamed), Err(Rejection::Invalid(Transcript::Blake2b)));
}
