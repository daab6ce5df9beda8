//! `gevulot-local-node`: the node's side of the shim as a program, so a
//! build tool can run tasks the way a Gevulot node does without linking
//! gRPC itself. It speaks JSON on stdout, one object per line.
//!
//! - `run --task T.json --workspace DIR --timeout S [--env K=V]... -- PROGRAM [ARG]...`
//!   runs PROGRAM with a cleared environment against a loopback node serving
//!   the task, checks its result files, and prints
//!   `{"report": {"data_hex", "files": [[vm_path, local_path]], "elapsed_s"}}`
//!   or `{"error": "..."}` (exit 1).
//! - `serve --unix SOCKET --task T.json --workspace DIR` serves the task on a
//!   Unix socket (where vhost-device-vsock delivers a VM's connection) and
//!   prints `{"listening": SOCKET}`, `{"task_handed_out": true}`, then
//!   `{"submission": {"result": {...}}}`, `{"submission": {"failed": true}}`
//!   or `{"submission": {"invalid": "..."}}`, and exits. It stops when its
//!   standard input closes. `--never-answer-result` makes it a node gone
//!   quiet: it hands out the task and holds the result call unanswered.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use gevulot_shim::node::{check_result_files, run_program, Behaviour, LocalNode, ProgramRun, Submission, TaskSpec};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "gevulot-local-node", about = "Serve one Gevulot task to a program or a VM, as a node does")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program against a loopback node serving one task.
    Run {
        #[arg(long)]
        task: PathBuf,
        #[arg(long)]
        workspace: PathBuf,
        /// Seconds before the program is killed (a node's limit is 1800).
        #[arg(long)]
        timeout: u64,
        /// The program's whole environment (repeat).
        #[arg(long, value_parser = key_value)]
        env: Vec<(String, String)>,
        #[arg(last = true, required = true)]
        program: Vec<String>,
    },
    /// Serve one task on a Unix socket until the VM submits a result.
    Serve {
        #[arg(long)]
        unix: PathBuf,
        #[arg(long)]
        task: PathBuf,
        #[arg(long)]
        workspace: PathBuf,
        /// Hand out the task, then hold the result call unanswered (a node
        /// gone quiet: the VM runs until a limit stops it).
        #[arg(long)]
        never_answer_result: bool,
    },
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or(format!("{text:?} is not KEY=VALUE"))
}

fn load_task(path: &PathBuf) -> Result<TaskSpec, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the task {}: {e}", path.display()))?;
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("the task {} is not JSON: {e}", path.display()))?;
    let text = |k: &str| v[k].as_str().map(str::to_string).ok_or(format!("the task has no string `{k}`"));
    let list = |k: &str| -> Result<Vec<String>, String> {
        v[k].as_array()
            .ok_or(format!("the task has no list `{k}`"))?
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or(format!("`{k}` holds a non-string")))
            .collect()
    };
    Ok(TaskSpec { tx_hash: text("tx_hash")?, name: text("name")?, args: list("args")?, files: list("files")? })
}

fn emit(value: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

fn files_json(files: &[(String, PathBuf)]) -> Value {
    files.iter().map(|(vm, local)| json!([vm, local])).collect()
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Run { task, workspace, timeout, env, program } => load_task(&task).and_then(|task| {
            let (program, args) = program.split_first().expect("clap requires the program");
            let run = ProgramRun {
                program: program.as_ref(),
                args,
                env: &env,
                workspace: &workspace,
                task,
                timeout: Duration::from_secs(timeout),
                behaviour: Behaviour::Serve,
            };
            let report = run_program(run).map_err(|e| e.to_string())?;
            emit(json!({ "report": {
                "data_hex": hex::encode(&report.data),
                "files": files_json(&report.files),
                "elapsed_s": report.elapsed.as_secs_f64(),
            }}));
            Ok(())
        }),
        Command::Serve { unix, task, workspace, never_answer_result } => {
            let behaviour = if never_answer_result { Behaviour::NeverAnswerResult } else { Behaviour::Serve };
            load_task(&task).and_then(|task| serve(&unix, task, behaviour, workspace))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            emit(json!({ "error": e }));
            ExitCode::FAILURE
        }
    }
}

fn serve(socket: &std::path::Path, task: TaskSpec, behaviour: Behaviour, workspace: PathBuf) -> Result<(), String> {
    let node = LocalNode::start_unix(task, behaviour, socket)
        .map_err(|e| format!("cannot serve on {}: {e}", socket.display()))?;
    emit(json!({ "listening": socket }));
    // The caller ends the service by closing our standard input (or killing us).
    let (closed_tx, closed) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed_tx.send(());
    });
    let mut told_handed_out = false;
    loop {
        if !told_handed_out && node.task_handed_out() {
            emit(json!({ "task_handed_out": true }));
            told_handed_out = true;
        }
        if let Some(submission) = node.submission() {
            let value = match submission {
                Submission::Error(_) => json!({ "failed": true }),
                Submission::Result { data, files } => {
                    match check_result_files(&gevulot_shim::Workspace::new(&workspace), files) {
                        Ok(files) => {
                            json!({ "result": { "data_hex": hex::encode(&data), "files": files_json(&files) } })
                        }
                        Err(e) => json!({ "invalid": e.to_string() }),
                    }
                }
            };
            emit(json!({ "submission": value }));
            return Ok(());
        }
        if closed.try_recv().is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
