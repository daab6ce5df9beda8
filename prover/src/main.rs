//! The header-chain prover. Synchronous `main`, no child processes, writes
//! only the paths it is given (atomically).
//!
//! Modes, after the Taiko prover it replaces:
//! `witness-capture` (node → witness file), `prove` (witness + SRS → proof,
//! offline), `capture-and-prove` (both), `aggregate` (segment proofs → one
//! range proof, `header-range`), plus `keygen` (the verifier key for
//! a chain length) and `bench` (one timed run, JSON). `gevulot` takes one
//! task over the shim protocol and runs its `prove` or `aggregate` arguments, parsed with
//! the same definitions, against the task workspace.

#[cfg(all(target_env = "musl", not(feature = "musl-system-allocator")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Links the SSE2 `memcpy`/`memmove` in place of musl's (see that crate).
#[cfg(all(target_env = "musl", not(feature = "musl-libc-memcpy")))]
use musl_memcpy as _;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use header_chain::fsutil::write_json_atomic;
use header_chain::proof::Transcript;
use header_chain::rpc::{capture, RpcClient, RpcPolicy};
use header_chain::task::{ProveOutput as ProveArgs, TaskArgs};
use header_chain::witness::WitnessFile;

#[derive(Parser)]
#[command(name = "prover", version, about = "Proves a chain of Ethereum block headers with Halo2 (KZG, BN254)")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Fetch headers from a JSON-RPC node and write a witness file.
    WitnessCapture {
        #[command(flatten)]
        source: CaptureArgs,
        /// Where to write the witness JSON.
        #[arg(short = 'w', long)]
        witness: PathBuf,
    },
    /// Prove a witness file offline.
    Prove {
        #[arg(short = 'w', long)]
        witness: PathBuf,
        #[command(flatten)]
        output: ProveArgs,
    },
    /// Capture a witness and prove it in one run.
    CaptureAndProve {
        #[command(flatten)]
        source: CaptureArgs,
        /// Also keep the captured witness here.
        #[arg(short = 'w', long)]
        witness: Option<PathBuf>,
        #[command(flatten)]
        output: ProveArgs,
    },
    /// Aggregate poseidon-transcript segment proofs (in chain order: full
    /// segments, then at most one shorter) into one range proof.
    Aggregate {
        /// A segment proof file (`prove --transcript poseidon`); repeat, in chain order.
        #[arg(long = "segment", required = true)]
        segments: Vec<PathBuf>,
        #[command(flatten)]
        output: ProveArgs,
    },
    /// Write the verifier key for chains of N headers (for the verifier image);
    /// with --segment-size, the range key for N-header ranges proven in segments.
    Keygen {
        /// Number of headers in the chains the key verifies.
        #[arg(long)]
        headers: usize,
        /// Make the range key: full segments of this many headers, then the rest.
        #[arg(long)]
        segment_size: Option<usize>,
        /// SRS file (raw kzg_bn254_{k}.srs, k at least the circuit's).
        #[arg(short = 'k', long)]
        srs: PathBuf,
        /// Where to write the verifier key JSON.
        #[arg(long)]
        out: PathBuf,
    },
    /// Cut a witness into segment witnesses (full segments, then the rest),
    /// written to OUT_DIR/1.json, 2.json, … in chain order.
    SplitWitness {
        #[arg(short = 'w', long)]
        witness: PathBuf,
        #[arg(long)]
        segment_size: usize,
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Run one Gevulot task (its arguments are a `prove` command line).
    Gevulot,
    /// Re-check a witness file and print its statement (the public values a proof of it shows) as JSON.
    Statement {
        #[arg(short = 'w', long)]
        witness: PathBuf,
    },
    /// Print the circuit shape (k, rows per round, columns) a witness file needs, as JSON.
    Shape {
        #[arg(short = 'w', long)]
        witness: PathBuf,
    },
    /// SRS files: the INSECURE development SRS, downsizing, checking.
    Srs {
        #[command(subcommand)]
        command: SrsCommand,
    },
    /// Prove and verify a witness once and print the measurements as JSON.
    Bench {
        #[arg(short = 'w', long)]
        witness: PathBuf,
        #[arg(short = 'k', long)]
        srs: PathBuf,
        #[arg(long, value_enum, default_value_t = Transcript::Blake2b)]
        transcript: Transcript,
    },
    /// Write what the EVM verifier generator needs for a verifier key (the
    /// compiled protocol and the SRS points), as JSON.
    EvmProtocol {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum SrsCommand {
    /// Write the INSECURE deterministic development SRS of degree k.
    Generate {
        #[arg(long)]
        k: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the SRS of degree k from a larger raw SRS file (reads only the points it keeps).
    Downsize {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        k: u32,
        #[arg(long)]
        out: PathBuf,
        /// Load the whole source and downsize in memory, as halo2's
        /// `ParamsKZG::downsize` does (for benchmark comparisons).
        #[arg(long, hide = true)]
        whole_file: bool,
    },
    /// Check a raw SRS file (size, header, points, pairing, optional sha256 pin); prints a JSON report.
    Verify {
        file: PathBuf,
        #[arg(long)]
        sha256: Option<String>,
    },
}

#[derive(Args)]
struct CaptureArgs {
    /// JSON-RPC URL of an Ethereum node.
    #[arg(short = 'r', long)]
    rpc: String,
    /// First block of the range.
    #[arg(long, conflicts_with = "block", requires = "to")]
    from: Option<u64>,
    /// Last block of the range (inclusive).
    #[arg(long, conflicts_with = "block", requires = "from")]
    to: Option<u64>,
    /// First block, with --count.
    #[arg(short = 'b', long, requires = "count")]
    block: Option<u64>,
    /// Number of headers from --block.
    #[arg(long)]
    count: Option<u64>,
    /// Seconds before one RPC request is abandoned.
    #[arg(long, default_value_t = 20)]
    rpc_timeout: u64,
    /// Attempts per RPC request when the node is unreachable.
    #[arg(long, default_value_t = 3)]
    rpc_attempts: u32,
}

impl CaptureArgs {
    fn range(&self) -> Result<(u64, u64)> {
        match (self.from, self.to, self.block, self.count) {
            (Some(from), Some(to), None, None) => Ok((from, to)),
            (None, None, Some(block), Some(count)) if count > 0 => {
                let last = block.checked_add(count - 1).context("--block + --count overflows")?;
                Ok((block, last))
            }
            (None, None, Some(_), Some(_)) => bail!("--count must be at least 1"),
            _ => bail!("give the blocks as --from A --to B, or as --block B --count N"),
        }
    }

    fn capture(&self) -> Result<WitnessFile> {
        let (first, last) = self.range()?;
        let policy = RpcPolicy {
            timeout: Duration::from_secs(self.rpc_timeout),
            attempts: self.rpc_attempts.max(1),
            ..RpcPolicy::default()
        };
        let client = RpcClient::new(&self.rpc, policy);
        eprintln!("capturing blocks {first}..={last}");
        let witness = capture(&client, first, last, |_| {})?;
        Ok(witness)
    }
}

/// Exit codes: 1 for a failure of this program or its environment, 2 for
/// input that cannot be used (a witness, SRS or key file: fix the file).
const FAILED: u8 = 1;
const UNUSABLE_INPUT: u8 = 2;

fn main() -> ExitCode {
    #[cfg(all(target_env = "musl", not(feature = "musl-system-allocator")))]
    header_chain::process::disable_transparent_huge_pages();
    let cli = Cli::parse();
    match run(cli.mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The typed errors of header-chain decide the exit code.
fn exit_code(e: &anyhow::Error) -> u8 {
    use header_chain::proof::{KeyError, ProveError};
    let unusable = e.chain().any(|cause| {
        cause.is::<header_chain::witness::WitnessError>()
            || cause.is::<header_chain::srs::SrsError>()
            || cause.is::<header_chain::circuit::ShapeError>()
            || cause.is::<KeyError>()
            || cause
                .downcast_ref::<ProveError>()
                .is_some_and(|p| !matches!(p, ProveError::Keygen(_) | ProveError::Prove(_)))
    });
    if unusable {
        UNUSABLE_INPUT
    } else {
        FAILED
    }
}

fn run(mode: Mode) -> Result<()> {
    match mode {
        Mode::WitnessCapture { source, witness } => {
            let captured = source.capture()?;
            write(&witness, &captured)?;
            summarize_witness(&captured, &witness);
        }
        Mode::Prove { witness, output } => {
            let loaded = WitnessFile::load(&witness)?;
            prove_and_write(&loaded, &output)?;
        }
        Mode::Gevulot => gevulot_shim::run(gevulot_task)?,
        Mode::Aggregate { segments, output } => {
            aggregate_and_write(&segments, &output)?;
        }
        Mode::CaptureAndProve { source, witness, output } => {
            let captured = source.capture()?;
            if let Some(path) = &witness {
                write(path, &captured)?;
                summarize_witness(&captured, path);
            }
            prove_and_write(&captured, &output)?;
        }
        Mode::Keygen { headers, segment_size: Some(size), srs, out } => {
            let plan = header_range::plan::SegmentPlan::for_range(headers, size)?;
            let key = header_range::prover::range_keygen(&plan, &srs)?;
            write(&out, &key)?;
            println!(
                "verifier key {} for {headers} headers in segments {:?} written to {}",
                key.key_id(),
                plan.lengths,
                out.display()
            );
        }
        Mode::SplitWitness { witness, segment_size, out_dir } => split_witness(&witness, segment_size, &out_dir)?,
        Mode::Keygen { headers, segment_size: None, srs, out } => {
            let shape = header_chain::circuit::CircuitShape::compute(
                headers,
                header_chain::prover::MIN_SLOTS_PER_HEADER,
                Default::default(),
            )?;
            let params = header_chain::srs::read_for_k(&srs, shape.k)?;
            let keys = header_chain::proof::keygen(&params, &shape)?;
            write(&out, &keys.verifier)?;
            println!(
                "verifier key {} for {headers} headers (k = {}) written to {}",
                keys.verifier.key_id(),
                shape.k,
                out.display()
            );
        }
        Mode::Bench { witness, srs, transcript } => bench(&witness, &srs, transcript)?,
        Mode::EvmProtocol { key, out } => {
            let protocol = evm_protocol(&key)?;
            write(&out, &protocol)?;
            println!("EVM protocol for key {} written to {}", protocol.key_id, out.display());
        }
        Mode::Statement { witness } => {
            let loaded = WitnessFile::load(&witness)?;
            println!("{}", serde_json::to_string(&loaded.statement())?);
        }
        Mode::Shape { witness } => {
            let loaded = WitnessFile::load(&witness)?;
            let shape = header_chain::prover::shape_for(&loaded)?;
            println!("{}", serde_json::to_string(&shape)?);
        }
        Mode::Srs { command } => srs_command(command)?,
    }
    Ok(())
}

/// The SRS commands. Each prints one JSON line on stdout (what was written
/// or checked, time, peak memory) and its progress on stderr.
fn srs_command(command: SrsCommand) -> Result<()> {
    use header_chain::srs;
    let started = Instant::now();
    let report = match command {
        SrsCommand::Generate { k, out } => {
            if !(1..=srs::MAX_K).contains(&k) {
                bail!("k = {k} is out of range: give 1 <= k <= {}", srs::MAX_K);
            }
            eprintln!("generating the INSECURE development SRS, k = {k}");
            let params = srs::generate_insecure_dev(k);
            srs::write(&params, &out).with_context(|| format!("cannot write {}", out.display()))?;
            serde_json::json!({ "k": k, "out": out, "output_bytes": std::fs::metadata(&out)?.len() })
        }
        SrsCommand::Downsize { from, k, out, whole_file } => {
            let params = if whole_file {
                use header_chain::halo2_proofs::poly::commitment::Params;
                let mut params = srs::read(&from)?;
                if k > params.k() {
                    bail!("{} has a smaller k than {k}", from.display());
                }
                params.downsize(k);
                params
            } else {
                let total = 4 + (1u64 << k) * srs::G1_BYTES;
                let mut shown = 0;
                srs::downsize(&from, k, |n| {
                    let percent = n * 100 / total.max(1);
                    if percent >= shown + 10 {
                        shown = percent;
                        eprintln!("read {percent}% of the points kept");
                    }
                })?
            };
            eprintln!("writing (Lagrange points computed)");
            srs::write(&params, &out).with_context(|| format!("cannot write {}", out.display()))?;
            serde_json::json!({
                "k": k,
                "out": out,
                "source_bytes": std::fs::metadata(&from)?.len(),
                "output_bytes": std::fs::metadata(&out)?.len(),
            })
        }
        SrsCommand::Verify { file, sha256 } => serde_json::to_value(srs::verify_file(&file, sha256.as_deref())?)?,
    };
    let mut report = report;
    report["seconds"] = started.elapsed().as_secs_f64().into();
    report["peak_rss_bytes"] = header_chain::metrics::peak_rss_bytes().into();
    println!("{report}");
    Ok(())
}

fn write<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_json_atomic(path, value).with_context(|| format!("cannot write {}", path.display()))
}

fn summarize_witness(witness: &WitnessFile, path: &Path) {
    let s = witness.statement();
    println!(
        "witness: blocks {}..={} ({} headers), last hash {}, written to {}",
        s.first_number,
        s.last_number,
        witness.headers.len(),
        s.last_hash,
        path.display()
    );
}

/// One Gevulot task: `prove` or `aggregate` arguments, every task path
/// under /workspace.
fn gevulot_task(
    task: &gevulot_shim::Task,
    workspace: &gevulot_shim::Workspace,
) -> Result<gevulot_shim::TaskOutput, String> {
    let only_prove = "a Gevulot task can only `prove` or `aggregate`: the VM has no network for witness capture; capture on your machine and pass the witness file";
    if !matches!(task.args.first().map(String::as_str), Some("prove" | "aggregate")) {
        return Err(only_prove.into());
    }
    let in_workspace = |p: &Path| workspace.resolve(&p.to_string_lossy());
    let local_output = |output: &ProveArgs| -> Result<ProveArgs, String> {
        // The SRS is baked into the image (outside the workspace) or given as a task file.
        let srs = if output.srs.starts_with(gevulot_shim::WORKSPACE) {
            in_workspace(&output.srs)?
        } else {
            output.srs.clone()
        };
        Ok(ProveArgs {
            srs,
            proof: in_workspace(&output.proof)?,
            key_out: output.key_out.as_deref().map(in_workspace).transpose()?,
            transcript: output.transcript,
        })
    };
    let (output, summary) = match TaskArgs::parse_task(&task.args)? {
        TaskArgs::Prove { witness, output } => {
            let loaded = WitnessFile::load(&in_workspace(&witness)?).map_err(|e| e.to_string())?;
            let proved = prove_and_write(&loaded, &local_output(&output)?).map_err(|e| format!("{e:#}"))?;
            let summary = serde_json::json!({
                "statement": proved.statement,
                "key_id": proved.key_id,
                "proof_bytes": proved.proof.len(),
            });
            (output, summary)
        }
        TaskArgs::Aggregate { segments, output } => {
            let local: Vec<PathBuf> = segments.iter().map(|p| in_workspace(p)).collect::<Result<_, _>>()?;
            let proved = aggregate_and_write(&local, &local_output(&output)?).map_err(|e| format!("{e:#}"))?;
            let summary = serde_json::json!({
                "statement": proved.statement,
                "key_id": proved.key_id,
                "segments": segments.len(),
                "proof_bytes": proved.proof.len(),
            });
            (output, summary)
        }
        TaskArgs::Verify { .. } => return Err(only_prove.into()),
    };
    let mut files = vec![output.proof.to_string_lossy().into_owned()];
    files.extend(output.key_out.map(|k| k.to_string_lossy().into_owned()));
    Ok(gevulot_shim::TaskOutput { data: summary.to_string().into_bytes(), files })
}

/// Writes the segments of `witness` as witness files 1.json, 2.json, … in
/// `out_dir`, each checked like any witness.
fn split_witness(witness: &Path, segment_size: usize, out_dir: &Path) -> Result<()> {
    let loaded = WitnessFile::load(witness)?;
    let plan = header_range::plan::SegmentPlan::for_range(loaded.headers.len(), segment_size)?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    for (i, bounds) in plan.bounds().into_iter().enumerate() {
        // The captured bytes, unchanged: each segment is a slice of the range.
        let segment = WitnessFile { headers: loaded.headers[bounds].to_vec(), ..loaded.clone() };
        write(&out_dir.join(format!("{}.json", i + 1)), &segment)?;
    }
    println!("{}", serde_json::json!({ "segments": plan.lengths }));
    Ok(())
}

/// The EVM generator's input for a chain key or a range key (told apart by `kind`).
fn evm_protocol(key: &Path) -> Result<header_chain::evm::EvmProtocol> {
    let bytes = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
    let kind =
        serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v["kind"].as_str().map(str::to_owned));
    if kind.as_deref() == Some(header_range::files::KEY_KIND) {
        let file =
            serde_json::from_slice(&bytes).with_context(|| format!("range key {} is malformed", key.display()))?;
        let pinned =
            header_range::files::PinnedRangeKey::new(file).with_context(|| format!("range key {}", key.display()))?;
        return Ok(pinned.evm_protocol());
    }
    let pinned = header_chain::proof::PinnedKey::new(header_chain::proof::VerifierKeyFile::load(key)?)?;
    Ok(header_chain::evm::protocol(&pinned)?)
}

fn aggregate_and_write(segments: &[PathBuf], args: &ProveArgs) -> Result<header_range::files::RangeProofFile> {
    let started = Instant::now();
    let loaded = segments
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a header-chain proof file; give segment proofs made by `prover prove --transcript poseidon`", path.display()))
        })
        .collect::<Result<Vec<header_chain::proof::ProofFile>>>()?;
    let proved = header_range::prover::aggregate(&loaded, &args.srs, args.transcript, |stage| eprintln!("{stage}"))?;
    write_outputs(args, &proved.proof, &proved.key)?;
    let s = &proved.proof.statement;
    println!(
        "range proof of blocks {}..={} ({} segments) written to {} ({} bytes, {} transcript, key {}); keygen {:.1} s, aggregate and wrap {:.1} s, total {:.1} s",
        s.first_number,
        s.last_number,
        segments.len(),
        args.proof.display(),
        proved.proof.proof.len(),
        proved.proof.transcript,
        &proved.proof.key_id[..16],
        proved.timings.keygen().as_secs_f64(),
        proved.timings.prove().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(proved.proof)
}

/// The proof, and its key when `--key-out` asks for it.
fn write_outputs<P: serde::Serialize, K: serde::Serialize>(args: &ProveArgs, proof: &P, key: &K) -> Result<()> {
    write(&args.proof, proof)?;
    if let Some(key_out) = &args.key_out {
        write(key_out, key)?;
    }
    Ok(())
}

fn prove_and_write(witness: &WitnessFile, args: &ProveArgs) -> Result<header_chain::proof::ProofFile> {
    let started = Instant::now();
    let proved =
        header_chain::prover::prove_witness(witness, &args.srs, args.transcript, |stage| eprintln!("{stage}"))?;
    write_outputs(args, &proved.proof, &proved.keys.verifier)?;
    let s = &proved.proof.statement;
    println!(
        "proof of blocks {}..={} written to {} ({} bytes, {} transcript, key {}); keygen {:.1} s, prove {:.1} s, total {:.1} s",
        s.first_number,
        s.last_number,
        args.proof.display(),
        proved.proof.proof.len(),
        proved.proof.transcript,
        &proved.proof.key_id[..16],
        proved.timings.keygen.as_secs_f64(),
        proved.timings.prove.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(proved.proof)
}

fn bench(witness: &Path, srs: &Path, transcript: Transcript) -> Result<()> {
    let loaded = WitnessFile::load(witness)?;
    let proved = header_chain::prover::prove_witness(&loaded, srs, transcript, |_| {})?;
    let t = Instant::now();
    let pinned = header_chain::proof::PinnedKey::new(proved.keys.verifier.clone())?;
    header_chain::proof::verify(std::slice::from_ref(&pinned), &proved.proof)?;
    let verify = t.elapsed();
    let report = serde_json::json!({
        "headers": proved.proof.shape.num_headers,
        "k": proved.proof.shape.k,
        "rows_per_round": proved.proof.shape.rows_per_round,
        "keygen_s": proved.timings.keygen.as_secs_f64(),
        "prove_s": proved.timings.prove.as_secs_f64(),
        "verify_s": verify.as_secs_f64(),
        "proof_bytes": proved.proof.proof.len(),
        "transcript": transcript,
        "peak_rss_bytes": header_chain::metrics::peak_rss_bytes(),
    });
    println!("{report}");
    Ok(())
}
