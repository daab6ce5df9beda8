//! `cargo xtask test`'s runner. The workspace's test binaries are compiled
//! once by cargo (`cargo test --no-run`); every test then runs as its own
//! process, the way `cargo test` runs its binary (in the package's
//! directory, with cargo's environment), and is timed.
//!
//! Binaries run one after another, as `cargo test` runs them, so no test
//! meets another binary's tests at run time; within a binary up to `jobs`
//! tests run at once, except the tests the workspace declares exclusive
//! (`[workspace.metadata.xtask.test] exclusive`: proofs of 16 GB and more),
//! each of which runs alone. The times are a table at the end and JSON under
//! the target directory; no verdict depends on them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::spec::project::Project;

/// One compiled test binary (a crate's unit tests, or one integration test).
#[derive(Debug, Clone)]
pub struct TestBinary {
    /// `package::target`, e.g. `end-to-end::range_workflow`.
    pub name: String,
    pub package: String,
    pub version: String,
    pub executable: PathBuf,
    pub manifest_path: PathBuf,
}

/// One test of a binary.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub binary: usize,
    pub name: String,
    /// Runs alone: declared exclusive, or a heavy-tier test.
    pub exclusive: bool,
    /// A heavy-tier test (`#[ignore]`, run with `--ignored`).
    pub heavy: bool,
}

impl TestCase {
    pub fn full_name(&self, binaries: &[TestBinary]) -> String {
        format!("{}::{}", binaries[self.binary].name, self.name)
    }
}

/// How one test went.
#[derive(Debug, Clone, Serialize)]
pub struct TestTime {
    pub name: String,
    pub passed: bool,
    pub seconds: f64,
    /// Its output (stdout and stderr, as it ran).
    pub log: PathBuf,
}

/// One binary's share of the run.
#[derive(Debug, Clone, Serialize)]
pub struct BinaryTime {
    pub name: String,
    pub tests: usize,
    pub failed: usize,
    /// From its first test's start to its last test's end.
    pub wall_seconds: f64,
}

/// Everything `cargo xtask test` measured, written as JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SuiteTimes {
    pub cpus: usize,
    pub compile_seconds: f64,
    pub binaries: Vec<BinaryTime>,
    pub tests: Vec<TestTime>,
    /// Other steps (doc tests, fmt, clippy), in order.
    pub steps: Vec<(String, f64)>,
    pub total_seconds: f64,
}

