//! `cargo xtask doctor`: one line per prerequisite, never two answers about
//! one thing, and each image's kernel with where it comes from.

mod common;

use std::process::{Command, Output};

use common::{root, text};

fn doctor(args: &[&str], env: &[(&str, &std::path::Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.arg("doctor").args(args).current_dir(root()).env_remove("XTASK_NANOS_DIR").env_remove("XTASK_MANIFESTS_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn one_line_per_prerequisite_and_the_kernel_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let nanos = dir.path().join("nanos");
    std::fs::create_dir(&nanos).unwrap();
    // TEST DOUBLES: doctor only locates and hashes kernel.img and boot.img.
    std::fs::write(nanos.join("kernel.img"), b"KERNEL TEST DOUBLE").unwrap();
    std::fs::write(nanos.join("boot.img"), b"BOOT TEST DOUBLE").unwrap();
    let kernel_sha256 = xtask::support::hashing::sha256_file(&nanos.join("kernel.img")).unwrap();

    let o = doctor(&[], &[("XTASK_NANOS_DIR", &nanos)]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    for line in out.lines() {
        assert!(line.starts_with("ok      ") || line.starts_with("MISSING "), "not one line per thing: {line:?}");
    }
    for image in ["header-prover", "header-verifier"] {
        let lines: Vec<&str> = out.lines().filter(|l| l.contains("Nanos") && l.contains(image)).collect();
        assert_eq!(lines.len(), 1, "one kernel line for {image}: {out}");
        assert!(lines[0].starts_with("ok"), "{}", lines[0]);
        assert!(lines[0].contains("from XTASK_NANOS_DIR") && lines[0].contains(&kernel_sha256), "{}", lines[0]);
    }
    assert!(!out.lines().any(|l| l.starts_with("MISSING Nanos")), "contradiction: {out}");

    // No kernel anywhere: said once per image, with where it looked and why.
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let o = doctor(&[], &[("HOME", &home), ("XDG_CACHE_HOME", &home.join(".cache"))]);
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    let kernel_lines: Vec<&str> = out.lines().filter(|l| l.contains("Nanos 0.1.52 for")).collect();
    assert_eq!(kernel_lines.len(), 6, "one per image: {out}");
    for line in kernel_lines {
        assert!(line.starts_with("MISSING"), "{line}");
        assert!(line.contains(&format!("{}/.ops/0.1.52/kernel.img", home.display())), "{line}");
        assert!(line.contains("ops home") && line.contains("XTASK_NANOS_DIR"), "{line}");
        // The xtask's own cache too, and how to fill it without ops.
        assert!(line.contains(&format!("{}/.cache/gevulot-xtask/nanos/0.1.52", home.display())), "{line}");
        assert!(line.contains("cargo xtask nanos fetch 0.1.52"), "{line}");
    }

    // --json: the same findings for scripts.
    let o = doctor(&["--json"], &[("XTASK_NANOS_DIR", &nanos)]);
    let findings: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let kernel = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["what"] == "Nanos 0.1.52 for header-prover")
        .expect("a kernel finding");
    assert_eq!(kernel["ok"], true);
    assert!(kernel["detail"].as_str().unwrap().contains(&kernel_sha256), "{kernel}");
}
