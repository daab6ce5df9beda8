//! TEST DOUBLE of `gevulot-cli` (gevulotnetwork/gevulot a384416) — not the
//! real CLI, which cannot be installed here. It parses arguments with the
//! real CLI's flags and defaults, prints its exact output lines (and, like
//! it, exits 0 even when a command fails), computes program hashes the
//! node's way, and plays a node that keeps deployments and runs in a state
//! file, so `cargo xtask deploy` and `exec` can run end to end.
//!
//! Environment (tests only): GEVULOT_CLI_DOUBLE_STATE=FILE (required: the
//! node's state); GEVULOT_CLI_DOUBLE_RESULTS=FILE (the results a run yields:
//! {"polls_before_ready", "proof_data", "verification_data", "files"});
//! GEVULOT_CLI_DOUBLE_MODE=rejected|wrong-hash (deploy faults: the node's
//! refusal text, or a CLI that reports other hashes);
//! GEVULOT_CLI_DOUBLE_HANG=exec (`exec` never returns);
//! GEVULOT_CLI_DOUBLE_UNREACHABLE=N (the first N print-tx-tree/get-tx calls
//! panic as the real CLI does when the node is unreachable: exit 101).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha3::{Digest, Sha3_256};

#[derive(Parser, Debug)]
struct ArgConfiguration {
    #[clap(short, long = "jsonurl", default_value = "http://localhost:9944")]
    json_url: String,
    #[clap(long = "rpctimeout")]
    rpc_timeout: Option<u64>,
    #[clap(short, long, default_value = "localkey.pki")]
    keyfile: PathBuf,
    #[command(subcommand)]
    command: ConfCommands,
}

// Mirrors the real CLI's enum (which allows the same lint).
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)]
enum ConfCommands {
    GenerateKey,
    ShowPublicKey,
    #[command(arg_required_else_help = true)]
    Deploy {
        #[clap(short, long)]
        name: String,
        #[clap(short, long)]
        prover: String,
        #[clap(short, long)]
        verifier: String,
        #[clap(long = "provername")]
        prover_name: Option<String>,
        #[clap(long = "verifiername")]
        verifier_name: Option<String>,
        #[clap(long = "proverimgurl")]
        prover_img_url: Option<String>,
        #[clap(long = "verifierimgurl")]
        verifier_img_url: Option<String>,
        #[clap(long = "provercpus")]
        prover_cpus: Option<u64>,
        #[clap(long = "provermem")]
        prover_mem: Option<u64>,
        #[clap(long = "provergpus")]
        prover_gpus: Option<u64>,
        #[clap(long = "verifiercpus")]
        verifier_cpus: Option<u64>,
        #[clap(long = "verifiermem")]
        verifier_mem: Option<u64>,
        #[clap(long = "verifiergpus")]
        verifier_gpus: Option<u64>,
        #[clap(short, long, default_value = "127.0.0.1:8080")]
        listen_addr: SocketAddr,
    },
    #[command(arg_required_else_help = true)]
    Exec {
        #[clap(short, long, default_value = "127.0.0.1:8080")]
        listen_addr: Option<SocketAddr>,
        #[clap(short, long)]
        tasks: String,
    },
    #[command(arg_required_else_help = true)]
    PrintTxTree {
        hash: String,
    },
    #[command(arg_required_else_help = true)]
    GetTx {
        hash: String,
    },
    #[command(arg_required_else_help = true)]
    CalculateHash {
        #[clap(short, long)]
        file: PathBuf,
    },
}

