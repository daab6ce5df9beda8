//! The aggregator's whole job: segment proof files in, one range proof out.
//! Segment keys are regenerated from the shapes the proofs name (seconds)
//! and must be the keys the proofs were made for; the range key is
//! generated for the plan the segments form (minutes at k = 21).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use header_chain::circuit::CircuitShape;
use header_chain::proof::{keygen, PinnedKey, ProofFile, ProveError, Transcript};

use crate::aggregate::AGGREGATE_K;
use crate::files::{RangeKeyError, RangeKeys, RangeProofFile, RangeProveError};
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
    pub keygen: Duration,
    pub prove: Duration,
}

pub struct RangeProved {
    pub proof: RangeProofFile,
    pub keys: RangeKeys,
    pub timings: Timings,
}

/// Aggregates `segments` (poseidon-transcript proofs, in chain order) with
/// the SRS at `srs` (k >= 21; the segments' k is read from the same file).
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
    let mut timings = Timings::default();
    stage("segment keys");
    let t = Instant::now();
    let mut segment_keys = SegmentKeys::new(srs);
    let mut pinned = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        let key = segment_keys.for_shape(&segment.shape)?;
        if key.id != segment.key_id {
            return Err(AggregateError::OtherSetup { index, found: segment.key_id.clone(), expected: key.id });
        }
        crate::segment::snark(index, &key, segment).map_err(RangeProveError::from)?;
        pinned.push(key);
    }
    let segment_keys = pinned;
    timings.segment_keygen = t.elapsed();
    let params = header_chain::srs::read_for_k(srs, AGGREGATE_K)?;
    stage(&format!("range key: {} segments {:?}, k = {AGGREGATE_K}", plan.lengths.len(), plan.lengths));
    let t = Instant::now();
    let keys = crate::files::keygen(&params, &plan, &segment_keys)?;
    timings.keygen = t.elapsed();
    stage(&format!("aggregating ({transcript} transcript)"));
    let t = Instant::now();
    let proof = crate::files::prove(&params, &keys, &segment_keys, segments, transcript)?;
    timings.prove = t.elapsed();
    Ok(RangeProved { proof, keys, timings })
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
/// pins): each segment's key from its shape, then the aggregation key.
/// The same keys `aggregate` makes for proofs of that plan from that SRS.
pub fn range_keygen(plan: &SegmentPlan, srs: &Path) -> Result<RangeKeys, AggregateError> {
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
    Ok(crate::files::keygen(&params, plan, &keys)?)
}
