//! The prover and verifier as Gevulot runs them: one task each over the
//! shim protocol, served by the loopback node, with a fresh workspace. A
//! small chain is captured from anvil, proved in a prover task, and
//! verified in a verifier task on the prover's output; then the faults: a
//! task argument clap rejects, an input outside the workspace, a mode that
//! needs the network, a prover killed mid-task, a tampered proof, and a
//! task that brings its own key (refused: the image's pinned key is the
//! only key).

use std::path::{Path, PathBuf};
use std::time::Duration;

use end_to_end::workspace_binary;
use gevulot_shim::node::{run_program, Behaviour, ProgramRun, RunError, RunReport, TaskSpec};
use header_chain::srs;

struct Fixture {
    dir: tempfile::TempDir,
    witness: PathBuf,
    env_prover: Vec<(String, String)>,
    env_verifier: Vec<(String, String)>,
}

fn fixture() -> Fixture {
    let node = end_to_end::start_anvil(None).unwrap();
    node.mine_with_transactions(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("captured.json");
    let o = std::process::Command::new(workspace_binary("prover"))
        .args(["witness-capture", "--rpc", &node.url, "--from", "1", "--to", "2", "-w", witness.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let k = header_chain::prover::shape_for(&header_chain::witness::WitnessFile::load(&witness).unwrap()).unwrap().k;
    let srs_path = dir.path().join("image-srs.srs");
    srs::write(&srs::generate_insecure_dev(k), &srs_path).unwrap();
    let key = dir.path().join("image-key.json");
    let o = std::process::Command::new(workspace_binary("prover"))
        .args(["keygen", "--headers", "2", "--srs", srs_path.to_str().unwrap(), "--out", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    Fixture {
        env_prover: vec![
            ("HEADER_CHAIN_SRS".into(), srs_path.display().to_string()),
            ("RAYON_NUM_THREADS".into(), "2".into()),
        ],
        env_verifier: vec![("HEADER_CHAIN_KEYS".into(), key.display().to_string())],
        witness,
        dir,
    }
}

impl Fixture {
    fn env_prover_srs(&self) -> PathBuf {
        PathBuf::from(&self.env_prover.iter().find(|(k, _)| k == "HEADER_CHAIN_SRS").expect("set").1)
    }
}

fn workspace(f: &Fixture, name: &str) -> PathBuf {
    let ws = f.dir.path().join(name);
    std::fs::create_dir_all(&ws).unwrap();
    ws
}

fn task(args: &[&str], files: &[&str]) -> TaskSpec {
    TaskSpec {
        tx_hash: "11".repeat(32),
        name: "test".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        files: files.iter().map(|s| s.to_string()).collect(),
    }
}

fn run(
    bin: &str,
    env: &[(String, String)],
    ws: &Path,
    task: TaskSpec,
    timeout: Duration,
) -> Result<RunReport, RunError> {
    run_as(bin, env, ws, task, timeout, Behaviour::Serve)
}

fn run_as(
    bin: &str,
    env: &[(String, String)],
    ws: &Path,
    task: TaskSpec,
    timeout: Duration,
    behaviour: Behaviour,
) -> Result<RunReport, RunError> {
    let program = workspace_binary(bin);
    let args = vec!["gevulot".to_string()];
    run_program(ProgramRun { program: &program, args: &args, env, workspace: ws, task, timeout, behaviour })
}

const PROVE: &[&str] = &["prove", "--witness", "/workspace/witness.json", "--proof", "/workspace/proof.json"];

#[test]
fn prover_task_then_verifier_task_and_the_faults() {
    let f = fixture();
    let minute = Duration::from_secs(600);

    // The prover task: its proof comes back as a checksummed result file.
    let ws = workspace(&f, "prover");
    std::fs::copy(&f.witness, ws.join("witness.json")).unwrap();
    let proved = run("prover", &f.env_prover, &ws, task(PROVE, &["/workspace/witness.json"]), minute).unwrap();
    assert_eq!(proved.files.len(), 1);
    assert_eq!(proved.files[0].0, "/workspace/proof.json");
    let summary: serde_json::Value = serde_json::from_slice(&proved.data).unwrap();
    assert_eq!(summary["statement"]["last_number"], 2);

    // The verifier task gets the prover's output; the verdict is the result data.
    let vws = workspace(&f, "verifier");
    std::fs::copy(&proved.files[0].1, vws.join("proof.json")).unwrap();
    let verify_task = || task(&["verify", "--proof", "/workspace/proof.json"], &["/workspace/proof.json"]);
    let verified = run("verifier", &f.env_verifier, &vws, verify_task(), minute).unwrap();
    let verdict: serde_json::Value = serde_json::from_slice(&verified.data).unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert!(vws.join("verification.json").is_file());
    let native: serde_json::Value = serde_json::from_slice(&std::fs::read(vws.join("proof.json")).unwrap()).unwrap();
    assert!(native.get("transcript").is_none(), "a task that does not ask gets the proof file it always got");

    // A task may ask for the EVM flavour; the verifier image checks it too.
    let kws = workspace(&f, "prover-keccak");
    std::fs::copy(&f.witness, kws.join("witness.json")).unwrap();
    let keccak_task = task(&[PROVE, &["--transcript", "keccak"]].concat(), &["/workspace/witness.json"]);
    let proved_keccak = run("prover", &f.env_prover, &kws, keccak_task, minute).unwrap();
    let keccak: serde_json::Value = serde_json::from_slice(&std::fs::read(&proved_keccak.files[0].1).unwrap()).unwrap();
    assert_eq!(keccak["transcript"], "keccak");
    let kvws = workspace(&f, "verifier-keccak");
    std::fs::copy(&proved_keccak.files[0].1, kvws.join("proof.json")).unwrap();
    let verdict: serde_json::Value =
        serde_json::from_slice(&run("verifier", &f.env_verifier, &kvws, verify_task(), minute).unwrap().data).unwrap();
    assert_eq!((verdict["valid"].clone(), verdict["transcript"].clone()), (true.into(), "keccak".into()), "{verdict}");

    // A tampered proof: the verifier task succeeds with an invalid verdict.
    let mut proof: serde_json::Value = serde_json::from_slice(&std::fs::read(vws.join("proof.json")).unwrap()).unwrap();
    proof["statement"]["first_number"] = 7.into();
    std::fs::write(vws.join("proof.json"), proof.to_string()).unwrap();
    let verified = run("verifier", &f.env_verifier, &vws, verify_task(), minute).unwrap();
    let verdict: serde_json::Value = serde_json::from_slice(&verified.data).unwrap();
    assert_eq!(verdict["valid"], false);

    // A task that brings its own key and a proof made with it: the image's
    // pinned key is the only key, so this is refused, never reported valid.
    let attacker_srs = f.dir.path().join("attacker.srs");
    let k = header_chain::srs::read_k(&f.env_prover_srs()).unwrap();
    let attacker_params = {
        use header_chain::halo2_proofs::halo2curves::bn256::Bn256;
        use header_chain::halo2_proofs::poly::kzg::commitment::ParamsKZG;
        use rand_core::SeedableRng;
        ParamsKZG::<Bn256>::setup(k, rand_chacha::ChaCha20Rng::from_seed([7; 32]))
    };
    srs::write(&attacker_params, &attacker_srs).unwrap();
    let aws = workspace(&f, "attacker");
    let o = std::process::Command::new(workspace_binary("prover"))
        .arg("prove")
        .args(["--witness".as_ref(), f.witness.as_os_str()])
        .args(["--srs".as_ref(), attacker_srs.as_os_str()])
        .args(["--proof".as_ref(), aws.join("proof.json").as_os_str()])
        .args(["--key-out".as_ref(), aws.join("attacker.key.json").as_os_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for args in [
        &["verify", "--proof", "/workspace/proof.json", "--key", "/workspace/attacker.key.json"][..],
        &["verify", "--key=/workspace/attacker.key.json", "--proof", "/workspace/proof.json"],
    ] {
        let files = &["/workspace/proof.json", "/workspace/attacker.key.json"];
        let refused = run("verifier", &f.env_verifier, &aws, task(args, files), minute).unwrap();
        let verdict: serde_json::Value = serde_json::from_slice(&refused.data).unwrap();
        assert_eq!(verdict["valid"], false, "{verdict}");
        assert!(verdict["reason"].as_str().unwrap().contains("may not name verifier keys"), "{verdict}");
    }
    // Without --key the attacker's proof meets the pinned key and fails.
    let verified = run("verifier", &f.env_verifier, &aws, verify_task(), minute).unwrap();
    let verdict: serde_json::Value = serde_json::from_slice(&verified.data).unwrap();
    assert_eq!(verdict["valid"], false, "{verdict}");

    // Task arguments clap rejects: the node sees Failed, not silence.
    let ws = workspace(&f, "bad-args");
    let e = run("prover", &f.env_prover, &ws, task(&["prove", "--no-such-flag"], &[]), minute).unwrap_err();
    assert!(matches!(e, RunError::Failed { .. }), "{e}");

    // An input path outside the workspace.
    let ws = workspace(&f, "outside");
    let e = run(
        "prover",
        &f.env_prover,
        &ws,
        task(&["prove", "--witness", "/etc/hostname", "--proof", "/workspace/p.json"], &[]),
        minute,
    )
    .unwrap_err();
    assert!(matches!(e, RunError::Failed { .. }), "{e}");
    assert!(!ws.join("p.json").exists());

    // A mode that needs the network, which a Gevulot VM does not have.
    let ws = workspace(&f, "capture");
    let e = run(
        "prover",
        &f.env_prover,
        &ws,
        task(
            &["witness-capture", "--rpc", "http://127.0.0.1:1", "-b", "1", "--count", "1", "-w", "/workspace/w.json"],
            &[],
        ),
        minute,
    )
    .unwrap_err();
    assert!(matches!(e, RunError::Failed { .. }), "{e}");

    // The prover killed at its limit: no result recorded, the workspace
    // stays. The node never answers the result call, so the program cannot
    // finish before the limit however fast the machine is.
    let ws = workspace(&f, "killed");
    std::fs::copy(&f.witness, ws.join("witness.json")).unwrap();
    let e = run_as(
        "prover",
        &f.env_prover,
        &ws,
        task(PROVE, &["/workspace/witness.json"]),
        Duration::from_millis(1500),
        Behaviour::NeverAnswerResult,
    )
    .unwrap_err();
    assert!(matches!(e, RunError::Timeout(_)), "{e}");
    assert!(ws.join("witness.json").is_file());
    // Killed wherever it was: a proof is whole or absent, never half-written.
    if let Ok(bytes) = std::fs::read(ws.join("proof.json")) {
        serde_json::from_slice::<serde_json::Value>(&bytes).expect("a killed prover left a partial proof");
    }
}
