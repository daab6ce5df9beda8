//! The VM side of the shim: one task per boot, driven synchronously.
//!
//! The reference client builds its own tokio runtime and blocks on every
//! call, which is why a program's `main` must be synchronous. This one has
//! no runtime at all: blocking sockets and a small HTTP/2 client (`grpc`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::grpc::Client;
use crate::proto::{
    task_response, task_result_request, File, TaskError, TaskRequest, TaskResponse, TaskResult, TaskResultRequest,
    TaskResultResponse,
};
use crate::workspace::{Workspace, WORKSPACE};

const GET_TASK: &str = "/vm_service.VMService/GetTask";
const SUBMIT_RESULT: &str = "/vm_service.VMService/SubmitResult";

/// `http://127.0.0.1:PORT`: talk to a node on loopback TCP instead of vsock.
pub const ENDPOINT_ENV: &str = "GEVULOT_SHIM_ENDPOINT";
/// A host directory standing in for `/workspace`.
pub const WORKSPACE_ENV: &str = "GEVULOT_WORKSPACE";
/// Seconds to keep asking for a task before giving up (default 60, the
/// node's own limit for a VM without a task).
pub const TASK_WAIT_ENV: &str = "GEVULOT_TASK_WAIT";

/// vsock address of the host, and the node's port.
const HOST_CID: u32 = 2;
const NODE_PORT: u32 = 8080;

#[derive(Clone, Debug)]
pub struct Config {
    /// None: vsock to CID 2, port 8080.
    pub endpoint: Option<String>,
    /// None: `/workspace`, waited for in /proc/mounts.
    pub workspace: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub rpc_timeout: Duration,
    pub task_wait: Duration,
    pub mount_wait: Duration,
}

impl Config {
    pub fn from_env() -> Self {
        let task_wait = std::env::var(TASK_WAIT_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(60);
        Self {
            endpoint: std::env::var(ENDPOINT_ENV).ok().filter(|s| !s.is_empty()),
            workspace: std::env::var_os(WORKSPACE_ENV).map(PathBuf::from),
            connect_timeout: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(30),
            task_wait: Duration::from_secs(task_wait),
            mount_wait: Duration::from_secs(30),
        }
    }
}

/// A task as the node sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub tx_hash: String,
    pub name: String,
    /// Arguments, without argv[0].
    pub args: Vec<String>,
    /// Input files, as VM paths under `/workspace/`.
    pub files: Vec<String>,
}

/// What a handler returns: inline data (e.g. a verdict) and result files,
/// as VM paths under `/workspace/`.
#[derive(Clone, Debug, Default)]
pub struct TaskOutput {
    pub data: Vec<u8>,
    pub files: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("the workspace {0} is not mounted after {1:?}; the node mounts it with 9p (mount_tag 0)")]
    NoWorkspace(String, Duration),
    #[error("the workspace directory {0} (from {WORKSPACE_ENV}) does not exist")]
    MissingWorkspace(String),
    #[error("cannot connect to the Gevulot node at {endpoint}: {detail}")]
    Connect { endpoint: String, detail: String },
    #[error("the node's {call} call failed: {detail}")]
    Rpc { call: &'static str, detail: String },
    #[error("the node answered GetTask with {0:?}: it has no task for this VM")]
    NodeError(TaskError),
    #[error("no task arrived within {0:?}")]
    NoTask(Duration),
    #[error("the task failed: {0}")]
    TaskFailed(String),
}

fn endpoint_name(config: &Config) -> String {
    config.endpoint.clone().unwrap_or_else(|| format!("vsock://{HOST_CID}:{NODE_PORT}"))
}

/// Runs one task from the node with `handler`, configured from the environment.
pub fn run(handler: impl FnOnce(&Task, &Workspace) -> Result<TaskOutput, String>) -> Result<(), ShimError> {
    run_with(&Config::from_env(), handler)
}

pub fn run_with(
    config: &Config,
    handler: impl FnOnce(&Task, &Workspace) -> Result<TaskOutput, String>,
) -> Result<(), ShimError> {
    let workspace = wait_for_workspace(config)?;
    let mut client = connect(config)?;
    let task = next_task(&mut client, config)?;
    eprintln!("gevulot: task {} ({}), args {:?}", task.tx_hash, task.name, task.args);

    let outcome = handler(&task, &workspace).and_then(|output| checksummed(&workspace, output));
    let (result, failure) = match outcome {
        Ok(result) => (task_result_request::Result::Task(result), None),
        Err(message) => {
            eprintln!("gevulot: task failed: {message}");
            (task_result_request::Result::Error(TaskError::Failed as i32), Some(message))
        }
    };
    let request = TaskResultRequest { tx_hash: task.tx_hash.clone(), result: Some(result) };
    // The node takes a result once, by task: a second submission after a
    // lost answer is a no-op there, so resending on a fresh connection is safe.
    call_reconnecting::<_, TaskResultResponse>(&mut client, config, "SubmitResult", SUBMIT_RESULT, &request)?;
    match failure {
        Some(message) => Err(ShimError::TaskFailed(message)),
        None => Ok(()),
    }
}

