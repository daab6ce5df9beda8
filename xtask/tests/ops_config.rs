//! Snapshot tests of the generated ops config.json for the real manifests,
//! and of parsing ops's output.

use std::path::Path;

use xtask::image::{config_json, ops_config, parse_image_path};
use xtask::project::Project;

fn manifests() -> xtask::manifest::Manifests {
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
