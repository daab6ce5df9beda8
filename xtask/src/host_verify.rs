//! The host's own verdict on a proof that came back from a node (`exec`)
//! or from a local run (`run`): the proof is verified here, by the verifier
//! program run on this machine, against the verifier image's pinned keys,
//! and its statement must be the witness's (computed here by the prover
//! program). A node's `valid` is a claim; this is the check.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::nanos::tfs::EntryKind;
use crate::programs;

/// The environment variable of the verifier image that names its pinned keys.
pub const KEYS_ENV: &str = "HEADER_CHAIN_KEYS";

/// What the host concluded, for the outcome JSON.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostVerdict {
    pub valid: bool,
    /// Why not, when not valid.
    pub reason: Option<String>,
    /// The pinned key files verified against (image paths).
    pub pinned_keys: Vec<String>,
}

/// A pinned verifier key file: where the image holds it, and its bytes.
#[derive(Debug, Clone)]
pub struct KeyFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The keys a verifier image pins: the files its `HEADER_CHAIN_KEYS` names,
/// read out of the image itself (ops-built or native), so the host checks
/// against exactly what was deployed.
pub fn keys_in_image(image: &Path) -> Result<Vec<KeyFile>> {
    let file =
        std::fs::File::open(image).with_context(|| format!("cannot open the verifier image {}", image.display()))?;
    let disk: &dyn crate::nanos::Disk = &file;
    let bad = |e: crate::nanos::FormatError| anyhow::anyhow!("{}: {e}", image.display());
    let fs = crate::nanos::inspect::root_filesystem(disk).map_err(bad)?;
    let listed = fs
        .log
        .root
        .as_tuple()
        .and_then(|t| t.get("environment"))
        .and_then(|e| e.as_tuple())
        .and_then(|e| e.get(KEYS_ENV))
        .and_then(|v| v.text())
        .with_context(|| format!("the verifier image {} sets no {KEYS_ENV}: it pins no keys", image.display()))?;
    let entries = fs.entries();
    let mut keys = Vec::new();
    for path in listed.split(',').filter(|p| !p.is_empty()) {
        let Some((_, EntryKind::File { .. }, node)) = entries.iter().find(|(p, _, _)| p == path) else {
            bail!("the verifier image {} pins {path} in {KEYS_ENV}, but holds no such file", image.display());
        };
        let mut bytes = Vec::new();
        fs.read_file(disk, path, node, &mut |b| bytes.extend_from_slice(b)).map_err(bad)?;
        keys.push(KeyFile { name: path.to_string(), bytes });
    }
    if keys.is_empty() {
        bail!("the verifier image {} names no key file in {KEYS_ENV}", image.display());
    }
    Ok(keys)
}

/// The keys a manifest's image would pin, from their host files (for `run`,
/// which runs the binaries without an image).
pub fn keys_from_files(files: &[PathBuf]) -> Result<Vec<KeyFile>> {
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).with_context(|| format!("cannot read verifier key {}", f.display()))?;
            Ok(KeyFile { name: f.display().to_string(), bytes })
        })
        .collect()
}

/// The statement of a witness file (re-checked by the prover program).
pub fn witness_statement(prover: &Path, witness: &Path) -> Result<Value> {
    programs::run_json(prover, &crate::os_args!["statement", "--witness", witness])
        .with_context(|| format!("the witness {} does not check out", witness.display()))
}

/// The statement fields a proof and its witness must agree on.
const STATEMENT_FIELDS: [&str; 4] = ["first_number", "last_number", "first_parent_hash", "last_hash"];

/// The statements differ: which fields, for the error.
pub fn statement_differences(proved: &Value, expected: &Value) -> Vec<String> {
    STATEMENT_FIELDS
        .iter()
        .filter(|f| proved.get(**f) != expected.get(**f))
        .map(|f| {
            let show = |v: &Value| v.get(*f).map(|x| x.to_string().trim_matches('"').to_string()).unwrap_or_default();
            format!("{f} {} (witness: {})", show(proved), show(expected))
        })
        .collect()
}

