//! The header-chain verifier. It verifies a proof file (a chain proof, or a
//! range proof aggregated from segments) against the verifier keys it is
//! given (pinned in its image), never against anything the proof file carries. Exit code 0 only when the proof is valid. `gevulot` takes
//! one task over the shim protocol: its arguments are a `verify` command
//! line, the verdict is the result data and the report a result file.

#[cfg(all(target_env = "musl", not(feature = "musl-system-allocator")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Links the SSE2 `memcpy`/`memmove` in place of musl's (see that crate).
#[cfg(all(target_env = "musl", not(feature = "musl-libc-memcpy")))]
use musl_memcpy as _;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use header_chain::proof::{verify, PinnedKey, ProofFile, VerifierKeyFile};
use header_chain::task::TaskArgs;
use header_range::files::PinnedRangeKey;

#[derive(Parser)]
#[command(name = "verifier", version, about = "Verifies header-chain proofs against pinned verifying keys")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Verify a proof file; exit 0 only when it is valid.
    Verify {
        /// The proof JSON written by the prover.
        #[arg(short = 'p', long)]
        proof: PathBuf,
        /// Pinned verifier keys (repeat, or comma-separate; images set them in the environment).
        #[arg(long = "key", env = "HEADER_CHAIN_KEYS", value_delimiter = ',', required = true)]
        keys: Vec<PathBuf>,
        /// Where to write the JSON report.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// The host's check after a workflow: the proof verifies against the
    /// pinned keys *and* proves the chain of the witness that was sent.
    /// Exit 0 only when both hold.
    Check {
        #[arg(short = 'p', long)]
        proof: PathBuf,
        /// The witness the prover was given.
        #[arg(long)]
        witness: PathBuf,
        /// The pinned verifier keys (repeat, or comma-separate).
        #[arg(long = "key", value_delimiter = ',', required = true)]
        keys: Vec<PathBuf>,
        /// Where to write the JSON report.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Run one Gevulot task (its arguments are a `verify` command line).
    Gevulot,
}

/// Exit codes: valid, invalid proof, unusable input.
const INVALID: u8 = 1;
const UNUSABLE: u8 = 2;
/// Where the report goes in a Gevulot task when the task names none.
const DEFAULT_TASK_REPORT: &str = "/workspace/verification.json";

/// The verdict and its report document.
struct Verdict {
    valid: bool,
    summary: String,
    report: serde_json::Value,
}

/// The keys a verifier pins: header-chain keys and range keys, told apart by their `kind`.
#[derive(Default)]
struct Pinned {
    chains: Vec<PinnedKey>,
    ranges: Vec<PinnedRangeKey>,
}

/// The `kind` a JSON file declares, if it is JSON with one.
fn declared_kind(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value.get("kind")?.as_str().map(str::to_owned)
}

fn load_keys(keys: &[PathBuf]) -> Result<Pinned, String> {
    let mut pinned = Pinned::default();
    for k in keys {
        let bytes = std::fs::read(k).map_err(|e| format!("cannot read verifier key {}: {e}", k.display()))?;
        if declared_kind(&bytes).as_deref() == Some(header_range::files::KEY_KIND) {
            let file = serde_json::from_slice(&bytes).map_err(|e| {
                format!("range key {} is malformed: {e}; write it again with `prover aggregate --key-out`", k.display())
            })?;
            pinned.ranges.push(PinnedRangeKey::new(file).map_err(|e| format!("range key {}: {e}", k.display()))?);
        } else {
            let file = VerifierKeyFile::load(k).map_err(|e| e.to_string())?;
            pinned.chains.push(PinnedKey::new(file).map_err(|e| format!("verifier key {}: {e}", k.display()))?);
        }
    }
    Ok(pinned)
}

/// What every proof file says about itself, whichever kind it is.
struct Judged {
    verdict: Result<(), String>,
    statement: header_chain::layout::ChainStatement,
    key_id: String,
    transcript: header_chain::proof::Transcript,
    segments: Option<usize>,
}

fn judge(proof: &Path, bytes: &[u8], pinned: &Pinned) -> Result<Judged, String> {
    let not_json = |e: serde_json::Error| format!("proof file {} is not proof JSON: {e}", proof.display());
    if declared_kind(bytes).as_deref() == Some(header_range::files::PROOF_KIND) {
        let file: header_range::files::RangeProofFile = serde_json::from_slice(bytes).map_err(not_json)?;
        let segments = pinned.ranges.iter().find(|k| k.id == file.key_id).map(|k| k.file.plan.lengths.len());
        Ok(Judged {
            verdict: header_range::files::verify(&pinned.ranges, &file).map_err(|e| e.to_string()),
            statement: file.statement,
            key_id: file.key_id,
            transcript: file.transcript,
            segments,
        })
    } else {
        let file: ProofFile = serde_json::from_slice(bytes).map_err(not_json)?;
        Ok(Judged {
            verdict: verify(&pinned.chains, &file).map_err(|e| e.to_string()),
            statement: file.statement,
            key_id: file.key_id,
            transcript: file.transcript,
            segments: None,
        })
    }
}

/// Loads the keys and the proof (errors here mean unusable input) and verifies.
fn check(proof: &Path, keys: &[PathBuf]) -> Result<Verdict, String> {
    let started = Instant::now();
    let pinned = load_keys(keys)?;
    let bytes = std::fs::read(proof).map_err(|e| format!("cannot read proof file {}: {e}", proof.display()))?;
    let loaded = started.elapsed();
    let t = Instant::now();
    let judged = judge(proof, &bytes, &pinned)?;
    let verify_time = t.elapsed();
    let s = &judged.statement;
    let insecure = insecure_setup_of(&pinned, &judged.key_id);
    let mut summary = match &judged.verdict {
        Ok(()) => format!(
            "valid: blocks {}..={}, last hash {}, first parent {} ({:.0} ms)",
            s.first_number,
            s.last_number,
            s.last_hash,
            s.first_parent_hash,
            verify_time.as_secs_f64() * 1e3
        ),
        Err(reason) => format!("invalid: {reason}"),
    };
    if let Some(setup) = insecure {
        summary.push_str(&format!(
            "\nWARNING: the pinned key is from {setup}, whose secret is public: anyone can forge a proof this key accepts"
        ));
    }
    let mut report = serde_json::json!({
        "valid": judged.verdict.is_ok(),
        "reason": judged.verdict.as_ref().err(),
        "statement": judged.statement,
        "key_id": judged.key_id,
        // Names the proof judged (Gevulot's checksum of it): a host check requires it.
        "proof_blake3": blake3::hash(&bytes).to_hex().to_string(),
        "headers": (s.last_number + 1).saturating_sub(s.first_number),
        // The known development setup the proof's pinned key is from (forgeable), or null.
        "insecure_setup": insecure,
        "timings_ms": { "load": loaded.as_secs_f64() * 1e3, "verify": verify_time.as_secs_f64() * 1e3 },
    });
    // Like the proof file: only the other flavours are named (absent = blake2b).
    if !judged.transcript.is_blake2b() {
        report["transcript"] = judged.transcript.name().into();
    }
    if let Some(segments) = judged.segments {
        report["segments"] = segments.into();
    }
    Ok(Verdict { valid: judged.verdict.is_ok(), summary, report })
}

/// The known insecure setup of the pinned key `key_id` names, if any.
fn insecure_setup_of(pinned: &Pinned, key_id: &str) -> Option<&'static str> {
    let ranges = pinned.ranges.iter().filter(|k| k.id == key_id).map(|k| k.points().clone());
    let chains = pinned.chains.iter().filter(|k| k.id == key_id);
    let chains = chains.filter_map(|k| header_chain::srs::VerifierPoints::from_bytes(&k.file.verifier_points));
    ranges.chain(chains).next().and_then(|points| points.known_insecure_setup())
}