/// Compiles every test binary of the workspace (cargo's own output on
/// stderr) and returns them in cargo's order.
pub fn compile(project: &Project) -> Result<Vec<TestBinary>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(&cargo)
        .current_dir(&project.root)
        .args(["test", "--workspace", "--locked", "--no-run", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo")?;
    let stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut binaries = Vec::new();
    for message in cargo_metadata::Message::parse_stream(stdout) {
        if let cargo_metadata::Message::CompilerArtifact(artifact) = message.context("reading cargo's messages")? {
            let Some(executable) = artifact.executable.filter(|_| artifact.profile.test) else { continue };
            let (package, version) = package_of(&artifact.package_id.repr)
                .with_context(|| format!("cargo named a package oddly: {}", artifact.package_id))?;
            binaries.push(TestBinary {
                name: format!("{package}::{}", artifact.target.name),
                package,
                version,
                executable: executable.into_std_path_buf(),
                manifest_path: artifact.manifest_path.into_std_path_buf(),
            });
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("the tests did not compile (cargo's errors above)");
    }
    Ok(binaries)
}

/// Name and version from a package id (`path+file:///w/tests#end-to-end@0.1.0`,
/// or `path+file:///w/xtask#0.1.0` when the name is the directory's).
fn package_of(id: &str) -> Option<(String, String)> {
    let (url, fragment) = id.rsplit_once('#')?;
    match fragment.split_once('@') {
        Some((name, version)) => Some((name.to_string(), version.to_string())),
        None => Some((url.rsplit('/').next()?.to_string(), fragment.to_string())),
    }
}

/// The tests of `binary` (`--list`), in its order: the everyday ones, and
/// the ignored ones (the heavy tier).
pub fn list(binary: &TestBinary) -> Result<(Vec<String>, Vec<String>)> {
    let names = |ignored: bool| -> Result<Vec<String>> {
        let mut command = command_for(binary);
        command.args(["--list", "--format", "terse"]);
        if ignored {
            command.arg("--ignored");
        }
        let out =
            command.output().with_context(|| format!("cannot list the tests of {}", binary.executable.display()))?;
        if !out.status.success() {
            bail!("{} --list failed: {}", binary.executable.display(), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.strip_suffix(": test"))
            .map(str::to_string)
            .collect())
    };
    let ignored = names(true)?;
    let everyday = names(false)?.into_iter().filter(|n| !ignored.contains(n)).collect();
    Ok((everyday, ignored))
}

/// The binary run as `cargo test` runs it: in its package's directory, with
/// the environment cargo gives a test.
fn command_for(binary: &TestBinary) -> Command {
    let dir = binary.manifest_path.parent().expect("a manifest has a directory");
    let mut command = Command::new(&binary.executable);
    command
        .current_dir(dir)
        .env("CARGO_MANIFEST_DIR", dir)
        .env("CARGO_MANIFEST_PATH", &binary.manifest_path)
        .env("CARGO_PKG_NAME", &binary.package)
        .env("CARGO_PKG_VERSION", &binary.version);
    if std::env::var_os("CARGO").is_none() {
        command.env("CARGO", "cargo");
    }
    command
}

/// What the workspace's Cargo.toml declares for `cargo xtask test`, in
/// `[workspace.metadata.xtask.test]` (every key checked: a misspelt one is
/// an error, not a silently unprotected test).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestSettings {
    /// Tests that run alone (see [`Exclusive`]).
    #[serde(default)]
    pub exclusive: Vec<String>,
    /// What the heavy tier proves things about (`heavy_tier`).
    #[serde(default)]
    pub heavy_sources: Vec<String>,
}

impl TestSettings {
    pub fn declared(root: &Path) -> Result<Self> {
        let manifest = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)?;
        let toml: toml::Value = toml::from_str(&text).with_context(|| format!("{} is not TOML", manifest.display()))?;
        let declared = toml.get("workspace").and_then(|w| w.get("metadata")).and_then(|m| m.get("xtask"));
        let Some(settings) = declared.and_then(|x| x.get("test")) else { return Ok(Self::default()) };
        settings.clone().try_into().with_context(|| {
            format!(
                "{}: [workspace.metadata.xtask.test] takes `exclusive` and `heavy-sources`, lists of names",
                manifest.display()
            )
        })
    }
}

/// Which tests run alone: `package::target::test` names, or prefixes ending
/// in `*` (`end-to-end::range_workflow::*`).
#[derive(Debug, Clone, Default)]
pub struct Exclusive {
    pub patterns: Vec<String>,
}

impl Exclusive {
    pub fn matches(&self, full_name: &str) -> bool {
        self.patterns.iter().any(|p| matches(p, full_name))
    }

    /// Patterns that name no test: a renamed test would otherwise lose its
    /// protection silently.
    pub fn stale<'a>(&'a self, names: &[String]) -> Vec<&'a str> {
        self.patterns.iter().filter(|p| !names.iter().any(|n| matches(p, n))).map(String::as_str).collect()
    }
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// What a run will do: its tests, and the full names of every heavy-tier test.
pub struct Plan {
    pub cases: Vec<TestCase>,
    pub heavy: Vec<String>,
}

/// The tests of `binaries` of one tier (the heavy tier when `heavy`) whose
/// full name contains one of `filters` (all when there is none), marked
/// exclusive as declared (every heavy test is).
pub fn plan(binaries: &[TestBinary], exclusive: &Exclusive, filters: &[String], heavy: bool) -> Result<Plan> {
    let mut cases = Vec::new();
    let mut names = Vec::new();
    let mut heavy_names = Vec::new();
    for (index, binary) in binaries.iter().enumerate() {
        let (everyday, ignored) = list(binary)?;
        let tier = if heavy { &ignored } else { &everyday };
        for name in tier {
            let full = format!("{}::{name}", binary.name);
            if filters.is_empty() || filters.iter().any(|f| full.contains(f.as_str())) {
                let exclusive = heavy || exclusive.matches(&full);
                cases.push(TestCase { binary: index, exclusive, heavy, name: name.clone() });
            }
        }
        names.extend(everyday.iter().chain(&ignored).map(|name| format!("{}::{name}", binary.name)));
        heavy_names.extend(ignored.iter().map(|name| format!("{}::{name}", binary.name)));
    }
    let stale = exclusive.stale(&names);
    if !stale.is_empty() {
        bail!(
            "Cargo.toml's [workspace.metadata.xtask.test] exclusive names no test as {}: rename it with the test (names are package::target::test)",
            stale.join(", ")
        );
    }
    Ok(Plan { cases, heavy: heavy_names })
}

