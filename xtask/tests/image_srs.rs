//! An image's SRS: the manifest may point at a large raw SRS; the image
//! carries only the file downsized (once, cached by source digest and k) to
//! the manifest's k, and the source must match its sha256 pin.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use xtask::hashing::sha256_file;
use xtask::manifest::load;
use xtask::project::Project;
use xtask::srs::srs_for_image;

fn scratch(dir: &Path, sha256: &str, k: u32) -> Project {
    let manifest = format!(
        "[image]\nname = \"p\"\npackage = \"prover\"\nbin = \"prover\"\nmemory = \"1G\"\ncpus = 1\n\n[srs]\nsource = \"big.srs\"\nsha256 = \"{sha256}\"\nk = {k}\npath = \"/srs/kzg.srs\"\n"
    );
    std::fs::create_dir_all(dir.join("manifests/images")).unwrap();
    std::fs::write(dir.join("manifests/images/p.toml"), manifest).unwrap();
    let binaries = BTreeMap::from([("prover".to_string(), BTreeSet::from(["prover".to_string()]))]);
    Project { root: dir.to_path_buf(), target_dir: dir.join("target"), binaries }
}

#[test]
fn a_large_srs_is_downsized_once_and_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.srs");
    header_chain::srs::write(&header_chain::srs::generate_insecure_dev(10), &big).unwrap();
    let pin = sha256_file(&big).unwrap();

    let project = scratch(dir.path(), &pin, 8);
    let manifests = load(&project.root, &project.binaries).unwrap();
    let image = manifests.image("p").unwrap();
    let staged = srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap();
    assert!(staged.starts_with(dir.path().join("target/srs-cache")), "{}", staged.display());
    assert!(staged.to_string_lossy().contains(&format!("{pin}-k8")));
    let small = dir.path().join("small.srs");
    header_chain::srs::write(&header_chain::srs::generate_insecure_dev(8), &small).unwrap();
    assert_eq!(std::fs::read(&staged).unwrap(), std::fs::read(&small).unwrap(), "the staged SRS is the downsized file");
    assert_eq!(std::fs::metadata(&staged).unwrap().len(), header_chain::srs::raw_size(8));

    // Cached: a second call does not write it again.
    let modified = std::fs::metadata(&staged).unwrap().modified().unwrap();
    assert_eq!(srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap(), staged);
    assert_eq!(std::fs::metadata(&staged).unwrap().modified().unwrap(), modified);

    // The same k as the source: the source itself.
    let project = scratch(dir.path(), &pin, 10);
    let manifests = load(&project.root, &project.binaries).unwrap();
    let image = manifests.image("p").unwrap();
    assert_eq!(srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap(), big);

    // A pin that does not match, and a k the source cannot give.
    let project = scratch(dir.path(), &"0".repeat(64), 8);
    let manifests = load(&project.root, &project.binaries).unwrap();
    let image = manifests.image("p").unwrap();
    let e = srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap_err().to_string();
    assert!(e.contains("pins 0000") && e.contains("not the file the manifest names"), "{e}");
    let project = scratch(dir.path(), &pin, 12);
    let manifests = load(&project.root, &project.binaries).unwrap();
    let image = manifests.image("p").unwrap();
    let e = srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap_err().to_string();
    assert!(e.contains("k = 10") && e.contains("k = 12"), "{e}");

    // A source that does not exist (and is not the development SRS).
    std::fs::remove_file(&big).unwrap();
    let e = srs_for_image(&project, image, image.srs.as_ref().unwrap()).unwrap_err().to_string();
    assert!(e.contains("does not exist"), "{e}");
}