fn write_report(path: &Path, report: &serde_json::Value) -> Result<(), String> {
    header_chain::fsutil::write_json_atomic(path, report)
        .map_err(|e| format!("cannot write report {}: {e}", path.display()))
}

/// The statement fields a proof and its witness must agree on.
fn statement_differences(proved: &serde_json::Value, expected: &serde_json::Value) -> Vec<String> {
    ["first_number", "last_number", "first_parent_hash", "last_hash"]
        .iter()
        .filter(|f| proved.get(**f) != expected.get(**f))
        .map(|f| {
            let show = |v: &serde_json::Value| {
                v.get(*f).map(|x| x.to_string().trim_matches('"').to_string()).unwrap_or_default()
            };
            format!("{f} {} (witness: {})", show(proved), show(expected))
        })
        .collect()
}

/// `check`: the verdict of `verify`, and the proof's statement must be the witness's.
fn check_against_witness(proof: &Path, witness: &Path, keys: &[PathBuf]) -> Result<Verdict, String> {
    let expected = header_chain::witness::WitnessFile::load(witness).map_err(|e| e.to_string())?.statement();
    let expected = serde_json::to_value(expected).map_err(|e| e.to_string())?;
    let mut verdict = check(proof, keys)?;
    let differences = statement_differences(&verdict.report["statement"], &expected);
    if !differences.is_empty() {
        let reason = format!("the proof is about another chain than the witness: {}", differences.join(", "));
        verdict.valid = false;
        verdict.summary = format!("invalid: {reason}");
        verdict.report["valid"] = false.into();
        verdict.report["reason"] = reason.into();
    }
    verdict.report["witness_statement"] = expected;
    verdict.report["pinned_keys"] = keys.iter().map(|k| k.display().to_string()).collect();
    Ok(verdict)
}

