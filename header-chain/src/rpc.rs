//! Witness capture from an Ethereum JSON-RPC node (blocking: the binaries are
//! synchronous). The last block is fetched by number and the chain is walked
//! back by parentHash, so the captured headers link by construction, and each
//! header's re-encoded RLP must hash to the hash the node reported.

use std::time::Duration;

use alloy_consensus::Header;
use alloy_primitives::B256;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::witness::{check_link, WitnessFile};

/// The most headers one capture fetches.
pub const MAX_CAPTURE: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("cannot reach the JSON-RPC node at {url} after {attempts} attempts: {last}; check that the node runs and the URL is right")]
    Unreachable { url: String, attempts: u32, last: String },
    #[error("the node at {url} answered {method} with an error: {message}")]
    Node { url: String, method: String, message: String },
    #[error("the node at {url} answered {method} with malformed JSON-RPC: {detail}")]
    Malformed { url: String, method: String, detail: String },
    #[error("block {0} does not exist on the node")]
    MissingBlock(String),
    #[error("{0}")]
    BadHeader(String),
    #[error("invalid block range: {0}")]
    Range(String),
}

/// Timeouts and retries for a node that is slow or flaky.
#[derive(Clone, Copy, Debug)]
pub struct RpcPolicy {
    pub timeout: Duration,
    pub attempts: u32,
    pub backoff: Duration,
}

impl Default for RpcPolicy {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(20), attempts: 3, backoff: Duration::from_millis(250) }
    }
}

pub struct RpcClient {
    url: String,
    agent: ureq::Agent,
    policy: RpcPolicy,
}

impl RpcClient {
    pub fn new(url: &str, policy: RpcPolicy) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(policy.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self { url: url.to_string(), agent, policy }
    }

    /// One JSON-RPC call; transport failures are retried with backoff, node
    /// errors and malformed answers are not (retrying would not change them).
    pub fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let malformed =
            |detail: String| RpcError::Malformed { url: self.url.clone(), method: method.to_string(), detail };
        let mut last = String::new();
        for attempt in 0..self.policy.attempts {
            if attempt > 0 {
                std::thread::sleep(self.policy.backoff * 2u32.pow(attempt - 1));
            }
            let mut response = match self.agent.post(&self.url).send_json(&body) {
                Ok(r) => r,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let status = response.status();
            let text = match response.body_mut().read_to_string() {
                Ok(t) => t,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            if status.is_server_error() {
                last = format!("HTTP {status}");
                continue;
            }
            let answer: Value =
                serde_json::from_str(&text).map_err(|e| malformed(format!("HTTP {status}, body is not JSON ({e})")))?;
            if let Some(error) = answer.get("error") {
                return Err(RpcError::Node {
                    url: self.url.clone(),
                    method: method.to_string(),
                    message: error.get("message").and_then(Value::as_str).unwrap_or("?").to_string(),
                });
            }
            let result = answer.get("result").ok_or_else(|| malformed("no `result` field".into()))?;
            return serde_json::from_value(result.clone()).map_err(|e| malformed(e.to_string()));
        }
        Err(RpcError::Unreachable { url: self.url.clone(), attempts: self.policy.attempts, last })
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
        let id: String = self.call("eth_chainId", json!([])).ok()?;
        u64::from_str_radix(id.trim_start_matches("0x"), 16).ok()
    }

    pub fn latest_number(&self) -> Result<u64, RpcError> {
        let n: String = self.call("eth_blockNumber", json!([]))?;
        u64::from_str_radix(n.trim_start_matches("0x"), 16).map_err(|e| RpcError::Malformed {
            url: self.url.clone(),
            method: "eth_blockNumber".into(),
            detail: e.to_string(),
        })
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
