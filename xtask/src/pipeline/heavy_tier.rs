//! The heavy tier: tests that cannot fit CI's time (several real proofs at
//! k ≥ 21) are `#[ignore = "heavy: …"]`; `cargo xtask test --heavy` runs
//! them and writes a committed record (`tests/heavy-record.json`): the
//! commit, the digest of the sources those tests prove things about (the
//! workspace's `[workspace.metadata.xtask.test] heavy-sources`), and each
//! heavy test's verdict and time. The everyday run (CI's) fails when the
//! sources differ from the record's digest, or a heavy test is not in it
//! or did not pass there, naming the command that makes it true again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::test_suite::TestTime;

/// Where the record lives, relative to the workspace root (committed).
pub const RECORD_FILE: &str = "tests/heavy-record.json";

/// What `cargo xtask test --heavy` last found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeavyRecord {
    /// `git rev-parse HEAD` when the tests ran, and whether the tree differed from it.
    pub commit: String,
    pub dirty: bool,
    /// The directories and files digested.
    pub sources: Vec<String>,
    /// BLAKE3 over every tracked file under `sources` (path and bytes, in path order).
    pub sources_digest: String,
    pub cpus: usize,
    pub tests: Vec<HeavyTest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeavyTest {
    pub name: String,
    pub passed: bool,
    pub seconds: f64,
}

impl crate::spec::records::Record for HeavyRecord {
    const KIND: &'static str = "heavy-test-record";
    const VERSION: u32 = 1;
    const WHAT: &'static str = "a heavy-tier test record";
    const REMAKE: &'static str = "run `cargo xtask test --heavy` and commit tests/heavy-record.json";
}

/// BLAKE3 over the files `files` (relative to `root`, sorted): each path,
/// its length and its bytes, so a renamed or moved file changes it too.
pub fn digest(root: &Path, files: &[PathBuf]) -> Result<String> {
    let mut sorted = files.to_vec();
    sorted.sort();
    let mut hasher = blake3::Hasher::new();
    for file in &sorted {
        let bytes = std::fs::read(root.join(file)).with_context(|| format!("cannot read {}", file.display()))?;
        let path = file.to_string_lossy();
        hasher.update(&(path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Why the everyday run cannot trust the record for `heavy` (the heavy
/// tests there are now), or `None` when it can.
pub fn stale(record: Option<&HeavyRecord>, sources_digest: &str, heavy: &[String]) -> Option<String> {
    let Some(record) = record else {
        return Some(format!("there is no {RECORD_FILE}"));
    };
    if record.sources_digest != sources_digest {
        return Some(format!(
            "the heavy tier's sources ({}) changed since {RECORD_FILE} was written at commit {}",
            record.sources.join(", "),
            &record.commit[..record.commit.len().min(12)]
        ));
    }
    for name in heavy {
        match record.tests.iter().find(|t| &t.name == name) {
            None => return Some(format!("the heavy test {name} is not in {RECORD_FILE}")),
            Some(t) if !t.passed => {
                return Some(format!("the heavy test {name} failed when {RECORD_FILE} was written"))
            }
            Some(_) => {}
        }
    }
    None
}

/// The record of a heavy run.
pub fn record(
    commit: String,
    dirty: bool,
    sources: Vec<String>,
    sources_digest: String,
    cpus: usize,
    times: &[TestTime],
) -> HeavyRecord {
    let tests =
        times.iter().map(|t| HeavyTest { name: t.name.clone(), passed: t.passed, seconds: t.seconds }).collect();
    HeavyRecord { commit, dirty, sources, sources_digest, cpus, tests }
}

/// Refuses heavy-sources that name nothing (a moved directory would
/// otherwise leave the tier guarding nothing).
pub fn require_files(sources: &[String], files: &[PathBuf]) -> Result<()> {
    for source in sources {
        if !files.iter().any(|f| f.starts_with(source)) {
            bail!("Cargo.toml's [workspace.metadata.xtask.test] heavy-sources names {source:?}, which holds no tracked file: fix the path");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed(name: &str) -> HeavyTest {
        HeavyTest { name: name.into(), passed: true, seconds: 1.0 }
    }

    #[test]
    fn the_digest_follows_every_byte_and_path_but_not_the_order_given() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.rs"), "a").unwrap();
        std::fs::write(dir.path().join("src/b.rs"), "b").unwrap();
        let files = [PathBuf::from("src/a.rs"), PathBuf::from("src/b.rs")];
        let reversed = [files[1].clone(), files[0].clone()];
        let before = digest(dir.path(), &files).unwrap();
        assert_eq!(before, digest(dir.path(), &reversed).unwrap());
        std::fs::write(dir.path().join("src/b.rs"), "B").unwrap();
        assert_ne!(before, digest(dir.path(), &files).unwrap(), "a changed byte");
        std::fs::write(dir.path().join("src/b.rs"), "b").unwrap();
        std::fs::rename(dir.path().join("src/b.rs"), dir.path().join("src/c.rs")).unwrap();
        assert_ne!(before, digest(dir.path(), &[files[0].clone(), PathBuf::from("src/c.rs")]).unwrap(), "a rename");
        assert!(require_files(&["src".into()], &files).is_ok());
        assert!(require_files(&["gone".into()], &files).unwrap_err().to_string().contains("\"gone\""));
    }

    #[test]
    fn a_record_is_trusted_only_for_its_digest_and_passing_tests() {
        let record = HeavyRecord {
            commit: "0123456789abcdef".into(),
            dirty: false,
            sources: vec!["header-range/src".into()],
            sources_digest: "d1".into(),
            cpus: 2,
            tests: vec![passed("e2e::heavy::a"), HeavyTest { passed: false, ..passed("e2e::heavy::b") }],
        };
        let a = ["e2e::heavy::a".to_string()];
        assert_eq!(stale(Some(&record), "d1", &a), None);
        assert!(stale(None, "d1", &a).unwrap().contains("there is no tests/heavy-record.json"));
        let changed = stale(Some(&record), "d2", &a).unwrap();
        assert!(
            changed.contains("sources (header-range/src) changed") && changed.contains("0123456789ab"),
            "{changed}"
        );
        let b = ["e2e::heavy::b".to_string()];
        assert!(stale(Some(&record), "d1", &b).unwrap().contains("failed when"));
        let c = ["e2e::heavy::c".to_string()];
        assert!(stale(Some(&record), "d1", &c).unwrap().contains("is not in"));
    }
}
