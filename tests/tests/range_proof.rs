//! A range of 20 headers from a real node (anvil), not a multiple of the
//! segment size, proven as one aggregated proof: two Poseidon-transcript
//! segment proofs (16 + 4 headers) verified inside the aggregation
//! circuit, the links between them constrained. The host verifier accepts
//! it; an edited statement, proof or accumulator, segments out of order or
//! missing, a segment
//! of the wrong flavour or under another key are each refused.
//!
//! Costly (the aggregation circuit is k = 21): one test does it all. The
//! development SRS files are cached in the target directory.

use header_chain::halo2_proofs::halo2curves::bn256::{Bn256, Fr};
use header_chain::halo2_proofs::poly::kzg::commitment::ParamsKZG;
use header_chain::proof::{fr_to_hex, keygen, prove, Keys, PinnedKey, ProofFile, Transcript};
use header_chain::rpc::{capture, RpcClient, RpcPolicy};
use header_chain::witness::WitnessFile;
use header_range::aggregate::AGGREGATE_K;
use header_range::files::{self, PinnedRangeKey, RangeProveError, RangeRejection};
use header_range::plan::SegmentPlan;
use header_range::segment::SegmentError;

const SEGMENT_SIZE: usize = 16;

/// The development SRS of degree `k`, generated once per target directory.
fn dev_srs(k: u32) -> ParamsKZG<Bn256> {
    header_chain::srs::cached_insecure_dev(&end_to_end::target_dir().join("srs"), k).unwrap()
}

fn segment_witness(witness: &WitnessFile, bounds: std::ops::Range<usize>) -> WitnessFile {
    WitnessFile { headers: witness.headers[bounds].to_vec(), ..witness.clone() }
}

#[test]
fn a_twenty_header_range_is_one_aggregated_proof() {
    let node = end_to_end::start_anvil(None).unwrap();
    node.mine_with_transactions(6).unwrap();
    node.mine_empty(15).unwrap();
    let client = RpcClient::new(&node.url, RpcPolicy::default());
    let witness = capture(&client, 1, 20, |_| {}).unwrap();
    let plan = SegmentPlan::for_range(witness.headers.len(), SEGMENT_SIZE).unwrap();
    assert_eq!(plan.lengths, vec![16, 4]);

    // Segment keys (one per length) and Poseidon-transcript segment proofs.
    let mut keys: Vec<(usize, ParamsKZG<Bn256>, Keys)> = Vec::new();
    let mut segment_keys = Vec::new();
    let mut segments = Vec::new();
    for bounds in plan.bounds() {
        let part = segment_witness(&witness, bounds.clone());
        if !keys.iter().any(|(len, ..)| *len == bounds.len()) {
            let shape = header_range::segment::shape(bounds.len(), 5).unwrap();
            let params = dev_srs(shape.k);
            let made = keygen(&params, &shape).unwrap();
            keys.push((bounds.len(), params, made));
        }
        let (_, params, key) = keys.iter().find(|(len, ..)| *len == bounds.len()).unwrap();
        segments.push(prove(params, key, part.rlp_headers(), &part.statement(), Transcript::Poseidon).unwrap());
        segment_keys.push(PinnedKey::new(key.verifier.clone()).unwrap());
    }

    let params = dev_srs(AGGREGATE_K);
    let range_keys = files::keygen(&params, &plan, &segment_keys).unwrap();

    // Refused before any aggregation work: the segments must be one chain,
    // Poseidon-transcript proofs, each under the key its place expects.
    let refuse = |segments: &[ProofFile], keys: &[PinnedKey]| {
        files::prove(&params, &range_keys, keys, segments, Transcript::Blake2b).err().expect("refused")
    };
    let mut swapped = segments.clone();
    swapped.swap(0, 1);
    let mut swapped_keys = segment_keys.clone();
    swapped_keys.swap(0, 1);
    let err = refuse(&swapped, &swapped_keys);
    assert!(matches!(err, RangeProveError::Broken { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("not one chain"), "{err}");
    let err = refuse(&segments[..1], &segment_keys[..1]);
    assert!(matches!(err, RangeProveError::SegmentCount { want: 2, have: 1 }), "{err}");
    let mut blake = segments.clone();
    blake[1].transcript = Transcript::Blake2b;
    let err = refuse(&blake, &segment_keys);
    assert!(matches!(err, RangeProveError::Segment(SegmentError::Flavour { index: 1, .. })), "{err}");
    let mut other_key = segment_keys.clone();
    other_key[1] = segment_keys[0].clone();
    let err = refuse(&segments, &other_key);
    assert!(matches!(err, RangeProveError::Segment(SegmentError::WrongKey { index: 1, .. })), "{err}");
    let mut edited = segments.clone();
    edited[1].proof = {
        let mut bytes = edited[1].proof.to_vec();
        bytes[100] ^= 1;
        bytes.into()
    };
    let err = refuse(&edited, &segment_keys);
    assert!(matches!(err, RangeProveError::Segment(SegmentError::Rejected { index: 1, .. })), "{err}");

    // The range proof, and the host verifier's verdicts.
    let proof = files::prove(&params, &range_keys, &segment_keys, &segments, Transcript::Blake2b).unwrap();
    assert_eq!(proof.statement, witness.statement());
    let pinned = [PinnedRangeKey::new(range_keys.file.clone()).unwrap()];
    files::verify(&pinned, &proof).unwrap();

    let mut later = proof.clone();
    later.statement.last_number += 1;
    later.instances[5] = fr_to_hex(&Fr::from(later.statement.last_number));
    assert_eq!(files::verify(&pinned, &later), Err(RangeRejection::Invalid(Transcript::Blake2b)));
    let mut claimed = proof.clone();
    claimed.statement.first_number -= 1;
    assert_eq!(files::verify(&pinned, &claimed), Err(RangeRejection::StatementMismatch));
    let mut limb = proof.clone();
    limb.instances[7] = fr_to_hex(&Fr::from(7u64));
    assert_eq!(files::verify(&pinned, &limb), Err(RangeRejection::Invalid(Transcript::Blake2b)));
    let mut trailing = proof.clone();
    trailing.proof = [&proof.proof[..], &[0u8]].concat().into();
    assert_eq!(files::verify(&pinned, &trailing), Err(RangeRejection::TrailingBytes(1)));
    let mut unknown = proof.clone();
    unknown.key_id = "00".repeat(32);
    assert!(matches!(files::verify(&pinned, &unknown), Err(RangeRejection::UnknownKey { .. })));

    // The accumulator's pairing is what makes the segments' proofs count:
    // the same two points swapped fail it.
    let limbs: Vec<Fr> = proof.instances[6..].iter().map(|s| header_chain::proof::fr_from_hex(s).unwrap()).collect();
    let points = header_chain::srs::VerifierPoints::of(&params);
    files::decide(&points, &limbs).unwrap();
    let swapped_accumulator = [&limbs[6..], &limbs[..6]].concat();
    assert_eq!(files::decide(&points, &swapped_accumulator), Err(RangeRejection::AccumulatorFails));
}
