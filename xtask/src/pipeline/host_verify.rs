//! The host's own verdict on a proof that came back from a node (`exec`),
//! a VM or a local run (`run`): the pair's declared `[check]`, a program of
//! the pair run on this machine against the files its images carry (read
//! out of the image itself when there is one). A node's `valid` is a claim;
//! this is the check. Exit 0 is valid; anything else is not, with a reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::pipeline::programs;
use crate::spec::manifest::workflow::substitute;
#[cfg(test)]
use crate::spec::manifest::workflow::Role;
use crate::spec::manifest::{Image, Workflow};
use crate::spec::project::Project;
use nanos_image::tfs::EntryKind;

/// What the host concluded, for the outcome JSON.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostVerdict {
    pub valid: bool,
    /// Why not, when not valid.
    pub reason: Option<String>,
    /// The check program's JSON report, when it wrote one.
    pub report: Option<Value>,
}

impl HostVerdict {
    fn invalid(reason: String) -> Self {
        Self { valid: false, reason: Some(reason), report: None }
    }
}

/// Where an image's files come from for the check.
#[derive(Clone, Copy)]
pub enum Carried<'a> {
    /// The built image (what was deployed or booted): files read out of it.
    Image(&'a Path),
    /// No image (native `run`): the host files its manifest names.
    Manifest(&'a Project, &'a Image),
}

/// One host check of a proof.
pub struct CheckRun<'a> {
    pub workflow: &'a Workflow,
    /// The check's program (the image's binary of `workflow.check.program`).
    pub program: &'a Path,
    pub prover: Carried<'a>,
    pub verifier: Carried<'a>,
    /// The proof file's bytes.
    pub proof: &'a [u8],
    /// Input name → the file on this machine.
    pub inputs: &'a BTreeMap<String, PathBuf>,
}

/// Runs the pair's check. Never an error: whatever keeps the check from
/// concluding (a file the image lacks, a program that cannot start) is an
/// invalid verdict with the reason.
pub fn check(run: &CheckRun<'_>) -> HostVerdict {
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return HostVerdict::invalid(format!("cannot make a scratch directory: {e}")),
    };
    match check_in(run, scratch.path()) {
        Ok(verdict) => verdict,
        Err(e) => HostVerdict::invalid(format!("{e:#}")),
    }
}

fn check_in(run: &CheckRun<'_>, scratch: &Path) -> Result<HostVerdict> {
    let proof_name = Path::new(run.workflow.proof_path()).file_name().context("the proof path names a file")?;
    let proof = scratch.join("proof").join(proof_name);
    std::fs::create_dir_all(proof.parent().expect("has a parent"))?;
    std::fs::write(&proof, run.proof)?;
    let report = scratch.join("report.json");
    let places = Places {
        proof: Some(&proof),
        report: Some(&report),
        inputs: run.inputs,
        prover: run.prover,
        verifier: run.verifier,
        scratch,
    };
    let args = resolve(&run.workflow.check.args, &places)?;
    let output = programs::output(run.program, &args)?;
    let report: Option<Value> = std::fs::read(&report).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let stderr_reason = || {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim().trim_start_matches("error: ");
        format!("the check exited with {} {last}", output.status)
    };
    let proof_blake3 = blake3::hash(run.proof).to_hex().to_string();
    // Valid only when the program exits 0 and its report says `"valid": true`
    // (a boolean) about this very proof.
    let problem = match &report {
        _ if !output.status.success() => Some(
            report
                .as_ref()
                .and_then(|r| r["reason"].as_str().map(str::to_string))
                .filter(|r| !r.is_empty())
                .unwrap_or_else(stderr_reason),
        ),
        None => Some(format!("the check exited 0 but wrote no JSON report at ${{report}} ({})", stderr_reason())),
        Some(r) => match (&r["valid"], r["proof_blake3"].as_str()) {
            (Value::Bool(true), Some(named)) if named == proof_blake3 => None,
            (Value::Bool(true), Some(named)) => {
                Some(format!("the check's report is about another proof (BLAKE3 {named}, not {proof_blake3})"))
            }
            (Value::Bool(true), None) => {
                Some("the check's report does not name the proof it checked (`proof_blake3`)".to_string())
            }
            (Value::Bool(false), _) => Some(
                r["reason"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("the check's report says not valid")
                    .to_string(),
            ),
            (other, _) => Some(format!("the check's report has `valid` = {other}, not a boolean")),
        },
    };
    let (valid, reason) = (problem.is_none(), problem);
    Ok(HostVerdict { valid, reason, report })
}

/// What a host command's placeholders stand for.
struct Places<'a> {
    proof: Option<&'a Path>,
    report: Option<&'a Path>,
    inputs: &'a BTreeMap<String, PathBuf>,
    prover: Carried<'a>,
    verifier: Carried<'a>,
    /// Where files read out of images are written.
    scratch: &'a Path,
}

