//! The EVM side of a verifier key: what snark-verifier's Solidity
//! generator needs to write the contract for it.
//!
//! The contract replays exactly what `verify` does for a
//! [`Transcript::Keccak`](crate::proof::Transcript) proof: SHPLONK
//! (snark-verifier's `Bdfg21`) over KZG on BN254, the key's three SRS points
//! as its deciding key, challenges from Keccak-256. Everything it checks is
//! fixed at generation time by the key; it takes no key from the caller.
//!
//! Calldata layout (no ABI selector; the contract has only a fallback):
//! the public instances, each 32 bytes big-endian, in the order of
//! `ChainStatement::instances` (the proof file's `instances`), then the
//! proof bytes as the proof file holds them. snark-verifier's contract
//! returns nothing when the proof verifies; the xtask's split verifier
//! returns the key id (32 bytes). Both revert otherwise. The xtask's
//! `evm-submit` builds the calldata.

use halo2_base::halo2_proofs::halo2curves::bn256::{G1Affine, G2Affine};
use serde::{Deserialize, Serialize};
use snark_verifier::system::halo2::{compile, Config};
use snark_verifier::verifier::plonk::PlonkProtocol;

use crate::layout::PUBLIC_INSTANCES;
use crate::proof::{KeyError, PinnedKey};
use crate::srs::VerifierPoints;

pub const PROTOCOL_KIND: &str = "header-chain-evm-protocol";
pub const PROTOCOL_VERSION: u32 = 1;

/// Everything snark-verifier's Solidity generator needs for one key, as the
/// generator (`evm-codegen/`, its own lockfile) reads it: the compiled
/// PLONK protocol (columns, gates, lookups, permutation, the preprocessed
/// commitments) and the deciding key (g[0], g2, s·g2).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvmProtocol {
    pub kind: String,
    pub version: u32,
    /// The verifier key the contract will check proofs against.
    pub key_id: String,
    pub num_instance: Vec<usize>,
    pub protocol: PlonkProtocol<G1Affine>,
    pub g0: G1Affine,
    pub g2: G2Affine,
    pub s_g2: G2Affine,
}

/// Why the protocol could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EvmError {
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The generator's input for `key`: what the contract will verify against.
pub fn protocol(key: &PinnedKey) -> Result<EvmProtocol, EvmError> {
    let points = VerifierPoints::from_bytes(&key.file.verifier_points).ok_or(KeyError::Points)?;
    let num_instance = vec![PUBLIC_INSTANCES];
    let protocol = compile(&key.params, &key.vk, Config::kzg().with_num_instance(num_instance.clone()));
    Ok(EvmProtocol {
        kind: PROTOCOL_KIND.into(),
        version: PROTOCOL_VERSION,
        key_id: key.id.clone(),
        num_instance,
        protocol,
        g0: points.g0,
        g2: points.g2,
        s_g2: points.s_g2,
    })
}
