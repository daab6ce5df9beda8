//! `cargo xtask evm-verifier`: the EVM verifier contract for the pinned
//! header-chain key. The prover writes the key's compiled protocol,
//! `evm-codegen` (snark-verifier's EVM loader) writes the Solidity, the
//! pinned solc compiles it, and the contract is split into parts that each
//! fit EIP-170 (`split.rs`). The record, next to the key, holds every
//! part's creation code, sizes and hashes: `evm-deploy` deploys from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sha3::Keccak256;
use xshell::{cmd, Shell};

use super::{solc, split};
use crate::pipeline::header_chain as keys;
use crate::pipeline::programs;
use crate::spec::project::Project;

pub const RECORD_KIND: &str = "header-chain-evm-verifier";
pub const RECORD_VERSION: u32 = 4;

/// Which verifier key a contract is for.
#[derive(clap::Args, Debug, Clone)]
pub struct KeyFlags {
    /// Chain length of the header-chain key in target/keys (the
    /// header-chain verifier image pins the 8-header key).
    #[arg(long, default_value_t = 8)]
    pub headers: usize,
    /// A verifier key file instead: a chain key or a range key (e.g.
    /// target/keys/header-range-20-by-16.key.json, the range verifier's).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// A resolved key: its file, the name its record and sources go by, and
/// how many headers its proofs cover.
pub struct EvmKey {
    pub file: PathBuf,
    pub name: String,
    pub headers: usize,
}

impl KeyFlags {
    /// The name the key's record and sources go by (`header-chain-8`, or
    /// the key file's name without `.key.json`).
    pub fn name(&self) -> String {
        match &self.key {
            None => crate::pipeline::header_chain::chain_key_name(self.headers),
            Some(file) => {
                let file_name = file.file_name().and_then(|n| n.to_str()).unwrap_or("key");
                file_name.strip_suffix(".key.json").or(file_name.strip_suffix(".json")).unwrap_or(file_name).to_string()
            }
        }
    }

    /// The key named; the `--headers` chain key is made if missing.
    pub fn resolve(&self, project: &Project, prover_image: &str) -> Result<EvmKey> {
        let Some(file) = &self.key else {
            let file = keys::key_path(project, self.headers);
            if !file.exists() {
                keys::make_key(project, prover_image, self.headers)?;
            }
            return Ok(EvmKey { file, name: self.name(), headers: self.headers });
        };
        let text = std::fs::read(file).with_context(|| {
            format!("cannot read the key {}: make it with `cargo xtask keys` (or `prover keygen`)", file.display())
        })?;
        let json: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a verifier key file (JSON)", file.display()))?;
        let headers = match json["kind"].as_str() {
            Some("header-range-verifier-key") => json["plan"]["lengths"]
                .as_array()
                .map(|lengths| lengths.iter().filter_map(|l| l.as_u64()).sum::<u64>() as usize),
            Some("header-chain-verifier-key") => json["shape"]["num_headers"].as_u64().map(|n| n as usize),
            _ => None,
        }
        .with_context(|| {
            format!(
                "{} is not a header-chain or header-range verifier key (its `kind` is {})",
                file.display(),
                json["kind"]
            )
        })?;
        Ok(EvmKey { file: file.clone(), name: self.name(), headers })
    }
}

/// One deployable contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractRecord {
    pub name: String,
    pub runtime_bytes: usize,
    pub runtime_sha256: String,
    /// keccak256 of the runtime code: what `EXTCODEHASH` reports.
    pub codehash: String,
    /// Memory the part receives and returns: its windows of the
    /// verifier's memory (parts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<usize>,
    pub creation_code: String,
}

/// What `evm-verifier` made for a key, written next to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvmVerifierRecord {
    pub key_id: String,
    pub headers: usize,
    pub solc: String,
    pub solc_settings: serde_json::Value,
    /// Public instances the proof carries: the statement's 6, then (a range
    /// key) the 12 limbs of the aggregation's accumulator, whose pairing
    /// the contract checks.
    pub instances: usize,
    /// Calldata the verifier accepts: exactly this many bytes.
    pub calldata_bytes: usize,
    /// Calldata byte ranges `[start, end)` of 32-byte scalars (the six
    /// instances, then the proof's evaluations), each required below the
    /// scalar field's modulus.
    pub scalar_words: Vec<[usize; 2]>,
    pub code_size_limit: usize,
    /// The key was made from the INSECURE development SRS: anyone can forge
    /// proofs this contract accepts (`evm-deploy` refuses it by default).
    pub insecure_dev_srs: bool,
    /// The contract as snark-verifier writes it, unsplit (not deployable
    /// where EIP-170 holds when larger than the limit); absent when solc
    /// (soljson) ran out of memory on it.
    pub unsplit_runtime_bytes: Option<usize>,
    pub unsplit_runtime_sha256: Option<String>,
    pub parts: Vec<ContractRecord>,
    pub verifier: ContractRecord,
}