/// A declared host command's arguments with their placeholders resolved.
fn resolve(args: &[String], places: &Places<'_>) -> Result<Vec<String>> {
    let mut problem = None;
    let mut resolved = Vec::new();
    for arg in args {
        let one = substitute(arg, |scope, name| {
            let found = match (scope, name) {
                ("proof", "") => places.proof.map(|p| p.display().to_string()).context("no proof yet"),
                ("report", "") => places.report.map(|p| p.display().to_string()).context("no report here"),
                ("inputs", name) => places
                    .inputs
                    .get(name)
                    .map(|p| p.display().to_string())
                    .with_context(|| format!("no file was given for the input {name:?}")),
                (role, rest) => {
                    let (carried, dir) = match role {
                        "prover" => (places.prover, "prover"),
                        _ => (places.verifier, "verifier"),
                    };
                    let var = rest.strip_prefix("env.").unwrap_or(rest);
                    env_with_files(carried, var, &places.scratch.join(dir))
                }
            };
            found.map_err(|e| problem = Some(e)).ok()
        });
        match one {
            Ok(a) => resolved.push(a),
            Err(e) => return Err(problem.take().unwrap_or_else(|| anyhow::anyhow!(e))),
        }
    }
    Ok(resolved)
}

/// The pair's preflight, when it declares one: the inputs are checked on
/// this machine before any task is sent. Ok, or the program's complaint.
pub fn preflight(
    workflow: &Workflow,
    program: &Path,
    prover: Carried<'_>,
    verifier: Carried<'_>,
    inputs: &BTreeMap<String, PathBuf>,
) -> Result<()> {
    let Some(preflight) = &workflow.preflight else { return Ok(()) };
    let scratch = tempfile::tempdir()?;
    let places = Places { proof: None, report: None, inputs, prover, verifier, scratch: scratch.path() };
    let args = resolve(&preflight.args, &places)?;
    let output = programs::output(program, &args)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        bail!(
            "the inputs do not pass the pair's preflight ({}): {}",
            output.status,
            last.trim_start_matches("error: ")
        );
    }
    Ok(())
}

/// An image's environment variable `var`, each comma-separated part that is
/// a file of the image replaced by a host copy of it (the file itself for a
/// manifest; extracted under `scratch` from an image).
fn env_with_files(carried: Carried<'_>, var: &str, scratch: &Path) -> Result<String> {
    match carried {
        Carried::Manifest(project, image) => {
            let value = image
                .env
                .iter()
                .find(|(k, _)| k.as_str() == var)
                .map(|(_, v)| v.clone())
                .with_context(|| format!("{}: the image sets no {var}", image.manifest.display()))?;
            let paths = crate::pipeline::image_host_paths::image_paths(project, image)?;
            Ok(crate::pipeline::image_host_paths::translate(&value, &paths))
        }
        Carried::Image(file) => {
            let (value, files) = image_env_files(file, var)?;
            let mut parts = Vec::new();
            for part in value.split(',') {
                match files.iter().find(|(path, _)| path == part) {
                    Some((path, bytes)) => {
                        let copy = scratch.join(path.trim_start_matches('/'));
                        std::fs::create_dir_all(copy.parent().expect("has a parent"))?;
                        std::fs::write(&copy, bytes)?;
                        parts.push(copy.display().to_string());
                    }
                    None => parts.push(part.to_string()),
                }
            }
            Ok(parts.join(","))
        }
    }
}

