//! Witness capture from an Ethereum JSON-RPC node (blocking: the binaries are
//! synchronous). The last block is fetched by number and the chain is walked
//! back by parentHash, so the captured headers link by construction, and each
//! header's re-encoded RLP must hash to the hash the node reported.

use alloy_consensus::Header;
use alloy_primitives::B256;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::witness::{check_link, WitnessFile};

/// The most headers one capture fetches.
pub const MAX_CAPTURE: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The node could not be asked, or its answer was an error or malformed.
    #[error(transparent)]
    Call(#[from] json_rpc::Error),
    #[error("block {0} does not exist on the node")]
    MissingBlock(String),
    #[error("{0}")]
    BadHeader(String),
    #[error("invalid block range: {0}")]
    Range(String),
}

/// Timeouts and retries for a node that is slow or flaky.
pub use json_rpc::Policy as RpcPolicy;

/// A node to capture from, over the workspace's one JSON-RPC client.
pub struct RpcClient {
    client: json_rpc::Client,
}

impl RpcClient {
    pub fn new(url: &str, policy: RpcPolicy) -> Self {
        Self { client: json_rpc::Client::new(url, policy) }
    }

    /// One JSON-RPC call (transport failures retried per the policy).
    pub fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, RpcError> {
        Ok(self.client.call(method, params)?)
    }

    fn header(&self, method: &str, id: Value, shown: String) -> Result<Header, RpcError> {
        let block: Option<alloy_rpc_types_eth::Header> = self.call(method, json!([id, false]))?;
        let block = block.ok_or(RpcError::MissingBlock(shown))?;
        let computed = block.inner.hash_slow();
        if computed != block.hash {
            return Err(RpcError::BadHeader(format!(
                "block {}: its fields hash to {computed}, but the node says its hash is {}; the node serves a header it cannot re-encode (unknown fork fields?)",
                block.inner.number, block.hash
            )));
        }
        Ok(block.inner)
    }

    pub fn header_by_number(&self, number: u64) -> Result<Header, RpcError> {
        self.header("eth_getBlockByNumber", json!(format!("{number:#x}")), number.to_string())
    }

    pub fn header_by_hash(&self, hash: B256) -> Result<Header, RpcError> {
        self.header("eth_getBlockByHash", json!(hash), hash.to_string())
    }

    pub fn chain_id(&self) -> Option<u64> {
        self.client.call_quantity("eth_chainId", json!([])).ok()
    }

    pub fn latest_number(&self) -> Result<u64, RpcError> {
        Ok(self.client.call_quantity("eth_blockNumber", json!([]))?)
    }
}

/// Captures blocks `first..=last`: fetches `last` by number, then walks back
/// by hash, checking every header and link. `progress` is told each header.
pub fn capture(
    client: &RpcClient,
    first: u64,
    last: u64,
    mut progress: impl FnMut(u64),
) -> Result<WitnessFile, RpcError> {
    if first > last {
        return Err(RpcError::Range(format!("first block {first} is after last block {last}")));
    }
    if last - first + 1 > MAX_CAPTURE {
        return Err(RpcError::Range(format!(
            "{} headers requested; at most {MAX_CAPTURE} per capture",
            last - first + 1
        )));
    }
    let mut headers = vec![client.header_by_number(last)?];
    progress(last);
    while headers.last().expect("non-empty").number > first {
        let child = headers.last().expect("non-empty");
        let parent = client.header_by_hash(child.parent_hash)?;
        check_link(&parent, &parent.hash_slow(), child)
            .map_err(|p| RpcError::BadHeader(format!("block {}: {p}", child.number)))?;
        progress(parent.number);
        headers.push(parent);
    }
    headers.reverse();
    let witness = WitnessFile::new(client.chain_id(), &headers);
    witness.check().map_err(|e| RpcError::BadHeader(e.to_string()))?;
    Ok(witness)
}