/// Prints the verdict, writes its report; exit 0 only when valid.
fn conclude(verdict: Result<Verdict, String>, report: Option<&Path>) -> ExitCode {
    let verdict = match verdict {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    if let Some(path) = report {
        if let Err(e) = write_report(path, &verdict.report) {
            return fail(&e);
        }
    }
    println!("{}", verdict.summary);
    if verdict.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}

fn main() -> ExitCode {
    #[cfg(all(target_env = "musl", not(feature = "musl-system-allocator")))]
    header_chain::process::disable_transparent_huge_pages();
    match Cli::parse().mode {
        Mode::Verify { proof, keys, report } => conclude(check(&proof, &keys), report.as_deref()),
        Mode::Check { proof, witness, keys, report } => {
            conclude(check_against_witness(&proof, &witness, &keys), report.as_deref())
        }
        Mode::Gevulot => match gevulot_shim::run(gevulot_task) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string()),
        },
    }
}

/// Why a task that names keys is refused (also its result's `reason`).
const KEY_FROM_TASK: &str = "refused: a Gevulot task may not name verifier keys (--key); this image verifies only against the keys pinned in it (HEADER_CHAIN_KEYS)";

/// Whether the task's arguments try to choose the verifier keys.
fn names_keys(args: &[String]) -> bool {
    args.iter().any(|a| a == "--key" || a.starts_with("--key="))
}

/// The keys pinned in the image: `HEADER_CHAIN_KEYS`, image paths outside
/// the task workspace (a workspace file is task input, never a pin).
fn pinned_key_paths() -> Result<Vec<PathBuf>, String> {
    let value = std::env::var("HEADER_CHAIN_KEYS").map_err(|_| {
        "HEADER_CHAIN_KEYS is not set: the verifier image must pin its keys in its environment".to_string()
    })?;
    pinned_paths(&value)
}

/// `HEADER_CHAIN_KEYS`'s paths: absolute, without `..`, outside the workspace
/// (a relative path or `..` could resolve into it whatever it looks like).
fn pinned_paths(value: &str) -> Result<Vec<PathBuf>, String> {
    let paths: Vec<PathBuf> = value.split(',').filter(|p| !p.is_empty()).map(PathBuf::from).collect();
    if paths.is_empty() {
        return Err("HEADER_CHAIN_KEYS names no key file".into());
    }
    for p in &paths {
        if !p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
            return Err(format!(
                "pinned key {} in HEADER_CHAIN_KEYS is not an absolute path without `..`: name each key by its absolute path in the image",
                p.display()
            ));
        }
        if p.starts_with(gevulot_shim::WORKSPACE) {
            return Err(format!(
                "pinned key {} is inside the task workspace, which a task controls; bake keys into the image",
                p.display()
            ));
        }
    }
    Ok(paths)
}

