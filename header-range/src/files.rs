//! The range key and range proof files, making a range proof (the segment
//! proofs aggregated, that proof wrapped) and verifying one: the wrapper's
//! proof itself, its statement, and the accumulator's pairing.
//! Like header-chain's, a verifier takes keys only from what it pins.

use alloy_primitives::Bytes;
use halo2_base::halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fr, G1Affine};
use halo2_base::halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_base::halo2_proofs::halo2curves::CurveAffine;
use halo2_base::halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use halo2_base::halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_base::halo2_proofs::transcript::{Blake2bRead, Blake2bWrite, Challenge255};
use halo2_base::halo2_proofs::SerdeFormat;
use header_chain::keccak_transcript::{KeccakChallenge, KeccakTranscript};
use header_chain::layout::ChainStatement;
use header_chain::poseidon_transcript::PoseidonTranscript;
use header_chain::proof::{fr_from_hex, fr_to_hex, PinnedKey, ProofFile, ProveError, Transcript};
use header_chain::srs::VerifierPoints;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use snark_verifier::loader::native::NativeLoader;
use snark_verifier::pcs::kzg::{KzgAccumulator, KzgDecidingKey};
use snark_verifier::pcs::AccumulationDecider;
use snark_verifier::system::halo2::transcript::halo2::ChallengeScalar;
use snark_verifier::util::arithmetic::fe_from_limbs;
use snark_verifier_sdk::{Snark, BITS, LIMBS, SHPLONK};

use crate::aggregate::{AggregationConfig, ACCUMULATOR_LIMBS, RANGE_INSTANCES, STATEMENT_INSTANCES};
use crate::plan::SegmentPlan;

/// Names the circuits' constraints (the segment aggregation and its
/// wrapper); bump it when they change.
pub const CIRCUIT_ID: &str = "header-range-wrapped/v2";
pub const KEY_KIND: &str = "header-range-verifier-key";
pub const PROOF_KIND: &str = "header-range-proof";
pub const FORMAT_VERSION: u32 = 2;

/// One aggregation circuit as a verifier reads it: its configuration and
/// verifying key (raw bytes).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitKey {
    pub config: AggregationConfig,
    pub vk: Bytes,
}

impl CircuitKey {
    fn of(vk: &VerifyingKey<G1Affine>, config: &AggregationConfig) -> Self {
        let mut bytes = Vec::new();
        vk.write(&mut bytes, SerdeFormat::RawBytes).expect("writing to memory");
        Self { config: config.clone(), vk: bytes.into() }
    }

    fn read_vk(&self) -> Result<VerifyingKey<G1Affine>, RangeKeyError> {
        crate::aggregate::read_vk(&self.vk, &self.config).map_err(RangeKeyError::Vk)
    }
}

/// What a verifier needs for one range plan: the segment keys (by id; their
/// verifying keys are constants of the aggregation circuit), the
/// aggregation circuit over them (its verifying key is a constant of the
/// wrapper's), the wrapper, whose proofs are the range proofs, and the SRS
/// points.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeKeyFile {
    pub kind: String,
    pub version: u32,
    pub circuit: String,
    pub plan: SegmentPlan,
    pub segment_keys: Vec<String>,
    pub aggregation: CircuitKey,
    pub wrapper: CircuitKey,
    pub verifier_points: Bytes,
}