struct Running {
    case: usize,
    child: Child,
    started: Instant,
    log: PathBuf,
}

/// Runs `cases`, binary after binary, up to `jobs` at once within one;
/// an exclusive test alone. Every test runs, whatever fails. Returns each
/// test's time (in `cases`' order) and each binary's.
pub fn run(
    binaries: &[TestBinary],
    cases: &[TestCase],
    jobs: usize,
    logs: &Path,
    env: &[(&str, &OsStr)],
) -> Result<(Vec<TestTime>, Vec<BinaryTime>)> {
    let bar = crate::support::progress::steps("tests", cases.len() as u64);
    let mut times: Vec<Option<TestTime>> = vec![None; cases.len()];
    let mut binary_times = Vec::new();
    for binary in 0..binaries.len() {
        let mut queue: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].binary == binary).collect();
        if queue.is_empty() {
            continue;
        }
        let (began, tests) = (Instant::now(), queue.len());
        let mut failed = 0;
        // Exclusive tests first: the others then share the cores.
        queue.sort_by_key(|&i| !cases[i].exclusive);
        queue.reverse();
        let mut running: Vec<Running> = Vec::new();
        while !queue.is_empty() || !running.is_empty() {
            while let Some(&next) = queue.last() {
                let alone = running.iter().any(|r| cases[r.case].exclusive);
                let fits = running.is_empty() || (!alone && !cases[next].exclusive && running.len() < jobs.max(1));
                if !fits {
                    break;
                }
                queue.pop();
                running.push(start(binaries, &cases[next], next, logs, env)?);
                bar.set_message(running.iter().map(|r| cases[r.case].name.as_str()).collect::<Vec<_>>().join(", "));
            }
            std::thread::sleep(Duration::from_millis(50));
            let mut still = Vec::new();
            for mut r in running {
                match r.child.try_wait()? {
                    None => still.push(r),
                    Some(status) => {
                        let seconds = r.started.elapsed().as_secs_f64();
                        let output = std::fs::read_to_string(&r.log).unwrap_or_default();
                        // Exactly this test ran, and passed.
                        let passed = status.success() && output.contains("test result: ok. 1 passed");
                        let name = cases[r.case].full_name(binaries);
                        bar.suspend(|| {
                            eprintln!("{} {seconds:>8.1} s  {name}", if passed { "PASS" } else { "FAIL" });
                            if !passed {
                                eprintln!(
                                    "---- output of {name} ({}) ----\n{output}---- end of {name} ----",
                                    r.log.display()
                                );
                            }
                        });
                        bar.inc(1);
                        failed += usize::from(!passed);
                        times[r.case] = Some(TestTime { name, passed, seconds, log: r.log });
                    }
                }
            }
            running = still;
        }
        let wall_seconds = began.elapsed().as_secs_f64();
        binary_times.push(BinaryTime { name: binaries[binary].name.clone(), tests, failed, wall_seconds });
    }
    bar.finish_and_clear();
    Ok((times.into_iter().map(|t| t.expect("every test ran")).collect(), binary_times))
}

fn start(
    binaries: &[TestBinary],
    case: &TestCase,
    index: usize,
    logs: &Path,
    env: &[(&str, &OsStr)],
) -> Result<Running> {
    let binary = &binaries[case.binary];
    let log = logs.join(format!("{}.log", sanitise(&case.full_name(binaries))));
    let file = std::fs::File::create(&log).with_context(|| format!("cannot write {}", log.display()))?;
    let mut command = command_for(binary);
    if case.heavy {
        command.arg("--ignored");
    }
    let child = command
        .args([case.name.as_str(), "--exact", "--nocapture", "--test-threads", "1"])
        .envs(env.iter().copied())
        .stdout(file.try_clone()?)
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", binary.executable.display()))?;
    Ok(Running { case: index, child, started: Instant::now(), log })
}

fn sanitise(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '.' }).collect()
}

