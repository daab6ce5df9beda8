//! The {{name}} pair's prover: the workflow's first step.
//!
//! `{{name}}-prover prove --input FILE --proof FILE` runs it on this machine;
//! `{{name}}-prover gevulot` (the image's arguments) takes one task from a
//! Gevulot node over the shim protocol, whose arguments are the same
//! `prove …` command line with paths under /workspace.
//!
//! The "proof" here is a stand-in for your proving code: ROUNDS sequential
//! BLAKE3 hashes starting from the input's hash, which the verifier repeats.
//! Replace `prove` and keep the rest: a synchronous `main`, one task, result
//! files written under the workspace and listed (the shim checksums them).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Sequential rounds: the work a verifier must repeat.
const ROUNDS: u64 = 1_000;

/// The proof document for `input`.
fn prove(input: &[u8]) -> serde_json::Value {
    let start = blake3::hash(input);
    let mut state = start;
    for _ in 0..ROUNDS {
        state = blake3::hash(state.as_bytes());
    }
    serde_json::json!({
        "kind": "{{name}}-proof",
        "input_blake3": start.to_hex().to_string(),
        "rounds": ROUNDS,
        "output": state.to_hex().to_string(),
    })
}

/// `prove --input FILE --proof FILE`: the one grammar of the command line and of tasks.
fn parse(args: &[String]) -> Result<(PathBuf, PathBuf), String> {
    let usage = "usage: prove --input FILE --proof FILE";
    let (mut input, mut proof) = (None, None);
    let mut rest = args.iter();
    if rest.next().map(String::as_str) != Some("prove") {
        return Err(usage.into());
    }
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or(usage)?;
        match flag.as_str() {
            "--input" => input = Some(PathBuf::from(value)),
            "--proof" => proof = Some(PathBuf::from(value)),
            other => return Err(format!("unknown flag {other}; {usage}")),
        }
    }
    Ok((input.ok_or(usage)?, proof.ok_or(usage)?))
}

/// Reads the input, writes the proof (a temporary file beside it, flushed,
/// then renamed: a reader never sees half a proof).
fn run(input: &Path, proof: &Path) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(input).map_err(|e| format!("cannot read input {}: {e}", input.display()))?;
    let document = prove(&bytes);
    atomic_write::write_json_atomic(proof, &document).map_err(|e| format!("cannot write {}: {e}", proof.display()))?;
    Ok(document)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = if args.first().map(String::as_str) == Some("gevulot") {
        gevulot_shim::run(|task, workspace| {
            let (input, proof) = parse(&task.args)?;
            let document =
                run(&workspace.resolve(&input.to_string_lossy())?, &workspace.resolve(&proof.to_string_lossy())?)?;
            Ok(gevulot_shim::TaskOutput {
                data: document.to_string().into_bytes(),
                files: vec![proof.to_string_lossy().into_owned()],
            })
        })
        .map_err(|e| e.to_string())
    } else {
        parse(&args).and_then(|(input, proof)| run(&input, &proof)).map(|d| println!("{d}"))
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proof_depends_on_every_input_byte() {
        assert_eq!(prove(b"abc"), prove(b"abc"));
        assert_ne!(prove(b"abc")["output"], prove(b"abd")["output"]);
    }

    #[test]
    fn the_task_grammar_is_the_command_line() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (input, proof) = parse(&args(&["prove", "--input", "/workspace/in", "--proof", "/workspace/p"])).unwrap();
        assert_eq!((input.to_str(), proof.to_str()), (Some("/workspace/in"), Some("/workspace/p")));
        assert!(parse(&args(&["prove", "--input", "x"])).is_err());
        assert!(parse(&args(&["verify", "--input", "x", "--proof", "y"])).is_err());
    }
}