/// A file read out of an image: its path in the image, and its bytes.
pub type ImageFile = (String, Vec<u8>);

/// An image's environment variable `var` and the files of the image its
/// comma-separated parts name, read out of the image (ops-built or native).
pub fn image_env_files(image: &Path, var: &str) -> Result<(String, Vec<ImageFile>)> {
    let file = std::fs::File::open(image).with_context(|| format!("cannot open the image {}", image.display()))?;
    let disk: &dyn nanos_image::Disk = &file;
    let bad = |e: nanos_image::FormatError| anyhow::anyhow!("{}: {e}", image.display());
    let fs = nanos_image::inspect::root_filesystem(disk).map_err(bad)?;
    let value = fs
        .log
        .root
        .as_tuple()
        .and_then(|t| t.get("environment"))
        .and_then(|e| e.as_tuple())
        .and_then(|e| e.get(var))
        .and_then(|v| v.text())
        .with_context(|| format!("the image {} sets no {var}", image.display()))?
        .to_string();
    let entries = fs.entries();
    let mut files = Vec::new();
    for path in value.split(',').filter(|p| p.starts_with('/')) {
        let Some((_, EntryKind::File { .. }, node)) = entries.iter().find(|(p, _, _)| p == path) else {
            bail!("the image {} names {path} in {var}, but holds no such file", image.display());
        };
        let mut bytes = Vec::new();
        fs.read_file(disk, path, node, &mut |b| bytes.extend_from_slice(b)).map_err(bad)?;
        files.push((path.to_string(), bytes));
    }
    Ok((value, files))
}

