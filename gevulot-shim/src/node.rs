//! The node's side of the shim, on loopback: serves one task to one VM
//! program and records what it submits. `cargo xtask run` and the tests use
//! it to run the real binaries the way a Gevulot node runs them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::{Request, Response, Status};

use crate::proto::{
    task_response, task_result_request,
    vm_service_server::{VmService, VmServiceServer},
    Task, TaskError, TaskRequest, TaskResponse, TaskResultRequest, TaskResultResponse,
};

/// How the node answers GetTask (tests use the unhappy ones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Hand out the task once, then answer empty.
    Serve,
    /// Answer every GetTask with `TaskError::Unavailable`.
    Unavailable,
    /// Answer every GetTask empty (no task yet, forever).
    NeverATask,
    /// Hand out the task once, then take the result and never answer it
    /// nor record it: a node gone quiet. The program waits until its own
    /// timeout or until it is killed, whatever the machine's speed, so a
    /// test can reach a time limit deterministically.
    NeverAnswerResult,
}

/// The task to serve.
#[derive(Clone, Debug)]
pub struct TaskSpec {
    pub tx_hash: String,
    pub name: String,
    pub args: Vec<String>,
    pub files: Vec<String>,
}

/// What the VM submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submission {
    Result { data: Vec<u8>, files: Vec<(String, Vec<u8>)> },
    Error(TaskError),
}

#[derive(Default)]
struct State {
    handed_out: bool,
    submission: Option<(String, Submission)>,
}

struct Node {
    behaviour: Behaviour,
    task: TaskSpec,
    state: Arc<Mutex<State>>,
    /// Becomes true when the node is dropped: ends calls held open.
    stopping: tokio::sync::watch::Receiver<bool>,
}

#[tonic::async_trait]
impl VmService for Node {
    async fn get_task(&self, _: Request<TaskRequest>) -> Result<Response<TaskResponse>, Status> {
        let result = match self.behaviour {
            Behaviour::Unavailable => Some(task_response::Result::Error(TaskError::Unavailable as i32)),
            Behaviour::NeverATask => None,
            Behaviour::Serve | Behaviour::NeverAnswerResult => {
                let mut state = self.state.lock().expect("node state");
                if state.handed_out {
                    None
                } else {
                    state.handed_out = true;
                    Some(task_response::Result::Task(Task {
                        tx_hash: self.task.tx_hash.clone(),
                        name: self.task.name.clone(),
                        args: self.task.args.clone(),
                        files: self.task.files.clone(),
                    }))
                }
            }
        };
        Ok(Response::new(TaskResponse { result }))
    }

    async fn submit_result(&self, request: Request<TaskResultRequest>) -> Result<Response<TaskResultResponse>, Status> {
        if self.behaviour == Behaviour::NeverAnswerResult {
            // Until the node stops (a server's graceful shutdown waits for its calls).
            let mut stopping = self.stopping.clone();
            let _ = stopping.wait_for(|stop| *stop).await;
            return Err(Status::unavailable("the node stopped"));
        }
        let request = request.into_inner();
        let submission = match request.result {
            Some(task_result_request::Result::Task(r)) => {
                Submission::Result { data: r.data, files: r.files.into_iter().map(|f| (f.path, f.checksum)).collect() }
            }
            Some(task_result_request::Result::Error(code)) => {
                Submission::Error(TaskError::try_from(code).unwrap_or(TaskError::Failed))
            }
            None => return Err(Status::invalid_argument("a result request must hold a result or an error")),
        };
        let mut state = self.state.lock().expect("node state");
        if request.tx_hash != self.task.tx_hash {
            return Err(Status::invalid_argument(format!("unknown task {}", request.tx_hash)));
        }
        state.submission = Some((request.tx_hash, submission));
        // One task per boot: the VM stops after this.
        Ok(Response::new(TaskResultResponse { r#continue: false }))
    }
}

/// A running local node. Dropping it stops the server.
pub struct LocalNode {
    addr: Option<SocketAddr>,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    stopping: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Where the node listens.
enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl LocalNode {
    /// Serves `task` on 127.0.0.1 (a free port).
    pub fn start(task: TaskSpec, behaviour: Behaviour) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        Self::serve(Listener::Tcp(listener), Some(addr), task, behaviour)
    }

    /// Serves `task` on the Unix socket `path`: where vhost-device-vsock
    /// delivers a guest's connection to CID 2, port 8080 (`…_8080`).
    pub fn start_unix(task: TaskSpec, behaviour: Behaviour, path: &std::path::Path) -> std::io::Result<Self> {
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Self::serve(Listener::Unix(listener), None, task, behaviour)
    }

    fn serve(
        listener: Listener,
        addr: Option<SocketAddr>,
        task: TaskSpec,
        behaviour: Behaviour,
    ) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
        let node = Node { behaviour, task, state: state.clone(), stopping: stopping_rx };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            runtime.block_on(async move {
                let server = tonic::transport::Server::builder().add_service(VmServiceServer::new(node));
                let stop = async {
                    let _ = rx.await;
                };
                let _ = match listener {
                    Listener::Tcp(l) => {
                        let incoming = tokio_stream::wrappers::TcpListenerStream::new(
                            tokio::net::TcpListener::from_std(l).expect("listener"),
                        );
                        server.serve_with_incoming_shutdown(incoming, stop).await
                    }
                    Listener::Unix(l) => {
                        let incoming = tokio_stream::wrappers::UnixListenerStream::new(
                            tokio::net::UnixListener::from_std(l).expect("listener"),
                        );
                        server.serve_with_incoming_shutdown(incoming, stop).await
                    }
                };
            });
        });
        Ok(Self { addr, state, shutdown: Some(tx), stopping, thread: Some(thread) })
    }

