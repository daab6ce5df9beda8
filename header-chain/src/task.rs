//! What a Gevulot task may ask of the prover and the verifier: one grammar
//! for both images' `gevulot` mode. Paths are VM paths (task files live
//! under /workspace). A task can never name verifier keys: the verifier
//! image pins its own (`HEADER_CHAIN_KEYS`), so `verify` has no `--key`.

use std::path::PathBuf;

use clap::Parser;

use crate::proof::Transcript;

/// Where `prove` reads the SRS and writes its results (the prover's
/// command line and its task share it).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ProveOutput {
    /// SRS file (raw kzg_bn254_{k}.srs); images set it in the environment.
    #[arg(short = 'k', long, env = "HEADER_CHAIN_SRS")]
    pub srs: PathBuf,
    /// Where to write the proof JSON.
    #[arg(short = 'p', long)]
    pub proof: PathBuf,
    /// Also write the verifier key the proof was made for.
    #[arg(long)]
    pub key_out: Option<PathBuf>,
    /// The transcript's hash: blake2b, keccak for the EVM verifier contract
    /// (`cargo xtask evm-verifier`), or poseidon for a segment proof to be
    /// aggregated (`aggregate`; the segment shape, narrow).
    #[arg(long, value_enum, default_value_t = Transcript::Blake2b)]
    pub transcript: Transcript,
}

#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(name = "task", no_binary_name = true)]
pub enum TaskArgs {
    /// Prove a witness file (the prover image's task).
    Prove {
        #[arg(short = 'w', long)]
        witness: PathBuf,
        #[command(flatten)]
        output: ProveOutput,
    },
    /// Aggregate poseidon-transcript segment proofs, in chain order, into
    /// one range proof (the prover image's task after its segment tasks).
    Aggregate {
        #[arg(long = "segment", required = true)]
        segments: Vec<PathBuf>,
        #[command(flatten)]
        output: ProveOutput,
    },
    /// Verify a proof file against the image's pinned keys (the verifier image's task).
    Verify {
        #[arg(short = 'p', long)]
        proof: PathBuf,
        /// Where to write the JSON report (default /workspace/verification.json).
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

impl TaskArgs {
    /// Parses a task's arguments; clap's message (usage included) when they do not parse.
    pub fn parse_task(args: &[String]) -> Result<Self, String> {
        Self::try_parse_from(args).map_err(|e| e.render().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<TaskArgs, String> {
        TaskArgs::parse_task(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn both_images_tasks_and_nothing_else() {
        let prove = parse(&["prove", "-w", "/workspace/w.json", "--srs", "/srs/k.srs", "--proof", "/workspace/p.json"]);
        assert_eq!(
            prove.unwrap(),
            TaskArgs::Prove {
                witness: "/workspace/w.json".into(),
                output: ProveOutput {
                    srs: "/srs/k.srs".into(),
                    proof: "/workspace/p.json".into(),
                    key_out: None,
                    transcript: Transcript::Blake2b
                }
            }
        );
        // A task may ask for the EVM flavour.
        let keccak =
            parse(&["prove", "-w", "/workspace/w.json", "--srs", "/s", "-p", "/workspace/p", "--transcript", "keccak"]);
        assert!(matches!(keccak.unwrap(), TaskArgs::Prove { output, .. } if output.transcript == Transcript::Keccak));
        assert!(parse(&[
            "prove",
            "-w",
            "/workspace/w.json",
            "--srs",
            "/s",
            "-p",
            "/workspace/p",
            "--transcript",
            "sha256"
        ])
        .unwrap_err()
        .contains("sha256"));
        let aggregate = parse(&[
            "aggregate",
            "--segment",
            "/workspace/s0.json",
            "--segment",
            "/workspace/s1.json",
            "--srs",
            "/srs/k21.srs",
            "-p",
            "/workspace/range.json",
        ])
        .unwrap();
        assert!(matches!(aggregate, TaskArgs::Aggregate { segments, .. } if segments.len() == 2));
        assert!(parse(&["aggregate", "--srs", "/s", "-p", "/workspace/r.json"]).unwrap_err().contains("--segment"));
        let verify = parse(&["verify", "--proof", "/workspace/p.json"]).unwrap();
        assert_eq!(verify, TaskArgs::Verify { proof: "/workspace/p.json".into(), report: None });
        // Keys never come from a task; other modes are no task.
        assert!(parse(&["verify", "--proof", "/workspace/p.json", "--key", "/workspace/k.json"]).is_err());
        assert!(parse(&["verify", "--proof", "/workspace/p.json", "--key=/workspace/k.json"]).is_err());
        assert!(parse(&["witness-capture", "--rpc", "http://x"]).unwrap_err().contains("witness-capture"));
        assert!(parse(&[]).is_err());
    }
}
