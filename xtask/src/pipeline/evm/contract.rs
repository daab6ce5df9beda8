//! `cargo xtask evm-verifier`: the EVM verifier contract for a range key.
//! The prover writes the key's compiled protocol, `evm-codegen`
//! (snark-verifier's EVM loader) writes the Solidity, `verifier_source`
//! bounds its precompile calls and wraps it in the calldata checks, and the
//! pinned solc compiles it: one contract under EIP-170. snark-verifier's own
//! contract is compiled beside it, unmodified, for the differential test and
//! `bench evm`. The record, next to the key, holds the creation code, sizes
//! and hashes: `evm-deploy` deploys from it, `evm-submit` recognises it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sha3::Keccak256;
use xshell::{cmd, Shell};

use super::{solc, verifier_source};
use crate::pipeline::programs;
use crate::spec::project::Project;

pub const RECORD_KIND: &str = "header-chain-evm-verifier";
pub const RECORD_VERSION: u32 = 5;

/// Which range key a contract is for.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyFlags {
    /// A range key file (default: the one the range-verifier image pins,
    /// made by its recipe when missing: minutes).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Retired: chain keys have no EVM verifier any more (refused with what
    /// to do instead).
    #[arg(long, hide = true)]
    pub headers: Option<usize>,
}

/// A resolved key: its file, the name its record and sources go by, and
/// how many headers its proofs cover.
pub struct EvmKey {
    pub file: PathBuf,
    pub name: String,
    pub headers: usize,
}

/// What a chain key, or `--headers`, is told: the one on-chain path.
const RANGE_ONLY: &str = "a contract checks range proofs only (one contract of about 17 kB, under 400 k gas a range); the chain key's split verifier is retired. Prove the chain as a range with `cargo xtask run header-range` (or `--rpc URL --from A --to B`), then run this command with the range key: the default (the range-verifier image's) or `--key FILE`";

impl KeyFlags {
    /// The range key named, or the range-verifier image's (made if missing).
    pub fn resolve(&self, project: &Project) -> Result<EvmKey> {
        let file = self.key_file(project, pinned_range_key)?;
        let text = std::fs::read(&file).with_context(|| {
            format!("cannot read the key {}: make it with `cargo xtask keys` (or `prover keygen`)", file.display())
        })?;
        let json: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a verifier key file (JSON)", file.display()))?;
        let headers = match json["kind"].as_str() {
            Some("header-range-verifier-key") => json["plan"]["lengths"]
                .as_array()
                .map(|lengths| lengths.iter().filter_map(|l| l.as_u64()).sum::<u64>() as usize)
                .with_context(|| format!("{} is a range key without a segment plan", file.display()))?,
            Some("header-chain-verifier-key") => bail!("{} is a chain key: {RANGE_ONLY}", file.display()),
            _ => bail!("{} is not a header-range verifier key (its `kind` is {})", file.display(), json["kind"]),
        };
        Ok(EvmKey { name: key_name(&file), file, headers })
    }

    /// The record `evm-verifier` wrote for this key (for `evm-deploy`).
    pub fn record_file(&self, project: &Project) -> Result<PathBuf> {
        let file = self.key_file(project, pinned_range_key_path)?;
        Ok(record_path(project, &key_name(&file)))
    }

    /// `--key`, else the range-verifier image's key as `pinned` finds it;
    /// `--headers` refused.
    fn key_file(&self, project: &Project, pinned: fn(&Project) -> Result<PathBuf>) -> Result<PathBuf> {
        if let Some(headers) = self.headers {
            bail!("--headers {headers} names a chain key: {RANGE_ONLY}");
        }
        match &self.key {
            Some(file) => Ok(file.clone()),
            None => pinned(project),
        }
    }
}

/// The name a key's record and sources go by: its file name without `.key.json`.
fn key_name(file: &Path) -> String {
    let file_name = file.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    file_name.strip_suffix(".key.json").or(file_name.strip_suffix(".json")).unwrap_or(file_name).to_string()
}

/// Where the range-verifier image's key is (its file with a `make` recipe).
fn pinned_range_key_path(project: &Project) -> Result<PathBuf> {
    let manifests = project.manifests()?;
    let name = crate::pipeline::header_chain::RANGE_VERIFIER_IMAGE;
    let image = manifests.image(name).with_context(|| format!("no image named {name:?}: pass --key FILE"))?;
    let file = image
        .files
        .iter()
        .find(|f| f.make.is_some())
        .with_context(|| format!("{} carries no key it makes: pass --key FILE", image.manifest.display()))?;
    Ok(project.host(&file.source))
}

/// The range-verifier image's key, made by its recipe when missing.
fn pinned_range_key(project: &Project) -> Result<PathBuf> {
    let manifests = project.manifests()?;
    let image = manifests.image(crate::pipeline::header_chain::RANGE_VERIFIER_IMAGE).context("checked")?;
    crate::pipeline::generated_files::ensure_generated_files(project, &manifests, &[image])?;
    pinned_range_key_path(project)
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
    /// Public instances the proof carries: the statement's 6, then the 12
    /// limbs of the accumulator, whose pairing the contract checks.
    pub instances: usize,
    /// Calldata the verifier accepts: exactly this many bytes.
    pub calldata_bytes: usize,
    /// Calldata byte ranges `[start, end)` of 32-byte scalars (the
    /// instances, then the proof's evaluations), each required below the
    /// scalar field's modulus.
    pub scalar_words: Vec<[usize; 2]>,
    pub code_size_limit: usize,
    /// The key was made from the INSECURE development SRS: anyone can forge
    /// proofs this contract accepts (`evm-deploy` refuses it by default).
    pub insecure_dev_srs: bool,
    /// snark-verifier's own contract for the key, unmodified
    /// ([`REFERENCE_CREATION_FILE`]): what our verdicts are compared with.
    pub reference_runtime_bytes: usize,
    pub reference_runtime_sha256: String,
    pub verifier: ContractRecord,
}

