//! The host's own verdict on a proof that came back from a node (`exec`)
//! or from a local run (`run`): the proof is verified here against the
//! verifier image's pinned keys, and its statement must be the witness's.
//! A node's `valid` is a claim; this is the check.

use std::path::Path;

use anyhow::{bail, Context, Result};
use header_chain::layout::ChainStatement;
use header_chain::proof::{verify, PinnedKey, ProofFile, VerifierKeyFile};
use serde::Serialize;

use crate::nanos::tfs::EntryKind;

/// The environment variable of the verifier image that names its pinned keys.
pub const KEYS_ENV: &str = "HEADER_CHAIN_KEYS";

/// What the host concluded, for the outcome JSON.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostVerdict {
    pub valid: bool,
    /// Why not, when not valid.
    pub reason: Option<String>,
    /// The `key_id`s verified against.
    pub pinned_keys: Vec<String>,
}

/// The keys a verifier image pins: the files its manifest's `HEADER_CHAIN_KEYS`
/// names, read out of the image itself (ops-built or native), so the host
/// checks against exactly what was deployed.
pub fn keys_in_image(image: &Path) -> Result<Vec<VerifierKeyFile>> {
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
        let key: VerifierKeyFile = serde_json::from_slice(&bytes)
            .with_context(|| format!("{path} in {} is not a verifier key", image.display()))?;
        keys.push(key);
    }
    if keys.is_empty() {
        bail!("the verifier image {} names no key file in {KEYS_ENV}", image.display());
    }
    Ok(keys)
}

/// The keys a manifest's image would pin, from their host files (for `run`,
/// which runs the binaries without an image).
pub fn keys_from_files(files: &[std::path::PathBuf]) -> Result<Vec<VerifierKeyFile>> {
    files.iter().map(|f| VerifierKeyFile::load(f).map_err(anyhow::Error::msg)).collect()
}

/// The statements differ: which fields, for the error.
pub fn statement_differences(proved: &ChainStatement, expected: &ChainStatement) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name} {a} (witness: {b})"));
        }
    };
    field("first_number", proved.first_number.to_string(), expected.first_number.to_string());
    field("last_number", proved.last_number.to_string(), expected.last_number.to_string());
    field("first_parent_hash", proved.first_parent_hash.to_string(), expected.first_parent_hash.to_string());
    field("last_hash", proved.last_hash.to_string(), expected.last_hash.to_string());
    out
}

/// Verifies `proof_bytes` against `keys` and requires its statement to be
/// `expected` (the witness that was sent). Never an error: an unusable
/// proof is an invalid one, with the reason.
pub fn verdict(keys: &[VerifierKeyFile], proof_bytes: &[u8], expected: &ChainStatement) -> HostVerdict {
    let pinned_keys = keys.iter().map(VerifierKeyFile::key_id).collect();
    let reason = (|| -> Result<(), String> {
        let proof: ProofFile =
            serde_json::from_slice(proof_bytes).map_err(|e| format!("the proof file is not proof JSON: {e}"))?;
        let differences = statement_differences(&proof.statement, expected);
        if !differences.is_empty() {
            return Err(format!("the proof is about another chain than the witness sent: {}", differences.join(", ")));
        }
        let pinned = keys.iter().cloned().map(PinnedKey::new).collect::<Result<Vec<_>, _>>()?;
        verify(&pinned, &proof).map_err(|e| e.to_string())
    })()
    .err();
    HostVerdict { valid: reason.is_none(), reason, pinned_keys }
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

    fn statement(first: u64, last: u64) -> ChainStatement {
        serde_json::from_value(serde_json::json!({
            "first_parent_hash": hash(1), "first_number": first, "last_hash": hash(2), "last_number": last,
        }))
        .unwrap()
    }

    #[test]
    fn a_proof_of_another_chain_is_invalid_whatever_it_proves() {
        assert!(statement_differences(&statement(1, 8), &statement(1, 8)).is_empty());
        let d = statement_differences(&statement(2, 9), &statement(1, 8));
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("first_number 2 (witness: 1)"), "{d:?}");
        let mut other = statement(1, 8);
        other.last_hash = serde_json::from_value(serde_json::json!(hash(3))).unwrap();
        assert_eq!(statement_differences(&other, &statement(1, 8)).len(), 1);
        // A proof file whose statement differs is rejected before any key is needed.
        let proof = serde_json::json!({
            "kind": "header-chain-proof", "version": 1, "circuit": "x",
            "shape": serde_json::to_value(header_chain::circuit::CircuitShape::default()).unwrap(), "key_id": "k",
            "statement": statement(2, 9), "instances": [], "proof": "0x",
        });
        let v = verdict(&[], proof.to_string().as_bytes(), &statement(1, 8));
        assert!(!v.valid);
        assert!(v.reason.unwrap().contains("another chain"));
        let v = verdict(&[], b"not json", &statement(1, 8));
        assert!(!v.valid && v.reason.unwrap().contains("not proof JSON"));
    }

    #[test]
    fn disagreements_are_named() {
        let host = HostVerdict { valid: false, reason: Some("bad".into()), pinned_keys: vec!["a".into()] };
        let line = disagreement(true, &host).unwrap();
        assert!(line.contains("DISAGREEMENT") && line.contains("VALID") && line.contains("(bad)"), "{line}");
        assert!(disagreement(false, &host).is_none());
    }
}
