//! The node's side of the shim, as a process: `gevulot-local-node` (a
//! program of the gevulot-shim crate, built once for the host), so the
//! xtask runs tasks the way a Gevulot node does without linking gRPC. It
//! answers in JSON lines (see its source for the protocol).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;
use xshell::{cmd, Shell};

use crate::spec::project::Project;

pub const LOCAL_NODE_BIN: &str = "gevulot-local-node";
/// Where Gevulot mounts the task workspace in a VM.
const WORKSPACE: &str = "/workspace";

/// The task a node hands out.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TaskSpec {
    pub tx_hash: String,
    pub name: String,
    pub args: Vec<String>,
    pub files: Vec<String>,
}

/// A task the program completed: its result data and checked files.
#[derive(Debug)]
pub struct RunReport {
    pub data: Vec<u8>,
    /// Result files, as VM paths and as paths in the workspace.
    pub files: Vec<(String, PathBuf)>,
    pub elapsed: Duration,
}

/// What a VM submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submission {
    /// A result whose files all exist with the checksums reported.
    Result { data: Vec<u8>, files: Vec<(String, PathBuf)> },
    /// The program reported its task as failed.
    Failed,
    /// A result whose files do not check out.
    Invalid(String),
}

static BUILT: Mutex<BTreeMap<PathBuf, PathBuf>> = Mutex::new(BTreeMap::new());

/// The local node program, built for the host (once per process and target directory).
pub fn program(project: &Project) -> Result<PathBuf> {
    let mut built = BUILT.lock().expect("local node lock");
    if let Some(path) = built.get(&project.target_dir) {
        return Ok(path.clone());
    }
    let sh = Shell::new()?;
    let _dir = sh.push_dir(&project.root);
    let target = &project.target_dir;
    cmd!(sh, "cargo build --locked --quiet --package gevulot-shim --features node --bin {LOCAL_NODE_BIN}")
        .env("CARGO_TARGET_DIR", target)
        .run()
        .with_context(|| format!("cannot build {LOCAL_NODE_BIN} (the node's side of the shim)"))?;
    let path = target.join("debug").join(LOCAL_NODE_BIN);
    built.insert(target.clone(), path.clone());
    Ok(path)
}

/// A VM path under /workspace → the file in the host's workspace directory.
pub fn workspace_path(workspace: &Path, vm_path: &str) -> Result<PathBuf> {
    let rest = vm_path
        .strip_prefix(WORKSPACE)
        .and_then(|r| r.strip_prefix('/'))
        .filter(|r| !r.is_empty() && !r.split('/').any(|c| c == ".." || c == "."))
        .with_context(|| format!("{vm_path} is not a file under {WORKSPACE}"))?;
    Ok(workspace.join(rest))
}

fn task_file(dir: &Path, task: &TaskSpec) -> Result<PathBuf> {
    let path = dir.join("task.json");
    std::fs::write(&path, serde_json::to_vec(task)?)?;
    Ok(path)
}

fn files_of(value: &Value) -> Vec<(String, PathBuf)> {
    value
        .as_array()
        .map(|files| {
            files.iter().filter_map(|f| Some((f[0].as_str()?.to_string(), PathBuf::from(f[1].as_str()?)))).collect()
        })
        .unwrap_or_default()
}

fn data_of(value: &Value) -> Vec<u8> {
    value.as_str().and_then(|h| hex::decode(h).ok()).unwrap_or_default()
}

/// Runs `program args…` the way a node runs a VM: a cleared environment
/// (`env` only), one task served on loopback, bounded by `timeout`, every
/// result file checked against its BLAKE3.
pub fn run_program(
    node: &Path,
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    workspace: &Path,
    task: TaskSpec,
    timeout: Duration,
) -> Result<RunReport> {
    let scratch = tempfile::tempdir()?;
    let task = task_file(scratch.path(), &task)?;
    let mut command = Command::new(node);
    command.arg("run").arg("--task").arg(&task).arg("--workspace").arg(workspace);
    command.arg("--timeout").arg(timeout.as_secs().to_string());
    for (k, v) in env {
        command.arg("--env").arg(format!("{k}={v}"));
    }
    command.arg("--").arg(program).args(args);
    // The program's console goes to our stderr; stdout is the node's answer.
    let output =
        command.stderr(Stdio::inherit()).output().with_context(|| format!("cannot start {}", node.display()))?;
    let answer: Value = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("{LOCAL_NODE_BIN} gave no answer ({})", output.status))?;
    if let Some(error) = answer["error"].as_str() {
        bail!("{error}");
    }
    let report = &answer["report"];
    Ok(RunReport {
        data: data_of(&report["data_hex"]),
        files: files_of(&report["files"]),
        elapsed: Duration::from_secs_f64(report["elapsed_s"].as_f64().unwrap_or_default()),
    })
}

