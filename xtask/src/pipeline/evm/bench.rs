//! `cargo xtask bench evm`: for each chain length, the EVM verifier's code
//! sizes, the gas to deploy it and to verify a real proof on a local anvil,
//! and the static prover in both transcript flavours on the same witness.

use anyhow::{Context, Result};
use serde::Deserialize;
use xshell::Shell;

use super::{contract, deploy, rpc::Node, submit};
use crate::pipeline::programs;
use crate::spec::project::Project;

use crate::pipeline::header_chain::{chain_key_name, PROVER_IMAGE};

#[derive(Deserialize)]
struct ProverBench {
    prove_s: f64,
    verify_s: f64,
    proof_bytes: u64,
}

pub fn evm_suite(sh: &Shell, headers: &[u64]) -> Result<String> {
    let project = Project::locate()?;
    let prover = programs::program(&project, programs::PROVER_BIN)?;
    let (srs, _) = crate::pipeline::generated_files::image_srs_file(&project, PROVER_IMAGE)?;
    let anvil = crate::host::tools::ensure_anvil(sh, &project)?;
    let node = anvil_harness::Anvil::start(&anvil, None)?;
    node.mine_with_transactions(headers.iter().copied().max().unwrap_or(1))?;
    let (rpc, chain_id) = Node::connect(&node.url)?;
    // The unsplit contract, where the code size limit is lifted: what the
    // split costs.
    let unlimited =
        anvil_harness::Anvil::start_with(&anvil, None, &["--disable-code-size-limit", "--gas-limit", "200000000"])?;
    let (unlimited_rpc, _) = Node::connect(&unlimited.url)?;
    let work = project.target_dir.join("bench/evm");
    std::fs::create_dir_all(&work)?;

    let mut table = String::from(
        "| headers | unsplit runtime (B) | parts | largest part (B) | verifier (B) | deploy gas (all txs) | verify gas | unsplit deploy gas (no size limit) | unsplit verify gas | calldata (B) | prove blake2b (s) | prove keccak (s) | verify blake2b (ms) | verify keccak (ms) | proof blake2b (B) | proof keccak (B) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &n in headers {
        eprintln!("bench evm: {n} headers");
        let key = contract::KeyFlags { headers: n as usize, key: None }.resolve(&project, PROVER_IMAGE)?;
        let record = contract::make(sh, &project, &key)?;
        let witness = work.join(format!("witness-{n}.json"));
        programs::run(
            &prover,
            &crate::os_args![
                "witness-capture",
                "--rpc",
                &node.url,
                "--from",
                "1",
                "--to",
                n.to_string(),
                "--witness",
                &witness
            ],
        )?;
        let flavour = |transcript: &str| -> Result<ProverBench> {
            let report = programs::run_json(
                &prover,
                &crate::os_args!["bench", "--witness", &witness, "--srs", &srs, "--transcript", transcript],
            )?;
            Ok(serde_json::from_value(report)?)
        };
        let (blake, keccak) = (flavour("blake2b")?, flavour("keccak")?);
        let proof = work.join(format!("proof-{n}.json"));
        programs::run(
            &prover,
            &crate::os_args![
                "prove",
                "--witness",
                &witness,
                "--srs",
                &srs,
                "--proof",
                &proof,
                "--transcript",
                "keccak"
            ],
        )?;
        let deployment = deploy::deploy_record(&rpc, chain_id, anvil_harness::DEV_ACCOUNT_0, &record)?;
        let calldata = submit::calldata(&proof)?.calldata;
        submit::check_parts_on_chain(&rpc, &deployment.verifier, &record)?;
        let success = hex::decode(super::split::success_word(&record.key_id)?.trim_start_matches("0x"))?;
        let gas = submit::ask(&rpc, &deployment.verifier, &calldata, &success)?
            .map_err(|reason| anyhow::anyhow!("the contract rejected an honest proof: {reason}"))
            .context("bench evm")?;
        let unsplit = unsplit_gas(&project, &unlimited_rpc, n as usize, &calldata)?;
        let (unsplit_deploy, unsplit_verify) = match unsplit {
            Some((deploy, verify)) => (deploy.to_string(), verify.to_string()),
            None => ("-".into(), "-".into()),
        };
        let largest = record.parts.iter().map(|p| p.runtime_bytes).max().unwrap_or(0);
        table.push_str(&format!(
            "| {n} | {} | {} | {largest} | {} | {} | {gas} | {unsplit_deploy} | {unsplit_verify} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {} | {} |\n",
            record.unsplit_runtime_bytes.map(|b| b.to_string()).unwrap_or_else(|| "solc ran out of memory".into()),
            record.parts.len(),
            record.verifier.runtime_bytes,
            deployment.gas_used,
            calldata.len(),
            blake.prove_s,
            keccak.prove_s,
            blake.verify_s * 1e3,
            keccak.verify_s * 1e3,
            blake.proof_bytes,
            keccak.proof_bytes,
        ));
    }
    Ok(table)
}

/// Deploy and verify gas of the unsplit contract on a node without the
/// code size limit; `None` when solc could not compile it in one piece.
fn unsplit_gas(project: &Project, node: &Node, headers: usize, calldata: &[u8]) -> Result<Option<(u64, u64)>> {
    let saved = contract::sources_dir(project, &chain_key_name(headers)).join(contract::UNSPLIT_CREATION_FILE);
    let Ok(text) = std::fs::read_to_string(&saved) else { return Ok(None) };
    let code = hex::decode(text.trim()).with_context(|| format!("{} is not hex", saved.display()))?;
    let receipt = node.send_and_wait(serde_json::json!({
        "from": anvil_harness::DEV_ACCOUNT_0,
        "data": super::rpc::hex_data(&code),
        "gas": "0x8f0d180",
    }))?;
    let address = receipt["contractAddress"].as_str().context("no contract address")?;
    // snark-verifier's own contract returns nothing on success.
    let verify = submit::ask(node, address, calldata, &[])?
        .map_err(|reason| anyhow::anyhow!("the unsplit contract rejected an honest proof: {reason}"))?;
    Ok(Some((super::rpc::quantity(&receipt["gasUsed"])?, verify)))
}
