//! The {{name}} pair's verifier: the workflow's second step, and the
//! host's check.
//!
//! - `verify --proof FILE [--report FILE]`: repeats the prover's work from
//!   the proof's starting hash; exit 0 only when the output matches.
//! - `check --proof FILE --input FILE [--report FILE]`: the same, and the
//!   proof must start from this input (the pair's `[check]`, run on the host).
//! - `gevulot`: one `verify …` task from a Gevulot node; the verdict is the
//!   result data, the report a result file.
//!
//! Exit codes: 0 valid, 1 invalid, 2 unusable input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where a task's report goes when it names none.
const DEFAULT_TASK_REPORT: &str = "/workspace/verification.json";

struct Request {
    check: bool,
    proof: PathBuf,
    input: Option<PathBuf>,
    report: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Request, String> {
    let usage = "usage: verify --proof FILE [--report FILE] | check --proof FILE --input FILE [--report FILE]";
    let mut rest = args.iter();
    let check = match rest.next().map(String::as_str) {
        Some("verify") => false,
        Some("check") => true,
        _ => return Err(usage.into()),
    };
    let (mut proof, mut input, mut report) = (None, None, None);
    while let Some(flag) = rest.next() {
        let value = PathBuf::from(rest.next().ok_or(usage)?);
        match flag.as_str() {
            "--proof" => proof = Some(value),
            "--input" if check => input = Some(value),
            "--report" => report = Some(value),
            other => return Err(format!("unknown flag {other}; {usage}")),
        }
    }
    if check && input.is_none() {
        return Err(usage.into());
    }
    Ok(Request { check, proof: proof.ok_or(usage)?, input, report })
}

/// The verdict document: `valid`, and `reason` when not.
fn verify(proof: &serde_json::Value, input: Option<&[u8]>) -> serde_json::Value {
    let invalid = |reason: String| serde_json::json!({ "valid": false, "reason": reason });
    let (Some(start), Some(rounds), Some(output)) =
        (proof["input_blake3"].as_str(), proof["rounds"].as_u64(), proof["output"].as_str())
    else {
        return invalid("not a {{name}} proof (input_blake3, rounds, output)".into());
    };
    let Ok(mut state) = blake3::Hash::from_hex(start) else {
        return invalid(format!("input_blake3 {start:?} is not a BLAKE3 hash"));
    };
    if let Some(input) = input {
        if blake3::hash(input) != state {
            return invalid("the proof starts from another input than the one given".into());
        }
    }
    for _ in 0..rounds {
        state = blake3::hash(state.as_bytes());
    }
    if state.to_hex().as_str() != output {
        return invalid(format!("after {rounds} rounds the output is {}, the proof says {output}", state.to_hex()));
    }
    serde_json::json!({ "valid": true, "rounds": rounds, "output": output })
}

fn run(request: &Request) -> Result<serde_json::Value, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let bytes = read(&request.proof)?;
    let proof: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("the proof is not JSON: {e}"))?;
    let input = request.input.as_deref().map(read).transpose()?;
    let mut verdict = verify(&proof, input.as_deref());
    // Names the proof it judged: the host's check requires it.
    verdict["proof_blake3"] = blake3::hash(&bytes).to_hex().to_string().into();
    if let Some(report) = &request.report {
        atomic_write::write_json_atomic(report, &verdict)
            .map_err(|e| format!("cannot write {}: {e}", report.display()))?;
    }
    Ok(verdict)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("gevulot") {
        let served = gevulot_shim::run(|task, workspace| {
            let mut request = parse(&task.args)?;
            if request.check {
                return Err("a task may only `verify`".into());
            }
            let report_vm = request.report.take().unwrap_or_else(|| PathBuf::from(DEFAULT_TASK_REPORT));
            request.proof = workspace.resolve(&request.proof.to_string_lossy())?;
            request.report = Some(workspace.resolve(&report_vm.to_string_lossy())?);
            let verdict = run(&request)?;
            Ok(gevulot_shim::TaskOutput {
                data: verdict.to_string().into_bytes(),
                files: vec![report_vm.to_string_lossy().into_owned()],
            })
        });
        return match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    match parse(&args).and_then(|request| run(&request)) {
        Ok(verdict) => {
            println!("{verdict}");
            ExitCode::from(if verdict["valid"] == true { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof_of(input: &[u8], rounds: u64) -> serde_json::Value {
        let start = blake3::hash(input);
        let mut state = start;
        for _ in 0..rounds {
            state = blake3::hash(state.as_bytes());
        }
        serde_json::json!({ "input_blake3": start.to_hex().to_string(), "rounds": rounds, "output": state.to_hex().to_string() })
    }

    #[test]
    fn an_honest_proof_is_valid_and_any_change_is_not() {
        let proof = proof_of(b"data", 50);
        assert_eq!(verify(&proof, Some(b"data"))["valid"], true);
        assert_eq!(verify(&proof, None)["valid"], true);
        assert_eq!(verify(&proof, Some(b"other"))["valid"], false);
        let mut tampered = proof.clone();
        tampered["rounds"] = 49.into();
        assert_eq!(verify(&tampered, None)["valid"], false);
        let mut tampered = proof;
        tampered["output"] = blake3::hash(b"x").to_hex().to_string().into();
        assert_eq!(verify(&tampered, None)["valid"], false);
        assert_eq!(verify(&serde_json::json!({}), None)["valid"], false);
    }

    #[test]
    fn tasks_cannot_ask_for_the_host_check() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(parse(&args(&["check", "--proof", "p"])).is_err(), "check needs --input");
        assert!(parse(&args(&["verify", "--proof", "p", "--input", "i"])).is_err(), "verify takes no input");
        assert!(parse(&args(&["check", "--proof", "p", "--input", "i"])).unwrap().check);
    }
}