/// How a served node answers the VM's result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NodeAnswer {
    /// Records the result and answers, as a Gevulot node does.
    #[default]
    Answers,
    /// Hands out the task, then holds the result call unanswered: a node
    /// gone quiet. The VM can then only end at a limit or an interrupt,
    /// whatever the machine's speed (the boot tests' limit cases use it).
    NeverAnswers,
}

#[derive(Default)]
struct ServeState {
    handed_out: bool,
    submission: Option<Submission>,
    error: Option<String>,
}

/// One task served on a Unix socket (for a VM, through the vsock helper).
/// Dropping it stops the node process.
pub struct ServedTask {
    child: Child,
    stdin: Option<ChildStdin>,
    state: Arc<Mutex<ServeState>>,
}

impl ServedTask {
    /// Starts serving `task` on `socket`; returns once the socket listens.
    pub fn start(
        node: &Path,
        socket: &Path,
        task: &TaskSpec,
        answer: NodeAnswer,
        workspace: &Path,
        dir: &Path,
    ) -> Result<Self> {
        let task = task_file(dir, task)?;
        let mut command = Command::new(node);
        if answer == NodeAnswer::NeverAnswers {
            command.arg("serve").arg("--never-answer-result");
        } else {
            command.arg("serve");
        }
        let mut child = command
            .arg("--unix")
            .arg(socket)
            .arg("--task")
            .arg(&task)
            .arg("--workspace")
            .arg(workspace)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", node.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let state = Arc::new(Mutex::new(ServeState::default()));
        let (listening_tx, listening) = std::sync::mpsc::channel();
        let shared = state.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
                let mut s = shared.lock().expect("serve state");
                if event.get("listening").is_some() {
                    let _ = listening_tx.send(());
                } else if event["task_handed_out"] == true {
                    s.handed_out = true;
                } else if let Some(sub) = event.get("submission") {
                    s.submission = Some(if sub["failed"] == true {
                        Submission::Failed
                    } else if let Some(why) = sub["invalid"].as_str() {
                        Submission::Invalid(why.to_string())
                    } else {
                        Submission::Result {
                            data: data_of(&sub["result"]["data_hex"]),
                            files: files_of(&sub["result"]["files"]),
                        }
                    });
                } else if let Some(e) = event["error"].as_str() {
                    s.error = Some(e.to_string());
                    let _ = listening_tx.send(());
                }
            }
        });
        let mut served = Self { child, stdin, state };
        let started = Instant::now();
        while listening.recv_timeout(Duration::from_millis(100)).is_err() {
            if let Some(status) = served.child.try_wait()? {
                bail!("{LOCAL_NODE_BIN} stopped ({status}) before serving on {}", socket.display());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("{LOCAL_NODE_BIN} did not serve on {} within 30 s", socket.display());
            }
        }
        if let Some(e) = served.state.lock().expect("serve state").error.take() {
            bail!("{e}");
        }
        Ok(served)
    }

    pub fn task_handed_out(&self) -> bool {
        self.state.lock().expect("serve state").handed_out
    }

    pub fn submission(&self) -> Option<Submission> {
        self.state.lock().expect("serve state").submission.clone()
    }
}

impl Drop for ServedTask {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_paths_stay_in_the_workspace() {
        let ws = Path::new("/tmp/ws");
        assert_eq!(workspace_path(ws, "/workspace/proof.json").unwrap(), ws.join("proof.json"));
        assert_eq!(workspace_path(ws, "/workspace/a/b").unwrap(), ws.join("a/b"));
        for bad in
            ["/workspace", "/workspace/", "/workspace/../etc/passwd", "/etc/passwd", "workspace/x", "/workspacex/y"]
        {
            assert!(workspace_path(ws, bad).is_err(), "{bad}");
        }
    }
}
