//! The Poseidon transcript snark-verifier's in-circuit verifier replays
//! (its halo2 loader, as snark-verifier-sdk 0.2.0 configures it: width 3,
//! rate 2, 8 full and 57 partial rounds). A segment proof made with it can
//! be verified inside an aggregation circuit; `header-range` aggregates them
//! (its tests fail if these parameters drift from the SDK's).

use halo2_base::halo2_proofs::halo2curves::bn256::G1Affine;

const WIDTH: usize = 3;
const RATE: usize = 2;
const FULL_ROUNDS: usize = 8;
const PARTIAL_ROUNDS: usize = 57;

/// A Poseidon Fiat-Shamir transcript over `stream`, on loader `L`.
pub type PoseidonTranscript<L, S> = snark_verifier::system::halo2::transcript::halo2::PoseidonTranscript<
    G1Affine,
    L,
    S,
    WIDTH,
    RATE,
    FULL_ROUNDS,
    PARTIAL_ROUNDS,
>;
