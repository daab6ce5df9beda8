//! The real images, booted: Nanos's own `dump` reads every native image,
//! and the verifier image runs tasks in QEMU over vsock (vhost-device-vsock)
//! as a Gevulot node runs them: a valid proof is valid, a tampered one
//! invalid (a result, not a crash), and the faults are clear errors with no
//! process left behind.
//!
//! Needs a Nanos kernel (XTASK_NANOS_DIR, else ../shared/nanos/b9c3671 next
//! to the workspace, else ~/.ops/0.1.52), QEMU and vhost-device-vsock
//! (`cargo xtask test` installs both). Without them the test says SKIPPED
//! and why; with CI=true a missing part is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{require, root, target_dir, text};
use xtask::host::local_node::{NodeAnswer, TaskSpec};
use xtask::host::vm::{run_vm, Accel, VmRun, VmTools};

fn kernel_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("XTASK_NANOS_DIR").map(PathBuf::from),
        Some(root().join("../shared/nanos/b9c3671")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ops/0.1.52")),
    ];
    candidates.into_iter().flatten().find(|d| d.join("kernel.img").is_file() && d.join("boot.img").is_file())
}

/// The kernel directory and the VM tools, or None (the test is skipped; under CI it fails).
fn boot_prerequisites() -> Option<(PathBuf, VmTools)> {
    let kernel =
        require(kernel_dir(), "no Nanos kernel (set XTASK_NANOS_DIR to a directory with kernel.img and boot.img)")?;
    let tools = require(
        VmTools::locate(&xtask::spec::project::Project::at(&root()).unwrap()).ok(),
        "QEMU or vhost-device-vsock is not installed (run `cargo xtask test`)",
    )?;
    Some((kernel, tools))
}

/// Processes whose command line mentions `needle` (QEMU and the vsock helper name their sockets and image).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) && !cmdline.contains("vm_boot") {
                found.push(cmdline);
            }
        }
    }
    found
}

/// A verifier-sized VM (1 vCPU, 512 MiB, TCG, a node's limits) for `task`.
fn vm_for<'a>(
    image: &'a Path,
    workspace: &'a Path,
    serial_log: &'a Path,
    task: TaskSpec,
    on_line: &'a (dyn Fn(&str) + Sync),
) -> VmRun<'a> {
    VmRun {
        name: "header-verifier",
        image,
        cpus: 1,
        mem_mib: 512,
        workspace,
        serial_log,
        task,
        node_answer: NodeAnswer::Answers,
        accel: Accel::Tcg,
        task_timeout: Duration::from_secs(1800),
        start_timeout: Duration::from_secs(60),
        on_line,
    }
}

