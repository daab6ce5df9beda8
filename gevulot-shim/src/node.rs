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
}

#[tonic::async_trait]
impl VmService for Node {
    async fn get_task(&self, _: Request<TaskRequest>) -> Result<Response<TaskResponse>, Status> {
        let result = match self.behaviour {
            Behaviour::Unavailable => Some(task_response::Result::Error(TaskError::Unavailable as i32)),
            Behaviour::NeverATask => None,
            Behaviour::Serve => {
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
        let request = request.into_inner();
        let submission = match request.result {
            Some(task_result_request::Result::Task(r)) => Submission::Result {
                data: r.data,
                files: r.files.into_iter().map(|f| (f.path, f.checksum)).collect(),
            },
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

/// A running loopback node. Dropping it stops the server.
pub struct LocalNode {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalNode {
    /// Serves `task` on 127.0.0.1 (a free port).
    pub fn start(task: TaskSpec, behaviour: Behaviour) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let node = Node { behaviour, task, state: state.clone() };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let _ = tonic::transport::Server::builder()
                    .add_service(VmServiceServer::new(node))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Ok(Self { addr, state, shutdown: Some(tx), thread: Some(thread) })
    }

    /// The URL a VM program is given in `GEVULOT_SHIM_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
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
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
