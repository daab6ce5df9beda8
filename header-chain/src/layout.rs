//! Byte layout of an RLP-encoded Ethereum header, shared by every fork from
//! Frontier to Prague: the fields up to `difficulty` have fixed sizes, so
//! their offsets are constants; later fields differ by fork and are never
//! read by the circuit.

use alloy_consensus::Header;
use alloy_primitives::{B256, U256};
use halo2_base::halo2_proofs::halo2curves::bn256::Fr;

/// The header offsets the circuit relies on.
pub struct HeaderLayout;

impl HeaderLayout {
    /// First byte of parentHash (after `0xf9 len len 0xa0`).
    pub const PARENT_HASH: usize = 4;
    /// First byte of the difficulty field (a variable-length scalar).
    pub const DIFFICULTY: usize = 448;
    /// Longest difficulty the circuit accepts (a U256).
    pub const MAX_DIFFICULTY_BYTES: usize = 32;
    /// Longest block number the circuit accepts (a u64).
    pub const MAX_NUMBER_BYTES: usize = 8;
    /// Prefix bytes fixed by the encoding: the long-list header, then the
    /// string prefixes of parentHash, ommersHash, beneficiary, stateRoot,
    /// transactionsRoot, receiptsRoot and the 256-byte logsBloom.
    pub const FIXED_BYTES: &'static [(usize, u8)] = &[
        (0, 0xf9),
        (3, 0xa0),
        (36, 0xa0),
        (69, 0x94),
        (90, 0xa0),
        (123, 0xa0),
        (156, 0xa0),
        (189, 0xb9),
        (190, 0x01),
        (191, 0x00),
    ];
}

// The number window (read past the longest difficulty) fits in the smallest
// slot block any header has: every header is over 408 bytes, so 4 slots.
const _: () = assert!(
    HeaderLayout::DIFFICULTY + 1 + HeaderLayout::MAX_DIFFICULTY_BYTES + HeaderLayout::MAX_NUMBER_BYTES < 4 * 136
);

/// Public instances: first parentHash (hi, lo), first number, last hash (hi, lo), last number.
pub const PUBLIC_INSTANCES: usize = 6;

/// The statement a proof makes, in Ethereum terms.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainStatement {
    pub first_parent_hash: B256,
    pub first_number: u64,
    pub last_hash: B256,
    pub last_number: u64,
}

impl ChainStatement {
    /// The circuit's public instances for this statement.
    pub fn instances(&self) -> Vec<Fr> {
        let (ph, pl) = hash_limbs(&self.first_parent_hash);
        let (lh, ll) = hash_limbs(&self.last_hash);
        vec![ph, pl, Fr::from(self.first_number), lh, ll, Fr::from(self.last_number)]
    }
}

/// A 32-byte hash as two big-endian 128-bit field elements (hi, lo).
pub fn hash_limbs(hash: &B256) -> (Fr, Fr) {
    let hi = u128::from_be_bytes(hash[..16].try_into().expect("16 bytes"));
    let lo = u128::from_be_bytes(hash[16..].try_into().expect("16 bytes"));
    (fr_from_u128(hi), fr_from_u128(lo))
}

fn fr_from_u128(x: u128) -> Fr {
    Fr::from_raw([x as u64, (x >> 64) as u64, 0, 0])
}

/// A deterministic, well-formed chain of `n` headers used wherever the
/// circuit is synthesized without a witness (shape sizing, key generation).
/// Its values never reach a constraint's shape.
pub fn template_chain(n: usize) -> Vec<Vec<u8>> {
    let mut parent = B256::ZERO;
    (0..n as u64)
        .map(|number| {
            let header =
                Header { parent_hash: parent, number: number + 1, difficulty: U256::from(1u64), ..Default::default() };
            parent = header.hash_slow();
            alloy_rlp::encode(&header)
        })
        .collect()
}