impl RangeKeyFile {
    /// sha256 over the whole file's canonical JSON: every field decides verification.
    pub fn key_id(&self) -> String {
        let json = serde_json::to_vec(self).expect("a key file serializes");
        hex::encode(Sha256::digest(json))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RangeKeyError {
    #[error("segment {index}'s key uses other SRS points than the range key: every proof of a range must come from one setup")]
    MixedSetups { index: usize },
    #[error("the range plan has {plan} segments but {keys} segment keys were given")]
    SegmentCount { plan: usize, keys: usize },
    #[error("segment {index} has {have} headers in its key but {want} in the plan")]
    SegmentLength { index: usize, have: usize, want: usize },
    #[error("{circuit} keygen failed: {error:?}")]
    Keygen { circuit: &'static str, error: halo2_base::halo2_proofs::plonk::Error },
    #[error("the range key's verifying key does not read: {0}")]
    Vk(std::io::Error),
    #[error("the range key's SRS points are malformed or not generators")]
    Points,
    #[error("the file is a {kind} v{version} for circuit {circuit}; this verifier reads {KEY_KIND} v{FORMAT_VERSION} for {CIRCUIT_ID}: make the key again with `prover keygen --headers N --segment-size S`")]
    Format { kind: String, version: u32, circuit: String },
}

/// Keys of the circuit over the segment proofs of `plan` (one key per
/// segment, in order), from `params` at [`crate::aggregate::AGGREGATE_K`].
pub fn aggregation_keygen(
    params: &ParamsKZG<Bn256>,
    plan: &SegmentPlan,
    segment_keys: &[PinnedKey],
) -> Result<crate::aggregate::Keygen, RangeKeyError> {
    if plan.lengths.len() != segment_keys.len() {
        return Err(RangeKeyError::SegmentCount { plan: plan.lengths.len(), keys: segment_keys.len() });
    }
    let points = VerifierPoints::of(params).to_bytes();
    for (index, (key, &want)) in segment_keys.iter().zip(&plan.lengths).enumerate() {
        if key.file.verifier_points[..] != points[..] {
            return Err(RangeKeyError::MixedSetups { index });
        }
        if key.file.shape.num_headers != want {
            return Err(RangeKeyError::SegmentLength { index, have: key.file.shape.num_headers, want });
        }
    }
    let protocols = segment_keys.iter().map(crate::segment::protocol).collect();
    crate::aggregate::keygen(params, protocols)
        .map_err(|error| RangeKeyError::Keygen { circuit: "segment aggregation", error })
}

/// Keys of the wrapper over proofs of the aggregation circuit `aggregation`,
/// from `params` at [`crate::aggregate::WRAPPER_K`].
pub fn wrapper_keygen(
    params: &ParamsKZG<Bn256>,
    aggregation: &VerifyingKey<G1Affine>,
) -> Result<crate::aggregate::Keygen, RangeKeyError> {
    let k = aggregation.get_domain().k();
    let protocol = crate::aggregate::protocol(&VerifierPoints::of(params).params(k), aggregation);
    crate::aggregate::keygen(params, vec![protocol])
        .map_err(|error| RangeKeyError::Keygen { circuit: "wrapper", error })
}

/// The range key file for `plan` from its parts.
pub fn key_file(
    params: &ParamsKZG<Bn256>,
    plan: &SegmentPlan,
    segment_keys: &[PinnedKey],
    aggregation_vk: &VerifyingKey<G1Affine>,
    aggregation_config: &AggregationConfig,
    wrapper: &crate::aggregate::Keygen,
) -> RangeKeyFile {
    RangeKeyFile {
        kind: KEY_KIND.into(),
        version: FORMAT_VERSION,
        circuit: CIRCUIT_ID.into(),
        plan: plan.clone(),
        segment_keys: segment_keys.iter().map(|key| key.id.clone()).collect(),
        aggregation: CircuitKey::of(aggregation_vk, aggregation_config),
        wrapper: CircuitKey::of(&wrapper.vk, &wrapper.config),
        verifier_points: VerifierPoints::of(params).to_bytes().into(),
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeProofFile {
    pub kind: String,
    pub version: u32,
    pub circuit: String,
    /// `key_id` of the range key this proof was made for.
    pub key_id: String,
    /// Blake2b (native) or Keccak (for the EVM verifier).
    pub transcript: Transcript,
    pub statement: ChainStatement,
    /// Public instances, 32-byte big-endian hex: the statement's 6, then
    /// the accumulator's 12 limbs.
    pub instances: Vec<String>,
    pub proof: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum RangeProveError {
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),
    #[error("segment {index} starts at block {starts} with parent {parent}, but segment {prev} ended at block {ended} with hash {hash}: the segments are not one chain")]
    Broken { index: usize, prev: usize, starts: u64, parent: String, ended: u64, hash: String },
    #[error("a range proof is made with the blake2b or keccak transcript, not {0}")]
    Flavour(Transcript),
    #[error(transparent)]
    Prove(#[from] ProveError),
}

/// Refuses segments that are not one chain: each must start where the
/// previous one ended (parent hash and next number). The circuit enforces the
/// same; this says which segments, before minutes of proving.
pub fn check_chain(segments: &[ProofFile]) -> Result<(), RangeProveError> {
    for (index, pair) in segments.windows(2).enumerate() {
        let (prev, next) = (&pair[0].statement, &pair[1].statement);
        if next.first_parent_hash != prev.last_hash || Some(next.first_number) != prev.last_number.checked_add(1) {
            return Err(RangeProveError::Broken {
                index: index + 1,
                prev: index,
                starts: next.first_number,
                parent: next.first_parent_hash.to_string(),
                ended: prev.last_number,
                hash: prev.last_hash.to_string(),
            });
        }
    }
    Ok(())
}

/// Proves that the segment proofs `snarks` are one chain: one proof of the
/// aggregation circuit, in the Poseidon transcript the wrapper replays.
pub fn prove_aggregation(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    config: &AggregationConfig,
    snarks: Vec<Snark>,
) -> Result<Snark, RangeProveError> {
    let (circuit, instances) = crate::aggregate::circuit(params, config, snarks);
    let proof = header_chain::proof::create::<_, ChallengeScalar<G1Affine>, PoseidonTranscript<NativeLoader, _>>(
        params, pk, circuit, &instances,
    )?;
    Ok(Snark::new(crate::aggregate::protocol(params, pk.get_vk()), vec![instances], proof))
}

/// Wraps the aggregation proof `aggregated` of `statement` into the range
/// proof, in the given transcript flavour.
pub fn prove_wrapper(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    key: &RangeKeyFile,
    aggregated: Snark,
    statement: ChainStatement,
    flavour: Transcript,
) -> Result<RangeProofFile, RangeProveError> {
    let (circuit, instances) = crate::aggregate::circuit(params, &key.wrapper.config, vec![aggregated]);
    assert_eq!(instances[..STATEMENT_INSTANCES], statement.instances()[..], "the wrapper states the segments' range");
    let proof = match flavour {
        Transcript::Blake2b => header_chain::proof::create::<_, Challenge255<G1Affine>, Blake2bWrite<_, G1Affine, _>>(
            params, pk, circuit, &instances,
        )?,
        Transcript::Keccak => {
            header_chain::proof::create::<_, KeccakChallenge, KeccakTranscript<_>>(params, pk, circuit, &instances)?
        }
        other => return Err(RangeProveError::Flavour(other)),
    };
    Ok(RangeProofFile {
        kind: PROOF_KIND.into(),
        version: FORMAT_VERSION,
        circuit: CIRCUIT_ID.into(),
        key_id: key.key_id(),
        transcript: flavour,
        statement,
        instances: instances.iter().map(fr_to_hex).collect(),
        proof: proof.into(),
    })
}

/// A range key made ready once.
pub struct PinnedRangeKey {
    pub file: RangeKeyFile,
    pub id: String,
    vk: VerifyingKey<G1Affine>,
    params: ParamsKZG<Bn256>,
    points: VerifierPoints,
}

impl PinnedRangeKey {
    pub fn new(file: RangeKeyFile) -> Result<Self, RangeKeyError> {
        if file.kind != KEY_KIND || file.version != FORMAT_VERSION || file.circuit != CIRCUIT_ID {
            return Err(RangeKeyError::Format { kind: file.kind, version: file.version, circuit: file.circuit });
        }
        let vk = file.wrapper.read_vk()?;
        let points = VerifierPoints::from_bytes(&file.verifier_points).ok_or(RangeKeyError::Points)?;
        let params = points.params(file.wrapper.config.base.k as u32);
        Ok(Self { id: file.key_id(), file, vk, params, points })
    }

    /// What snark-verifier's Solidity generator (`evm-codegen`) needs for
    /// this key. The accumulator's limbs are marked as such, so the contract
    /// also checks their pairing, as [`verify`] does.
    pub fn evm_protocol(&self) -> header_chain::evm::EvmProtocol {
        header_chain::evm::EvmProtocol {
            kind: header_chain::evm::PROTOCOL_KIND.into(),
            version: header_chain::evm::PROTOCOL_VERSION,
            key_id: self.id.clone(),
            num_instance: vec![RANGE_INSTANCES],
            protocol: crate::aggregate::protocol(&self.params, &self.vk),
            g0: self.points.g0,
            g2: self.points.g2,
            s_g2: self.points.s_g2,
        }
    }

    /// The SRS points the final pairing check uses.
    pub fn points(&self) -> &VerifierPoints {
        &self.points
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeRejection {
    #[error("the proof file is a {kind} v{version} for circuit {circuit}; this verifier checks {PROOF_KIND} v{FORMAT_VERSION} for {CIRCUIT_ID}")]
    Format { kind: String, version: u32, circuit: String },
    #[error("the proof was made for range key {found}, which this verifier does not pin (it pins: {pinned})")]
    UnknownKey { found: String, pinned: String },
    #[error("the proof's public instances are malformed: {0}")]
    BadInstances(String),
    #[error("the public instances do not match the statement the proof file claims")]
    StatementMismatch,
    #[error("the aggregation proof does not verify against the pinned range key (as a {0}-transcript proof)")]
    Invalid(Transcript),
    #[error("the proof has {0} bytes after what the verifier reads: a proof is exactly its transcript")]
    TrailingBytes(usize),
    #[error("the accumulator in the public instances is not two points of BN254's G1 other than the identity")]
    BadAccumulator,
    #[error("the accumulator fails its pairing check: some segment proof inside does not verify")]
    AccumulatorFails,
}

/// Verifies a range proof against one of the `pinned` range keys: the
/// aggregation proof, then the pairing of the accumulator it carries.
pub fn verify(pinned: &[PinnedRangeKey], proof: &RangeProofFile) -> Result<(), RangeRejection> {
    if proof.kind != PROOF_KIND || proof.version != FORMAT_VERSION || proof.circuit != CIRCUIT_ID {
        return Err(RangeRejection::Format {
            kind: proof.kind.clone(),
            version: proof.version,
            circuit: proof.circuit.clone(),
        });
    }
    let key = pinned.iter().find(|k| k.id == proof.key_id).ok_or_else(|| RangeRejection::UnknownKey {
        found: proof.key_id.clone(),
        pinned: pinned.iter().map(|k| k.id.clone()).collect::<Vec<_>>().join(", "),
    })?;
    if proof.instances.len() != RANGE_INSTANCES {
        return Err(RangeRejection::BadInstances(format!(
            "{} instances, expected {RANGE_INSTANCES}",
            proof.instances.len()
        )));
    }
    let instances = proof
        .instances
        .iter()
        .map(|s| {
            fr_from_hex(s)
                .ok_or_else(|| RangeRejection::BadInstances(format!("{s:?} is not a canonical field element")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if instances[..6] != proof.statement.instances()[..] {
        return Err(RangeRejection::StatementMismatch);
    }
    let mut rest: &[u8] = &proof.proof;
    let checked = match proof.transcript {
        Transcript::Blake2b => header_chain::proof::check::<_, Challenge255<G1Affine>, Blake2bRead<_, G1Affine, _>>(
            &key.params,
            &key.vk,
            &instances,
            &mut rest,
        ),
        Transcript::Keccak => header_chain::proof::check::<_, KeccakChallenge, KeccakTranscript<_>>(
            &key.params,
            &key.vk,
            &instances,
            &mut rest,
        ),
        other => return Err(RangeRejection::Invalid(other)),
    };
    checked.map_err(|_| RangeRejection::Invalid(proof.transcript))?;
    if !rest.is_empty() {
        return Err(RangeRejection::TrailingBytes(rest.len()));
    }
    decide(&key.points, &instances[6..])
}

/// The final pairing check of an accumulator given as its 12 limbs:
/// e(lhs, g2) = e(rhs, s_g2).
pub fn decide(points: &VerifierPoints, limbs: &[Fr]) -> Result<(), RangeRejection> {
    let accumulator = accumulator(limbs).ok_or(RangeRejection::BadAccumulator)?;
    let deciding_key = KzgDecidingKey::<Bn256>::new(points.g0, points.g2, points.s_g2);
    <SHPLONK as AccumulationDecider<G1Affine, NativeLoader>>::decide(&deciding_key, accumulator)
        .map_err(|_| RangeRejection::AccumulatorFails)
}

/// The two G1 points of the accumulator from their 12 limbs. Neither may be
/// the identity: it passes the pairing trivially, and the contract refuses
/// it (its point check requires y² = x³ + 3, which (0, 0) fails).
fn accumulator(limbs: &[Fr]) -> Option<KzgAccumulator<G1Affine, NativeLoader>> {
    if limbs.len() != ACCUMULATOR_LIMBS {
        return None;
    }
    let coordinate = |i: usize| -> Fq {
        fe_from_limbs::<Fr, Fq, LIMBS, BITS>(limbs[i * LIMBS..(i + 1) * LIMBS].try_into().unwrap())
    };
    let point =
        |x: Fq, y: Fq| Option::<G1Affine>::from(G1Affine::from_xy(x, y)).filter(|p| !bool::from(p.is_identity()));
    Some(KzgAccumulator::new(point(coordinate(0), coordinate(1))?, point(coordinate(2), coordinate(3))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_base::halo2_proofs::halo2curves::bn256::G2Affine;

    #[test]
    fn an_identity_accumulator_is_refused_as_the_contract_refuses_it() {
        let points =
            VerifierPoints { g0: G1Affine::generator(), g2: G2Affine::generator(), s_g2: G2Affine::generator() };
        // (0, 0) twice: the identity, whose pairing holds for any key.
        assert_eq!(decide(&points, &[Fr::from(0u64); ACCUMULATOR_LIMBS]), Err(RangeRejection::BadAccumulator));
        assert!(accumulator(&[Fr::from(0u64); ACCUMULATOR_LIMBS]).is_none());
        assert!(accumulator(&[Fr::from(0u64); ACCUMULATOR_LIMBS - 1]).is_none(), "a wrong limb count");
    }
}
