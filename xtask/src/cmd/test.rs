//! `cargo xtask test`: what CI runs, and what a contributor runs before
//! pushing. Installs the pinned test tools, runs the whole test suite
//! through `pipeline::test_suite` (each test its own process, timed; the
//! heavy ones alone), which includes the reproducibility check
//! (`tests/tests/release_images.rs` rebuilds the release in a clean
//! checkout at another path), then the doc tests, the format check and
//! clippy with warnings denied; ends with a table of where the time went.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::time::Instant;

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

use crate::host::system_packages;
use crate::pipeline::heavy_tier;
use crate::pipeline::test_suite::{self, Exclusive, SuiteTimes, TestSettings};
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct TestFlags {
    /// Skip clippy.
    #[arg(long)]
    pub skip_clippy: bool,
    /// Tests at once within a test binary (default: the machine's CPUs);
    /// tests declared exclusive always run alone.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The heavy tier instead: the `#[ignore]`d tests (real proofs that
    /// cannot fit CI's time), each alone; with no filter, writes
    /// tests/heavy-record.json, which the everyday run checks.
    #[arg(long)]
    pub heavy: bool,
    /// Only the tests whose full name (`package::target::test`) contains
    /// one of these; the doc tests, fmt and clippy are skipped then.
    pub filters: Vec<String>,
}

/// Where the times of the last run are written, under the target directory.
pub const TIMES_FILE: &str = "xtask-test/times.json";

impl TestFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let began = Instant::now();
        // The operating system's packages first: without root, the one command
        // to run is the whole answer, before anything is built or fetched.
        // QEMU is for the boot tests (the kernel comes from XTASK_NANOS_DIR or ~/.ops).
        system_packages::ensure(sh, &[&system_packages::MUSL_GCC, &system_packages::QEMU])?;
        let project = Project::locate()?;
        let _dir = sh.push_dir(&project.root);
        crate::host::tools::ensure_musl_target(sh)?;
        let anvil = crate::host::tools::ensure_anvil(sh, &project)?;
        crate::host::tools::ensure_vsock_helper(sh, &project)?;
        let _env = sh.push_env("ANVIL_BIN", &anvil);
        let mut times =
            SuiteTimes { cpus: std::thread::available_parallelism().map_or(1, |n| n.get()), ..SuiteTimes::default() };
        let compiling = Instant::now();
        let binaries = test_suite::compile(&project)?;
        times.compile_seconds = compiling.elapsed().as_secs_f64();
        let settings = TestSettings::declared(&project.root)?;
        let exclusive = Exclusive { patterns: settings.exclusive.clone() };
        let plan = test_suite::plan(&binaries, &exclusive, &self.filters, self.heavy)?;
        let cases = plan.cases;
        if cases.is_empty() && !(self.heavy && self.filters.is_empty()) {
            bail!(
                "no {}test's name contains {}: `cargo xtask test{}` alone runs them all",
                if self.heavy { "heavy " } else { "" },
                self.filters.join(" or "),
                if self.heavy { " --heavy" } else { "" }
            );
        }
        let logs = project.target_dir.join("xtask-test/logs");
        std::fs::create_dir_all(&logs)?;
        // The images `deploy` would ship and the deployment records are the user's:
        // tests work in scratch directories and must leave them byte-identical.
        let guarded = [crate::pipeline::image::images_dir(&project), project.root.join("deployments")];
        let before = snapshot(&guarded)?;
        let jobs = self.jobs.unwrap_or(times.cpus);
        let (tests, binary_times) =
            test_suite::run(&binaries, &cases, jobs, &logs, &[("ANVIL_BIN", anvil.as_os_str())])?;
        (times.tests, times.binaries) = (tests, binary_times);
        let touched = changed(&before, &snapshot(&guarded)?);
        let whole_suite = self.filters.is_empty() && !self.heavy;
        let mut steps: Vec<(&str, Vec<&str>, &str)> = Vec::new();
        if whole_suite {
            steps.push(("doc tests", vec!["test", "--workspace", "--locked", "--doc"], "the doc tests failed"));
            steps.push((
                "fmt",
                vec!["fmt", "--all", "--", "--check"],
                "the code is not formatted: run `cargo fmt --all`",
            ));
            if !self.skip_clippy {
                let clippy = vec!["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"];
                steps.push(("clippy", clippy, "clippy found problems"));
            }
        }
        let mut failures: Vec<String> = Vec::new();
        for (step, args, failed) in steps {
            let started = Instant::now();
            let ok = cmd!(sh, "cargo {args...}").run().is_ok();
            times.steps.push((step.to_string(), started.elapsed().as_secs_f64()));
            if !ok {
                failures.push(failed.to_string());
            }
        }
        let heavy_note =
            heavy_tier_note(sh, &project, &self, settings.heavy_sources, &plan.heavy, &times, &mut failures)?;
        times.total_seconds = began.elapsed().as_secs_f64();
        let times_file = project.target_dir.join(TIMES_FILE);
        atomic_write::write_atomic(&times_file, |w| w.write_all(&serde_json::to_vec_pretty(&times)?))?;
        println!("{}", test_suite::table(&times, 10));
        println!("times: {}; each test's output: {}", project.show(&times_file), project.show(&logs));
        println!("{heavy_note}");
        let failed: Vec<&str> = times.tests.iter().filter(|t| !t.passed).map(|t| t.name.as_str()).collect();
        if !failed.is_empty() {
            failures.insert(
                0,
                format!(
                    "{} test(s) failed: {} (outputs above and in {})",
                    failed.len(),
                    failed.join(", "),
                    project.show(&logs)
                ),
            );
        }
        if !touched.is_empty() {
            failures.push(format!(
                "the tests changed the workspace's own images or deployment records: {}; a test must use a scratch directory (XTASK_IMAGES_DIR, --record-dir)",
                touched.join(", ")
            ));
        }
        if !failures.is_empty() {
            bail!("{}", failures.join("\n"));
        }
        Ok(())
    }
}

