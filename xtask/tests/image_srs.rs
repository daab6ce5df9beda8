//! An image's SRS: the manifest may point at a large raw SRS; the image
//! carries only the file downsized (once, cached by source digest and k) to
//! the manifest's k, and the source must match its sha256 pin.

use std::path::{Path, PathBuf};

use xtask::pipeline::programs::{program, run_json, PROVER_BIN};
use xtask::pipeline::srs::{raw_size, srs_for_image};
use xtask::spec::manifest::{load_from, Manifests};
use xtask::spec::project::Project;
use xtask::support::hashing::sha256_file;

/// This workspace (its prover program does the SRS work), and manifests in
/// `dir` naming `dir/big.srs` with the given pin and k.
fn scratch(dir: &Path, sha256: &str, k: u32) -> (Project, Manifests) {
    let manifest = format!(
        "[image]\nname = \"p\"\npackage = \"prover\"\nbin = \"prover\"\nmemory = \"1G\"\ncpus = 1\n\n[srs]\nsource = \"{}\"\nsha256 = \"{sha256}\"\nk = {k}\npath = \"/srs/kzg.srs\"\n",
        dir.join("big.srs").display()
    );
    std::fs::create_dir_all(dir.join("manifests/images")).unwrap();
    std::fs::write(dir.join("manifests/images/p.toml"), manifest).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let project = Project::at(root).unwrap();
    let manifests = load_from(&project.root, &dir.join("manifests"), &project.binaries).unwrap();
    (project, manifests)
}

/// The development SRS of degree k, written by the prover program.
fn dev_srs(project: &Project, k: u32, out: &Path) -> PathBuf {
    let prover = program(project, PROVER_BIN).unwrap();
    run_json(&prover, &xtask::os_args!["srs", "generate", "--k", k.to_string(), "--out", out]).unwrap();
    out.to_path_buf()
}

#[test]
fn a_large_srs_is_downsized_once_and_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let big = dev_srs(&Project::at(root).unwrap(), 10, &dir.path().join("big.srs"));
    let pin = sha256_file(&big).unwrap();

    let (project, manifests) = scratch(dir.path(), &pin, 8);
    let image = manifests.image("p").unwrap();
    let staged = srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap();
    assert!(staged.starts_with(project.target_dir.join("srs-cache")), "{}", staged.display());
    assert!(staged.to_string_lossy().contains(&format!("{pin}-k8")));
    let small = dev_srs(&project, 8, &dir.path().join("small.srs"));
    assert_eq!(std::fs::read(&staged).unwrap(), std::fs::read(&small).unwrap(), "the staged SRS is the downsized file");
    assert_eq!(std::fs::metadata(&staged).unwrap().len(), raw_size(8));

    // Cached: a second call does not write it again.
    let modified = std::fs::metadata(&staged).unwrap().modified().unwrap();
    assert_eq!(srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap(), staged);
    assert_eq!(std::fs::metadata(&staged).unwrap().modified().unwrap(), modified);

    // The same k as the source: the source itself.
    let (project, manifests) = scratch(dir.path(), &pin, 10);
    let image = manifests.image("p").unwrap();
    assert_eq!(srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap(), big);

    // A pin that does not match, and a k the source cannot give.
    let (project, manifests) = scratch(dir.path(), &"0".repeat(64), 8);
    let image = manifests.image("p").unwrap();
    let e = srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap_err().to_string();
    assert!(e.contains("pins 0000") && e.contains("not the file the manifest names"), "{e}");
    let (project, manifests) = scratch(dir.path(), &pin, 12);
    let image = manifests.image("p").unwrap();
    let e = srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap_err().to_string();
    assert!(e.contains("k = 10") && e.contains("k = 12"), "{e}");

    // A source that does not exist (and is not the development SRS).
    std::fs::remove_file(&big).unwrap();
    let e = srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap_err().to_string();
    assert!(e.contains("does not exist"), "{e}");
}