/// Where the record for the key named `name` lives (where `evm-submit` looks).
pub fn record_path(project: &Project, name: &str) -> PathBuf {
    project.target_dir.join("keys").join(format!("{name}.evm.json"))
}

/// snark-verifier's unsplit contract's creation code (hex), beside the sources.
pub const UNSPLIT_CREATION_FILE: &str = "Halo2Verifier.creation.hex";

pub fn sources_dir(project: &Project, name: &str) -> PathBuf {
    project.target_dir.join("evm").join(name)
}

/// The record without the creation code (for `--json` and the tests).
pub fn summary(record: &EvmVerifierRecord, path: &str) -> serde_json::Value {
    let contract = |c: &ContractRecord| {
        serde_json::json!({
            "name": c.name, "runtime_bytes": c.runtime_bytes, "runtime_sha256": c.runtime_sha256,
            "codehash": c.codehash, "memory_bytes": c.memory_bytes,
        })
    };
    serde_json::json!({
        "record": path,
        "key_id": record.key_id,
        "headers": record.headers,
        "solc": record.solc,
        "instances": record.instances,
        "calldata_bytes": record.calldata_bytes,
        "scalar_words": record.scalar_words,
        "code_size_limit": record.code_size_limit,
        "insecure_dev_srs": record.insecure_dev_srs,
        "unsplit_runtime_bytes": record.unsplit_runtime_bytes,
        "parts": record.parts.iter().map(contract).collect::<Vec<_>>(),
        "verifier": contract(&record.verifier),
    })
}

