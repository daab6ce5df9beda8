//! `cargo xtask image` end to end against the ops CONTRACT TEST DOUBLE
//! (tests/doubles/ops_contract_double.rs; not the real ops, which cannot be
//! installed here): staging, config.json, invocation, output parsing,
//! records, caching, and the failures.

use end_to_end::{output_text as text, workspace_root as root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NANOS: &str = "0.1.52";

struct Env {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    ops_home: PathBuf,
    log: PathBuf,
    /// XTASK_IMAGES_DIR: the workspace's own target/images stay untouched.
    images: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ops-contract-double"), bin.join("ops")).unwrap();
    let ops_home = dir.path().join("ops-home");
    std::fs::create_dir_all(ops_home.join(".ops").join(NANOS)).unwrap();
    let log = dir.path().join("ops-invocations.log");
    let images = dir.path().join("images");
    let e = Env { bin, ops_home, log, images, _dir: dir };
    new_kernel(&e);
    e
}

/// Fresh kernel and boot TEST DOUBLES (end_to_end::write_nanos_doubles),
/// the kernel with unique bytes appended, so inputs differ from any earlier run.
fn new_kernel(e: &Env) {
    let dir = e.ops_home.join(".ops").join(NANOS);
    end_to_end::write_nanos_doubles(&dir).unwrap();
    let noise = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    let mut kernel = std::fs::read(dir.join("kernel.img")).unwrap();
    kernel.extend(noise.as_bytes());
    std::fs::write(dir.join("kernel.img"), kernel).unwrap();
}

fn inspect(args: &[&str]) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root())
        .args(["xtask", "inspect"])
        .args(args)
        .output()
        .unwrap()
}

fn xtask(e: &Env, args: &[&str], mode: Option<&str>, with_ops: bool) -> Output {
    let path = std::env::var("PATH").unwrap();
    let path = if with_ops { format!("{}:{path}", e.bin.display()) } else { path };
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root())
        .env("PATH", path)
        .env("OPS_CONTRACT_DOUBLE_LOG", &e.log)
        .env("XTASK_IMAGES_DIR", &e.images)
        .env_remove("XTASK_NANOS_DIR")
        // The committed manifests use the native writer; this test is about ops.
        .args(["xtask", "image", "--builder", "ops", "--ops-home", e.ops_home.to_str().unwrap()])
        .args(args);
    if let Some(m) = mode {
        c.env("OPS_CONTRACT_DOUBLE_MODE", m);
    }
    c.output().unwrap()
}

fn builds_logged(e: &Env) -> usize {
    std::fs::read_to_string(&e.log).unwrap_or_default().lines().filter(|l| l.starts_with("build ")).count()
}

