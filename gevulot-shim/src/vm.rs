//! The VM side of the shim: one task per boot, driven synchronously.
//!
//! The reference client builds its own tokio runtime and blocks on every
//! call, which is why a program's `main` must be synchronous: so does this.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::proto::{
    task_response, task_result_request, vm_service_client::VmServiceClient, File, TaskError, TaskRequest, TaskResult,
    TaskResultRequest,
};
use crate::workspace::{Workspace, WORKSPACE};

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ShimError::Connect { endpoint: endpoint_name(config), detail: e.to_string() })?;
    let mut client = runtime.block_on(connect(config))?;
    let task = runtime.block_on(next_task(&mut client, config))?;
    eprintln!("gevulot: task {} ({}), args {:?}", task.tx_hash, task.name, task.args);

    // The handler runs outside the runtime: it may use its own threads.
    let outcome = handler(&task, &workspace).and_then(|output| checksummed(&workspace, output));
    let (result, failure) = match outcome {
        Ok(result) => (task_result_request::Result::Task(result), None),
        Err(message) => {
            eprintln!("gevulot: task failed: {message}");
            (task_result_request::Result::Error(TaskError::Failed as i32), Some(message))
        }
    };
    let request = TaskResultRequest { tx_hash: task.tx_hash.clone(), result: Some(result) };
    runtime
        .block_on(client.submit_result(request))
        .map_err(|s| ShimError::Rpc { call: "SubmitResult", detail: status_text(&s) })?;
    match failure {
        Some(message) => Err(ShimError::TaskFailed(message)),
        None => Ok(()),
    }
}

fn status_text(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
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

async fn connect(config: &Config) -> Result<VmServiceClient<Channel>, ShimError> {
    let name = endpoint_name(config);
    let fail = |detail: String| ShimError::Connect { endpoint: name.clone(), detail };
    let channel = match &config.endpoint {
        Some(url) => Endpoint::from_shared(url.clone())
            .map_err(|e| fail(e.to_string()))?
            .connect_timeout(config.connect_timeout)
            .timeout(config.rpc_timeout)
            .connect()
            .await
            .map_err(|e| {
                fail(format!("{e} ({})", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default()))
            })?,
        None => Endpoint::from_static("http://vsock.invalid")
            .connect_timeout(config.connect_timeout)
            .timeout(config.rpc_timeout)
            .connect_with_connector(tower::service_fn(|_: Uri| async {
                let stream =
                    tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(HOST_CID, NODE_PORT)).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }))
            .await
            .map_err(|e| fail(e.to_string()))?,
    };
    Ok(VmServiceClient::new(channel))
}

async fn next_task(client: &mut VmServiceClient<Channel>, config: &Config) -> Result<Task, ShimError> {
    let deadline = Instant::now() + config.task_wait;
    loop {
        let response = client
            .get_task(TaskRequest {})
            .await
            .map_err(|s| ShimError::Rpc { call: "GetTask", detail: status_text(&s) })?
            .into_inner();
        match response.result {
            Some(task_response::Result::Task(t)) => {
                return Ok(Task { tx_hash: t.tx_hash, name: t.name, args: t.args, files: t.files })
            }
            Some(task_response::Result::Error(code)) => {
                return Err(ShimError::NodeError(TaskError::try_from(code).unwrap_or(TaskError::Failed)))
            }
            None if Instant::now() >= deadline => return Err(ShimError::NoTask(config.task_wait)),
            None => tokio::time::sleep(Duration::from_secs(1)).await,
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
