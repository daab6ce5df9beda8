//! The VM side against the loopback node: the happy path and every fault
//! the protocol has (node errors, silence, no task, failing handlers, bad
//! result files).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use gevulot_shim::node::{check_result_files, Behaviour, LocalNode, RunError, Submission, TaskSpec};
use gevulot_shim::proto::TaskError;
use gevulot_shim::{run_with, Config, ShimError, TaskOutput};

fn spec() -> TaskSpec {
    TaskSpec {
        tx_hash: "ab".repeat(32),
        name: "prove".into(),
        args: vec!["prove".into(), "--witness".into(), "/workspace/w.json".into()],
        files: vec!["/workspace/w.json".into()],
    }
}

fn config(endpoint: String, workspace: &std::path::Path) -> Config {
    Config {
        endpoint: Some(endpoint),
        workspace: Some(workspace.to_path_buf()),
        connect_timeout: Duration::from_secs(2),
        rpc_timeout: Duration::from_secs(2),
        task_wait: Duration::from_secs(2),
        mount_wait: Duration::from_secs(1),
    }
}

#[test]
fn a_task_round_trip_with_checksums() {
    let node = LocalNode::start(spec(), Behaviour::Serve).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let result = run_with(&config(node.endpoint(), ws.path()), |task, workspace| {
        assert_eq!(task.args, spec().args);
        assert_eq!(task.files, spec().files);
        std::fs::write(workspace.resolve("/workspace/proof.json")?, b"proof bytes").unwrap();
        Ok(TaskOutput { data: b"verdict".to_vec(), files: vec!["/workspace/proof.json".into()] })
    });
    result.unwrap();
    let expected = blake3::hash(b"proof bytes").as_bytes().to_vec();
    assert_eq!(
        node.submission(),
        Some(Submission::Result { data: b"verdict".to_vec(), files: vec![("/workspace/proof.json".into(), expected)] })
    );
}

#[test]
fn a_failing_handler_is_reported_as_failed() {
    let node = LocalNode::start(spec(), Behaviour::Serve).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let err = run_with(&config(node.endpoint(), ws.path()), |_, _| Err("bad witness".into())).unwrap_err();
    assert!(matches!(err, ShimError::TaskFailed(ref m) if m == "bad witness"), "{err}");
    assert_eq!(node.submission(), Some(Submission::Error(TaskError::Failed)));
}

#[test]
fn a_missing_or_outside_result_file_fails_the_task() {
    for path in ["/workspace/never-written.json", "/etc/hostname"] {
        let node = LocalNode::start(spec(), Behaviour::Serve).unwrap();
        let ws = tempfile::tempdir().unwrap();
        let err = run_with(&config(node.endpoint(), ws.path()), |_, _| {
            Ok(TaskOutput { data: vec![], files: vec![path.into()] })
        })
        .unwrap_err();
        assert!(matches!(err, ShimError::TaskFailed(_)), "{err}");
        assert_eq!(node.submission(), Some(Submission::Error(TaskError::Failed)), "{path}");
    }
}

#[test]
fn the_node_answers_unavailable() {
    let node = LocalNode::start(spec(), Behaviour::Unavailable).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut called = false;
    let err = run_with(&config(node.endpoint(), ws.path()), |_, _| {
        called = true;
        Ok(TaskOutput::default())
    })
    .unwrap_err();
    assert!(matches!(err, ShimError::NodeError(TaskError::Unavailable)), "{err}");
    assert!(!called);
    assert_eq!(node.submission(), None);
}

#[test]
fn no_task_ever_arrives() {
    let node = LocalNode::start(spec(), Behaviour::NeverATask).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = run_with(&config(node.endpoint(), ws.path()), |_, _| Ok(TaskOutput::default())).unwrap_err();
    assert!(matches!(err, ShimError::NoTask(_)), "{err}");
    // The node answers "no task" forever: only the client's own wait ends the call.
    assert!(started.elapsed() >= config(String::new(), ws.path()).task_wait, "it gave up before its wait");
}

#[test]
fn a_node_that_never_answers() {
    // Accepts TCP connections and says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let ws = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = run_with(&config(format!("http://{addr}"), ws.path()), |_, _| Ok(TaskOutput::default())).unwrap_err();
    assert!(matches!(err, ShimError::Rpc { call: "GetTask", .. } | ShimError::Connect { .. }), "{err}");
    // The peer never says anything: returning at all means the client's own
    // timeout ended the call, and not before it was due.
    assert!(started.elapsed() >= config(String::new(), ws.path()).rpc_timeout, "it gave up before its timeout");
}

