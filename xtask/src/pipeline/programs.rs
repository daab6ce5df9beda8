//! The workspace's own static programs as the xtask's tools. Heavy work
//! (SRS files, verifier keys, proof verification, witness statements) runs
//! in the prover and verifier binaries, built exactly as the images carry
//! them, so the xtask links no proving code and compiles in seconds.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::pipeline::build::{execute, plan, HostPaths};
use crate::spec::project::Project;

/// The binary names the xtask drives for header-chain work.
pub const PROVER_BIN: &str = "prover";
pub const VERIFIER_BIN: &str = "verifier";

/// Built binaries by (workspace root, target directory): one cargo call per
/// process and workspace.
static BUILT: Mutex<BTreeMap<(PathBuf, PathBuf), BTreeMap<String, PathBuf>>> = Mutex::new(BTreeMap::new());

/// The static binary `bin` of `project`, built with every image's program in
/// one cargo invocation (the same feature set as `cargo xtask image`, so
/// nothing is rebuilt twice and the bytes are the images').
pub fn program(project: &Project, bin: &str) -> Result<PathBuf> {
    let key = (project.root.clone(), project.target_dir.clone());
    let mut built = BUILT.lock().expect("programs lock");
    if !built.contains_key(&key) {
        let manifests = project.manifests()?;
        let images: Vec<_> = manifests.images.iter().collect();
        let sh = Shell::new()?;
        crate::host::tools::ensure_musl_target(&sh)?;
        let binaries = execute(
            &sh,
            project,
            &plan(&images, &HostPaths::of(project)),
            &images,
            &project.root,
            Some(&project.target_dir),
        )?;
        let found = binaries.iter().map(|b| (b.bin.clone(), project.root.join(&b.path))).collect();
        built.insert(key.clone(), found);
    }
    built[&key].get(bin).cloned().with_context(|| {
        format!("no image manifest builds the `{bin}` binary, which the xtask runs for this; declare the image that carries it")
    })
}

/// Runs `program args…`, its progress (stderr) shown as it comes; returns
/// stdout, or an error with the program's last stderr lines.
pub fn run<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {}", program.display()))?;
    if !output.status.success() {
        bail!("{} {} failed ({})", name(program), shown(args), output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `program args…` and returns its whole output, whatever its exit status.
pub fn output<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Result<Output> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", program.display()))
}

/// Runs `program args…` and parses its stdout's last line as JSON.
pub fn run_json<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Result<serde_json::Value> {
    let out = run(program, args)?;
    let last = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("{} {} printed no JSON: {out:?}", name(program), shown(args)))
}

fn name(program: &Path) -> String {
    program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn shown<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter().map(|a| a.as_ref().to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// Command-line arguments from strings and paths alike.
#[macro_export]
macro_rules! os_args {
    ($($arg:expr),* $(,)?) => {
        [$(std::ffi::OsString::from($arg)),*]
    };
}

/// Appends `more` arguments.
pub fn extend(args: &mut Vec<OsString>, more: impl IntoIterator<Item = impl Into<OsString>>) {
    args.extend(more.into_iter().map(Into::into));
}
