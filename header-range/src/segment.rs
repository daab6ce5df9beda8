//! Segment proofs: ordinary header-chain proofs in a shape made to be
//! aggregated, proven with the Poseidon transcript the in-circuit verifier
//! replays.

use halo2_base::halo2_proofs::halo2curves::bn256::G1Affine;
use header_chain::circuit::{CircuitShape, ShapeError, ShapeTuning};
use header_chain::layout::PUBLIC_INSTANCES;
use header_chain::proof::{fr_from_hex, PinnedKey, ProofFile, Rejection, Transcript};
use snark_verifier::system::halo2::{compile, Config};
use snark_verifier::verifier::plonk::PlonkProtocol;
use snark_verifier_sdk::Snark;

/// The circuit shape of a segment of `headers` headers (what the prover
/// picks for a poseidon-transcript proof of mainnet-sized headers).
pub fn shape(headers: usize, slots_per_header: usize) -> Result<CircuitShape, ShapeError> {
    CircuitShape::compute(headers, slots_per_header, ShapeTuning::SEGMENT)
}

/// The segment key as snark-verifier's in-circuit verifier reads it.
pub fn protocol(key: &PinnedKey) -> PlonkProtocol<G1Affine> {
    compile(key.verifier_params(), key.verifying_key(), Config::kzg().with_num_instance(vec![PUBLIC_INSTANCES]))
}

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("segment {index} is a {found}-transcript proof; only poseidon-transcript segment proofs can be aggregated (prove the segment with `--transcript poseidon`)")]
    Flavour { index: usize, found: Transcript },
    #[error("segment {index} was proven under key {found}, but the range key expects key {expected} there")]
    WrongKey { index: usize, found: String, expected: String },
    #[error("segment {index} does not verify: {source}")]
    Rejected { index: usize, source: Rejection },
}

/// Checks segment `index`'s proof natively against the key the range key
/// expects there, and makes it an aggregation input. A proof that does not
/// verify would only make the aggregation prover fail later, without saying why.
pub fn snark(index: usize, key: &PinnedKey, proof: &ProofFile) -> Result<Snark, SegmentError> {
    if proof.transcript != Transcript::Poseidon {
        return Err(SegmentError::Flavour { index, found: proof.transcript });
    }
    if proof.key_id != key.id {
        return Err(SegmentError::WrongKey { index, found: proof.key_id.clone(), expected: key.id.clone() });
    }
    header_chain::proof::verify(std::slice::from_ref(key), proof)
        .map_err(|source| SegmentError::Rejected { index, source })?;
    let instances = proof.instances.iter().map(|s| fr_from_hex(s).expect("verified instances parse")).collect();
    Ok(Snark::new(protocol(key), vec![instances], proof.proof.to_vec()))
}
