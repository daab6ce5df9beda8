//! Witness capture from a real Ethereum node (anvil), in every header format
//! anvil mines, and the refusals: node unreachable, silent, answering
//! errors or malformed JSON, a missing block, a header that does not hash to
//! its hash, a broken chain. Nothing is written when capture fails.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use end_to_end::{fake_json_rpc as fake_node, workspace_binary, NEVER};
use header_chain::circuit::HeaderChainCircuit;
use header_chain::halo2_proofs::dev::MockProver;
use header_chain::witness::WitnessFile;
use serde_json::{json, Value};

fn prover(args: &[&str]) -> Output {
    Command::new(workspace_binary("prover")).args(args).output().expect("prover runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn capture(url: &str, from: u64, to: u64, out: &Path, extra: &[&str]) -> Output {
    let (from, to) = (from.to_string(), to.to_string());
    let mut args =
        vec!["witness-capture", "--rpc", url, "--from", &from, "--to", &to, "--witness", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    prover(&args)
}

#[test]
fn captures_a_linked_chain_with_transactions() {
    let node = end_to_end::start_anvil(None).unwrap();
    node.mine_with_transactions(3).unwrap();
    node.mine_empty(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("witness.json");
    let o = capture(&node.url, 1, 5, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let witness = WitnessFile::load(&out).unwrap();
    assert_eq!(witness.headers.len(), 5);
    assert_eq!(witness.chain_id, Some(31337));
    for h in &witness.headers {
        let block = node.call("eth_getBlockByNumber", json!([format!("{:#x}", h.number), false])).unwrap();
        assert_eq!(block["hash"].as_str().unwrap(), h.hash.to_string());
    }
    // The blocks with transactions have non-empty transaction roots.
    let decoded = witness.check().unwrap();
    assert_ne!(decoded[0].transactions_root, decoded[4].transactions_root);

    // The same range as --block/--count.
    let again = dir.path().join("again.json");
    let o =
        prover(&["witness-capture", "--rpc", &node.url, "--block", "1", "--count", "5", "-w", again.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn every_header_format_anvil_mines_satisfies_the_circuit() {
    for fork in ["frontier", "london", "paris", "shanghai", "cancun", "prague"] {
        let node = end_to_end::start_anvil(Some(fork)).unwrap();
        node.mine_with_transactions(2).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("w.json");
        let o = capture(&node.url, 1, 2, &out, &[]);
        assert!(o.status.success(), "{fork}: {}", stderr(&o));
        let witness = WitnessFile::load(&out).unwrap();
        let shape = header_chain::prover::shape_for(&witness).unwrap();
        let circuit = HeaderChainCircuit::new(shape.clone(), witness.rlp_headers());
        let mock = MockProver::run(shape.k, &circuit, vec![witness.statement().instances()]).unwrap();
        assert!(mock.verify().is_ok(), "{fork}: the circuit rejects an honest chain");
    }
}

#[test]
fn a_block_that_does_not_exist() {
    let node = end_to_end::start_anvil(None).unwrap();
    node.mine_empty(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.json");
    let o = capture(&node.url, 1, 50, &out, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("block 50 does not exist"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn bad_ranges_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.json");
    let o = capture("http://127.0.0.1:9", 5, 1, &out, &[]);
    assert!(stderr(&o).contains("first block 5 is after last block 1"), "{}", stderr(&o));
    let o = prover(&["witness-capture", "--rpc", "http://127.0.0.1:9", "--block", "1", "--count", "0", "-w", "x.json"]);
    assert!(!o.status.success() && stderr(&o).contains("--count must be at least 1"), "{}", stderr(&o));
    let o = prover(&["witness-capture", "--rpc", "http://127.0.0.1:9", "--from", "1", "-w", "x.json"]);
    assert!(!o.status.success());
    assert!(!out.exists());
}

#[test]
fn an_unreachable_node() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.json");
    let o = capture(&format!("http://127.0.0.1:{port}"), 1, 2, &out, &["--rpc-attempts", "2"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot reach the JSON-RPC node") && stderr(&o).contains("after 2 attempts"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn a_node_that_never_answers_times_out() {
    let url = fake_node(|_| None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.json");
    let started = Instant::now();
    let o = capture(&url, 1, 2, &out, &["--rpc-timeout", "1", "--rpc-attempts", "2"]);
    assert!(!o.status.success());
    // The node holds each request for NEVER: the client gave up on its own.
    assert!(started.elapsed() < NEVER, "the wait was not bounded");
    assert!(stderr(&o).contains("after 2 attempts"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn a_node_answering_errors_or_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.json");
    let url =
        fake_node(|_| Some(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"header not found"}}"#.into()));
    let o = capture(&url, 1, 2, &out, &[]);
    assert!(stderr(&o).contains("answered eth_getBlockByNumber with an error: header not found"), "{}", stderr(&o));
    let url = fake_node(|_| Some("<html>bad gateway</html>".into()));
    let o = capture(&url, 1, 2, &out, &[]);
    assert!(stderr(&o).contains("malformed JSON-RPC"), "{}", stderr(&o));
    let url = fake_node(|_| Some(r#"{"jsonrpc":"2.0","id":1,"result":{"number":"0x2"}}"#.into()));
    let o = capture(&url, 1, 2, &out, &[]);
    assert!(stderr(&o).contains("malformed JSON-RPC"), "{}", stderr(&o));
    assert!(!o.status.success());
    assert!(!out.exists());
}

/// A proxy in front of anvil that rewrites the answers.
fn tampering_proxy(anvil_url: String, tamper: impl Fn(&Value, &mut Value) + Send + 'static) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).build().into();
    fake_node(move |request| {
        let mut answer: Value = agent.post(&anvil_url).send_json(request).ok()?.body_mut().read_json().ok()?;
        tamper(request, &mut answer);
        Some(answer.to_string())
    })
}

#[test]
fn a_header_that_does_not_hash_to_its_hash() {
    let node = end_to_end::start_anvil(None).unwrap();
    node.mine_with_transactions(2).unwrap();
    let url = tampering_proxy(node.url.clone(), |_, answer| {
        if let Some(block) = answer.get_mut("result").filter(|r| r.is_object()) {
            block["gasUsed"] = json!("0x1");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.json");
    let o = capture(&url, 1, 2, &out, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("its fields hash to"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn a_broken_chain() {
    let node = end_to_end::start_anvil(None).unwrap();
    node.mine_with_transactions(3).unwrap();
    // Asked for a parent by hash, the proxy serves block 1 instead of block 2.
    let inner = node.url.clone();
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).build().into();
    let url = tampering_proxy(node.url.clone(), move |request, answer| {
        if request["method"] == "eth_getBlockByHash" {
            let block1 = json!({"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x1", false]});
            *answer = agent.post(&inner).send_json(&block1).unwrap().body_mut().read_json().unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.json");
    let o = capture(&url, 1, 3, &out, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("the chain is broken"), "{}", stderr(&o));
    assert!(!out.exists());
}