/// One Gevulot task: the verdict (valid or not) is the task's result; only
/// unusable input fails the task.
fn gevulot_task(
    task: &gevulot_shim::Task,
    workspace: &gevulot_shim::Workspace,
) -> Result<gevulot_shim::TaskOutput, String> {
    let proof_arg = task.args.windows(2).find(|w| w[0] == "--proof" || w[0] == "-p").map(|w| w[1].clone());
    if names_keys(&task.args) {
        eprintln!("{KEY_FROM_TASK}");
        let report =
            serde_json::json!({ "valid": false, "refused": true, "reason": KEY_FROM_TASK, "proof": proof_arg });
        let report_local = workspace.resolve(DEFAULT_TASK_REPORT)?;
        write_report(&report_local, &report)?;
        return Ok(gevulot_shim::TaskOutput {
            data: report.to_string().into_bytes(),
            files: vec![DEFAULT_TASK_REPORT.to_string()],
        });
    }
    let TaskArgs::Verify { proof, report } = TaskArgs::parse_task(&task.args)? else {
        return Err("a Gevulot task for the verifier image can only `verify` a proof".into());
    };
    let keys = pinned_key_paths()?;
    let proof_local = workspace.resolve(&proof.to_string_lossy())?;
    let report_vm = report.unwrap_or_else(|| PathBuf::from(DEFAULT_TASK_REPORT));
    let report_local = workspace.resolve(&report_vm.to_string_lossy())?;
    let verdict = check(&proof_local, &keys)?;
    write_report(&report_local, &verdict.report)?;
    eprintln!("{}", verdict.summary);
    Ok(gevulot_shim::TaskOutput {
        data: verdict.report.to_string().into_bytes(),
        files: vec![report_vm.to_string_lossy().into_owned()],
    })
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(UNUSABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_of_another_chain_differs_by_field() {
        let hash = |b: u8| format!("0x{}", "ab".repeat(31) + &format!("{b:02x}"));
        let statement = |first: u64, last: u64| serde_json::json!({"first_parent_hash": hash(1), "first_number": first, "last_hash": hash(2), "last_number": last});
        assert!(statement_differences(&statement(1, 8), &statement(1, 8)).is_empty());
        let d = statement_differences(&statement(2, 9), &statement(1, 8));
        assert_eq!(d, ["first_number 2 (witness: 1)", "last_number 9 (witness: 8)"]);
        let mut other = statement(1, 8);
        other["last_hash"] = hash(3).into();
        assert_eq!(statement_differences(&other, &statement(1, 8)).len(), 1);
    }

    #[test]
    fn pinned_keys_are_absolute_image_paths_outside_the_workspace() {
        assert_eq!(pinned_paths("/keys/a.json,/keys/b.json").unwrap().len(), 2);
        for bad in ["workspace/k.json", "k.json", "/tmp/../workspace/k.json", "/keys/../k.json"] {
            let e = pinned_paths(bad).unwrap_err();
            assert!(e.contains("not an absolute path without `..`"), "{bad}: {e}");
        }
        assert!(pinned_paths("/workspace/k.json").unwrap_err().contains("inside the task workspace"));
        assert!(pinned_paths(",").unwrap_err().contains("names no key file"));
    }

    #[test]
    fn task_arguments_cannot_name_keys() {
        for args in [
            &["verify", "--proof", "/workspace/p.json", "--key", "/workspace/k.json"][..],
            &["verify", "--key=/workspace/k.json", "--proof", "/workspace/p.json"],
        ] {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert!(names_keys(&args), "{args:?}");
        }
        assert!(!names_keys(&["verify".into(), "--proof".into(), "/workspace/keys.json".into()]));
        // The task grammar has no key flag at all.
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(TaskArgs::parse_task(&args(&["verify", "--proof", "/workspace/p.json", "--key", "k"])).is_err());
        assert!(TaskArgs::parse_task(&args(&["verify", "--proof", "/workspace/p.json"])).is_ok());
    }
}
