//! `cargo xtask evm-deploy`: a range key's EVM verifier (one contract)
//! deployed from an account the node holds.

use anyhow::{bail, Result};
use serde_json::json;
use xshell::Shell;

use crate::pipeline::evm::contract::{load_record, KeyFlags};
use crate::pipeline::evm::deploy::deploy_record;
use crate::pipeline::evm::rpc::{self, Node};
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct EvmDeployFlags {
    /// JSON-RPC URL of the node to deploy through.
    #[arg(long)]
    pub rpc: String,
    /// The key whose verifier to deploy (`evm-verifier` made its record).
    #[command(flatten)]
    pub key: KeyFlags,
    /// Sending account (held by the node); default: the node's first account.
    #[arg(long)]
    pub from: Option<String>,
    /// Deploy a verifier whose key was made from the INSECURE development
    /// SRS (a local test chain only: anyone can forge proofs it accepts).
    #[arg(long)]
    pub allow_insecure_srs: bool,
    #[arg(long)]
    pub json: bool,
}

impl EvmDeployFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let record_file = self.key.record_file(&project)?;
        let record = load_record(&record_file)?;
        let which = match &self.key.key {
            Some(file) => format!(" --key {}", file.display()),
            None => String::new(),
        };
        if record.insecure_dev_srs {
            if !self.allow_insecure_srs {
                bail!(
                    "refusing to deploy: the verifier for key {} was made from the INSECURE development SRS, whose secret anyone can derive to forge proofs the contract would accept. Put a ceremony SRS in the prover manifest's [srs] (README, \"Security notes\"), make the key again (`cargo xtask keys`) and run `cargo xtask evm-verifier{which}`; or pass --allow-insecure-srs for a local test chain",
                    &record.key_id[..16],
                );
            }
            eprintln!("warning: deploying a verifier for the INSECURE development SRS (--allow-insecure-srs): anyone can forge proofs it accepts");
        }
        let (node, chain_id) = Node::connect(&self.rpc)?;
        let from = match &self.from {
            Some(a) => rpc::address(a)?,
            None => {
                let accounts = node.call("eth_accounts", json!([]))?;
                let first = accounts.as_array().and_then(|a| a.first()).and_then(|a| a.as_str());
                let Some(first) = first else {
                    bail!("the node at {} holds no account to send from: pass --from with an account it has unlocked, or deploy the creation code in {} with your own wallet", self.rpc, project.show(&record_file))
                };
                first.to_string()
            }
        };
        let deployment = deploy_record(&node, chain_id, &from, &record)?;
        let gas_used = deployment.gas_used;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&deployment)?);
        } else {
            println!(
                "verifier for range key {} at {} on chain {} ({} gas)",
                &record.key_id[..16],
                deployment.verifier,
                chain_id,
                gas_used
            );
            println!(
                "submit proofs with: cargo xtask evm-submit --rpc {} --address {} --proof PROOF.json",
                self.rpc, deployment.verifier
            );
        }
        Ok(())
    }
}