/// The table `cargo xtask test` ends with.
pub fn table(times: &SuiteTimes, slowest: usize) -> String {
    let mut out = String::from("| test binary | tests | failed | wall (s) |\n|---|---|---|---|\n");
    let mut binaries = times.binaries.clone();
    binaries.sort_by(|a, b| b.wall_seconds.total_cmp(&a.wall_seconds));
    for b in &binaries {
        out.push_str(&format!("| {} | {} | {} | {:.1} |\n", b.name, b.tests, b.failed, b.wall_seconds));
    }
    let mut tests = times.tests.clone();
    tests.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    out.push_str("\n| slowest tests | s |\n|---|---|\n");
    for t in tests.iter().take(slowest) {
        out.push_str(&format!("| {} | {:.1} |\n", t.name, t.seconds));
    }
    out.push_str(&format!("\n| step | s |\n|---|---|\n| compile the tests | {:.1} |\n", times.compile_seconds));
    let tests_total: f64 = times.binaries.iter().map(|b| b.wall_seconds).sum();
    out.push_str(&format!(
        "| tests ({} in {} binaries) | {tests_total:.1} |\n",
        times.tests.len(),
        times.binaries.len()
    ));
    for (step, seconds) in &times.steps {
        out.push_str(&format!("| {step} | {seconds:.1} |\n"));
    }
    out.push_str(&format!("| total | {:.1} |\n", times.total_seconds));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids_name_their_package_both_ways() {
        assert_eq!(
            package_of("path+file:///w/tests#end-to-end@0.1.0"),
            Some(("end-to-end".to_string(), "0.1.0".to_string()))
        );
        assert_eq!(package_of("path+file:///w/xtask#0.1.0"), Some(("xtask".to_string(), "0.1.0".to_string())));
        assert_eq!(package_of("no fragment"), None);
    }

    #[test]
    fn the_declared_settings_are_read_strictly() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join("Cargo.toml"), text).unwrap();
        write("[workspace]\n[workspace.metadata.xtask.test]\nexclusive = [\"a::b::*\"]\nheavy-sources = [\"src\"]\n");
        let settings = TestSettings::declared(dir.path()).unwrap();
        assert_eq!(
            (settings.exclusive, settings.heavy_sources),
            (vec!["a::b::*".to_string()], vec!["src".to_string()])
        );
        write("[workspace]\n");
        assert!(TestSettings::declared(dir.path()).unwrap().exclusive.is_empty());
        write("[workspace]\n[workspace.metadata.xtask.test]\nexlusive = [\"a\"]\n");
        let e = format!("{:#}", TestSettings::declared(dir.path()).unwrap_err());
        assert!(e.contains("takes `exclusive` and `heavy-sources`") && e.contains("exlusive"), "{e}");
    }

    #[test]
    fn exclusive_patterns_match_names_or_prefixes_and_stale_ones_are_found() {
        let exclusive =
            Exclusive { patterns: vec!["e2e::range::*".into(), "e2e::deploy::one".into(), "gone::*".into()] };
        assert!(exclusive.matches("e2e::range::a") && exclusive.matches("e2e::range::b"));
        assert!(exclusive.matches("e2e::deploy::one") && !exclusive.matches("e2e::deploy::one_more"));
        assert!(!exclusive.matches("e2e::other::a"));
        let names = ["e2e::range::a".to_string(), "e2e::deploy::one".to_string()];
        assert_eq!(exclusive.stale(&names), vec!["gone::*"]);
    }

    #[test]
    fn the_table_lists_binaries_and_tests_slowest_first() {
        let test =
            |name: &str, seconds: f64| TestTime { name: name.into(), passed: true, seconds, log: PathBuf::new() };
        let times = SuiteTimes {
            cpus: 2,
            compile_seconds: 100.0,
            binaries: vec![
                BinaryTime { name: "a::fast".into(), tests: 2, failed: 0, wall_seconds: 3.0 },
                BinaryTime { name: "a::slow".into(), tests: 1, failed: 1, wall_seconds: 50.0 },
            ],
            tests: vec![test("a::fast::x", 1.0), test("a::fast::y", 2.0), test("a::slow::z", 50.0)],
            steps: vec![("clippy".into(), 20.0)],
            total_seconds: 173.0,
        };
        let table = table(&times, 2);
        let at = |s: &str| table.find(s).unwrap_or_else(|| panic!("{s} missing from {table}"));
        assert!(at("| a::slow | 1 | 1 | 50.0 |") < at("| a::fast | 2 | 0 | 3.0 |"), "{table}");
        assert!(at("| a::slow::z | 50.0 |") < at("| a::fast::y | 2.0 |"), "{table}");
        assert!(!table.contains("a::fast::x |"), "only the two slowest: {table}");
        assert!(table.contains("| tests (3 in 2 binaries) | 53.0 |") && table.contains("| total | 173.0 |"), "{table}");
    }
}
