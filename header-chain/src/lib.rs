//! The header-chain statement and everything around it that the prover and
//! the verifier share: the circuit, the witness, proof and key file formats,
//! raw SRS files, witness capture from a JSON-RPC node, and the EVM
//! verifier contract for a key.

pub mod circuit;
mod dev_srs;
pub mod evm;
/// Atomic writes (the `atomic-write` crate, shared with the xtask).
pub use atomic_write as fsutil;
pub mod keccak_transcript;
pub mod layout;
pub mod metrics;
pub mod poseidon_transcript;
pub mod process;
pub mod proof;
pub mod prover;
pub mod rpc;
pub mod srs;
pub mod task;
pub mod witness;

pub use halo2_base::halo2_proofs;
