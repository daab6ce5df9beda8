//! `cargo xtask evm-submit`: asks a deployed verifier contract about a proof
//! over JSON-RPC (`eth_call`: nothing is signed or sent) and reports its
//! verdict and the gas a transaction would use (`eth_estimateGas`).
//!
//! ACCEPTED means: the contract at the address is a verifier this checkout
//! made (its runtime code is a record's, byte for byte: one contract, whose
//! behaviour its code fixes), the proof file is a keccak-transcript range
//! proof whose statement is the one its public instances encode, and the
//! call succeeded returning exactly the verifier's success word (the key
//! id).
//! REJECTED (exit 1) means the contract reverted or answered anything else.
//! Everything that prevents asking, or an answer that is not the
//! contract's (an RPC error other than a revert, a malformed result), is
//! an error with exit 2.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::contract::{load_record, EvmVerifierRecord};
use super::rpc::{self, Node, RpcError};
use crate::spec::project::Project;

/// The contract's answer was "no" (exit code 1; other failures exit 2).
#[derive(Debug, thiserror::Error)]
#[error("REJECTED: the contract at {address} {reason}")]
pub struct Rejected {
    pub address: String,
    pub reason: String,
}

/// A range proof's public instances: the statement's 6, then the accumulator's 12 limbs.
pub const RANGE_INSTANCES: usize = 18;

/// The fields of a proof file the contract reads.
#[derive(Deserialize)]
struct ProofFields {
    kind: String,
    key_id: String,
    #[serde(default)]
    transcript: Option<String>,
    statement: Value,
    instances: Vec<String>,
    proof: String,
}

/// A proof file as the contract sees it.
pub struct Submission {
    /// Instances (32 bytes each, big-endian), then the proof.
    pub calldata: Vec<u8>,
    pub key_id: String,
    /// The statement decoded from the instances sent (the file's own
    /// `statement` is required equal to it).
    pub statement: Value,
}

/// The contract's calldata for a range proof (the layout header-chain's
/// `evm` module documents): each instance as 32 bytes big-endian, then the
/// proof. The file's `statement` must be what its instances encode.
pub fn calldata(path: &Path) -> Result<Submission> {
    let text = std::fs::read(path).with_context(|| format!("cannot read proof {}", path.display()))?;
    let proof: ProofFields = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a header-range proof file", path.display()))?;
    // A range proof's instances are the statement's 6, then its accumulator's 12 limbs.
    let instances = match proof.kind.as_str() {
        "header-range-proof" => RANGE_INSTANCES,
        "header-chain-proof" => bail!(
            "{} is a chain proof; a contract checks range proofs only (the chain key's split verifier is retired): prove the same blocks as a range with `cargo xtask run header-range --rpc URL --from A --to B` and submit its range proof",
            path.display()
        ),
        other => bail!("{} is a {other:?}, not a header-range proof", path.display()),
    };
    if proof.instances.len() != instances {
        bail!(
            "{}: a {} has {instances} instances, this one {}: the file was edited or is corrupt",
            path.display(),
            proof.kind,
            proof.instances.len()
        );
    }
    let flavour = proof.transcript.as_deref().unwrap_or("blake2b");
    if flavour != "keccak" {
        bail!(
            "{} is a {flavour}-transcript proof; a contract checks only keccak-transcript proofs: prove again with `--transcript keccak` (`prover aggregate`)",
            path.display()
        );
    }
    let mut words = Vec::new();
    for (i, instance) in proof.instances.iter().enumerate() {
        let bytes = hex::decode(instance.strip_prefix("0x").unwrap_or(instance)).ok();
        let Some(word) = bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()) else {
            bail!("{}: instance {i} ({instance:?}) is not 32 bytes of hex", path.display())
        };
        words.push(word);
    }
    let statement = statement_of(&words[..6]).with_context(|| format!("{}: the public instances", path.display()))?;
    if statement != proof.statement {
        bail!(
            "{}: the file's statement {} is not the one its instances encode, {statement}: the contract checks the instances; the file was edited or is corrupt",
            path.display(),
            proof.statement
        );
    }
    let mut calldata: Vec<u8> = words.concat();
    calldata.extend(rpc::bytes(&json!(proof.proof)).with_context(|| format!("{}: the proof bytes", path.display()))?);
    Ok(Submission { calldata, key_id: proof.key_id, statement })
}