fn records(o: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

#[test]
fn images_records_caching_and_failures() {
    let e = env();
    let images = e.images.clone();

    // A first build: both images, each with a record that matches its bytes.
    let o = xtask(&e, &["--json"], None, true);
    assert!(o.status.success(), "{}", text(&o));
    // The committed manifests pin the development SRS: both images are flagged.
    for image in ["header-prover", "header-verifier", "range-prover", "range-verifier"] {
        assert!(
            text(&o).contains(&format!("warning: image {image} carries the INSECURE development SRS")),
            "{}",
            text(&o)
        );
    }
    let built = records(&o);
    assert_eq!(built.len(), 6, "every image of the manifests");
    for r in &built {
        assert_eq!(r["rebuilt"], true);
        let record = &r["record"];
        let file = images.join(record["file"].as_str().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        assert!(bytes.starts_with(b"BOOT.IMG TEST DOUBLE"), "the image starts with the boot image");
        // The xtask reads the image the double laid out as ops does.
        let o = inspect(&["--json", file.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let rootfs = &report["filesystems"][1];
        assert_eq!(rootfs["manifest"]["mounts"], serde_json::json!({"%0": "/workspace"}));
        assert_eq!(rootfs["manifest"]["readonly_rootfs"], "true");
        assert_eq!(rootfs["manifest"]["environment"]["OPS_VERSION"], "0.1.43");
        let program = rootfs["manifest"]["program"].as_str().unwrap().to_string();
        let sha_of = |path: &str| {
            rootfs["files"].as_array().unwrap().iter().find(|f| f["path"] == path).map(|f| f["sha256"].clone())
        };
        assert_eq!(sha_of(&program), Some(record["inputs"]["program_sha256"].clone()));
        for (staged, digest) in record["inputs"]["files"].as_object().unwrap() {
            assert_eq!(sha_of(&format!("/{staged}")), Some(digest.clone()), "{staged}");
        }
        assert_eq!(record["blake3"], blake3::hash(&bytes).to_hex().to_string());
        assert_eq!(record["size"], bytes.len() as u64);
        assert_eq!(record["builder"], "ops");
        assert!(record["ops_version"].as_str().unwrap().contains("contract test double"));
        let on_disk: serde_json::Value = serde_json::from_slice(
            &std::fs::read(images.join(format!("{}.record.json", record["image"].as_str().unwrap()))).unwrap(),
        )
        .unwrap();
        assert_eq!(&on_disk, record);
    }
    let prover_record = &built.iter().find(|r| r["record"]["image"] == "header-prover").unwrap()["record"];
    assert!(prover_record["inputs"]["files"]["srs/kzg_bn254_14.srs"].is_string());
    let stage = images.join("header-prover.stage");
    assert!(stage.join("srs/kzg_bn254_14.srs").is_file() && stage.join("prover").is_file());
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(stage.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["Mounts"]["%1"], "/workspace");

    // Nothing changed: ops is not started at all.
    let before = builds_logged(&e);
    let o = xtask(&e, &["--json"], None, true);
    assert!(o.status.success(), "{}", text(&o));
    assert!(records(&o).iter().all(|r| r["rebuilt"] == false));
    assert_eq!(builds_logged(&e), before, "a no-op image build started ops");

    // ops builds the same inputs into different bytes (random UUIDs, map
    // order); the content digest sees the same image.
    let verifier_img = images.join("header-verifier.img");
    let digest = |path: &Path| String::from_utf8(inspect(&["--digest", path.to_str().unwrap()]).stdout).unwrap();
    let (bytes_before, digest_before) = (std::fs::read(&verifier_img).unwrap(), digest(&verifier_img));
    std::fs::remove_file(images.join("header-verifier.record.json")).unwrap();
    let o = xtask(&e, &["--json", "header-verifier"], None, true);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(std::fs::read(&verifier_img).unwrap(), bytes_before, "the ops double is deterministic?");
    assert_eq!(digest(&verifier_img), digest_before);
    assert_eq!(digest_before.trim().len(), 64);

    // A changed input (the kernel) rebuilds.
    new_kernel(&e);
    let o = xtask(&e, &["--json", "header-verifier"], None, true);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(records(&o)[0]["rebuilt"], true);

    // ops failing: its output is shown; the previous image and record stay.
    new_kernel(&e);
    let image_before = std::fs::read(images.join("header-verifier.img")).unwrap();
    let record_before = std::fs::read(images.join("header-verifier.record.json")).unwrap();
    let o = xtask(&e, &["header-verifier"], Some("fail"), true);
    assert!(!o.status.success());
    assert!(text(&o).contains("injected failure") && text(&o).contains("staged inputs are in"), "{}", text(&o));
    assert_eq!(std::fs::read(images.join("header-verifier.img")).unwrap(), image_before);
    assert_eq!(std::fs::read(images.join("header-verifier.record.json")).unwrap(), record_before);

    // ops printing no image path, or a path with no file behind it.
    let o = xtask(&e, &["header-verifier"], Some("no-path"), true);
    assert!(!o.status.success() && text(&o).contains("printed no image path"), "{}", text(&o));
    let o = xtask(&e, &["header-verifier"], Some("no-image"), true);
    assert!(!o.status.success() && text(&o).contains("there is no such file"), "{}", text(&o));
    assert_eq!(std::fs::read(images.join("header-verifier.record.json")).unwrap(), record_before);

    // The kernel for the pinned version missing: say exactly what.
    std::fs::remove_file(e.ops_home.join(".ops").join(NANOS).join("kernel.img")).unwrap();
    let o = xtask(&e, &["header-verifier"], None, true);
    assert!(!o.status.success());
    assert!(text(&o).contains("missing") && text(&o).contains(&format!("{NANOS}/kernel.img")), "{}", text(&o));

    // ops not installed.
    new_kernel(&e);
    let o = xtask(&e, &["header-verifier"], None, false);
    if std::process::Command::new("ops").arg("version").output().is_err() {
        assert!(!o.status.success() && text(&o).contains("ops is not on PATH"), "{}", text(&o));
    }

    // --stage-only writes the staging directory and config.json, never runs ops.
    let before = builds_logged(&e);
    let o = xtask(&e, &["--stage-only", "--json"], None, true);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(builds_logged(&e), before);
    assert!(images.join("header-verifier.stage/config.json").is_file());
}

fn double(cwd: &Path, args: &[&str], ops_home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ops-contract-double"))
        .current_dir(cwd)
        .env("OPS_HOME", ops_home)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_double_fails_where_ops_fails() {
    let e = env();
    std::fs::write(e.ops_home.join(".ops/latest.txt"), NANOS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("prog"), b"\x7fELF fake").unwrap();
    std::fs::write(cwd.join("data.bin"), b"data").unwrap();
    let build = |config: &str| {
        std::fs::write(cwd.join("config.json"), config).unwrap();
        double(
            cwd,
            &["build", "prog", "-c", "config.json", "-i", "x.y", "--nanos-version", NANOS, "-t", "onprem"],
            &e.ops_home,
        )
    };
    let ok = build(r#"{"program":"prog","Files":["data.bin"],"ManifestPassthrough":{"readonly_rootfs":"true"}}"#);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains(&format!("Bootable image file:{}", e.ops_home.join(".ops/images/x").display())));
    let unknown = build(r#"{"Program":"prog","Colour":"red"}"#);
    assert!(!unknown.status.success() && text(&unknown).contains("unknown field \"Colour\""));
    let passthrough = build(r#"{"Program":"prog","ManifestPassthrough":{"readonly_rootfs":true}}"#);
    assert!(!passthrough.status.success() && text(&passthrough).contains("is not a string"));
    let outside = build(r#"{"Program":"prog","Files":["/etc/hostname"]}"#);
    assert!(
        !outside.status.success() && text(&outside).contains("no such file"),
        "ops reads cwd + f even for absolute f"
    );
    std::fs::remove_file(e.ops_home.join(".ops").join(NANOS).join("kernel.img")).unwrap();
    let no_kernel = build(r#"{"Program":"prog"}"#);
    assert!(!no_kernel.status.success() && text(&no_kernel).contains("kernel.img not found"));
    let empty_home = tempfile::tempdir().unwrap();
    let offline = double(cwd, &["build", "prog", "-c", "config.json"], empty_home.path());
    assert!(!offline.status.success() && text(&offline).contains("No local build found"));
}