#[test]
fn no_node_at_all() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ws = tempfile::tempdir().unwrap();
    let err =
        run_with(&config(format!("http://127.0.0.1:{port}"), ws.path()), |_, _| Ok(TaskOutput::default())).unwrap_err();
    assert!(matches!(err, ShimError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&port.to_string()));
}

#[test]
fn a_workspace_that_does_not_exist() {
    let node = LocalNode::start(spec(), Behaviour::Serve).unwrap();
    let err =
        run_with(&config(node.endpoint(), std::path::Path::new("/nonexistent/ws")), |_, _| Ok(TaskOutput::default()))
            .unwrap_err();
    assert!(matches!(err, ShimError::MissingWorkspace(_)), "{err}");
    assert!(!node.task_handed_out());
}

#[test]
fn the_runner_checks_every_result_file() {
    let ws = tempfile::tempdir().unwrap();
    let workspace = gevulot_shim::Workspace::new(ws.path());
    std::fs::write(ws.path().join("proof.json"), b"proof").unwrap();
    let good = blake3::hash(b"proof").as_bytes().to_vec();
    let checked = check_result_files(&workspace, vec![("/workspace/proof.json".into(), good.clone())]).unwrap();
    assert_eq!(checked[0].1, ws.path().join("proof.json"));
    let wrong = blake3::hash(b"other").as_bytes().to_vec();
    let e = check_result_files(&workspace, vec![("/workspace/proof.json".into(), wrong)]).unwrap_err();
    assert!(matches!(e, RunError::ResultFile { .. }) && e.to_string().contains("BLAKE3 is"), "{e}");
    let e = check_result_files(&workspace, vec![("/workspace/missing.json".into(), good.clone())]).unwrap_err();
    assert!(e.to_string().contains("missing from the workspace"), "{e}");
    let e = check_result_files(&workspace, vec![("/tmp/elsewhere".into(), good)]).unwrap_err();
    assert!(e.to_string().contains("outside the task workspace"), "{e}");
}

#[test]
fn without_an_endpoint_the_shim_uses_vsock() {
    // No vsock device here: the attempt must fail cleanly, naming the address.
    let ws = tempfile::tempdir().unwrap();
    let mut c = config(String::new(), ws.path());
    c.endpoint = None;
    let err = run_with(&c, |_, _| Ok(TaskOutput::default())).unwrap_err();
    assert!(matches!(err, ShimError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("vsock://2:8080"), "{err}");
}

#[test]
fn a_large_result_flows_through_the_windows() {
    // 1 MiB of inline data: many frames, more than the initial 64 KiB window.
    let node = LocalNode::start(spec(), Behaviour::Serve).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    run_with(&config(node.endpoint(), ws.path()), |_, _| Ok(TaskOutput { data: data.clone(), files: vec![] })).unwrap();
    assert_eq!(node.submission(), Some(Submission::Result { data, files: vec![] }));
}

#[test]
fn the_servers_grpc_status_reaches_the_caller() {
    use gevulot_shim::grpc::{CallError, Client};
    use gevulot_shim::proto::{task_result_request, TaskRequest, TaskResponse, TaskResultRequest, TaskResultResponse};
    let node = LocalNode::start(spec(), Behaviour::Serve).unwrap();
    let addr = node.endpoint().trim_start_matches("http://").to_string();
    let stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut client = Client::handshake(stream, &addr, std::time::Duration::from_secs(5)).unwrap();

    // A method the service does not have: tonic answers with headers only.
    let err = client.unary::<_, TaskResponse>("/vm_service.VMService/Nope", &TaskRequest {}).unwrap_err();
    assert!(matches!(err, CallError::Status { code: 12, .. }), "{err}");

    // The node refuses a result for another task; its message is percent-decoded.
    let request = TaskResultRequest {
        tx_hash: "not ours: 100%".into(),
        result: Some(task_result_request::Result::Error(TaskError::Failed as i32)),
    };
    let err = client.unary::<_, TaskResultResponse>("/vm_service.VMService/SubmitResult", &request).unwrap_err();
    match err {
        CallError::Status { code: 3, message } => assert_eq!(message, "unknown task not ours: 100%"),
        other => panic!("expected INVALID_ARGUMENT, got {other}"),
    }

    // The connection is still good for the next call.
    let answer: TaskResponse = client.unary("/vm_service.VMService/GetTask", &TaskRequest {}).unwrap();
    assert!(answer.result.is_some());
    assert!(node.task_handed_out());
}
