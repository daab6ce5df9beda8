//! The aggregator's whole job: segment proof files in, one range proof out.
//! Segment keys are regenerated from the shapes the proofs name (seconds)
//! and must be the keys the proofs were made for; the aggregation and
//! wrapper keys are generated for the plan the segments form (minutes each).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use header_chain::circuit::CircuitShape;
use header_chain::layout::ChainStatement;
use header_chain::proof::{keygen, PinnedKey, ProofFile, ProveError, Transcript};

use crate::aggregate::{AGGREGATE_K, WRAPPER_K};
use crate::files::{RangeKeyError, RangeKeyFile, RangeProofFile, RangeProveError};
use crate::plan::SegmentPlan;

#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    #[error("no segment proofs given: a range needs at least one")]
    NoSegments,
    #[error("segments of {lengths:?} headers are not a range plan: full segments first, then at most one shorter one ({expected:?} for {total} headers)")]
    NotAPlan { lengths: Vec<usize>, expected: Vec<usize>, total: usize },
    #[error("segment {index} was proven under key {found}, but its shape's key from this SRS is {expected}: prove it again with this SRS")]
    OtherSetup { index: usize, found: String, expected: String },
    #[error(transparent)]
    Srs(#[from] header_chain::srs::SrsError),
    #[error("segment key: {0}")]
    SegmentKey(#[from] ProveError),
    #[error("segment key: {0}")]
    PinSegment(#[from] header_chain::proof::KeyError),
    #[error(transparent)]
    RangeKey(#[from] RangeKeyError),
    #[error(transparent)]
    Prove(#[from] RangeProveError),
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Timings {
    pub segment_keygen: Duration,
    pub aggregation_keygen: Duration,
    pub aggregation_prove: Duration,
    pub wrapper_keygen: Duration,
    pub wrapper_prove: Duration,
}

impl Timings {
    pub fn keygen(&self) -> Duration {
        self.segment_keygen + self.aggregation_keygen + self.wrapper_keygen
    }

    pub fn prove(&self) -> Duration {
        self.aggregation_prove + self.wrapper_prove
    }
}

pub struct RangeProved {
    pub proof: RangeProofFile,
    pub key: RangeKeyFile,
    pub timings: Timings,
}

/// Aggregates `segments` (poseidon-transcript proofs, in chain order) with
/// the SRS at `srs` (k >= [`WRAPPER_K`]; the segments' and the
/// aggregation's k are read from the same file, downsized, or from its
/// siblings): the segment proofs into one at k = [`AGGREGATE_K`], that one
/// wrapped at k = [`WRAPPER_K`]. One proving key is held at a time.
pub fn aggregate(
    segments: &[ProofFile],
    srs: &Path,
    transcript: Transcript,
    mut stage: impl FnMut(&str),
) -> Result<RangeProved, AggregateError> {
    let lengths: Vec<usize> = segments.iter().map(|s| s.shape.num_headers).collect();
    let total: usize = lengths.iter().sum();
    let first = *lengths.first().ok_or(AggregateError::NoSegments)?;
    let plan = SegmentPlan::for_range(total, first).map_err(|_| AggregateError::NoSegments)?;
    if plan.lengths != lengths {
        return Err(AggregateError::NotAPlan { lengths, expected: plan.lengths, total });
    }
    crate::files::check_chain(segments)?;
    if !matches!(transcript, Transcript::Blake2b | Transcript::Keccak) {
        return Err(RangeProveError::Flavour(transcript).into());
    }
    let mut timings = Timings::default();
    stage("segment keys");
    let t = Instant::now();
    let mut segment_keys = SegmentKeys::new(srs);
    let mut pinned = Vec::with_capacity(segments.len());
    let mut snarks = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        let key = segment_keys.for_shape(&segment.shape)?;
        if key.id != segment.key_id {
            return Err(AggregateError::OtherSetup { index, found: segment.key_id.clone(), expected: key.id });
        }
        // Checked natively before minutes of keygen: a segment that does not
        // verify would only make the aggregation prover fail, without saying why.
        snarks.push(crate::segment::snark(index, &key, segment).map_err(RangeProveError::from)?);
        pinned.push(key);
    }
    let segment_keys = pinned;
    timings.segment_keygen = t.elapsed();

    let params = header_chain::srs::read_for_k(srs, AGGREGATE_K)?;
    stage(&format!("aggregation key: {} segments {:?}, k = {AGGREGATE_K}", plan.lengths.len(), plan.lengths));
    let t = Instant::now();
    let aggregation = crate::files::aggregation_keygen(&params, &plan, &segment_keys)?;
    let aggregation_vk = aggregation.vk.clone();
    let aggregation_config = aggregation.config.clone();
    let pk = aggregation
        .proving_key(&params)
        .map_err(|error| RangeKeyError::Keygen { circuit: "segment aggregation", error })?;
    timings.aggregation_keygen = t.elapsed();
    stage("aggregating the segments (poseidon transcript)");
    let t = Instant::now();
    let aggregated = crate::files::prove_aggregation(&params, &pk, &aggregation_config, snarks)?;
    drop((pk, params));
    timings.aggregation_prove = t.elapsed();

    let params = header_chain::srs::read_for_k(srs, WRAPPER_K)?;
    stage(&format!("wrapper key: k = {WRAPPER_K}"));
    let t = Instant::now();
    let wrapper = crate::files::wrapper_keygen(&params, &aggregation_vk)?;
    let key = crate::files::key_file(&params, &plan, &segment_keys, &aggregation_vk, &aggregation_config, &wrapper);
    let pk = wrapper.proving_key(&params).map_err(|error| RangeKeyError::Keygen { circuit: "wrapper", error })?;
    timings.wrapper_keygen = t.elapsed();
    stage(&format!("wrapping ({transcript} transcript)"));
    let t = Instant::now();
    let statement = ChainStatement {
        first_parent_hash: segments[0].statement.first_parent_hash,
        first_number: segments[0].statement.first_number,
        last_hash: segments[segments.len() - 1].statement.last_hash,
        last_number: segments[segments.len() - 1].statement.last_number,
    };
    let proof = crate::files::prove_wrapper(&params, &pk, &key, aggregated, statement, transcript)?;
    timings.wrapper_prove = t.elapsed();
    Ok(RangeProved { proof, key, timings })
}

/// Segment keys from one SRS file, each shape's made once.
struct SegmentKeys<'a> {
    srs: &'a Path,
    by_shape: BTreeMap<String, PinnedKey>,
}

impl<'a> SegmentKeys<'a> {
    fn new(srs: &'a Path) -> Self {
        Self { srs, by_shape: BTreeMap::new() }
    }

    fn for_shape(&mut self, shape: &CircuitShape) -> Result<PinnedKey, AggregateError> {
        let shape_json = serde_json::to_string(shape).expect("a shape serializes");
        if let Some(key) = self.by_shape.get(&shape_json) {
            return Ok(key.clone());
        }
        let params = header_chain::srs::read_for_k(self.srs, shape.k)?;
        let key = PinnedKey::new(keygen(&params, shape)?.verifier)?;
        self.by_shape.insert(shape_json, key.clone());
        Ok(key)
    }
}

/// The range key for `plan` from the SRS at `srs` (what the verifier image
/// pins): each segment's key from its shape, then the aggregation's and the
/// wrapper's verifying keys (no proving key: a verifier does not need one).
/// The same keys `aggregate` makes for proofs of that plan from that SRS.
pub fn range_keygen(plan: &SegmentPlan, srs: &Path) -> Result<RangeKeyFile, AggregateError> {
    let mut segment_keys = SegmentKeys::new(srs);
    let keys = plan
        .lengths
        .iter()
        .map(|&headers| {
            let shape = crate::segment::shape(headers, header_chain::prover::MIN_SLOTS_PER_HEADER)
                .map_err(|e| AggregateError::SegmentKey(e.into()))?;
            segment_keys.for_shape(&shape)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let params = header_chain::srs::read_for_k(srs, AGGREGATE_K)?;
    let aggregation = crate::files::aggregation_keygen(&params, plan, &keys)?;
    let params = header_chain::srs::read_for_k(srs, WRAPPER_K)?;
    let wrapper = crate::files::wrapper_keygen(&params, &aggregation.vk)?;
    Ok(crate::files::key_file(&params, plan, &keys, &aggregation.vk, &aggregation.config, &wrapper))
}