/// Verifies `proof_bytes` with the `verifier` program against `keys` and
/// requires its statement to be `expected` (the witness that was sent).
/// Never an error: an unusable proof is an invalid one, with the reason.
pub fn verdict(verifier: &Path, keys: &[KeyFile], proof_bytes: &[u8], expected: &Value) -> HostVerdict {
    let pinned_keys = keys.iter().map(|k| k.name.clone()).collect();
    let reason = (|| -> Result<(), String> {
        let proof: Value =
            serde_json::from_slice(proof_bytes).map_err(|e| format!("the proof file is not proof JSON: {e}"))?;
        let differences = statement_differences(&proof["statement"], expected);
        if !differences.is_empty() {
            return Err(format!("the proof is about another chain than the witness sent: {}", differences.join(", ")));
        }
        run_verifier(verifier, keys, proof_bytes)
    })()
    .err();
    HostVerdict { valid: reason.is_none(), reason, pinned_keys }
}

/// `verifier verify` on this machine: Ok when valid, else the reason.
fn run_verifier(verifier: &Path, keys: &[KeyFile], proof_bytes: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a scratch directory: {e}"))?;
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, String> {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    };
    let proof = write("proof.json", proof_bytes)?;
    let mut key_paths = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        key_paths.push(write(&format!("key-{i}.json"), &key.bytes)?.display().to_string());
    }
    let report = dir.path().join("report.json");
    let o = programs::output(
        verifier,
        &crate::os_args!["verify", "--proof", &proof, "--key", key_paths.join(","), "--report", &report],
    )
    .map_err(|e| format!("{e:#}"))?;
    let report: Option<Value> = std::fs::read(&report).ok().and_then(|b| serde_json::from_slice(&b).ok());
    match (o.status.code(), report) {
        (Some(0), Some(r)) if r["valid"] == true => Ok(()),
        (_, Some(r)) => Err(r["reason"].as_str().unwrap_or("the verifier found the proof invalid").to_string()),
        (_, None) => Err(String::from_utf8_lossy(&o.stderr).trim().trim_start_matches("error: ").to_string()),
    }
}

/// The line to print when the node and the host disagree.
pub fn disagreement(node_valid: bool, host: &HostVerdict) -> Option<String> {
    (node_valid != host.valid).then(|| {
        format!(
            "DISAGREEMENT: the node's verifier says {}, but verifying the proof on this machine against the pinned key{} says {}{}",
            if node_valid { "VALID" } else { "INVALID" },
            if host.pinned_keys.len() == 1 { "" } else { "s" },
            if host.valid { "VALID" } else { "INVALID" },
            host.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> String {
        format!("0x{}", hex::encode([byte; 32]))
    }

    fn statement(first: u64, last: u64) -> Value {
        serde_json::json!({
            "first_parent_hash": hash(1), "first_number": first, "last_hash": hash(2), "last_number": last,
        })
    }

    #[test]
    fn a_proof_of_another_chain_is_invalid_whatever_it_proves() {
        assert!(statement_differences(&statement(1, 8), &statement(1, 8)).is_empty());
        let d = statement_differences(&statement(2, 9), &statement(1, 8));
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("first_number 2 (witness: 1)"), "{d:?}");
        let mut other = statement(1, 8);
        other["last_hash"] = hash(3).into();
        assert_eq!(statement_differences(&other, &statement(1, 8)).len(), 1);
        // A proof file whose statement differs is rejected before any program runs.
        let proof = serde_json::json!({ "kind": "header-chain-proof", "statement": statement(2, 9), "proof": "0x" });
        let nothing = Path::new("/nonexistent/verifier");
        let v = verdict(nothing, &[], proof.to_string().as_bytes(), &statement(1, 8));
        assert!(!v.valid);
        assert!(v.reason.unwrap().contains("another chain"));
        let v = verdict(nothing, &[], b"not json", &statement(1, 8));
        assert!(!v.valid && v.reason.unwrap().contains("not proof JSON"));
        // A program that cannot start is an invalid verdict with the reason, never a valid one.
        let proof = serde_json::json!({ "statement": statement(1, 8) });
        let v = verdict(nothing, &[], proof.to_string().as_bytes(), &statement(1, 8));
        assert!(!v.valid && v.reason.as_deref().unwrap_or_default().contains("cannot start"), "{v:?}");
    }

    #[test]
    fn disagreements_are_named() {
        let host = HostVerdict { valid: false, reason: Some("bad".into()), pinned_keys: vec!["a".into()] };
        let line = disagreement(true, &host).unwrap();
        assert!(line.contains("DISAGREEMENT") && line.contains("VALID") && line.contains("(bad)"), "{line}");
        assert!(disagreement(false, &host).is_none());
    }
}
