//! `cargo xtask evm-submit`: asks a deployed verifier contract about a proof
//! over JSON-RPC (`eth_call`: nothing is signed or sent) and reports its
//! verdict and the gas a transaction would use (`eth_estimateGas`).
//!
//! Before asking, it refuses what the contract could only answer "no" to
//! without saying why: a proof of the Blake2b flavour, an address with no
//! code, and, when the contract's code is one `evm-verifier` made here, a
//! proof made for another key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use xshell::Shell;

use super::contract::{load_record, EvmVerifierRecord};
use super::rpc::{self, Node, RpcError};
use crate::project::Project;

#[derive(clap::Args, Debug)]
pub struct EvmSubmitFlags {
    /// JSON-RPC URL of the node.
    #[arg(long)]
    pub rpc: String,
    /// The verifier contract's address (what `evm-deploy` printed).
    #[arg(long)]
    pub address: String,
    /// A proof file made with `--transcript keccak`.
    #[arg(long)]
    pub proof: PathBuf,
    /// Ask the contract even if its code is one this checkout made for another key.
    #[arg(long)]
    pub skip_key_check: bool,
    #[arg(long)]
    pub json: bool,
}

/// The contract's answer was "no" (exit code 1; other failures exit 2).
#[derive(Debug, thiserror::Error)]
#[error("REJECTED: the contract at {address} reverted ({reason})")]
pub struct Rejected {
    pub address: String,
    pub reason: String,
}

/// The fields of a proof file the contract reads.
#[derive(Deserialize)]
struct ProofFields {
    kind: String,
    key_id: String,
    #[serde(default)]
    transcript: Option<String>,
    statement: serde_json::Value,
    instances: Vec<String>,
    proof: String,
}

/// The contract's calldata for a proof (the layout header-chain's `evm`
/// module documents): each instance as 32 bytes big-endian, then the proof.
pub fn calldata(path: &Path) -> Result<(Vec<u8>, String, serde_json::Value)> {
    let text = std::fs::read(path).with_context(|| format!("cannot read proof {}", path.display()))?;
    let proof: ProofFields = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a header-chain proof file", path.display()))?;
    if proof.kind != "header-chain-proof" {
        bail!("{} is a {:?}, not a header-chain proof", path.display(), proof.kind);
    }
    let flavour = proof.transcript.as_deref().unwrap_or("blake2b");
    if flavour != "keccak" {
        bail!(
            "{} is a {flavour}-transcript proof; a contract checks only keccak-transcript proofs: prove again with `prover prove --transcript keccak`",
            path.display()
        );
    }
    let mut data = Vec::new();
    for (i, instance) in proof.instances.iter().enumerate() {
        let bytes = hex::decode(instance.trim_start_matches("0x")).ok().filter(|b| b.len() == 32);
        let Some(bytes) = bytes else {
            bail!("{}: instance {i} ({instance:?}) is not 32 bytes of hex", path.display())
        };
        data.extend(bytes);
    }
    data.extend(rpc::bytes(&json!(proof.proof)).with_context(|| format!("{}: the proof bytes", path.display()))?);
    Ok((data, proof.key_id, proof.statement))
}

#[derive(Debug, serde::Serialize)]
pub struct Verdict {
    pub accepted: bool,
    pub chain_id: u64,
    pub address: String,
    pub key_id: String,
    /// `eth_estimateGas` for a transaction making this call (accepted only):
    /// 21,000 intrinsic and the calldata included.
    pub gas: Option<u64>,
    pub calldata_bytes: usize,
    pub reason: Option<String>,
    pub statement: serde_json::Value,
}

impl EvmSubmitFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let address = rpc::address(&self.address)?;
        let (data, key_id, statement) = calldata(&self.proof)?;
        let (node, chain_id) = Node::connect(&self.rpc)?;
        let code = node.code(&address)?;
        if code.is_empty() {
            bail!("there is no contract at {address} on chain {chain_id} (node {}): check --address, or deploy with `cargo xtask evm-deploy`", self.rpc);
        }
        if !self.skip_key_check {
            if let Some(record) = record_for_code(&project, &code)? {
                if record.key_id != key_id {
                    bail!(
                        "the contract at {address} verifies key {} ({} headers); {} was made for key {key_id}: use that key's verifier, or pass --skip-key-check to ask anyway",
                        record.key_id,
                        record.headers,
                        self.proof.display()
                    );
                }
                if data.len() != record.calldata_bytes {
                    bail!(
                        "{} makes {} bytes of calldata; the contract takes exactly {}",
                        self.proof.display(),
                        data.len(),
                        record.calldata_bytes
                    );
                }
            }
        }
        let call = json!({ "to": address, "data": rpc::hex_data(&data) });
        let verdict = match node.call("eth_call", json!([call, "latest"])) {
            Ok(_) => {
                let gas = rpc::quantity(&node.call("eth_estimateGas", json!([call]))?)?;
                Verdict {
                    accepted: true,
                    chain_id,
                    address,
                    key_id,
                    gas: Some(gas),
                    calldata_bytes: data.len(),
                    reason: None,
                    statement,
                }
            }
            Err(e) => match e.downcast::<RpcError>() {
                Ok(revert) => Verdict {
                    accepted: false,
                    chain_id,
                    address,
                    key_id,
                    gas: None,
                    calldata_bytes: data.len(),
                    reason: Some(revert.message),
                    statement,
                },
                Err(other) => return Err(other),
            },
        };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&verdict)?);
        } else if verdict.accepted {
            println!(
                "ACCEPTED by {} on chain {}: blocks {}..={}, last hash {}; {} gas ({} bytes of calldata)",
                verdict.address,
                verdict.chain_id,
                verdict.statement["first_number"],
                verdict.statement["last_number"],
                verdict.statement["last_hash"].as_str().unwrap_or("?"),
                verdict.gas.unwrap_or(0),
                verdict.calldata_bytes
            );
        }
        if !verdict.accepted {
            return Err(Rejected { address: verdict.address, reason: verdict.reason.unwrap_or_default() }.into());
        }
        Ok(())
    }
}

/// Asks the contract at `address` about `calldata`: `Ok(gas)` when it
/// accepts (`eth_estimateGas` of the same call), `Err(reason)` when it reverts.
pub fn ask(node: &Node, address: &str, calldata: &[u8]) -> Result<std::result::Result<u64, String>> {
    let call = json!({ "to": address, "data": rpc::hex_data(calldata) });
    match node.call("eth_call", json!([call, "latest"])) {
        Ok(_) => Ok(Ok(rpc::quantity(&node.call("eth_estimateGas", json!([call]))?)?)),
        Err(e) => match e.downcast::<RpcError>() {
            Ok(revert) => Ok(Err(revert.message)),
            Err(other) => Err(other),
        },
    }
}

/// The record whose verifier has exactly this runtime code, if any.
fn record_for_code(project: &Project, code: &[u8]) -> Result<Option<EvmVerifierRecord>> {
    let sha = hex::encode(Sha256::digest(code));
    let dir = project.target_dir.join("keys");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(None) };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.to_string_lossy().ends_with(".evm.json") {
            // A stale or foreign record describes some other build: say so
            // and go on, rather than refuse to ask about this contract.
            let record = match load_record(&path) {
                Ok(record) => record,
                Err(e) => {
                    eprintln!("note: not using {} for the key check: {e:#}", path.display());
                    continue;
                }
            };
            if record.verifier.runtime_sha256 == sha {
                return Ok(Some(record));
            }
        }
    }
    Ok(None)
}
