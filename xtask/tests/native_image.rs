//! The native builder end to end on a scratch workspace: the manifest
//! becomes the Nanos root manifest ops would write (with `%0` for the
//! workspace mount), kernel and boot pins are checked, the image reads back
//! exactly, and two checkout paths give byte-identical images. kernel.img
//! and boot.img here are TEST DOUBLES (opaque payload and a boot record with
//! the region record), not a Nanos release.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use nanos_image::inspect::inspect;
use xtask::spec::manifest::load;
use xtask::spec::project::Project;
use xtask::support::hashing::sha256_file;

/// kernel.img and boot.img TEST DOUBLES.
fn nanos_doubles(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("kernel.img"), b"KERNEL.IMG TEST DOUBLE\n".repeat(4000)).unwrap();
    let boot = nanos_image::mbr::boot_image_test_double(8);
    std::fs::write(dir.join("boot.img"), boot).unwrap();
}

fn scratch(dir: &Path, nanos_extra: &str) -> Project {
    let manifest = format!(
        r#"[image]
name = "p"
package = "prover"
bin = "prover"
args = ["gevulot", "--flag"]
memory = "1G"
cpus = 2

[nanos]
version = "0.1.52"
builder = "native"
{nanos_extra}

[env]
HEADER_CHAIN_SRS = "/srs/x.srs"

[[files]]
source = "data/x.srs"
path = "/srs/x.srs"
"#
    );
    std::fs::create_dir_all(dir.join("manifests/images")).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("manifests/images/p.toml"), manifest).unwrap();
    std::fs::write(dir.join("data/x.srs"), vec![0x5a; 600_000]).unwrap();
    std::fs::write(dir.join("prover"), b"\x7fELF a static prover stands here").unwrap();
    nanos_doubles(&dir.join("ops-home/.ops/0.1.52"));
    let binaries = BTreeMap::from([("prover".to_string(), BTreeSet::from(["prover".to_string()]))]);
    Project { root: dir.to_path_buf(), target_dir: dir.join("target"), binaries }
}

fn build(project: &Project) -> anyhow::Result<(xtask::pipeline::image::ImageRecord, std::path::PathBuf)> {
    let manifests = load(&project.root, &project.binaries).map_err(|e| anyhow::anyhow!("{e}"))?;
    let image = manifests.image("p").unwrap();
    let srs = xtask::pipeline::image::prepare_srs(project, image)?;
    let plan = xtask::pipeline::image::plan(project, image, &project.root.join("prover"), srs.as_deref())?;
    let found = xtask::pipeline::native::nanos_inputs(
        project,
        image,
        image.nanos.as_ref().unwrap(),
        &xtask::pipeline::native::NanosSource { ops_home: Some(project.root.join("ops-home")), ..Default::default() },
    )?;
    let inputs = xtask::pipeline::image::inputs(
        &plan,
        found.kernel_sha256.clone(),
        found.boot_sha256.clone(),
        xtask::pipeline::native::WRITER_ID.into(),
    )?;
    let out = project.root.join("out/p.img");
    Ok((xtask::pipeline::native::write(image, &plan, &found, inputs, &out)?, out))
}

#[test]
fn the_native_image_holds_what_ops_would_put_there() {
    let dir = tempfile::tempdir().unwrap();
    let project = scratch(dir.path(), "");
    let (record, out) = build(&project).unwrap();
    assert_eq!(record.builder, "native");
    assert_eq!(record.sha256, sha256_file(&out).unwrap());
    let report = inspect(&std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(record.content_digest.as_deref(), Some(report.content_digest.as_str()));
    let root = &report.filesystems[1];
    // The manifest, as ops writes it (`%0`: the node's 9p mount tag).
    assert_eq!(
        root.manifest,
        serde_json::json!({
            "program": "/prover",
            "arguments": ["prover", "gevulot", "--flag"],
            "environment": {
                "USER": "root", "PWD": "/", "NANOS_VERSION": "0.1.52", "NANOS_ARCH": "amd64",
                "IMAGE_NAME": "p", "HEADER_CHAIN_SRS": "/srs/x.srs",
            },
            "mounts": {"%0": "/workspace"},
            "readonly_rootfs": "true",
            "reboot_on_exit": "t",
        })
    );
    let files: Vec<(&str, &str, Option<u64>)> =
        root.files.iter().map(|f| (f.path.as_str(), f.kind.as_str(), f.size)).collect();
    assert_eq!(
        files,
        [
            ("/etc", "dir", None),
            ("/etc/passwd", "file", Some(33)),
            ("/etc/resolv.conf", "file", Some(20)),
            ("/proc", "dir", None),
            ("/proc/sys", "dir", None),
            ("/proc/sys/kernel", "dir", None),
            ("/proc/sys/kernel/hostname", "file", Some(7)),
            ("/prover", "file", Some(32)),
            ("/srs", "dir", None),
            ("/srs/x.srs", "file", Some(600_000)),
            ("/workspace", "dir", None),
        ]
    );
    let srs = root.files.iter().find(|f| f.path == "/srs/x.srs").unwrap();
    assert_eq!(srs.sha256.as_deref(), Some(sha256_file(&dir.path().join("data/x.srs")).unwrap().as_str()));

    // Another checkout path, the same sources: the same bytes.
    let other = tempfile::tempdir().unwrap();
    let elsewhere = other.path().join("a/much/longer/checkout/path");
    let (again, out2) = build(&scratch(&elsewhere, "")).unwrap();
    assert_eq!(again.sha256, record.sha256);
    assert_eq!(std::fs::read(&out2).unwrap(), std::fs::read(&out).unwrap());
}

#[test]
fn kernel_and_boot_pins_and_the_root_size_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let project = scratch(dir.path(), "");
    let kernel = sha256_file(&dir.path().join("ops-home/.ops/0.1.52/kernel.img")).unwrap();
    let boot = sha256_file(&dir.path().join("ops-home/.ops/0.1.52/boot.img")).unwrap();
    drop(project);

    let pinned = format!("kernel_sha256 = \"{kernel}\"\nboot_sha256 = \"{boot}\"");
    let (record, _) = build(&scratch(dir.path(), &pinned)).unwrap();
    assert_eq!(
        (record.inputs.kernel_sha256.as_str(), record.inputs.boot_sha256.as_str()),
        (kernel.as_str(), boot.as_str())
    );

    let wrong = format!("kernel_sha256 = \"{}\"", "0".repeat(64));
    let e = format!("{:#}", build(&scratch(dir.path(), &wrong)).unwrap_err());
    assert!(e.contains("kernel.img has sha256") && e.contains("pins 0000") && e.contains("p.toml"), "{e}");

    let e = format!("{:#}", build(&scratch(dir.path(), "boot = \"nowhere/boot.img\"")).unwrap_err());
    assert!(e.contains("boot.img is missing") && e.contains("nowhere/boot.img"), "{e}");

    let e = format!("{:#}", build(&scratch(dir.path(), "root_size = \"1M\"")).unwrap_err());
    // 1 MiB minus the log leaves too little for the 600 kB file and the program.
    assert!(e.contains("does not fit") || e.contains("full"), "{e}");
    assert!(!dir.path().join("out/p.img.partial").exists());
}
