//! Snapshot tests of the generated ops config.json for the real manifests,
//! and of parsing ops's output.

use std::path::Path;

use xtask::pipeline::image::{config_json, ops_config, parse_image_path};
use xtask::spec::project::Project;

fn manifests() -> xtask::spec::manifest::Manifests {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    Project::at(root).unwrap().manifests().unwrap()
}

#[test]
fn prover_config_json() {
    let m = manifests();
    let expected = r#"{
  "Program": "prover",
  "Args": [
    "gevulot"
  ],
  "Env": {
    "HEADER_CHAIN_SRS": "/srs/kzg_bn254_14.srs",
    "RUST_BACKTRACE": "1"
  },
  "Files": [
    "srs/kzg_bn254_14.srs"
  ],
  "Mounts": {
    "%1": "/workspace"
  },
  "ManifestPassthrough": {
    "readonly_rootfs": "true"
  },
  "RebootOnExit": true,
  "RunConfig": {
    "CPUs": 2,
    "Memory": "2G"
  }
}
"#;
    assert_eq!(config_json(&ops_config(m.image("header-prover").unwrap())), expected);
}

#[test]
fn verifier_config_json() {
    let m = manifests();
    let expected = r#"{
  "Program": "verifier",
  "Args": [
    "gevulot"
  ],
  "Env": {
    "HEADER_CHAIN_KEYS": "/keys/header-chain-8.key.json",
    "RUST_BACKTRACE": "1"
  },
  "Files": [
    "keys/header-chain-8.key.json"
  ],
  "Mounts": {
    "%1": "/workspace"
  },
  "ManifestPassthrough": {
    "readonly_rootfs": "true"
  },
  "RebootOnExit": true,
  "RunConfig": {
    "CPUs": 1,
    "Memory": "512M"
  }
}
"#;
    assert_eq!(config_json(&ops_config(m.image("header-verifier").unwrap())), expected);
}

#[test]
fn image_paths_in_ops_output() {
    let build = "Using Nanos 0.1.52\n\u{1b}[1;32mBootable image file:/home/u/.ops/images/header-prover\u{1b}[0m\n";
    assert_eq!(parse_image_path(build).unwrap(), Path::new("/home/u/.ops/images/header-prover"));
    let create = "onprem image '/home/u/.ops/images/v' created...\n";
    assert_eq!(parse_image_path(create).unwrap(), Path::new("/home/u/.ops/images/v"));
    assert_eq!(parse_image_path("error: no local build found\n"), None);
}

/// The plan is data: what is staged from where, and where the image and its
/// record go. Made for the real verifier manifest with the target directory
/// somewhere else; nothing is written by planning.
#[test]
fn verifier_image_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = tempfile::tempdir().unwrap();
    let mut project = Project::at(root).unwrap();
    project.target_dir = target.path().to_path_buf();
    let m = project.manifests().unwrap();
    let image = m.image("header-verifier").unwrap();
    std::fs::create_dir_all(target.path().join("keys")).unwrap();
    std::fs::write(target.path().join("keys/header-chain-8.key.json"), "{}").unwrap();
    let before: Vec<_> = walk(target.path());
    let plan = xtask::pipeline::image::plan(&project, image, &target.path().join("bin/verifier"), None).unwrap();
    assert_eq!(walk(target.path()), before, "planning wrote files");
    // The config is the one `verifier_config_json` pins; the rest is the plan's own.
    assert_eq!(plan.config, ops_config(image));
    let mut value = serde_json::to_value(&plan).unwrap();
    value.as_object_mut().unwrap().remove("config");
    let shown =
        serde_json::to_string_pretty(&value).unwrap().replace(&target.path().display().to_string(), "${target}");
    let expected = r#"{
  "image": "header-verifier",
  "nanos_version": "0.1.52",
  "output": "${target}/images/header-verifier.img",
  "record": "${target}/images/header-verifier.record.json",
  "stage": [
    [
      "${target}/bin/verifier",
      "verifier"
    ],
    [
      "${target}/keys/header-chain-8.key.json",
      "keys/header-chain-8.key.json"
    ]
  ],
  "stage_dir": "${target}/images/header-verifier.stage"
}"#;
    assert_eq!(shown, expected);
    // The prover's SRS must come prepared: planning never generates one.
    let prover = m.image("header-prover").unwrap();
    let e = xtask::pipeline::image::plan(&project, prover, &target.path().join("bin/prover"), None).unwrap_err();
    assert!(e.to_string().contains("prepare it first"), "{e}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            }
            out.push(entry.path());
        }
    }
    out.sort();
    out
}
