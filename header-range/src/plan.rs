//! How a range of headers is cut into segments.
//!
//! Full segments of `segment_size` headers first, then one shorter segment
//! for the remainder, with its own (smaller) segment key: no header is
//! invented to pad a range. A range shorter than one segment is a single
//! short segment.

use std::ops::Range;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentPlan {
    pub segment_size: usize,
    /// Headers in each segment, in chain order.
    pub lengths: Vec<usize>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("a range needs at least one header")]
    Empty,
    #[error("the segment size must be at least 1 header")]
    ZeroSegmentSize,
}

impl SegmentPlan {
    pub fn for_range(headers: usize, segment_size: usize) -> Result<Self, PlanError> {
        if segment_size == 0 {
            return Err(PlanError::ZeroSegmentSize);
        }
        if headers == 0 {
            return Err(PlanError::Empty);
        }
        let mut lengths = vec![segment_size; headers / segment_size];
        if !headers.is_multiple_of(segment_size) {
            lengths.push(headers % segment_size);
        }
        Ok(Self { segment_size, lengths })
    }

    pub fn headers(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// Each segment's indices into the range's headers.
    pub fn bounds(&self) -> Vec<Range<usize>> {
        let mut start = 0;
        self.lengths
            .iter()
            .map(|&len| {
                let range = start..start + len;
                start += len;
                range
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_segments_then_the_remainder() {
        let plan = SegmentPlan::for_range(20, 8).unwrap();
        assert_eq!(plan.lengths, vec![8, 8, 4]);
        assert_eq!(plan.bounds(), vec![0..8, 8..16, 16..20]);
        assert_eq!(plan.headers(), 20);
        assert_eq!(SegmentPlan::for_range(16, 8).unwrap().lengths, vec![8, 8]);
        assert_eq!(SegmentPlan::for_range(3, 8).unwrap().lengths, vec![3]);
        assert_eq!(SegmentPlan::for_range(1, 1).unwrap().lengths, vec![1]);
    }

    #[test]
    fn empty_ranges_and_zero_segments_are_refused() {
        assert_eq!(SegmentPlan::for_range(0, 8), Err(PlanError::Empty));
        assert_eq!(SegmentPlan::for_range(5, 0), Err(PlanError::ZeroSegmentSize));
    }
}
