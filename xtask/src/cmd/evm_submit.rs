//! `cargo xtask evm-submit`: asks a deployed verifier about a proof and
//! prints its verdict (`pipeline::evm::submit` says what ACCEPTED means).
//! Exit 0: accepted; 1: rejected; 2: could not ask.

use std::path::PathBuf;

use anyhow::{bail, Result};
use xshell::Shell;

use crate::pipeline::evm::rpc::{self, Node};
use crate::pipeline::evm::submit::{ask, calldata, record_for_code, Rejected, Verdict};
use crate::pipeline::evm::verifier_source::success_word;
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct EvmSubmitFlags {
    /// JSON-RPC URL of the node.
    #[arg(long)]
    pub rpc: String,
    /// The verifier contract's address (what `evm-deploy` printed).
    #[arg(long)]
    pub address: String,
    /// A range proof file made with `--transcript keccak` (what `run header-range` makes).
    #[arg(long)]
    pub proof: PathBuf,
    /// Ask the contract even if its code is one this checkout made for another key.
    #[arg(long)]
    pub skip_key_check: bool,
    /// Ask a contract whose code no `evm-verifier` record here describes;
    /// ACCEPTED then means only that it returned the proof's key id.
    #[arg(long)]
    pub unrecognised_contract: bool,
    #[arg(long)]
    pub json: bool,
}

impl EvmSubmitFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let address = rpc::address(&self.address)?;
        let submission = calldata(&self.proof)?;
        let (node, chain_id) = Node::connect(&self.rpc)?;
        let code = node.code(&address)?;
        if code.is_empty() {
            bail!("there is no contract at {address} on chain {chain_id} (node {}): check --address, or deploy with `cargo xtask evm-deploy`", self.rpc);
        }
        let record = record_for_code(&project, &code)?;
        match &record {
            None if !self.unrecognised_contract => bail!(
                "the code at {address} is not a verifier any record in {} describes (another contract, or a verifier made elsewhere): use the address `evm-deploy` printed, run `cargo xtask evm-verifier` for its key here, or pass --unrecognised-contract to ask it anyway",
                project.show(&project.target_dir.join("keys"))
            ),
            None => eprintln!(
                "warning: {address} is not a verifier this checkout recognises (--unrecognised-contract): its answer is only as good as its code"
            ),
            Some(record) => {
                if !self.skip_key_check {
                    if record.key_id != submission.key_id {
                        bail!(
                            "the contract at {address} verifies key {} ({} headers); {} was made for key {}: use that key's verifier, or pass --skip-key-check to ask anyway",
                            record.key_id,
                            record.headers,
                            self.proof.display(),
                            submission.key_id
                        );
                    }
                    if submission.calldata.len() != record.calldata_bytes {
                        bail!(
                            "{} makes {} bytes of calldata; the contract takes exactly {}",
                            self.proof.display(),
                            submission.calldata.len(),
                            record.calldata_bytes
                        );
                    }
                }
            }
        }
        // What the verifier returns on success: its key id.
        let key_id = record.as_ref().map_or(submission.key_id.as_str(), |r| r.key_id.as_str());
        let success = hex::decode(success_word(key_id)?.trim_start_matches("0x"))?;
        let answer = ask(&node, &address, &submission.calldata, &success)?;
        let verdict = Verdict {
            accepted: answer.is_ok(),
            chain_id,
            address,
            key_id: key_id.to_string(),
            recognised: record.is_some(),
            gas: answer.as_ref().ok().copied(),
            calldata_bytes: submission.calldata.len(),
            reason: answer.err(),
            statement: submission.statement,
        };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&verdict)?);
        } else if verdict.accepted {
            println!(
                "ACCEPTED by {} on chain {}: blocks {}..={}, first parent hash {}, last hash {}; {} gas ({} bytes of calldata)",
                verdict.address,
                verdict.chain_id,
                verdict.statement["first_number"],
                verdict.statement["last_number"],
                verdict.statement["first_parent_hash"].as_str().unwrap_or("?"),
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
