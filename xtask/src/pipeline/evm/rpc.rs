//! The few Ethereum JSON-RPC calls the EVM commands make, over blocking
//! HTTP. Every failure names the node and what to check.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

pub struct Node {
    pub url: String,
    agent: ureq::Agent,
}

/// A call the node answered with a JSON-RPC error.
#[derive(Debug, thiserror::Error)]
#[error("{method}: {message} (code {code})")]
pub struct RpcError {
    pub method: String,
    pub code: i64,
    pub message: String,
    pub data: Option<String>,
}

impl RpcError {
    /// The call ran and the contract reverted (EIP-1474's code 3, or the
    /// "execution reverted" message nodes use without it). Any other error
    /// (rate limit, gas cap, a node fault) says nothing about the contract.
    pub fn is_revert(&self) -> bool {
        self.code == 3 || self.message.to_ascii_lowercase().contains("execution reverted")
    }
}

impl Node {
    /// Connects and asks for the chain id, so an unreachable node fails here.
    pub fn connect(url: &str) -> Result<(Self, u64)> {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(120))).build().into();
        let node = Self { url: url.to_string(), agent };
        let chain_id = node
            .call("eth_chainId", json!([]))
            .with_context(|| format!("cannot reach the JSON-RPC node at {url}: is it running, and is --rpc right?"))?;
        Ok((node, quantity(&chain_id)?))
    }

    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut response =
            self.agent.post(&self.url).send_json(&body).with_context(|| format!("{method} to {}", self.url))?;
        let answer: Value =
            response.body_mut().read_json().with_context(|| format!("{} answered {method} with no JSON", self.url))?;
        if let Some(e) = answer.get("error") {
            return Err(RpcError {
                method: method.into(),
                code: e["code"].as_i64().unwrap_or(0),
                message: e["message"].as_str().unwrap_or("error").to_string(),
                data: e.get("data").map(|d| d.to_string()),
            }
            .into());
        }
        Ok(answer["result"].clone())
    }

    /// The runtime code at `address` (empty: no contract there).
    pub fn code(&self, address: &str) -> Result<Vec<u8>> {
        bytes(&self.call("eth_getCode", json!([address, "latest"]))?)
    }

    /// Storage slot `slot` of `address`, as 32 bytes.
    pub fn storage(&self, address: &str, slot: u64) -> Result<[u8; 32]> {
        let value = bytes(&self.call("eth_getStorageAt", json!([address, format!("0x{slot:x}"), "latest"]))?)?;
        let mut word = [0u8; 32];
        if value.len() > 32 {
            bail!("{} answered eth_getStorageAt with {} bytes, not a 32-byte word", self.url, value.len());
        }
        word[32 - value.len()..].copy_from_slice(&value);
        Ok(word)
    }

    /// Sends a transaction from an account the node holds (anvil's dev
    /// accounts, or an unlocked account of the user's node) and waits for
    /// its receipt.
    pub fn send_and_wait(&self, tx: Value) -> Result<Value> {
        let hash = self.call("eth_sendTransaction", json!([tx]))?;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let receipt = self.call("eth_getTransactionReceipt", json!([hash]))?;
            if !receipt.is_null() {
                if receipt["status"] != "0x1" {
                    bail!("transaction {hash} failed on chain (status {})", receipt["status"]);
                }
                return Ok(receipt);
            }
            if Instant::now() > deadline {
                bail!("transaction {hash} was not mined within 300 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

pub fn quantity(value: &Value) -> Result<u64> {
    let text = value.as_str().with_context(|| format!("expected a hex quantity, got {value}"))?;
    u64::from_str_radix(text.trim_start_matches("0x"), 16).with_context(|| format!("{text:?} is not a hex quantity"))
}

pub fn bytes(value: &Value) -> Result<Vec<u8>> {
    let text = value.as_str().with_context(|| format!("expected hex data, got {value}"))?;
    hex::decode(text.trim_start_matches("0x")).with_context(|| format!("{text:.40} is not hex data"))
}

/// `0x`-prefixed lowercase hex.
pub fn hex_data(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Checks and normalises an address given on the command line.
pub fn address(text: &str) -> Result<String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{text:?} is not an address: give 0x followed by 40 hex digits");
    }
    Ok(format!("0x{}", digits.to_ascii_lowercase()))
}
