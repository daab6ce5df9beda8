//! `cargo xtask image` with `[nanos] builder = "native"`, through the CLI,
//! on a scratch workspace (XTASK_WORKSPACE) holding one dependency-free
//! binary: no ops anywhere on PATH, a record, caching, and the image read
//! back. kernel.img and boot.img are TEST DOUBLES.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::text;

fn scratch_workspace(dir: &Path) {
    let files: [(&str, &str); 5] = [
        ("Cargo.toml", "[workspace]\nmembers = [\"hello\"]\nresolver = \"2\"\n"),
        ("hello/Cargo.toml", "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
        ("hello/src/main.rs", "fn main() {\n    println!(\"hello from a unikernel\");\n}\n"),
        ("Cargo.lock", "version = 4\n\n[[package]]\nname = \"hello\"\nversion = \"0.1.0\"\n"),
        (
            "manifests/images/hello.toml",
            "[image]\nname = \"hello\"\npackage = \"hello\"\nbin = \"hello\"\nargs = [\"world\"]\nmemory = \"128M\"\ncpus = 1\n\n[nanos]\nversion = \"0.1.52\"\nbuilder = \"native\"\n",
        ),
    ];
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    // kernel.img and boot.img TEST DOUBLES in an ops home.
    let nanos = dir.join("ops-home/.ops/0.1.52");
    std::fs::create_dir_all(&nanos).unwrap();
    std::fs::write(nanos.join("kernel.img"), b"KERNEL.IMG TEST DOUBLE\n".repeat(1000)).unwrap();
    let boot = nanos_image::mbr::boot_image_test_double(4);
    std::fs::write(nanos.join("boot.img"), boot).unwrap();
}

fn xtask(dir: &Path, args: &[&str]) -> Output {
    // No ops on PATH: only the system directories.
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .env("XTASK_WORKSPACE", dir)
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", Path::new(&std::env::var("CARGO").unwrap()).parent().unwrap().display()),
        )
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("XTASK_IMAGES_DIR")
        .env_remove("XTASK_NANOS_DIR")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn image_builds_natively_without_ops_and_caches() {
    let dir = tempfile::tempdir().unwrap();
    scratch_workspace(dir.path());
    let home = dir.path().join("ops-home");
    let home = home.to_str().unwrap();
    let o = xtask(dir.path(), &["image", "--ops-home", home, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let built: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let record = &built[0]["record"];
    assert_eq!(built[0]["rebuilt"], true);
    assert_eq!(record["builder"], "native");
    assert_eq!(record["ops_version"], serde_json::Value::Null);
    let image = dir.path().join("target/images/hello.img");
    assert_eq!(record["size"], std::fs::metadata(&image).unwrap().len());

    let o = xtask(dir.path(), &["inspect", "--json", image.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["content_digest"], record["content_digest"]);
    assert_eq!(report["filesystems"][1]["manifest"]["arguments"], serde_json::json!(["hello", "world"]));

    // Unchanged inputs: not rewritten.
    let modified = std::fs::metadata(&image).unwrap().modified().unwrap();
    let o = xtask(dir.path(), &["image", "--ops-home", home, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again[0]["rebuilt"], false);
    assert_eq!(std::fs::metadata(&image).unwrap().modified().unwrap(), modified);

    // A changed argument rebuilds, to the same bytes when changed back.
    let manifest = dir.path().join("manifests/images/hello.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, original.replace("\"world\"", "\"moon\"")).unwrap();
    let o = xtask(dir.path(), &["image", "--ops-home", home, "--json"]);
    let moon: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    assert_eq!(moon[0]["rebuilt"], true);
    assert_ne!(moon[0]["record"]["sha256"], record["sha256"]);
    std::fs::write(&manifest, original).unwrap();
    let o = xtask(dir.path(), &["image", "--ops-home", home, "--json"]);
    let back: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    assert_eq!(back[0]["record"]["sha256"], record["sha256"]);

    // A corrupted image of the same size is not current: its BLAKE3 decides.
    let mut bytes = std::fs::read(&image).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&image, &bytes).unwrap();
    let o = xtask(dir.path(), &["image", "--ops-home", home, "--json"]);
    let repaired: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    assert_eq!(repaired[0]["rebuilt"], true, "a same-size corrupted image counted as up to date");
    assert_eq!(repaired[0]["record"]["sha256"], record["sha256"]);

    // The kernel missing: named, with what to do.
    std::fs::remove_file(dir.path().join("ops-home/.ops/0.1.52/kernel.img")).unwrap();
    std::fs::remove_file(dir.path().join("target/images/hello.record.json")).unwrap();
    let o = xtask(dir.path(), &["image", "--ops-home", home]);
    assert!(!o.status.success());
    assert!(text(&o).contains("kernel.img is missing") && text(&o).contains("ops update"), "{}", text(&o));
}
