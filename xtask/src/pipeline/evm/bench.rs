//! `cargo xtask bench evm`: the range key's EVM verifier on a local anvil:
//! code size, the gas to deploy it and to verify a real range proof, beside
//! snark-verifier's own unmodified contract for the same key and proof
//! (what our calldata checks and bounded precompile calls cost).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use super::{contract, deploy, rpc::Node, submit, verifier_source};
use crate::spec::project::Project;

/// The range proof of the newest `cargo xtask run header-range`, if any.
pub fn newest_range_proof(project: &Project) -> Option<PathBuf> {
    let runs = std::fs::read_dir(project.target_dir.join("run/header-range")).ok()?;
    runs.flatten()
        .filter_map(|run| Some((run.file_name().to_str()?.parse::<u64>().ok()?, run.path())))
        .filter(|(_, dir)| dir.join("prover-workspace/proof.json").is_file())
        .max()
        .map(|(_, dir)| dir.join("prover-workspace/proof.json"))
}

pub fn evm_suite(sh: &Shell, proof: Option<&Path>) -> Result<String> {
    let project = Project::locate()?;
    let proof = match proof {
        Some(proof) => proof.to_path_buf(),
        None => newest_range_proof(&project).context(
            "bench evm verifies a range proof: run `cargo xtask run header-range` first (about 15 minutes on 2 cores), or pass --proof FILE",
        )?,
    };
    let key = contract::KeyFlags::default().resolve(&project)?;
    let record = contract::make(sh, &project, &key)?;
    let submission = submit::calldata(&proof)?;
    if submission.key_id != record.key_id {
        bail!(
            "{} was made for key {}, not the range-verifier image's {}: make it again with `cargo xtask run header-range`",
            proof.display(),
            submission.key_id,
            record.key_id
        );
    }
    let anvil = crate::host::tools::ensure_anvil(sh, &project)?;
    let node = anvil_harness::Anvil::start(&anvil, None)?;
    let (rpc, chain_id) = Node::connect(&node.url)?;
    let deployment = deploy::deploy_record(&rpc, chain_id, anvil_harness::DEV_ACCOUNT_0, &record)?;
    let success = hex::decode(verifier_source::success_word(&record.key_id)?.trim_start_matches("0x"))?;
    let gas = submit::ask(&rpc, &deployment.verifier, &submission.calldata, &success)?
        .map_err(|reason| anyhow::anyhow!("the contract rejected an honest proof: {reason}"))?;
    // snark-verifier's contract returns nothing on success.
    let reference_file = contract::sources_dir(&project, &key.name).join(contract::REFERENCE_CREATION_FILE);
    let reference_code = std::fs::read_to_string(&reference_file)
        .with_context(|| format!("cannot read {}", reference_file.display()))?;
    let (reference, reference_deploy) = deploy::deploy_code(&rpc, anvil_harness::DEV_ACCOUNT_0, &reference_code)?;
    let reference_verify = submit::ask(&rpc, &reference, &submission.calldata, &[])?
        .map_err(|reason| anyhow::anyhow!("snark-verifier's contract rejected an honest proof: {reason}"))?;
    let proof_bytes = submission.calldata.len() - 32 * record.instances;
    Ok(format!(
        "| key | headers | runtime (B) | deploy gas | verify gas | calldata (B) | proof (B) | snark-verifier's runtime (B) | its deploy gas | its verify gas |\n\
         |---|---|---|---|---|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {gas} | {} | {proof_bytes} | {} | {reference_deploy} | {reference_verify} |\n",
        key.name,
        record.headers,
        record.verifier.runtime_bytes,
        deployment.gas_used,
        submission.calldata.len(),
        record.reference_runtime_bytes,
    ))
}