/// Where the record for the key named `name` lives (where `evm-submit` looks).
pub fn record_path(project: &Project, name: &str) -> PathBuf {
    project.target_dir.join("keys").join(format!("{name}.evm.json"))
}

/// snark-verifier's unmodified contract's creation code (hex), beside the sources.
pub const REFERENCE_CREATION_FILE: &str = "Halo2Verifier.creation.hex";

pub fn sources_dir(project: &Project, name: &str) -> PathBuf {
    project.target_dir.join("evm").join(name)
}

/// The record without the creation code (for `--json` and the tests).
pub fn summary(record: &EvmVerifierRecord, path: &str) -> serde_json::Value {
    let verifier = &record.verifier;
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
        "reference_runtime_bytes": record.reference_runtime_bytes,
        "verifier": {
            "name": verifier.name, "runtime_bytes": verifier.runtime_bytes,
            "runtime_sha256": verifier.runtime_sha256, "codehash": verifier.codehash,
        },
    })
}

/// Makes (or remakes) the contract for `evm_key` and writes the record.
pub fn make(sh: &Shell, project: &Project, evm_key: &EvmKey) -> Result<EvmVerifierRecord> {
    let key = &evm_key.file;
    let dir = sources_dir(project, &evm_key.name);
    std::fs::create_dir_all(&dir)?;
    let prover = programs::program(project, programs::PROVER_BIN)?;
    let protocol = dir.join("protocol.json");
    programs::run(&prover, &crate::os_args!["evm-protocol", "--key", key, "--out", &protocol])?;

    let codegen = build_codegen(sh, project)?;
    let reference_path = dir.join("Halo2Verifier.sol");
    let printed = programs::run_json(&codegen, &crate::os_args![&protocol, &reference_path])?;
    let key_id = printed["key_id"].as_str().context("evm-codegen printed no key id")?.to_string();
    let reference = std::fs::read_to_string(&reference_path)?;
    let program = verifier_source::parse(&verifier_source::bound_precompile_gas(&reference)?)
        .context("reading the generated verifier")?;
    let source = verifier_source::contract_source(&program, &key_id)?;
    let file = format!("{}.sol", verifier_source::VERIFIER_NAME);

    let solc_js = solc::ensure(sh, project)?;
    let spinner = crate::support::progress::units("compiling the verifier and snark-verifier's own with solc");
    let compiled = solc::compile(
        sh,
        &solc_js,
        &BTreeMap::from([(file.clone(), source.clone()), ("Halo2Verifier.sol".to_string(), reference)]),
    );
    spinner.finish_and_clear();
    let compiled = compiled?;
    let verifier =
        compiled.get(&(file.clone(), verifier_source::VERIFIER_NAME.to_string())).context("solc made no verifier")?;
    let reference = compiled
        .get(&("Halo2Verifier.sol".to_string(), "Halo2Verifier".to_string()))
        .context("solc made no Halo2Verifier from snark-verifier's source")?;
    if verifier.runtime.len() > verifier_source::CODE_SIZE_LIMIT {
        bail!(
            "the verifier for {} is {} bytes of code, over EIP-170's {} byte limit: a range key's wrapper must keep few columns (BENCHMARKS.md, \"Ranges\")",
            key.display(),
            verifier.runtime.len(),
            verifier_source::CODE_SIZE_LIMIT
        );
    }
    atomic_write::write_atomic(&dir.join(&file), |w| w.write_all(source.as_bytes()))?;
    atomic_write::write_atomic(&dir.join(REFERENCE_CREATION_FILE), |w| {
        w.write_all(hex::encode(&reference.creation).as_bytes())
    })?;
    let record = EvmVerifierRecord {
        key_id,
        headers: evm_key.headers,
        solc: solc::VERSION.into(),
        solc_settings: solc::settings(),
        instances: program.instance_offsets.len(),
        calldata_bytes: program.calldata_bytes,
        scalar_words: program.scalar_words.iter().map(|run| [run.start, run.end]).collect(),
        code_size_limit: verifier_source::CODE_SIZE_LIMIT,
        insecure_dev_srs: !crate::pipeline::insecure_srs::insecure_host_files(&[key.to_path_buf()]).is_empty(),
        reference_runtime_bytes: reference.runtime.len(),
        reference_runtime_sha256: hex::encode(Sha256::digest(&reference.runtime)),
        verifier: contract_record(verifier_source::VERIFIER_NAME, verifier),
    };
    crate::spec::records::save(&record_path(project, &evm_key.name), &record)?;
    Ok(record)
}

fn contract_record(name: &str, compiled: &solc::Compiled) -> ContractRecord {
    ContractRecord {
        name: name.into(),
        runtime_bytes: compiled.runtime.len(),
        runtime_sha256: hex::encode(Sha256::digest(&compiled.runtime)),
        codehash: hex::encode(Keccak256::digest(&compiled.runtime)),
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
        let path = dir.path().join("header-range-20-by-16.evm.json");
        std::fs::write(&path, format!(r#"{{"kind": "{RECORD_KIND}", "version": 1, "key_id": "ab"}}"#)).unwrap();
        let e = format!("{:#}", load_record(&path).unwrap_err());
        assert!(e.contains("v1 record; this xtask reads v5") && e.contains("run `cargo xtask evm-verifier`"), "{e}");
        std::fs::write(&path, "not json").unwrap();
        assert!(format!("{:#}", load_record(&path).unwrap_err()).contains("is not an EVM verifier record (not JSON"));
    }
}
