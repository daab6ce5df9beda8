//! The witness file: the RLP bytes of consecutive headers, versioned JSON.
//! Loading re-checks everything (hashes, links, numbers), so an edited or
//! truncated file is refused before any proving starts.

use std::path::Path;

use alloy_consensus::Header;
use alloy_primitives::{keccak256, Bytes, B256};
use alloy_rlp::Decodable;
use serde::{Deserialize, Serialize};

use crate::layout::ChainStatement;

pub const WITNESS_KIND: &str = "header-chain-witness";
pub const WITNESS_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessFile {
    pub kind: String,
    pub version: u32,
    /// The chain id the node reported, when it reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<u64>,
    pub headers: Vec<WitnessHeader>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessHeader {
    pub number: u64,
    pub hash: B256,
    pub rlp: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("{0}")]
    Io(String),
    #[error("witness file {path} is not valid witness JSON: {source}; re-capture it with `prover witness-capture`")]
    Json { path: String, source: serde_json::Error },
    #[error("witness file {path} is a {found:?} file, expected {WITNESS_KIND:?}")]
    Kind { path: String, found: String },
    #[error("witness file {path} has version {found}; this prover reads version {WITNESS_VERSION}: re-capture it")]
    Version { path: String, found: u32 },
    #[error("the witness holds no headers")]
    Empty,
    #[error("header {index} (block {number}): {problem}")]
    Header { index: usize, number: u64, problem: String },
}

impl WitnessFile {
    pub fn new(chain_id: Option<u64>, headers: &[Header]) -> Self {
        let headers = headers
            .iter()
            .map(|h| WitnessHeader { number: h.number, hash: h.hash_slow(), rlp: alloy_rlp::encode(h).into() })
            .collect();
        Self { kind: WITNESS_KIND.into(), version: WITNESS_VERSION, chain_id, headers }
    }

    pub fn load(path: &Path) -> Result<Self, WitnessError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read(path).map_err(|e| WitnessError::Io(format!("cannot read witness file {shown}: {e}")))?;
        let file: Self =
            serde_json::from_slice(&text).map_err(|source| WitnessError::Json { path: shown.clone(), source })?;
        if file.kind != WITNESS_KIND {
            return Err(WitnessError::Kind { path: shown, found: file.kind });
        }
        if file.version != WITNESS_VERSION {
            return Err(WitnessError::Version { path: shown, found: file.version });
        }
        file.check()?;
        Ok(file)
    }

    /// Every header decodes, hashes to its recorded hash, carries its
    /// recorded number, and links to the previous one.
    pub fn check(&self) -> Result<Vec<Header>, WitnessError> {
        if self.headers.is_empty() {
            return Err(WitnessError::Empty);
        }
        let mut decoded: Vec<Header> = Vec::with_capacity(self.headers.len());
        for (index, wh) in self.headers.iter().enumerate() {
            let fail = |problem: String| WitnessError::Header { index, number: wh.number, problem };
            let mut buf = wh.rlp.as_ref();
            let header = Header::decode(&mut buf).map_err(|e| fail(format!("RLP does not decode: {e}")))?;
            if !buf.is_empty() {
                return Err(fail(format!("{} bytes follow the header's RLP", buf.len())));
            }
            let hash = keccak256(&wh.rlp);
            if hash != wh.hash {
                return Err(fail(format!("RLP hashes to {hash}, the witness says {}", wh.hash)));
            }
            if header.number != wh.number {
                return Err(fail(format!("RLP holds number {}", header.number)));
            }
            if let Some(prev) = decoded.last() {
                check_link(prev, &self.headers[index - 1].hash, &header).map_err(fail)?;
            }
            decoded.push(header);
        }
        Ok(decoded)
    }

    pub fn rlp_headers(&self) -> Vec<Vec<u8>> {
        self.headers.iter().map(|h| h.rlp.to_vec()).collect()
    }

    pub fn statement(&self) -> ChainStatement {
        let first = &self.headers[0];
        let last = &self.headers[self.headers.len() - 1];
        let mut buf = first.rlp.as_ref();
        let first_parent_hash = Header::decode(&mut buf).map(|h| h.parent_hash).unwrap_or(B256::ZERO);
        ChainStatement { first_parent_hash, first_number: first.number, last_hash: last.hash, last_number: last.number }
    }
}

/// `header` follows `prev` (whose hash is `prev_hash`) in a chain.
pub fn check_link(prev: &Header, prev_hash: &B256, header: &Header) -> Result<(), String> {
    if header.parent_hash != *prev_hash {
        return Err(format!(
            "parentHash {} is not the previous block's hash {prev_hash}: the chain is broken",
            header.parent_hash
        ));
    }
    // checked: a block numbered u64::MAX has no successor (wrapping would accept 0).
    if prev.number.checked_add(1) != Some(header.number) {
        return Err(format!("number {} does not follow {}", header.number, prev.number));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_possible_block_number_has_no_successor() {
        let prev = Header { number: u64::MAX, ..Default::default() };
        let prev_hash = prev.hash_slow();
        for number in [0, u64::MAX] {
            let next = Header { parent_hash: prev_hash, number, ..Default::default() };
            let e = check_link(&prev, &prev_hash, &next).unwrap_err();
            assert!(e.contains("does not follow"), "{e}");
        }
        let prev = Header { number: 7, ..Default::default() };
        let next = Header { parent_hash: prev.hash_slow(), number: 8, ..Default::default() };
        assert!(check_link(&prev, &prev.hash_slow(), &next).is_ok());
    }
}
