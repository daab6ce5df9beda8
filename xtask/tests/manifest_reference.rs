//! `manifests/README.md`, the manifest reference, kept true: its examples
//! load with the xtask's own loader, and every key its tables list is used
//! in an example (the loader refuses unknown keys, so a documented key that
//! does not exist fails here too).

use std::path::Path;

use xtask::spec::manifest::{load_from, ManifestErrors, Manifests};
use xtask::spec::project::Project;

fn reference() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::read_to_string(root.join("manifests/README.md")).unwrap()
}

/// The fenced blocks whose info string is `toml KIND`.
fn examples(text: &str, kind: &str) -> Vec<String> {
    let fence = format!("```toml {kind}\n");
    text.split(fence.as_str())
        .skip(1)
        .map(|rest| rest.split("\n```").next().expect("a closed block").to_string())
        .collect()
}

/// Loads image and pair examples as a manifests directory of this workspace.
fn load(images: &[String], pairs: &[String]) -> Result<Manifests, ManifestErrors> {
    let dir = tempfile::tempdir().unwrap();
    for (kind, blocks) in [("images", images), ("pairs", pairs)] {
        std::fs::create_dir_all(dir.path().join(kind)).unwrap();
        for (i, text) in blocks.iter().enumerate() {
            std::fs::write(dir.path().join(kind).join(format!("example-{i}.toml")), text).unwrap();
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let project = Project::at(root).unwrap();
    load_from(&project.root, dir.path(), &project.binaries)
}

#[test]
fn the_examples_load() {
    let text = reference();
    let (images, pairs) = (examples(&text, "image"), examples(&text, "pair"));
    assert_eq!((images.len(), pairs.len()), (2, 2), "the page's examples were not found");
    let manifests =
        load(&images, &pairs).unwrap_or_else(|e| panic!("an example in manifests/README.md does not load:\n{e}"));
    let names: Vec<&str> = manifests.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["example-prover", "example-verifier"]);
    let pair = manifests.pair_named("example-chain").unwrap();
    assert_eq!(pair.workflow.proof, "proof");
    let range = manifests.pair_named("example-range").unwrap();
    assert_eq!(range.workflow.segments.as_ref().unwrap().piece_path(3), "/workspace/segment-3.witness.json");
}

#[test]
fn every_documented_key_is_in_an_example() {
    let text = reference();
    let all_examples = [examples(&text, "image"), examples(&text, "pair")].concat().join("\n");
    let keys: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("| `")).filter_map(|rest| rest.split('`').next()).collect();
    assert!(keys.len() >= 25, "the key tables were not found: {keys:?}");
    for key in keys {
        let used = all_examples.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("{key} =")) || l.contains(&format!("{{ {key} ="))
        });
        assert!(used, "manifests/README.md documents `{key}` but no example uses it");
    }
}

#[test]
fn an_unknown_key_in_an_example_is_refused() {
    let text = reference();
    let mut images = examples(&text, "image");
    images[0] = images[0].replace("cpus = 2", "cpus = 2\ncpu = 2");
    let e = load(&images, &[]).unwrap_err().to_string();
    assert!(e.contains("unknown field `cpu`"), "{e}");
}