/// The heavy tier's part of a run: a full `--heavy` run writes the record;
/// the everyday run checks it (a failure when it cannot be trusted).
fn heavy_tier_note(
    sh: &Shell,
    project: &Project,
    flags: &TestFlags,
    sources: Vec<String>,
    heavy: &[String],
    times: &SuiteTimes,
    failures: &mut Vec<String>,
) -> Result<String> {
    let record_file = project.root.join(heavy_tier::RECORD_FILE);
    if heavy.is_empty() && !record_file.exists() {
        return Ok("heavy tier: no heavy test (none is #[ignore]d)".into());
    }
    if sources.is_empty() {
        bail!("there are heavy (#[ignore]d) tests but Cargo.toml's [workspace.metadata.xtask.test] declares no heavy-sources: name the directories they prove things about");
    }
    let sources_args = &sources;
    let tracked = cmd!(sh, "git ls-files -z -- {sources_args...}").quiet().read()?;
    let files: Vec<PathBuf> = tracked.split('\0').filter(|f| !f.is_empty()).map(PathBuf::from).collect();
    heavy_tier::require_files(&sources, &files)?;
    let digest = heavy_tier::digest(&project.root, &files)?;
    if flags.heavy {
        if !flags.filters.is_empty() {
            return Ok(format!("heavy tier: a filtered run; {} not written", heavy_tier::RECORD_FILE));
        }
        let commit = cmd!(sh, "git rev-parse HEAD").quiet().read()?;
        let dirty = !cmd!(sh, "git status --porcelain").quiet().read()?.trim().is_empty();
        let record = heavy_tier::record(commit, dirty, sources, digest, times.cpus, &times.tests);
        crate::spec::records::save(&record_file, &record)?;
        return Ok(format!("heavy tier: {} written (commit it)", heavy_tier::RECORD_FILE));
    }
    let record: Option<heavy_tier::HeavyRecord> = match record_file.exists() {
        true => Some(crate::spec::records::load(&record_file)?),
        false => None,
    };
    match heavy_tier::stale(record.as_ref(), &digest, heavy) {
        None => {
            let record = record.expect("trusted");
            let seconds: f64 = record.tests.iter().map(|t| t.seconds).sum();
            Ok(format!(
                "heavy tier: {} heavy tests passed at commit {} for these sources ({seconds:.0} s; `cargo xtask test --heavy`)",
                record.tests.len(),
                &record.commit[..record.commit.len().min(12)]
            ))
        }
        Some(why) => {
            failures.push(format!("{why}: run `cargo xtask test --heavy` and commit {}", heavy_tier::RECORD_FILE));
            Ok(format!("heavy tier: {why}"))
        }
    }
}

/// BLAKE3 of every file directly in `dirs` (missing directories are empty).
fn snapshot(dirs: &[PathBuf]) -> Result<BTreeMap<PathBuf, String>> {
    let mut files = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries {
            let path = entry?.path();
            if path.is_file() {
                let mut hasher = blake3::Hasher::new();
                hasher.update_reader(std::fs::File::open(&path)?)?;
                files.insert(path, hasher.finalize().to_hex().to_string());
            }
        }
    }
    Ok(files)
}

/// Files added, removed or changed between two snapshots.
fn changed(before: &BTreeMap<PathBuf, String>, after: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let show = |p: &Path| p.display().to_string();
    let mut out: Vec<String> =
        before
            .iter()
            .filter(|(p, h)| after.get(*p) != Some(*h))
            .map(|(p, _)| {
                if after.contains_key(p) {
                    format!("{} (changed)", show(p))
                } else {
                    format!("{} (removed)", show(p))
                }
            })
            .collect();
    out.extend(after.keys().filter(|p| !before.contains_key(*p)).map(|p| format!("{} (added)", show(p))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_added_or_removed_image_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(images.join("a.img"), b"one").unwrap();
        std::fs::write(images.join("b.img"), b"two").unwrap();
        let dirs = [images.clone(), dir.path().join("no-deployments")];
        let before = snapshot(&dirs).unwrap();
        assert!(changed(&before, &snapshot(&dirs).unwrap()).is_empty());
        std::fs::write(images.join("a.img"), b"ONE").unwrap();
        std::fs::remove_file(images.join("b.img")).unwrap();
        std::fs::write(images.join("c.img"), b"three").unwrap();
        let touched = changed(&before, &snapshot(&dirs).unwrap());
        assert_eq!(touched.len(), 3, "{touched:?}");
        assert!(touched[0].ends_with("a.img (changed)") && touched[1].ends_with("b.img (removed)"), "{touched:?}");
        assert!(touched[2].ends_with("c.img (added)"), "{touched:?}");
    }
}
