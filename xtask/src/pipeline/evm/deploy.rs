//! `cargo xtask evm-deploy`: deploys the parts, then the verifier, from the
//! record `evm-verifier` wrote, from an account the node holds (anvil's
//! development accounts; on a real network an unlocked account of your own
//! node). No key file is read: signing stays with the node.

use anyhow::{bail, Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::contract::{ContractRecord, EvmVerifierRecord};
use super::rpc::{self, Node};

/// Where the verifier landed.
#[derive(Debug, serde::Serialize)]
pub struct Deployment {
    pub chain_id: u64,
    pub key_id: String,
    pub verifier: String,
    pub parts: Vec<String>,
    /// Gas used by every deployment transaction together.
    pub gas_used: u64,
}

/// Deploys the parts, then the verifier given their addresses.
pub fn deploy_record(node: &Node, chain_id: u64, from: &str, record: &EvmVerifierRecord) -> Result<Deployment> {
    let bar = crate::support::progress::units(&format!("deploying {} parts and the verifier", record.parts.len()));
    let mut gas_used = 0;
    let mut parts = Vec::new();
    for part in &record.parts {
        let (address, gas) = deploy(node, from, part, &[])?;
        gas_used += gas;
        parts.push(address);
        bar.set_message(format!("deployed {} of {} parts", parts.len(), record.parts.len()));
    }
    // Its constructor checks each part's code and binds the part to itself;
    // a verifier in one contract has no constructor.
    let arguments = if parts.is_empty() { Vec::new() } else { constructor_arguments(&parts)? };
    let (verifier, gas) = deploy(node, from, &record.verifier, &arguments)?;
    gas_used += gas;
    bar.finish_and_clear();
    super::submit::check_parts_on_chain(node, &verifier, record)
        .with_context(|| format!("the verifier deployed at {verifier} is not whole"))?;
    Ok(Deployment { chain_id, key_id: record.key_id.clone(), verifier, parts, gas_used })
}

/// Deploys one contract and checks that the code on chain is the record's.
fn deploy(node: &Node, from: &str, contract: &ContractRecord, arguments: &[u8]) -> Result<(String, u64)> {
    let mut data = hex::decode(&contract.creation_code).context("the record's creation code is not hex")?;
    data.extend_from_slice(arguments);
    let receipt = node
        .send_and_wait(json!({ "from": from, "data": rpc::hex_data(&data) }))
        .with_context(|| format!("deploying {}", contract.name))?;
    let address = receipt["contractAddress"].as_str().context("the receipt names no contract address")?.to_string();
    let code = node.code(&address)?;
    if hex::encode(Sha256::digest(&code)) != contract.runtime_sha256 {
        bail!(
            "{} at {address} runs code other than the record's ({} bytes); does the chain enforce rules this compiler output does not meet?",
            contract.name,
            code.len()
        );
    }
    Ok((address, rpc::quantity(&receipt["gasUsed"])?))
}

/// ABI encoding of the constructor's `address[]`.
fn constructor_arguments(parts: &[String]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 + 32 * parts.len());
    out.extend(word(32));
    out.extend(word(parts.len() as u64));
    for address in parts {
        let raw = hex::decode(rpc::address(address)?.trim_start_matches("0x"))?;
        out.extend([0u8; 12]);
        out.extend(raw);
    }
    Ok(out)
}

fn word(value: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&value.to_be_bytes());
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructor_arguments_are_an_abi_address_array() {
        let a = "0x00000000000000000000000000000000000000aa";
        let b = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
        let encoded = constructor_arguments(&[a.into(), b.into()]).unwrap();
        assert_eq!(encoded.len(), 4 * 32);
        assert_eq!(encoded[31], 0x20);
        assert_eq!(encoded[63], 2);
        assert_eq!(&encoded[64..95], &[0u8; 31]);
        assert_eq!(encoded[95], 0xaa);
        assert_eq!(hex::encode(&encoded[108..128]), b.trim_start_matches("0x"));
    }
}