/// Makes (or remakes) the contracts for `evm_key` and writes the record.
pub fn make(sh: &Shell, project: &Project, evm_key: &EvmKey) -> Result<EvmVerifierRecord> {
    let key = &evm_key.file;
    let dir = sources_dir(project, &evm_key.name);
    std::fs::create_dir_all(&dir)?;
    let prover = programs::program(project, programs::PROVER_BIN)?;
    let protocol = dir.join("protocol.json");
    programs::run(&prover, &crate::os_args!["evm-protocol", "--key", key, "--out", &protocol])?;

    let codegen = build_codegen(sh, project)?;
    let unsplit_path = dir.join("Halo2Verifier.sol");
    let printed = programs::run_json(&codegen, &crate::os_args![&protocol, &unsplit_path])?;
    let key_id = printed["key_id"].as_str().context("evm-codegen printed no key id")?.to_string();
    let unsplit = split::bound_precompile_gas(&std::fs::read_to_string(&unsplit_path)?)
        .context("bounding the generated verifier's precompile calls")?;
    atomic_write::write_atomic(&unsplit_path, |w| w.write_all(unsplit.as_bytes()))?;

    let solc_js = solc::ensure(sh, project)?;
    let spinner = crate::support::progress::units("compiling the unsplit EVM verifier with solc (for its size)");
    let compiled = solc::compile(sh, &solc_js, &BTreeMap::from([("Halo2Verifier.sol".to_string(), unsplit.clone())]));
    spinner.finish_and_clear();
    // Only a measurement: soljson runs out of wasm memory on the largest
    // (1.5 MB) sources, and the parts are what gets deployed.
    let unsplit_compiled: Option<solc::Compiled> = match compiled {
        Ok(contracts) => contracts.into_values().next(),
        Err(e) => {
            eprintln!(
                "note: solc could not compile the unsplit contract ({}); compiling the parts only",
                first_line(&e)
            );
            None
        }
    };

    // Kept for comparing verdicts with the split verifier (where the size
    // limit is lifted: `bench evm`, the differential test).
    let unsplit_creation = dir.join(UNSPLIT_CREATION_FILE);
    match &unsplit_compiled {
        Some(c) => atomic_write::write_atomic(&unsplit_creation, |w| w.write_all(hex::encode(&c.creation).as_bytes()))?,
        None => {
            let _ = std::fs::remove_file(&unsplit_creation);
        }
    }
    let unsplit_runtime = unsplit_compiled.map(|c| c.runtime);
    let program = split::parse(&unsplit).context("splitting the generated verifier")?;
    // What the contract reads as public instances (the protocol file is too
    // deeply nested for serde_json's default limit to read it as a Value).
    let instances = program.instance_offsets.len();
    let file = format!("{}.sol", split::VERIFIER_NAME);
    // One contract when it fits; otherwise parts, each under the limit.
    let single = unsplit_runtime
        .as_ref()
        .filter(|code| code.len() <= split::CODE_SIZE_LIMIT)
        .map(|_| split::single_source(&program, &key_id))
        .transpose()?;
    if let Some(source) = single {
        let compiled = solc::compile(sh, &solc_js, &BTreeMap::from([(file.clone(), source.clone())]))?;
        let verifier =
            compiled.get(&(file.clone(), split::VERIFIER_NAME.to_string())).context("solc made no verifier")?;
        if verifier.runtime.len() <= split::CODE_SIZE_LIMIT {
            atomic_write::write_atomic(&dir.join(&file), |w| w.write_all(source.as_bytes()))?;
            let verifier = contract_record(split::VERIFIER_NAME, verifier, None);
            return write_record(
                project,
                evm_key,
                key,
                key_id,
                instances,
                &program,
                unsplit_runtime,
                Vec::new(),
                verifier,
            );
        }
    }
    let (parts, part_sources) = compile_parts(sh, &solc_js, &program, &key_id)?;
    let layouts: Vec<(split::PartLayout, [u8; 32])> = parts.iter().map(|p| (p.layout.clone(), p.codehash)).collect();
    let verifier_source = split::verifier_source(&program, &layouts, &key_id)?;
    let compiled = solc::compile(sh, &solc_js, &BTreeMap::from([(file.clone(), verifier_source.clone())]))?;
    let verifier = compiled.get(&(file.clone(), split::VERIFIER_NAME.to_string())).context("solc made no verifier")?;
    if verifier.runtime.len() > split::CODE_SIZE_LIMIT {
        bail!(
            "the verifier contract is {} bytes, over the {} byte limit",
            verifier.runtime.len(),
            split::CODE_SIZE_LIMIT
        );
    }
    let verifier = contract_record(split::VERIFIER_NAME, verifier, None);

    for (name, source) in part_sources.iter().chain([(&file, &verifier_source)]) {
        atomic_write::write_atomic(&dir.join(name), |w| w.write_all(source.as_bytes()))?;
    }
    let parts = parts.into_iter().map(|p| p.record).collect();
    write_record(project, evm_key, key, key_id, instances, &program, unsplit_runtime, parts, verifier)
}

/// Writes the record of what `make` compiled.
#[allow(clippy::too_many_arguments)]
fn write_record(
    project: &Project,
    evm_key: &EvmKey,
    key: &Path,
    key_id: String,
    instances: usize,
    program: &split::Program,
    unsplit_runtime: Option<Vec<u8>>,
    parts: Vec<ContractRecord>,
    verifier: ContractRecord,
) -> Result<EvmVerifierRecord> {
    let record = EvmVerifierRecord {
        key_id,
        headers: evm_key.headers,
        solc: solc::VERSION.into(),
        solc_settings: solc::settings(),
        instances,
        calldata_bytes: program.calldata_bytes,
        scalar_words: program.scalar_words.iter().map(|run| [run.start, run.end]).collect(),
        code_size_limit: split::CODE_SIZE_LIMIT,
        insecure_dev_srs: !crate::pipeline::insecure_srs::insecure_host_files(&[key.to_path_buf()]).is_empty(),
        unsplit_runtime_bytes: unsplit_runtime.as_ref().map(Vec::len),
        unsplit_runtime_sha256: unsplit_runtime.as_ref().map(|code| hex::encode(Sha256::digest(code))),
        parts,
        verifier,
    };
    crate::spec::records::save(&record_path(project, &evm_key.name), &record)?;
    Ok(record)
}

/// Code bytes per byte of statement source, as measured on the 8-header
/// verifier (299,624 B of runtime from 1.19 MB of statements), unoptimised.
const CODE_PER_SOURCE_BYTE: f64 = 0.25;

struct CompiledPart {
    record: ContractRecord,
    layout: split::PartLayout,
    codehash: [u8; 32],
}