    /// The URL a VM program is given in `GEVULOT_SHIM_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.addr.map(|a| format!("http://{a}")).unwrap_or_default()
    }

    pub fn task_handed_out(&self) -> bool {
        self.state.lock().expect("node state").handed_out
    }

    /// The submission, if the VM made one.
    pub fn submission(&self) -> Option<Submission> {
        self.state.lock().expect("node state").submission.as_ref().map(|(_, s)| s.clone())
    }

    /// Waits up to `timeout` for a submission.
    pub fn wait_submission(&self, timeout: Duration) -> Option<Submission> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.submission() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LocalNode {
    fn drop(&mut self) {
        let _ = self.stopping.send(true);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One program run the way a node runs a VM: a fresh workspace, one task
/// served over the shim protocol, the program's environment and nothing else.
pub struct ProgramRun<'a> {
    pub program: &'a std::path::Path,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    /// The directory standing in for `/workspace`.
    pub workspace: &'a std::path::Path,
    pub task: TaskSpec,
    /// The node kills a VM after 1800 s.
    pub timeout: Duration,
    /// How the node answers (`Serve`, as a node does).
    pub behaviour: Behaviour,
}

/// A successful run: the program submitted a result whose files all exist
/// in the workspace with the checksums it reported.
#[derive(Debug)]
pub struct RunReport {
    pub data: Vec<u8>,
    /// Result files, as VM paths and as paths in the workspace.
    pub files: Vec<(String, std::path::PathBuf)>,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start {program}: {detail}")]
    Spawn { program: String, detail: String },
    #[error("the program exited ({status}) without submitting a result")]
    NoSubmission { status: String },
    #[error("the program reported its task as failed ({status}); its output above says why")]
    Failed { status: String },
    #[error("the program ran past the {0:?} limit and was killed; no result recorded")]
    Timeout(Duration),
    #[error("result file {path}: {problem}")]
    ResultFile { path: String, problem: String },
    #[error("the program submitted a result but then exited with {status}")]
    BadExit { status: String },
}

/// Runs `run.program` against a loopback node serving `run.task`, waits for
/// it (bounded), and checks every result file's BLAKE3 checksum.
pub fn run_program(run: ProgramRun<'_>) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let node = LocalNode::start(run.task, run.behaviour)
        .map_err(|e| RunError::Spawn { program: "the local node".into(), detail: e.to_string() })?;
    let mut command = std::process::Command::new(run.program);
    command
        .args(run.args)
        .env_clear()
        .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(crate::ENDPOINT_ENV, node.endpoint())
        .env(crate::WORKSPACE_ENV, run.workspace)
        .stdin(std::process::Stdio::null())
        // A VM's console is a log: keep the caller's stdout for its own results.
        .stdout(std::io::stderr());
    let mut child = command
        .spawn()
        .map_err(|e| RunError::Spawn { program: run.program.display().to_string(), detail: e.to_string() })?;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| RunError::Spawn { program: run.program.display().to_string(), detail: e.to_string() })?
        {
            break status;
        }
        if started.elapsed() > run.timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Timeout(run.timeout));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let shown = status.to_string();
    match node.submission() {
        None => Err(RunError::NoSubmission { status: shown }),
        Some(Submission::Error(_)) => Err(RunError::Failed { status: shown }),
        Some(Submission::Result { data, files }) => {
            let checked = check_result_files(&crate::Workspace::new(run.workspace), files)?;
            if !status.success() {
                return Err(RunError::BadExit { status: shown });
            }
            Ok(RunReport { data, files: checked, elapsed: started.elapsed() })
        }
    }
}

/// Every submitted result file exists in the workspace with the BLAKE3
/// checksum the program reported; returns VM path and local path of each.
pub fn check_result_files(
    workspace: &crate::Workspace,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Vec<(String, std::path::PathBuf)>, RunError> {
    let mut checked = Vec::with_capacity(files.len());
    for (path, checksum) in files {
        let local = workspace.resolve(&path).map_err(|problem| RunError::ResultFile { path: path.clone(), problem })?;
        let actual = crate::blake3_file(&local).map_err(|e| RunError::ResultFile {
            path: path.clone(),
            problem: format!("missing from the workspace ({e})"),
        })?;
        if actual.as_slice() != checksum.as_slice() {
            return Err(RunError::ResultFile {
                path,
                problem: format!("BLAKE3 is {}, the program reported {}", hex::encode(actual), hex::encode(&checksum)),
            });
        }
        checked.push((path, local));
    }
    Ok(checked)
}
