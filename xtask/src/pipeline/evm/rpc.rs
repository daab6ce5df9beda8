//! The few Ethereum JSON-RPC calls the EVM commands make, over blocking
//! HTTP. Every failure names the node and what to check.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

pub struct Node {
    pub url: String,
    client: json_rpc::Client,
}

/// A call the node answered with a JSON-RPC error, or could not answer.
pub use json_rpc::Error as RpcError;

impl Node {
    /// Connects and asks for the chain id, so an unreachable node fails here.
    pub fn connect(url: &str) -> Result<(Self, u64)> {
        // Reads are retried; a transaction is sent once (json_rpc says why).
        let policy = json_rpc::Policy { timeout: Duration::from_secs(120), ..json_rpc::Policy::default() };
        let node = Self { url: url.to_string(), client: json_rpc::Client::new(url, policy) };
        let chain_id = node
            .client
            .call_quantity("eth_chainId", json!([]))
            .with_context(|| format!("cannot reach the JSON-RPC node at {url}: is it running, and is --rpc right?"))?;
        Ok((node, chain_id))
    }

    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        Ok(self.client.call(method, params)?)
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
    /// accounts, or an unlocked account of the user's node), waits for its
    /// receipt and requires it to have succeeded.
    pub fn send_and_wait(&self, tx: Value) -> Result<Value> {
        let receipt = self.client.send_transaction(tx, Duration::from_secs(300), Duration::from_millis(200))?;
        if receipt["status"] != "0x1" {
            bail!(
                "transaction {} failed on chain (status {})",
                receipt["transactionHash"].as_str().unwrap_or("?"),
                receipt["status"]
            );
        }
        Ok(receipt)
    }
}

pub fn quantity(value: &Value) -> Result<u64> {
    json_rpc::quantity(value).map_err(anyhow::Error::msg)
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