/// Splits into parts sized by the expected code per source byte, smaller
/// until every part fits.
fn compile_parts(
    sh: &Shell,
    solc_js: &Path,
    program: &split::Program,
    key_id: &str,
) -> Result<(Vec<CompiledPart>, BTreeMap<String, String>)> {
    // Aim at 85% of the limit: the parts' own prologue and epilogue cost bytes too.
    let mut max_source = (split::CODE_SIZE_LIMIT as f64 * 0.85 / CODE_PER_SOURCE_BYTE) as usize;
    for _attempt in 0..6 {
        let ranges = split::group(program, max_source);
        let count = ranges.len();
        let layouts: Vec<split::PartLayout> = ranges.iter().map(|r| split::layout(program, r)).collect();
        let sources: BTreeMap<String, String> = ranges
            .iter()
            .zip(&layouts)
            .enumerate()
            .map(|(i, (r, layout))| {
                Ok((format!("{}.sol", split::part_name(i)), split::part_source(program, r, layout, i, count, key_id)?))
            })
            .collect::<Result<_>>()?;
        let spinner = crate::support::progress::units(&format!("compiling the verifier as {count} parts"));
        let compiled = solc::compile_in_batches(sh, solc_js, &sources);
        spinner.finish_and_clear();
        let compiled = compiled?;
        let largest = compiled.values().map(|c| c.runtime.len()).max().unwrap_or(0);
        if largest <= split::CODE_SIZE_LIMIT {
            let parts = layouts
                .into_iter()
                .enumerate()
                .map(|(i, layout)| {
                    let name = split::part_name(i);
                    let c = &compiled[&(format!("{name}.sol"), name.clone())];
                    CompiledPart {
                        record: contract_record(&name, c, Some(layout.bytes)),
                        codehash: Keccak256::digest(&c.runtime).into(),
                        layout,
                    }
                })
                .collect();
            return Ok((parts, sources));
        }
        max_source = max_source * 8 / 10;
    }
    bail!("could not split the verifier into parts under {} bytes", split::CODE_SIZE_LIMIT)
}

fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or_default().chars().take(160).collect()
}

fn contract_record(name: &str, compiled: &solc::Compiled, memory_bytes: Option<usize>) -> ContractRecord {
    ContractRecord {
        name: name.into(),
        runtime_bytes: compiled.runtime.len(),
        runtime_sha256: hex::encode(Sha256::digest(&compiled.runtime)),
        codehash: hex::encode(Keccak256::digest(&compiled.runtime)),
        memory_bytes,
        creation_code: hex::encode(&compiled.creation),
    }
}

/// Builds `evm-codegen` (its own workspace and lockfile) into the shared
/// target directory.
fn build_codegen(sh: &Shell, project: &Project) -> Result<PathBuf> {
    let manifest = project.root.join("evm-codegen/Cargo.toml");
    let target = &project.target_dir;
    let spinner = crate::support::progress::units("building evm-codegen (snark-verifier's Solidity generator)");
    let built = cmd!(sh, "cargo build --locked --quiet --manifest-path {manifest}")
        .env("CARGO_TARGET_DIR", target)
        .quiet()
        .run();
    spinner.finish_and_clear();
    built.context("building evm-codegen failed")?;
    Ok(target.join("debug").join("evm-codegen"))
}

impl crate::spec::records::Record for EvmVerifierRecord {
    const KIND: &'static str = RECORD_KIND;
    const WHAT: &'static str = "an EVM verifier record";
    const VERSION: u32 = RECORD_VERSION;
    const REMAKE: &'static str = "run `cargo xtask evm-verifier` for that key (again)";
}

/// Reads a record `evm-verifier` wrote.
pub fn load_record(path: &Path) -> Result<EvmVerifierRecord> {
    crate::spec::records::load(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_of_another_version_says_to_remake_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("header-chain-1.evm.json");
        std::fs::write(&path, format!(r#"{{"kind": "{RECORD_KIND}", "version": 1, "key_id": "ab"}}"#)).unwrap();
        let e = format!("{:#}", load_record(&path).unwrap_err());
        assert!(e.contains("v1 record; this xtask reads v4") && e.contains("run `cargo xtask evm-verifier`"), "{e}");
        std::fs::write(&path, "not json").unwrap();
        assert!(format!("{:#}", load_record(&path).unwrap_err()).contains("is not an EVM verifier record (not JSON"));
    }
}
