//! The constraints that make consecutive segments one chain.

use halo2_base::gates::GateInstructions;
use halo2_base::halo2_proofs::halo2curves::bn256::Fr;
use halo2_base::{AssignedValue, Context, QuantumCell::Constant};

/// A segment's public instances, in header-chain's order: first parent hash
/// (hi, lo), first number, last hash (hi, lo), last number.
pub type Statement = [AssignedValue<Fr>; 6];

const PARENT_HI: usize = 0;
const PARENT_LO: usize = 1;
const FIRST_NUMBER: usize = 2;
const LAST_HI: usize = 3;
const LAST_LO: usize = 4;
const LAST_NUMBER: usize = 5;

/// Constrains segment i+1 to start where segment i ended (its parent hash is
/// i's last hash, its first number is i's last number plus one) and returns
/// the range's statement: the first segment's start, the last one's end.
///
/// # Panics
/// If `segments` is empty.
pub fn constrain_links(gate: &impl GateInstructions<Fr>, ctx: &mut Context<Fr>, segments: &[Statement]) -> Statement {
    for pair in segments.windows(2) {
        let (ended, starts) = (&pair[0], &pair[1]);
        ctx.constrain_equal(&ended[LAST_HI], &starts[PARENT_HI]);
        ctx.constrain_equal(&ended[LAST_LO], &starts[PARENT_LO]);
        let next = gate.add(ctx, ended[LAST_NUMBER], Constant(Fr::one()));
        ctx.constrain_equal(&next, &starts[FIRST_NUMBER]);
    }
    let (first, last) = (segments.first().expect("at least one segment"), segments.last().expect("non-empty"));
    [first[PARENT_HI], first[PARENT_LO], first[FIRST_NUMBER], last[LAST_HI], last[LAST_LO], last[LAST_NUMBER]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_base::gates::circuit::{builder::BaseCircuitBuilder, CircuitBuilderStage};
    use halo2_base::halo2_proofs::dev::MockProver;

    const K: u32 = 8;

    /// Runs the link constraints over `segments` (raw statements) in a
    /// mock circuit exposing the range statement; Ok if every constraint holds.
    fn check(segments: &[[u64; 6]], exposed: [u64; 6]) -> Result<(), String> {
        let mut builder = BaseCircuitBuilder::<Fr>::from_stage(CircuitBuilderStage::Mock)
            .use_k(K as usize)
            .use_lookup_bits(K as usize - 1)
            .use_instance_columns(1);
        let gate = builder.range_chip().gate;
        let ctx = builder.main(0);
        let assigned: Vec<Statement> =
            segments.iter().map(|s| ctx.assign_witnesses(s.iter().map(|&x| Fr::from(x))).try_into().unwrap()).collect();
        let range = constrain_links(&gate, ctx, &assigned);
        builder.assigned_instances[0] = range.to_vec();
        builder.calculate_params(Some(9));
        let instances = vec![exposed.iter().map(|&x| Fr::from(x)).collect::<Vec<_>>()];
        MockProver::run(K, &builder, instances).unwrap().verify().map_err(|e| format!("{e:?}"))
    }

    // (parent hi, parent lo, first, last hi, last lo, last)
    const A: [u64; 6] = [1, 2, 10, 3, 4, 17];
    const B: [u64; 6] = [3, 4, 18, 5, 6, 25];
    const C: [u64; 6] = [5, 6, 26, 7, 8, 29];

    #[test]
    fn linked_segments_expose_the_range() {
        check(&[A, B, C], [1, 2, 10, 7, 8, 29]).unwrap();
        check(&[A], A).unwrap();
    }

    #[test]
    fn a_range_statement_other_than_the_ends_is_refused() {
        assert!(check(&[A, B, C], [1, 2, 10, 5, 6, 25]).is_err());
    }

    #[test]
    fn a_fork_between_segments_is_refused() {
        let forked_hi = [9, 4, 18, 5, 6, 25];
        let forked_lo = [3, 9, 18, 5, 6, 25];
        assert!(check(&[A, forked_hi, C], [1, 2, 10, 7, 8, 29]).is_err());
        assert!(check(&[A, forked_lo, C], [1, 2, 10, 7, 8, 29]).is_err());
    }

    #[test]
    fn a_gap_or_overlap_in_numbers_is_refused() {
        let gap = [3, 4, 19, 5, 6, 25];
        let overlap = [3, 4, 17, 5, 6, 25];
        assert!(check(&[A, gap, C], [1, 2, 10, 7, 8, 29]).is_err());
        assert!(check(&[A, overlap, C], [1, 2, 10, 7, 8, 29]).is_err());
    }
}
