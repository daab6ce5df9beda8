//! `cargo xtask deploy` and `exec` end to end against the gevulot-cli
//! CONTRACT TEST DOUBLE (tests/doubles/gevulot_cli_contract_double.rs; not
//! the real CLI), with images from `cargo xtask image` and the ops double.

use end_to_end::{output_text as text, workspace_root as root};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha3::{Digest, Sha3_256};

struct Env {
    dir: tempfile::TempDir,
    bin: PathBuf,
    records: PathBuf,
    key: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ops-contract-double"), bin.join("ops")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gevulot-cli-contract-double"), bin.join("gevulot-cli")).unwrap();
    let key = dir.path().join("localkey.pki");
    std::fs::write(&key, b"secret key bytes (the double only checks it exists)").unwrap();
    let records = dir.path().join("deployments");
    Env { bin, records, key, dir }
}

fn xtask(e: &Env, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let path = format!("{}:{}", e.bin.display(), std::env::var("PATH").unwrap());
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root())
        .env("PATH", path)
        .env("GEVULOT_CLI_DOUBLE_STATE", e.dir.path().join("node-state.json"))
        // Scratch images: the workspace's own target/images stay untouched.
        .env("XTASK_IMAGES_DIR", e.dir.path().join("images"))
        // kernel.img/boot.img TEST DOUBLES from --ops-home, not a real kernel.
        .env_remove("XTASK_NANOS_DIR")
        .args(["xtask"])
        .args(args);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.output().unwrap()
}

use end_to_end::target_dir;

fn build_images(e: &Env, kernel: &str) {
    let home = e.dir.path().join("ops-home");
    // kernel.img and boot.img TEST DOUBLES; `kernel` makes the kernel unique.
    end_to_end::write_nanos_doubles(&home.join(".ops/0.1.52")).unwrap();
    std::fs::write(home.join(".ops/0.1.52/kernel.img"), kernel).unwrap();
    let o = xtask(e, &["image", "--ops-home", home.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Serves `body` once over HTTP on loopback; returns the URL.
fn serve_once(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/proof", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = s.write_all(&body);
        }
    });
    url
}