fn wait_for_workspace(config: &Config) -> Result<Workspace, ShimError> {
    if let Some(dir) = &config.workspace {
        if !dir.is_dir() {
            return Err(ShimError::MissingWorkspace(dir.display().to_string()));
        }
        return Ok(Workspace::new(dir));
    }
    let deadline = Instant::now() + config.mount_wait;
    loop {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        if mounts.lines().any(|l| l.split_whitespace().nth(1) == Some(WORKSPACE)) {
            return Ok(Workspace::new(WORKSPACE));
        }
        if Instant::now() >= deadline {
            return Err(ShimError::NoWorkspace(WORKSPACE.into(), config.mount_wait));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The node's end of the connection: vsock in a VM, TCP on a host.
enum Socket {
    Tcp(TcpStream),
    Vsock(vsock::VsockStream),
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Vsock(s) => s.read(buf),
        }
    }
}

impl std::os::fd::AsRawFd for Socket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Vsock(s) => s.as_raw_fd(),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            Socket::Vsock(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Socket::Tcp(s) => s.flush(),
            Socket::Vsock(s) => s.flush(),
        }
    }
}

fn connect(config: &Config) -> Result<Client<Socket>, ShimError> {
    let name = endpoint_name(config);
    let fail = |detail: String| ShimError::Connect { endpoint: name.clone(), detail };
    let (socket, authority) = match &config.endpoint {
        Some(url) => {
            let authority = url
                .strip_prefix("http://")
                .map(|rest| rest.trim_end_matches('/'))
                .filter(|rest| !rest.is_empty() && !rest.contains('/'))
                .ok_or_else(|| fail("expected http://HOST:PORT (cleartext HTTP/2, as the node serves it)".into()))?;
            let addr = authority
                .to_socket_addrs()
                .map_err(|e| fail(e.to_string()))?
                .next()
                .ok_or_else(|| fail("the name resolves to no address".into()))?;
            let stream = TcpStream::connect_timeout(&addr, config.connect_timeout).map_err(|e| fail(e.to_string()))?;
            stream.set_nodelay(true).map_err(|e| fail(e.to_string()))?;
            (Socket::Tcp(stream), authority.to_string())
        }
        None => {
            let stream =
                vsock::VsockStream::connect_with_cid_port(HOST_CID, NODE_PORT).map_err(|e| fail(e.to_string()))?;
            (Socket::Vsock(stream), "vsock.invalid".to_string())
        }
    };
    // Every call is bounded by rpc_timeout on a clock (poll on a
    // non-blocking socket), on vsock as on TCP.
    Client::handshake(socket, &authority, config.rpc_timeout).map_err(|e| fail(e.to_string()))
}

/// One call; when the connection is lost before the answer (closed, reset,
/// GOAWAY, past its deadline), once more on a fresh connection.
fn call_reconnecting<Req: prost::Message, Resp: prost::Message + Default>(
    client: &mut Client<Socket>,
    config: &Config,
    call: &'static str,
    path: &str,
    request: &Req,
) -> Result<Resp, ShimError> {
    match client.unary(path, request) {
        Ok(answer) => Ok(answer),
        Err(e) if e.connection_lost() => {
            eprintln!("gevulot: {call} failed ({e}); once more on a new connection");
            *client = connect(config)?;
            client.unary(path, request).map_err(|e| ShimError::Rpc { call, detail: e.to_string() })
        }
        Err(e) => Err(ShimError::Rpc { call, detail: e.to_string() }),
    }
}

fn next_task(client: &mut Client<Socket>, config: &Config) -> Result<Task, ShimError> {
    let deadline = Instant::now() + config.task_wait;
    loop {
        let response: TaskResponse = call_reconnecting(client, config, "GetTask", GET_TASK, &TaskRequest {})?;
        match response.result {
            Some(task_response::Result::Task(t)) => {
                return Ok(Task { tx_hash: t.tx_hash, name: t.name, args: t.args, files: t.files })
            }
            Some(task_response::Result::Error(code)) => {
                return Err(ShimError::NodeError(TaskError::try_from(code).unwrap_or(TaskError::Failed)))
            }
            None if Instant::now() >= deadline => return Err(ShimError::NoTask(config.task_wait)),
            None => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

/// Checks every result file exists under the workspace and checksums it.
fn checksummed(workspace: &Workspace, output: TaskOutput) -> Result<TaskResult, String> {
    let mut files = Vec::with_capacity(output.files.len());
    for path in output.files {
        let local = workspace.resolve(&path)?;
        let checksum = crate::blake3_file(&local).map_err(|e| format!("result file {path} cannot be read: {e}"))?;
        files.push(File { path, checksum: checksum.to_vec() });
    }
    Ok(TaskResult { data: output.data, files })
}