/// The line to print when the node and the host disagree.
pub fn disagreement(node_valid: bool, host: &HostVerdict) -> Option<String> {
    (node_valid != host.valid).then(|| {
        format!(
            "DISAGREEMENT: the node's verifier says {}, but the pair's check on this machine says {}{}",
            if node_valid { "VALID" } else { "INVALID" },
            if host.valid { "VALID" } else { "INVALID" },
            host.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow(args: &[&str]) -> Workflow {
        Workflow {
            inputs: BTreeMap::from([("witness".to_string(), "/workspace/witness.json".to_string())]),
            prove_args: vec![],
            outputs: BTreeMap::from([("proof".to_string(), "/workspace/proof.json".to_string())]),
            proof: "proof".into(),
            verify_args: vec![],
            preflight: None,
            defaults: BTreeMap::new(),
            capture: None,
            segments: None,
            check: crate::spec::manifest::workflow::Check {
                program: Role::Verifier,
                args: args.iter().map(|a| a.to_string()).collect(),
            },
        }
    }

    fn run_check(program: &Path, args: &[&str], inputs: &BTreeMap<String, PathBuf>) -> HostVerdict {
        let w = workflow(args);
        let nowhere = Carried::Image(Path::new("/nonexistent/image.img"));
        check(&CheckRun { workflow: &w, program, prover: nowhere, verifier: nowhere, proof: b"PROOF", inputs })
    }

    #[test]
    fn the_exit_status_and_report_decide() {
        let sh = Path::new("/bin/sh");
        let inputs = BTreeMap::from([("witness".to_string(), PathBuf::from("/data/w.json"))]);
        let named = blake3::hash(b"PROOF").to_hex().to_string();
        let report = |json: &str| format!("echo '{json}' > \"$0\"");
        // The program sees the proof's bytes at ${proof} and the input's host
        // path; it reports valid about this proof.
        let ok = run_check(
            sh,
            &[
                "-c",
                &format!(
                    "test \"$(cat \"$1\")\" = PROOF && test \"$2\" = /data/w.json && {}",
                    report(&format!("{{\"valid\": true, \"proof_blake3\": \"{named}\"}}"))
                ),
                "${report}",
                "${proof}",
                "${inputs.witness}",
            ],
            &inputs,
        );
        assert!(ok.valid, "{ok:?}");
        // A non-zero exit is invalid; the report's reason is the reason.
        let bad = run_check(
            sh,
            &["-c", &format!("{}; exit 1", report("{\"valid\": false, \"reason\": \"another chain\"}")), "${report}"],
            &inputs,
        );
        assert!(!bad.valid && bad.reason.as_deref() == Some("another chain"), "{bad:?}");
        assert_eq!(bad.report.unwrap()["reason"], "another chain");
        // Exit 0 is not enough: the report must say valid, as a boolean, about this proof.
        for (json, says) in [
            ("{\"valid\": false}".to_string(), "says not valid"),
            (format!("{{\"valid\": \"true\", \"proof_blake3\": \"{named}\"}}"), "not a boolean"),
            (format!("{{\"valid\": \"false\", \"proof_blake3\": \"{named}\"}}"), "not a boolean"),
            ("{\"valid\": true}".to_string(), "does not name the proof"),
            (format!("{{\"valid\": true, \"proof_blake3\": \"{}\"}}", "00".repeat(32)), "about another proof"),
        ] {
            let v = run_check(sh, &["-c", &report(&json), "${report}"], &inputs);
            assert!(!v.valid && v.reason.as_deref().unwrap_or_default().contains(says), "{json}: {v:?}");
        }
        let silent_ok = run_check(sh, &["-c", "true"], &inputs);
        assert!(!silent_ok.valid && silent_ok.reason.unwrap().contains("wrote no JSON report"));
        // Without a report, the last stderr line says why.
        let silent = run_check(sh, &["-c", "echo 'error: unusable key' >&2; exit 2"], &inputs);
        assert!(!silent.valid && silent.reason.as_deref().unwrap_or_default().contains("unusable key"), "{silent:?}");
    }

    #[test]
    fn what_keeps_the_check_from_running_is_an_invalid_verdict() {
        let none = BTreeMap::new();
        let v = run_check(Path::new("/bin/true"), &["${inputs.witness}"], &none);
        assert!(!v.valid && v.reason.unwrap().contains("no file was given for the input \"witness\""));
        let v = run_check(Path::new("/bin/true"), &["${verifier.env.HEADER_CHAIN_KEYS}"], &none);
        assert!(!v.valid && v.reason.unwrap().contains("/nonexistent/image.img"));
        let v = run_check(Path::new("/nonexistent/verifier"), &["${proof}"], &none);
        assert!(!v.valid && v.reason.as_deref().unwrap_or_default().contains("cannot start"), "{v:?}");
    }

    #[test]
    fn a_preflight_that_fails_stops_with_its_complaint() {
        let mut w = workflow(&[]);
        let inputs = BTreeMap::from([("witness".to_string(), PathBuf::from("/data/w.json"))]);
        let nowhere = Carried::Image(Path::new("/nonexistent/image.img"));
        assert!(preflight(&w, Path::new("/bin/false"), nowhere, nowhere, &inputs).is_ok(), "none declared");
        let sh = Path::new("/bin/sh");
        let args =
            ["-c", "test \"$0\" = /data/w.json && echo 'error: not a witness' >&2 && exit 2", "${inputs.witness}"];
        w.preflight = Some(crate::spec::manifest::workflow::Check {
            program: Role::Prover,
            args: args.iter().map(|a| a.to_string()).collect(),
        });
        let e = preflight(&w, sh, nowhere, nowhere, &inputs).unwrap_err().to_string();
        assert!(e.contains("preflight") && e.ends_with(": not a witness"), "{e}");
    }

    #[test]
    fn disagreements_are_named() {
        let host = HostVerdict { valid: false, reason: Some("bad".into()), report: None };
        let line = disagreement(true, &host).unwrap();
        assert!(line.contains("DISAGREEMENT") && line.contains("VALID") && line.contains("(bad)"), "{line}");
        assert!(disagreement(false, &host).is_none());
    }
}