#[test]
fn deploy_then_exec_and_the_faults() {
    let e = env();
    let (records, key) = (e.records.to_str().unwrap().to_string(), e.key.to_str().unwrap().to_string());
    let nonce = format!("{:?}", std::time::SystemTime::now());
    build_images(&e, &format!("kernel {nonce}"));
    let deploy = |extra: &[(&str, &str)]| {
        let args = ["deploy", "header-chain", "--keyfile", &key, "--record-dir", &records, "--json"];
        xtask(&e, &[&args[..], &["--allow-insecure-srs"]].concat(), extra)
    };

    let witness = "tests/fixtures/anvil-chain-8.witness.json";
    // `exec header-chain` of the deployment under test, with more flags.
    let exec = |witness: &str, more: &[&str], extra: &[(&str, &str)]| {
        let base = ["exec", "header-chain", "--witness", witness, "--record-dir", &records, "--keyfile", &key];
        xtask(&e, &[&base[..], more].concat(), extra)
    };

    // Refusals first: nothing may be recorded.
    let o = xtask(&e, &["deploy", "header-chain", "--keyfile", "/nonexistent/key.pki", "--record-dir", &records], &[]);
    assert!(!o.status.success() && text(&o).contains("generate-key"), "{}", text(&o));
    // The committed manifests pin the development SRS: refused unless allowed.
    let o = xtask(&e, &["deploy", "header-chain", "--keyfile", &key, "--record-dir", &records], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("INSECURE development SRS")
            && text(&o).contains("header-prover (/srs/kzg_bn254_14.srs)")
            && text(&o).contains("header-verifier (/keys/header-chain-8.key.json)")
            && text(&o).contains("--allow-insecure-srs"),
        "{}",
        text(&o)
    );
    let o = deploy(&[("GEVULOT_CLI_DOUBLE_MODE", "rejected")]);
    assert!(!o.status.success() && text(&o).contains("failed to persist transaction"), "{}", text(&o));
    let o = deploy(&[("GEVULOT_CLI_DOUBLE_MODE", "wrong-hash")]);
    assert!(!o.status.success() && text(&o).contains("nothing recorded"), "{}", text(&o));
    assert!(!e.records.join("header-chain.json").exists(), "a failed deploy was recorded");
    let o = exec(witness, &[], &[]);
    assert!(!o.status.success() && text(&o).contains("no deployment recorded"), "{}", text(&o));
    // A dry run plans (hashes, CLI arguments), needs no key file, sends and records nothing.
    let dry = ["deploy", "header-chain", "--dry-run", "--json", "--allow-insecure-srs", "--record-dir", &records];
    let o = xtask(&e, &[&dry[..], &["--keyfile", "/nonexistent/key.pki"]].concat(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!e.records.join("header-chain.json").exists(), "a dry run was recorded");
    assert_eq!(plan["cli_args"][4], "deploy", "{plan}");

    // The deployment: hashes recomputed here, independently.
    let o = deploy(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.records.join("header-chain.json")).unwrap()).unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(), record);
    assert_eq!((record["kind"].as_str(), record["version"].as_u64()), (Some("gevulot-deployment"), Some(1)));
    for role in ["prover", "verifier"] {
        assert_eq!(plan[role], record[role], "the dry run planned another {role}");
    }
    for role in ["prover", "verifier"] {
        let p = &record[role];
        let image = root().join(p["image_file"].as_str().unwrap());
        let blake3 = blake3::hash(&std::fs::read(&image).unwrap()).to_hex().to_string();
        assert_eq!(p["blake3"], blake3);
        let url =
            format!("http://127.0.0.1:8080/{}", hex::encode(Sha3_256::digest(image.display().to_string().as_bytes())));
        assert_eq!(p["source"]["image_file_url"], url);
        let name = p["name"].as_str().unwrap();
        let file = image.file_name().unwrap().to_str().unwrap();
        let expected = hex::encode(Sha3_256::digest(format!("{name}{file}{url}{blake3}").as_bytes()));
        assert_eq!(p["program_hash"], expected);
    }
    assert_eq!(record["prover"]["mem_mib"], 2048);
    assert_eq!(record["verifier"]["cpus"], 1);
    assert!(
        !std::fs::read_to_string(e.records.join("header-chain.json")).unwrap().contains("localkey"),
        "the key file leaked into the record"
    );

    // exec: the tasks JSON, then the run, polled until the verification exists.
    let o = exec(witness, &["--print-tasks"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let tasks: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(tasks[1]["inputs"][0]["Output"]["source_program"], record["prover"]["program_hash"]);
    for step in tasks.as_array().unwrap() {
        for input in step["inputs"].as_array().unwrap() {
            let vm = input["Input"]["vm_path"].as_str().or(input["Output"]["file_name"].as_str()).unwrap();
            assert!(vm.starts_with("/workspace/"), "{vm}");
        }
    }

    // A real proof of the witness, made with the key the verifier image pins.
    let proof_path = e.dir.path().join("proof.json");
    let srs = target_dir().join("srs/kzg_bn254_14.INSECURE-DEV.srs");
    let made = Command::new(end_to_end::workspace_binary("prover"))
        .args(["prove", "--witness", witness, "--srs", srs.to_str().unwrap(), "--proof", proof_path.to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let proof_file = std::fs::read(&proof_path).unwrap();
    let exec_with = |proof: &[u8], node_says_valid: bool, extra: &[(&str, &str)], out: &Path| {
        let results = e.dir.path().join("results.json");
        std::fs::write(
            &results,
            serde_json::json!({
                "polls_before_ready": 5,
                "proof_data": r#"{"statement":{"last_number":8}}"#,
                "verification_data": serde_json::json!({"valid": node_says_valid, "statement": {"last_number": 8}}).to_string(),
                "files": [{"url": serve_once(proof.to_vec()), "checksum": blake3::hash(proof).to_hex().to_string(), "vm_path": "/workspace/proof.json"}],
            })
            .to_string(),
        )
        .unwrap();
        let mut env = vec![("GEVULOT_CLI_DOUBLE_RESULTS", results.to_str().unwrap().to_string())];
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let more = ["--poll", "1", "--wait", "120", "--listen-addr", "127.0.0.1:18080", "--json"];
        exec(witness, &[&more[..], &["--out", out.to_str().unwrap()]].concat(), &env)
    };

    // The node is unreachable for two polls (the real CLI panics), then answers.
    let out = e.dir.path().join("exec-out");
    let o = exec_with(&proof_file, true, &[("GEVULOT_CLI_DOUBLE_UNREACHABLE", "2")], &out);
    assert!(o.status.success(), "{}", text(&o));
    let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(outcome["valid"], true);
    assert_eq!(outcome["node_valid"], true);
    assert_eq!(outcome["host"]["valid"], true, "{outcome}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.matches("poll failed").count(), 1, "one line per distinct error: {stderr}");
    assert!(stderr.contains("repeated 2 times"), "{stderr}");
    // Deployed with --allow-insecure-srs: the verdict says so.
    assert!(
        stderr.contains("carries the INSECURE development SRS") && stderr.contains("VALID only against the INSECURE"),
        "{stderr}"
    );
    // Five polls answered "no root tx found": one line while waiting, not five.
    assert_eq!(stderr.matches("no root tx found").count(), 1, "a repeated state is shown once: {stderr}");
    assert_eq!(std::fs::read(out.join("proof.json")).unwrap(), proof_file, "the proof file was not downloaded");
    let verdict: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("verdict.json")).unwrap()).unwrap();
    assert_eq!(verdict["statement"]["last_number"], 8);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.dir.path().join("node-state.json")).unwrap()).unwrap();
    let listened: Vec<&str> =
        state["runs"].as_object().unwrap().values().filter_map(|r| r["listen_addr"].as_str()).collect();
    assert_eq!(listened, ["127.0.0.1:18080"], "exec did not pass --listen-addr to the CLI");

    // A CLI that never returns is stopped at --cli-timeout.
    let o = exec(witness, &["--cli-timeout", "2"], &[("GEVULOT_CLI_DOUBLE_HANG", "exec")]);
    assert!(!o.status.success() && text(&o).contains("did not finish within 2 s"), "{}", text(&o));

    // A node that claims valid for a tampered proof: the host's verdict decides, loudly.
    let mut tampered: serde_json::Value = serde_json::from_slice(&proof_file).unwrap();
    let bytes = tampered["proof"].as_str().unwrap().to_string();
    let flipped = if bytes.ends_with('0') { "1" } else { "0" };
    tampered["proof"] = format!("{}{flipped}", &bytes[..bytes.len() - 1]).into();
    let o = exec_with(tampered.to_string().as_bytes(), true, &[], &e.dir.path().join("exec-tampered"));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("DISAGREEMENT") && text(&o).contains("not valid on this machine"), "{}", text(&o));
    let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((outcome["valid"].as_bool(), outcome["node_valid"].as_bool()), (Some(false), Some(true)));

    // A node that answers with a valid proof of another chain (a fresh anvil's
    // blocks 1..=8, under the same key): the host's check against the
    // witness says not valid, and the disagreement is loud.
    let node = end_to_end::start_anvil(None).unwrap();
    node.mine_with_transactions(8).unwrap();
    let (other_witness, other_proof) = (e.dir.path().join("other-witness.json"), e.dir.path().join("other-proof.json"));
    let prover = |args: &[&str]| {
        let o = Command::new(end_to_end::workspace_binary("prover")).args(args).current_dir(root()).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    prover(&["witness-capture", "-r", &node.url, "--from", "1", "--to", "8", "-w", other_witness.to_str().unwrap()]);
    prover(&[
        "prove",
        "-w",
        other_witness.to_str().unwrap(),
        "-k",
        srs.to_str().unwrap(),
        "-p",
        other_proof.to_str().unwrap(),
    ]);
    let o = exec_with(&std::fs::read(&other_proof).unwrap(), true, &[], &e.dir.path().join("exec-other-chain"));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("DISAGREEMENT") && text(&o).contains("another chain than the witness"), "{}", text(&o));

    // A node that never produces the verification: a bounded wait that names the run.
    let o = exec(witness, &["--poll", "1", "--wait", "2", "--jsonurl", "http://192.0.2.1:9944"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no verification for run") && text(&o).contains("print-tx-tree"), "{}", text(&o));
    assert!(text(&o).contains("no root tx found"), "the last state is shown: {}", text(&o));
    // A remote node with the default loopback listen address is warned about.
    assert!(text(&o).contains("cannot reach; pass --listen-addr"), "{}", text(&o));

    // Hosted images: the CLI gets their BLAKE3 and URLs; the file name is the URL's last segment.
    let o = xtask(
        &e,
        &[
            "deploy",
            "header-chain",
            "--keyfile",
            &key,
            "--record-dir",
            &records,
            "--json",
            "--allow-insecure-srs",
            "--prover-url",
            "https://images.example/v1/prover.img",
            "--verifier-url",
            "https://images.example/v1/verifier.img",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let hosted: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &hosted["prover"];
    assert_eq!(p["source"]["cli_arg"], p["blake3"]);
    assert_eq!(p["source"]["image_file_name"], "prover.img");
    let expected = hex::encode(Sha3_256::digest(
        format!("header-proverprover.imghttps://images.example/v1/prover.img{}", p["blake3"].as_str().unwrap())
            .as_bytes(),
    ));
    assert_eq!(p["program_hash"], expected);

    // A missing witness, and images rebuilt since the deployment.
    let o = exec("/nonexistent.json", &[], &[]);
    assert!(!o.status.success() && text(&o).contains("not found"), "{}", text(&o));
    build_images(&e, &format!("another kernel {nonce}"));
    let o = exec(witness, &[], &[]);
    assert!(!o.status.success() && text(&o).contains("changed since it was deployed"), "{}", text(&o));
}

/// The second pair through the same deploy and exec code: its tasks come from
/// its manifest (`--input data=FILE`), and its own check decides on the host.
#[test]
fn a_second_pair_deploys_and_execs_by_its_declaration() {
    let e = env();
    let (records, key) = (e.records.to_str().unwrap().to_string(), e.key.to_str().unwrap().to_string());
    build_images(&e, &format!("kernel {:?}", std::time::SystemTime::now()));
    let o = xtask(&e, &["deploy", "blake-chain", "--keyfile", &key, "--record-dir", &records, "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o));

    let input = root().join("pairs/blake-chain/example-input.txt");
    let data = format!("data={}", input.display());
    let exec = |more: &[&str], extra: &[(&str, &str)]| {
        let base = ["exec", "blake-chain", "--input", &data, "--record-dir", &records, "--keyfile", &key];
        xtask(&e, &[&base[..], more].concat(), extra)
    };
    let o = exec(&["--dry-run"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let tasks: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(tasks[0]["cmd_args"][1], serde_json::json!({"name": "--input", "value": "/workspace/input.bin"}));
    assert_eq!(tasks[0]["inputs"][0]["Input"]["local_path"], input.canonicalize().unwrap().display().to_string());
    assert_eq!(tasks[1]["inputs"][0]["Output"]["file_name"], "/workspace/proof.json");
    // The header-chain pair's input is not this pair's.
    let o =
        xtask(&e, &["exec", "blake-chain", "--witness", "x.json", "--record-dir", &records, "--keyfile", &key], &[]);
    assert!(!o.status.success() && text(&o).contains("has no input \"witness\"; it declares: data"), "{}", text(&o));

    // A real proof of the input, by the static prover the image carries.
    let prover = target_dir().join("x86_64-unknown-linux-musl/release/blake-chain-prover");
    let proof_path = e.dir.path().join("proof.json");
    let made = Command::new(&prover)
        .args(["prove", "--input", input.to_str().unwrap(), "--proof", proof_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let run = |proof: &[u8], out: &Path| {
        let results = e.dir.path().join("results.json");
        std::fs::write(
            &results,
            serde_json::json!({
                "polls_before_ready": 0,
                "proof_data": String::from_utf8_lossy(proof),
                "verification_data": r#"{"valid": true}"#,
                "files": [{"url": serve_once(proof.to_vec()), "checksum": blake3::hash(proof).to_hex().to_string(), "vm_path": "/workspace/proof.json"}],
            })
            .to_string(),
        )
        .unwrap();
        let more = [
            "--poll",
            "1",
            "--wait",
            "60",
            "--listen-addr",
            "127.0.0.1:18081",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ];
        exec(&more, &[("GEVULOT_CLI_DOUBLE_RESULTS", results.to_str().unwrap())])
    };
    let proof = std::fs::read(&proof_path).unwrap();
    let o = run(&proof, &e.dir.path().join("out-1"));
    assert!(o.status.success(), "{}", text(&o));
    let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(outcome["host"]["valid"], true, "{outcome}");
    assert_eq!(outcome["host"]["report"]["rounds"], 1_000, "{outcome}");

    // A proof of other bytes that the "node" calls valid: the pair's check says no.
    let mut forged: serde_json::Value = serde_json::from_slice(&proof).unwrap();
    forged["input_blake3"] = blake3::hash(b"other bytes").to_hex().to_string().into();
    let o = run(forged.to_string().as_bytes(), &e.dir.path().join("out-2"));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("DISAGREEMENT") && text(&o).contains("another input"), "{}", text(&o));
}
