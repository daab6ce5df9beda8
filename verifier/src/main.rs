//! The header-chain verifier. It verifies a proof file against the verifier
//! keys it is given (pinned in its image), never against anything the proof
//! file carries. Exit code 0 only when the proof is valid.

#[cfg(all(target_env = "musl", not(feature = "musl-system-allocator")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use header_chain::proof::{verify, ProofFile, VerifierKeyFile};

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
        /// A pinned verifier key (repeat for several chain lengths).
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// Where to write the JSON report.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

/// Exit codes: valid, invalid proof, unusable input.
const INVALID: u8 = 1;
const UNUSABLE: u8 = 2;

fn main() -> ExitCode {
    let Mode::Verify { proof, keys, report } = Cli::parse().mode;
    let started = Instant::now();
    let pinned = match keys.iter().map(|k| VerifierKeyFile::load(k)).collect::<Result<Vec<_>, _>>() {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let proof_file: ProofFile = match std::fs::read(&proof)
        .map_err(|e| format!("cannot read proof file {}: {e}", proof.display()))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("proof file {} is not proof JSON: {e}", proof.display())))
    {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let loaded = started.elapsed();
    let t = Instant::now();
    let verdict = verify(&pinned, &proof_file);
    let verify_time = t.elapsed();
    let valid = verdict.is_ok();
    let document = serde_json::json!({
        "valid": valid,
        "reason": verdict.as_ref().err().map(|e| e.to_string()),
        "statement": proof_file.statement,
        "key_id": proof_file.key_id,
        "headers": proof_file.shape.num_headers,
        "timings_ms": { "load": loaded.as_secs_f64() * 1e3, "verify": verify_time.as_secs_f64() * 1e3 },
    });
    if let Some(path) = &report {
        if let Err(e) = header_chain::fsutil::write_json_atomic(path, &document) {
            return fail(&format!("cannot write report {}: {e}", path.display()));
        }
    }
    match verdict {
        Ok(()) => {
            let s = &proof_file.statement;
            println!(
                "valid: blocks {}..={}, last hash {}, first parent {} ({:.0} ms)",
                s.first_number, s.last_number, s.last_hash, s.first_parent_hash,
                verify_time.as_secs_f64() * 1e3
            );
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("invalid: {reason}");
            ExitCode::from(INVALID)
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(UNUSABLE)
}