#[test]
fn native_images_boot_and_the_verifier_answers_tasks() {
    let Some((kernel, tools)) = boot_prerequisites() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let images = scratch.path().join("images");

    // The committed manifests' images, written natively with the real kernel (in a scratch directory).
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .env("XTASK_IMAGES_DIR", &images)
        .env("XTASK_NANOS_DIR", &kernel)
        .args(["image", "--builder", "native", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let built: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(built.as_array().unwrap().len(), 6, "every image of the manifests");

    // An independent reader: Nanos's own dump lists what we wrote.
    let dump = kernel.join("dump");
    if dump.is_file() {
        for (image, expected) in [
            ("header-verifier.img", &["verifier", "header-chain-8.key.json", "HEADER_CHAIN_KEYS", "workspace"][..]),
            ("header-prover.img", &["prover", "kzg_bn254_14.srs", "HEADER_CHAIN_SRS", "workspace"]),
            ("range-verifier.img", &["verifier", "header-range-20-by-16.key.json", "HEADER_CHAIN_KEYS", "workspace"]),
            ("range-prover.img", &["prover", "kzg_bn254_22.srs", "HEADER_CHAIN_SRS", "workspace"]),
        ] {
            let o = Command::new(&dump).arg(images.join(image)).output().unwrap();
            assert!(o.status.success(), "dump {image}: {}", text(&o));
            let listing = text(&o);
            for name in expected {
                assert!(listing.contains(name), "dump of {image} lacks {name}:\n{listing}");
            }
        }
    }

    // A proof made on the host with the key the verifier image pins, by the
    // static prover the image step above just built.
    let witness = root().join("tests/fixtures/anvil-chain-8.witness.json");
    let srs = target_dir().join("srs/kzg_bn254_14.INSECURE-DEV.srs");
    let proof = scratch.path().join("proof.json");
    let o = Command::new(target_dir().join("x86_64-unknown-linux-musl/release/prover"))
        .args(["prove", "--witness"])
        .args([witness.as_os_str(), "--srs".as_ref(), srs.as_os_str(), "--proof".as_ref(), proof.as_os_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let verifier_image = images.join("header-verifier.img");
    let on_line = |line: &str| eprintln!("  vm | {line}");
    let task = |args: &[&str]| TaskSpec {
        tx_hash: "ab".repeat(32),
        name: "header-verifier".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        files: vec!["/workspace/proof.json".into()],
    };
    let verify = ["verify", "--proof", "/workspace/proof.json"];
    let boot_with = |name: &str, proof_bytes: &[u8], task: TaskSpec, task_timeout: u64, node_answer: NodeAnswer| {
        let ws = scratch.path().join(name);
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("proof.json"), proof_bytes).unwrap();
        let log = scratch.path().join(format!("{name}.serial.log"));
        let run = VmRun {
            task_timeout: Duration::from_secs(task_timeout),
            node_answer,
            ..vm_for(&verifier_image, &ws, &log, task, &on_line)
        };
        (run_vm(&tools, &run), ws, log)
    };
    let boot =
        |name: &str, proof_bytes: &[u8], task: TaskSpec| boot_with(name, proof_bytes, task, 600, NodeAnswer::Answers);
    let proof_bytes = std::fs::read(&proof).unwrap();

    // A valid proof: valid, with the report as a checksummed result file.
    let (report, ws, log) = boot("valid", &proof_bytes, task(&verify));
    let report = report.unwrap_or_else(|e| panic!("{e:#}"));
    let verdict: serde_json::Value = serde_json::from_slice(&report.data).unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(report.files[0].0, "/workspace/verification.json");
    assert!(ws.join("verification.json").is_file());
    assert!(
        std::fs::read_to_string(&log).unwrap().contains("valid: blocks 1..=8"),
        "the serial log holds the program's output"
    );

    // A tampered proof: a result saying invalid, not a crash.
    let mut tampered: serde_json::Value = serde_json::from_slice(&proof_bytes).unwrap();
    tampered["statement"]["first_number"] = 2.into();
    let (report, _, _) = boot("tampered", tampered.to_string().as_bytes(), task(&verify));
    let verdict: serde_json::Value = serde_json::from_slice(&report.unwrap().data).unwrap();
    assert_eq!(verdict["valid"], false, "{verdict}");

    // A task the program fails (an argument clap refuses): Failed, named, with the console's last lines.
    let (report, _, _) = boot("failed", &proof_bytes, task(&["verify", "--no-such-flag"]));
    let e = format!("{:#}", report.unwrap_err());
    assert!(e.contains("header-verifier") && e.contains("Failed") && e.contains("  | "), "{e}");

    // A task past its limit: stopped, and nothing left running. The node
    // holds the result call unanswered, so the VM cannot end on its own
    // before the guest's 30 s call timeout, whatever the machine's speed:
    // only the limit (measured from the VM's start) can stop it.
    let (report, ws, _) = boot_with("timeout", &proof_bytes, task(&verify), 1, NodeAnswer::NeverAnswers);
    let e = format!("{:#}", report.unwrap_err());
    assert!(e.contains("ran past the 1 s limit"), "{e}");
    assert!(processes_mentioning(&ws.display().to_string()).is_empty(), "a QEMU outlived its run");

    // The prover image on the 8-header witness with a 5 s limit, the node
    // quiet likewise: stopped at the limit, never judged by a result.
    let ws = scratch.path().join("prover-timeout");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::copy(&witness, ws.join("witness.json")).unwrap();
    let prover_image = images.join("header-prover.img");
    let log = scratch.path().join("prover-timeout.serial.log");
    let prove = TaskSpec {
        tx_hash: "cd".repeat(32),
        name: "header-prover".into(),
        args: ["prove", "--witness", "/workspace/witness.json", "--proof", "/workspace/proof.json"]
            .map(String::from)
            .to_vec(),
        files: vec!["/workspace/witness.json".into()],
    };
    let run = VmRun {
        name: "header-prover",
        cpus: 2,
        mem_mib: 2048,
        task_timeout: Duration::from_secs(5),
        node_answer: NodeAnswer::NeverAnswers,
        ..vm_for(&prover_image, &ws, &log, prove, &on_line)
    };
    let e = format!("{:#}", run_vm(&tools, &run).unwrap_err());
    assert!(e.contains("image header-prover: the task ran past the 5 s limit"), "{e}");
    assert!(processes_mentioning(&ws.display().to_string()).is_empty(), "a QEMU outlived its run");
    // Whatever the VM reached before it was stopped, no half-written proof is left.
    if let Ok(bytes) = std::fs::read(ws.join("proof.json")) {
        serde_json::from_slice::<serde_json::Value>(&bytes).expect("a stopped prover left a partial proof");
    }

    // Ctrl-C (SIGINT) while a VM runs: stopped, nothing left running, the run
    // says so. The node is quiet and the limit far away, so only the signal
    // can end the run.
    let interrupter = std::thread::spawn({
        let log = scratch.path().join("interrupted.serial.log");
        move || {
            // The serial log exists once the handler is in place and QEMU is starting.
            while !log.exists() {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: a signal to this process, which run_vm handles.
            unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
        }
    });
    let (report, ws, _) = boot_with("interrupted", &proof_bytes, task(&verify), 1800, NodeAnswer::NeverAnswers);
    let e = format!("{:#}", report.unwrap_err());
    interrupter.join().unwrap();
    assert!(e.contains("interrupted"), "{e}");
    assert!(processes_mentioning(&ws.display().to_string()).is_empty(), "a QEMU outlived an interrupted run");

    // Bad input, before QEMU starts: a file the task names that the run lacks, an image that is not there.
    let mut missing = task(&verify);
    missing.files.push("/workspace/witness.json".into());
    let (report, _, _) = boot("missing-file", &proof_bytes, missing);
    let e = format!("{:#}", report.unwrap_err());
    assert!(e.contains("/workspace/witness.json") && e.contains("has no"), "{e}");
    let ws = scratch.path().join("valid");
    let log = scratch.path().join("x.log");
    let no_image = vm_for(Path::new("/nonexistent/header-verifier.img"), &ws, &log, task(&verify), &on_line);
    let e = format!("{:#}", run_vm(&tools, &no_image).unwrap_err());
    assert!(e.contains("/nonexistent/header-verifier.img") && e.contains("does not exist"), "{e}");
}

/// Missing parts are named before anything boots (these need no kernel).
#[test]
fn a_missing_kernel_or_qemu_is_named_with_what_to_do() {
    let cargo_dir = Path::new(&std::env::var("CARGO").unwrap()).parent().unwrap().to_path_buf();
    let scratch = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .env("XTASK_IMAGES_DIR", scratch.path().join("images"))
        .env("XTASK_NANOS_DIR", scratch.path().join("no-nanos-here"))
        .args(["image", "--builder", "native", "header-verifier"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("no-nanos-here/kernel.img") && t.contains("XTASK_NANOS_DIR"), "{t}");
    assert!(!scratch.path().join("images/header-verifier.img").exists());

    // No QEMU on PATH (only cargo's directory): refused before any build starts.
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .env("PATH", &cargo_dir)
        .env("XTASK_IMAGES_DIR", scratch.path().join("images"))
        .args(["run", "header-chain", "--vm"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("qemu-system-x86_64: boots the images") && t.contains("apt-get install -y qemu-system-x86"),
        "{t}"
    );
    assert!(!t.contains("cargo build --release"), "it built before checking: {t}");
}

/// A small pair (1-header chains: its own manifests and key) through
/// `cargo xtask run --vm`: proof made in a VM, verified in a VM and on the host.
#[test]
fn a_small_pair_proves_and_verifies_in_vms() {
    let Some((kernel, _)) = boot_prerequisites() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let manifests = scratch.path().join("manifests");
    std::fs::create_dir_all(manifests.join("images")).unwrap();
    std::fs::create_dir_all(manifests.join("pairs")).unwrap();
    let committed = |name: &str| std::fs::read_to_string(root().join("manifests/images").join(name)).unwrap();
    let prover = committed("header-prover.toml").replace("name = \"header-prover\"", "name = \"small-prover\"");
    let verifier = committed("header-verifier.toml")
        .replace("name = \"header-verifier\"", "name = \"small-verifier\"")
        .replace("header-chain-8.key.json", "header-chain-1.key.json")
        .replace(r#""--headers", "8""#, r#""--headers", "1""#);
    // The key's recipe makes the key for 1 header, as its name says.
    assert!(prover.contains("small-prover") && verifier.contains(r#""--headers", "1""#));
    std::fs::write(manifests.join("images/small-prover.toml"), prover).unwrap();
    std::fs::write(manifests.join("images/small-verifier.toml"), verifier).unwrap();
    let pair = std::fs::read_to_string(root().join("manifests/pairs/header-chain.toml")).unwrap().replace(
        "name = \"header-chain\"\nprover = \"header-prover\"\nverifier = \"header-verifier\"",
        "name = \"small\"\nprover = \"small-prover\"\nverifier = \"small-verifier\"",
    );
    assert!(pair.contains("small-verifier"), "update the test: the committed pair manifest changed");
    std::fs::write(manifests.join("pairs/small.toml"), pair).unwrap();
    let mut witness: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/anvil-chain-8.witness.json")).unwrap())
            .unwrap();
    witness["headers"].as_array_mut().unwrap().truncate(1);
    let witness_path = scratch.path().join("one-header.witness.json");
    std::fs::write(&witness_path, witness.to_string()).unwrap();

    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .env("XTASK_MANIFESTS_DIR", &manifests)
        .env("XTASK_IMAGES_DIR", scratch.path().join("images"))
        .env("XTASK_NANOS_DIR", &kernel)
        .args(["run", "--vm", "small", "--accel", "tcg", "--json", "--witness"])
        .arg(&witness_path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(outcome["pair"], "small");
    assert_eq!(outcome["valid"], true, "{outcome}");
    assert_eq!(outcome["verifier_valid"], true, "the verifier VM's verdict: {outcome}");
    assert_eq!(outcome["host"]["valid"], true, "the host's verdict: {outcome}");
    assert_eq!(outcome["verdict"]["statement"]["last_number"], 1);
    let run_dir = root().join(outcome["prover"]["workspace"].as_str().unwrap()).parent().unwrap().to_path_buf();
    for image in ["small-prover", "small-verifier"] {
        let log = std::fs::read_to_string(run_dir.join(format!("{image}.serial.log"))).unwrap();
        assert!(log.contains("gevulot: task"), "{image}'s console:\n{log}");
    }
}

/// The second pair (scaffolded by `new-pair`) through the same `run` and
/// `run --vm` code: its tasks from its manifest, its own check on the host.
/// In VMs as on a fresh machine: an empty HOME, no ops, no kernel directory,
/// only XTASK_NANOS_URL pointing at a loopback TEST SERVER laid out as
/// ops's release server; `run --vm` fetches the release itself.
#[test]
fn the_blake_chain_pair_runs_natively_and_in_vms() {
    let input = root().join("pairs/blake-chain/example-input.txt");
    let run = |vm: Option<&Path>| {
        let scratch = tempfile::tempdir().unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
        c.env("XTASK_IMAGES_DIR", scratch.path().join("images")).args(["run", "blake-chain", "--json", "--input"]);
        c.arg(format!("data={}", input.display()));
        let server = vm.map(|kernel| {
            let (archive, escape) = common::fixture_archives(kernel);
            common::ReleaseServer::start(archive, escape)
        });
        if let Some(server) = &server {
            common::as_fresh_machine(&mut c, scratch.path(), server);
            c.args(["--vm", "--accel", "tcg"]);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        if let Some(server) = &server {
            assert_eq!(server.requests(), 1, "the release was fetched once: {}", text(&o));
            assert!(scratch.path().join(".cache/gevulot-xtask/nanos/0.1.52/kernel.img").is_file());
        }
        let outcome: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(outcome["pair"], "blake-chain");
        assert_eq!(outcome["valid"], true, "{outcome}");
        assert_eq!(outcome["verifier_valid"], true, "the verifier's verdict: {outcome}");
        assert_eq!(outcome["host"]["report"]["valid"], true, "the pair's check: {outcome}");
        outcome
    };
    let native = run(None);
    let Some((kernel, _)) = boot_prerequisites() else { return };
    let in_vms = run(Some(&kernel));
    // The same input, the same work: the same proof output in a VM as on the host.
    assert_eq!(native["verdict"]["output"], in_vms["verdict"]["output"]);
    let run_dir = root().join(in_vms["prover"]["workspace"].as_str().unwrap()).parent().unwrap().to_path_buf();
    let log = std::fs::read_to_string(run_dir.join("blake-chain-prover.serial.log")).unwrap();
    assert!(log.contains("gevulot: task"), "the prover VM's console:\n{log}");
}