/// The statement six instances encode: first parent hash (high, low
/// 128-bit halves), first number, last hash (high, low), last number.
fn statement_of(words: &[[u8; 32]]) -> Result<Value> {
    let [parent_hi, parent_lo, first, last_hi, last_lo, last] = words else {
        bail!("{} instances; a header-chain proof has 6", words.len())
    };
    let hash = |hi: &[u8; 32], lo: &[u8; 32], what: &str| -> Result<String> {
        if hi[..16].iter().chain(&lo[..16]).any(|b| *b != 0) {
            bail!("the {what} halves do not fit 128 bits");
        }
        Ok(format!("0x{}{}", hex::encode(&hi[16..]), hex::encode(&lo[16..])))
    };
    let number = |w: &[u8; 32], what: &str| -> Result<u64> {
        if w[..24].iter().any(|b| *b != 0) {
            bail!("the {what} does not fit 64 bits");
        }
        Ok(u64::from_be_bytes(w[24..].try_into().expect("8 bytes")))
    };
    Ok(json!({
        "first_parent_hash": hash(parent_hi, parent_lo, "first parent hash")?,
        "first_number": number(first, "first block number")?,
        "last_hash": hash(last_hi, last_lo, "last hash")?,
        "last_number": number(last, "last block number")?,
    }))
}

#[derive(Debug, serde::Serialize)]
pub struct Verdict {
    pub accepted: bool,
    pub chain_id: u64,
    pub address: String,
    pub key_id: String,
    /// The contract's code is a record's.
    pub recognised: bool,
    /// `eth_estimateGas` for a transaction making this call (accepted only):
    /// 21,000 intrinsic and the calldata included.
    pub gas: Option<u64>,
    pub calldata_bytes: usize,
    pub reason: Option<String>,
    /// Decoded from the instances sent.
    pub statement: Value,
}

/// Asks the contract at `address` about `calldata`. `Ok(Ok(gas))` only when
/// the call succeeds and returns exactly `success` (`eth_estimateGas` of the
/// same call); `Ok(Err(reason))` when it reverts or returns anything else;
/// `Err` when the node's answer says nothing about the contract (an RPC
/// error that is not a revert, a result that is not hex data).
pub fn ask(node: &Node, address: &str, calldata: &[u8], success: &[u8]) -> Result<std::result::Result<u64, String>> {
    let call = json!({ "to": address, "data": rpc::hex_data(calldata) });
    let returned = match node.call("eth_call", json!([call, "latest"])) {
        Ok(result) => rpc::bytes(&result).with_context(|| {
            format!("could not ask: {} answered eth_call with a result that is not hex data", node.url)
        })?,
        Err(e) => {
            return match e.downcast::<RpcError>() {
                Ok(error) if error.is_revert() => Ok(Err(format!("reverted ({})", error.node_message().unwrap_or("?")))),
                Ok(error) => Err(anyhow::anyhow!(
                    "could not ask: {} answered eth_call with an error that is not a revert ({error}); the contract's verdict is unknown",
                    node.url
                )),
                Err(other) => Err(other.context("could not ask")),
            };
        }
    };
    if returned != success {
        return Ok(Err(format!(
            "returned {} instead of the verifier's success word {}",
            rpc::hex_data(&returned),
            rpc::hex_data(success)
        )));
    }
    let gas = node.call("eth_estimateGas", json!([call])).context("could not ask for the gas of an accepted call")?;
    Ok(Ok(rpc::quantity(&gas)?))
}

/// The record whose verifier has exactly this runtime code, if any.
pub fn record_for_code(project: &Project, code: &[u8]) -> Result<Option<EvmVerifierRecord>> {
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
                    eprintln!("note: not using {} to recognise the contract: {e:#}", path.display());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn word(hex_tail: &str) -> [u8; 32] {
        let mut w = [0u8; 32];
        let bytes = hex::decode(hex_tail).unwrap();
        w[32 - bytes.len()..].copy_from_slice(&bytes);
        w
    }

    #[test]
    fn the_statement_is_decoded_from_the_instances() {
        let hi = "11".repeat(16);
        let lo = "22".repeat(16);
        let words = [word(&hi), word(&lo), word("01"), word(&"33".repeat(16)), word(&"44".repeat(16)), word("08")];
        let statement = statement_of(&words).unwrap();
        assert_eq!(statement["first_parent_hash"], format!("0x{hi}{lo}"));
        assert_eq!(statement["last_hash"], format!("0x{}{}", "33".repeat(16), "44".repeat(16)));
        assert_eq!((statement["first_number"].as_u64(), statement["last_number"].as_u64()), (Some(1), Some(8)));
        // A limb over 128 bits, a number over 64 bits, or a wrong count: not a statement.
        let mut wide = words;
        wide[1][15] = 1;
        assert!(statement_of(&wide).unwrap_err().to_string().contains("128 bits"));
        let mut big = words;
        big[5][23] = 1;
        assert!(statement_of(&big).unwrap_err().to_string().contains("64 bits"));
        assert!(statement_of(&words[..5]).is_err());
    }
}