#[derive(Serialize, Deserialize, Debug, Clone)]
struct JsonCmdArgs {
    name: String,
    value: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
struct JsonExecArgs {
    program: String,
    cmd_args: Vec<JsonCmdArgs>,
    inputs: Vec<JsonProgramData>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
enum JsonProgramData {
    Input { local_path: String, vm_path: String, file_url: Option<String> },
    Output { source_program: String, file_name: String },
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    programs: Vec<String>,
    deploys: Vec<Value>,
    runs: std::collections::BTreeMap<String, Run>,
    #[serde(default)]
    unreachable_calls: u32,
}

#[derive(Serialize, Deserialize)]
struct Run {
    prover: String,
    verifier: String,
    args: Vec<Vec<String>>,
    polls: u32,
    /// Where the CLI would serve the run's input files (`-l`).
    #[serde(default)]
    listen_addr: Option<String>,
}

fn sha3_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha3_256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

fn state_path() -> PathBuf {
    PathBuf::from(
        std::env::var_os("GEVULOT_CLI_DOUBLE_STATE").expect("GEVULOT_CLI_DOUBLE_STATE names the double's node state"),
    )
}

fn load() -> State {
    std::fs::read(state_path()).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn store(state: &State) {
    std::fs::write(state_path(), serde_json::to_vec_pretty(state).unwrap()).unwrap();
}

/// (file name, url, checksum) as the CLI derives them for `-p`/`-v`.
fn file_data(file_or_hash: &str, url: Option<String>, listen: SocketAddr) -> Result<(String, String, String), String> {
    let path = Path::new(file_or_hash);
    if path.is_file() {
        let checksum = blake3::hash(&std::fs::read(path).map_err(|e| e.to_string())?).to_hex().to_string();
        let url = format!("http://{listen}/{}", sha3_hex(&[file_or_hash.as_bytes()]));
        let name =
            path.file_name().and_then(|n| n.to_str()).ok_or(format!("Can't extract hash from file path:{path:?}"))?;
        return Ok((name.to_string(), url, checksum));
    }
    let bytes = hex::decode(file_or_hash).map_err(|e| format!("error during Hash decoding:{e}"))?;
    if bytes.len() != 32 {
        return Err(format!("error Hash binary vec into array conv:{bytes:?}"));
    }
    let url = url.ok_or(format!("File url not provided with Hash:{file_or_hash}"))?;
    let name = url::Url::parse(&url)
        .map_err(|err| format!("File url:{url} parse error:{err}"))?
        .path_segments()
        .and_then(|mut segments| segments.next_back().map(String::from))
        .unwrap_or_else(|| file_or_hash.to_string());
    Ok((name, url, hex::encode(bytes)))
}

fn main() {
    let args = ArgConfiguration::parse();
    // GEVULOT_CLI_DOUBLE_HANG=exec: a node that never answers `exec` (the real CLI then waits forever).
    if matches!(args.command, ConfCommands::Exec { .. })
        && std::env::var("GEVULOT_CLI_DOUBLE_HANG").as_deref() == Ok("exec")
    {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
    let key_ok = std::fs::metadata(&args.keyfile).map(|m| m.len() > 0).unwrap_or(false);
    let key_error =
        format!("Error during key file:{} reading:No such file or directory (os error 2)", args.keyfile.display());
    match args.command {
        ConfCommands::Deploy {
            name,
            prover,
            verifier,
            prover_name,
            verifier_name,
            prover_img_url,
            verifier_img_url,
            listen_addr,
            ..
        } => {
            println!("Start prover / verifier deployment");
            let result = (|| -> Result<(String, String, String), String> {
                if !key_ok {
                    return Err(key_error.clone());
                }
                if std::env::var("GEVULOT_CLI_DOUBLE_MODE").as_deref() == Ok("rejected") {
                    // What the real node answers a transaction it will not take.
                    return Err("Error during send  transaction to the node:RPC response error:invalid request: failed to persist transaction".into());
                }
                let (pf, pu, pc) = file_data(&prover, prover_img_url, listen_addr)?;
                let (vf, vu, vc) = file_data(&verifier, verifier_img_url, listen_addr)?;
                let pn = prover_name.unwrap_or_else(|| pf.clone());
                let vn = verifier_name.unwrap_or_else(|| vf.clone());
                let mut ph = sha3_hex(&[pn.as_bytes(), pf.as_bytes(), pu.as_bytes(), pc.as_bytes()]);
                let vh = sha3_hex(&[vn.as_bytes(), vf.as_bytes(), vu.as_bytes(), vc.as_bytes()]);
                if std::env::var("GEVULOT_CLI_DOUBLE_MODE").as_deref() == Ok("wrong-hash") {
                    ph = sha3_hex(&[ph.as_bytes()]);
                }
                // Nonce 0: the same deploy has the same transaction hash.
                let tx = sha3_hex(&[b"deploy", name.as_bytes(), ph.as_bytes(), vh.as_bytes()]);
                let mut state = load();
                state.programs.extend([ph.clone(), vh.clone()]);
                state.deploys.push(json!({"tx": tx, "name": name, "prover": ph, "verifier": vh}));
                store(&state);
                Ok((tx, ph, vh))
            })();
            match result {
                Ok((tx_hash, prover_hash, verifier_hash)) => println!("Prover / Verifier deployed correctly.\nProver hash:{prover_hash}\nVerifier hash:{verifier_hash}.\nTx Hash:{tx_hash}"),
                Err(err) => println!("An error occurs during Prover / Verifier deployment :{err}"),
            }
        }
        ConfCommands::Exec { tasks, listen_addr } => {
            let result = (|| -> Result<String, String> {
                if !key_ok {
                    return Err(key_error.clone());
                }
                let steps: Vec<JsonExecArgs> =
                    serde_json::from_str(&tasks).map_err(|err| format!("Json decoding error :{err} with :{tasks}"))?;
                let mut state = load();
                let mut earlier: Vec<String> = Vec::new();
                let mut args = Vec::new();
                for step in &steps {
                    hex::decode(&step.program).map_err(|err| format!("program decoding hash error:{err}"))?;
                    if !state.programs.contains(&step.program) {
                        return Err(format!("RPC response error:invalid request: unknown program {}", step.program));
                    }
                    for input in &step.inputs {
                        match input {
                            JsonProgramData::Input { local_path, file_url: None, .. }
                                if !Path::new(local_path).is_file() =>
                            {
                                return Err(format!("Can't extract hash from file path:{local_path:?}"));
                            }
                            JsonProgramData::Output { source_program, .. } if !earlier.contains(source_program) => {
                                return Err(format!("RPC response error:invalid request: output of {source_program}, which runs no earlier step"));
                            }
                            _ => {}
                        }
                    }
                    // The CLI flattens cmd_args and drops empty strings.
                    args.push(
                        step.cmd_args
                            .iter()
                            .flat_map(|a| [a.name.clone(), a.value.clone()])
                            .filter(|s| !s.is_empty())
                            .collect(),
                    );
                    earlier.push(step.program.clone());
                }
                if steps.len() != 2 {
                    return Err("the double models prover -> verifier workflows of two steps".into());
                }
                let tx = sha3_hex(&[b"run", tasks.as_bytes()]);
                state.runs.insert(
                    tx.clone(),
                    Run {
                        prover: steps[0].program.clone(),
                        verifier: steps[1].program.clone(),
                        args,
                        polls: 0,
                        listen_addr: listen_addr.map(|a| a.to_string()),
                    },
                );
                store(&state);
                Ok(tx)
            })();
            match result {
                Ok(tx_hash) => println!("Programs send to execution correctly. Tx hash:{tx_hash}"),
                Err(err) => println!("An error occurs during send execution Tx :{err}"),
            }
        }
        ConfCommands::PrintTxTree { hash } => {
            unreachable_node_panics();
            let mut state = load();
            let results = results();
            let ready = match (state.runs.get_mut(&hash), &results) {
                (Some(run), Some(r)) => {
                    run.polls += 1;
                    run.polls > r["polls_before_ready"].as_u64().unwrap_or(0) as u32
                }
                (Some(run), None) => {
                    run.polls += 1;
                    false
                }
                _ => false,
            };
            store(&state);
            if ready {
                println!("Root: {hash}");
                println!("\tNode: {}", child(&hash, "proof"));
                println!("\t\tLeaf: {}", child(&hash, "proofkey"));
                println!("\t\tLeaf: {}", child(&hash, "verification"));
            } else {
                println!("An error while fetching transaction tree: RPC response error:not found: no root tx found for {hash}");
            }
        }
        ConfCommands::GetTx { hash } => {
            unreachable_node_panics();
            match get_tx(&load(), &hash) {
                Some(tx) => println!("{tx}"),
                None => println!("An error while getting Tx : RPC response error:not found: {hash}"),
            }
        }
        ConfCommands::CalculateHash { file } => match std::fs::read(&file) {
            Ok(bytes) => println!("The hash of the file is: {}", blake3::hash(&bytes).to_hex()),
            Err(_) => println!("An error hash calculus Tx :File not found:{file:?}"),
        },
        ConfCommands::GenerateKey | ConfCommands::ShowPublicKey => {
            println!("Error: the gevulot-cli contract double does not manage keys");
        }
    }
    let _ = (args.json_url, args.rpc_timeout);
}

/// The real CLI's RPC client `expect`s its request: an unreachable node or
/// a timed-out RPC is a panic (exit 101), not an error line.
fn unreachable_node_panics() {
    let Some(limit) = std::env::var("GEVULOT_CLI_DOUBLE_UNREACHABLE").ok().and_then(|n| n.parse::<u32>().ok()) else {
        return;
    };
    let mut state = load();
    if state.unreachable_calls < limit {
        state.unreachable_calls += 1;
        store(&state);
        eprintln!("thread 'main' panicked at crates/node/src/rpc_client/mod.rs:79:14:\nrpc request: Transport(error sending request for url (http://localhost:9944/): client error (Connect))\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace");
        std::process::exit(101);
    }
}

fn results() -> Option<Value> {
    let path = std::env::var_os("GEVULOT_CLI_DOUBLE_RESULTS")?;
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn child(run: &str, kind: &str) -> String {
    sha3_hex(&[run.as_bytes(), kind.as_bytes()])
}

fn get_tx(state: &State, hash: &str) -> Option<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    for (run_tx, run) in &state.runs {
        let r = results()?;
        let payload = if hash == child(run_tx, "proof") {
            json!({"Proof": {"parent": run_tx, "prover": run.prover, "proof": b64(r["proof_data"].as_str()?), "files": r["files"]}})
        } else if hash == child(run_tx, "verification") {
            json!({"Verification": {"parent": child(run_tx, "proof"), "verifier": run.verifier, "verification": b64(r["verification_data"].as_str()?), "files": []}})
        } else if hash == child(run_tx, "proofkey") {
            json!({"ProofKey": {"parent": child(run_tx, "proof"), "key": "00"}})
        } else {
            continue;
        };
        return Some(
            json!({"author": "02ab", "hash": hash, "payload": payload, "nonce": 0, "signature": "00"}).to_string(),
        );
    }
    None
}
