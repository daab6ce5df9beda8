//! `cargo xtask evm-deploy`: deploys the verifier from the record
//! `evm-verifier` wrote, from an account the node holds (anvil's
//! development accounts; on a real network an unlocked account of your own
//! node). No key file is read: signing stays with the node.

use anyhow::{bail, Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::contract::EvmVerifierRecord;
use super::rpc::{self, Node};

/// Where the verifier landed.
#[derive(Debug, serde::Serialize)]
pub struct Deployment {
    pub chain_id: u64,
    pub key_id: String,
    pub verifier: String,
    /// Gas used by the deployment transaction.
    pub gas_used: u64,
}

/// Deploys the record's verifier and checks that the code on chain is the record's.
pub fn deploy_record(node: &Node, chain_id: u64, from: &str, record: &EvmVerifierRecord) -> Result<Deployment> {
    let spinner = crate::support::progress::units("deploying the verifier");
    let deployed = deploy_code(node, from, &record.verifier.creation_code);
    spinner.finish_and_clear();
    let (verifier, gas_used) = deployed.with_context(|| format!("deploying {}", record.verifier.name))?;
    let code = node.code(&verifier)?;
    if hex::encode(Sha256::digest(&code)) != record.verifier.runtime_sha256 {
        bail!(
            "{} at {verifier} runs code other than the record's ({} bytes); does the chain enforce rules this compiler output does not meet?",
            record.verifier.name,
            code.len()
        );
    }
    Ok(Deployment { chain_id, key_id: record.key_id.clone(), verifier, gas_used })
}

/// Sends `creation_code` (hex) as a contract creation; its address and gas used.
pub fn deploy_code(node: &Node, from: &str, creation_code: &str) -> Result<(String, u64)> {
    let data = hex::decode(creation_code.trim()).context("the creation code is not hex")?;
    let receipt = node.send_and_wait(json!({ "from": from, "data": rpc::hex_data(&data) }))?;
    let address = receipt["contractAddress"].as_str().context("the receipt names no contract address")?.to_string();
    Ok((address, rpc::quantity(&receipt["gasUsed"])?))
}
