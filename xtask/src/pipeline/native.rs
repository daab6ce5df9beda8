//! The native builder: an image manifest → a Nanos image written by
//! [`nanos_image`], byte-reproducible. What goes into the root filesystem
//! follows ops (`lepton/image.go`): the program at `/NAME`, `arguments`
//! (argv[0] is the program name), `environment` (USER, PWD, NANOS_VERSION,
//! NANOS_ARCH, IMAGE_NAME, then the manifest's), `mounts` `%0` →
//! `/workspace` (the node's 9p tag 0; the directory exists),
//! `readonly_rootfs`, `reboot_on_exit`, and ops's small `/etc/passwd`,
//! `/etc/resolv.conf` and `/proc/sys/kernel/hostname`. Left out, because
//! ops takes them from the host (`~/.ops/common`): `OPS_VERSION`, CA
//! certificates and `libnss_dns`; the programs here use no network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::spec::manifest::{HostPath, Image, NanosSection, WORKSPACE_MOUNT};
use crate::spec::project::Project;
use crate::support::hashing::sha256_file;
use nanos_image::image::ImageSpec;
use nanos_image::tfs::{self, FsSpec, Node, Source};
use nanos_image::tuple::Value;

/// The tag the node gives the workspace's 9p device (`mount_tag=0`).
pub const WORKSPACE_MOUNT_KEY: &str = "%0";
/// The writer's identity in records: bump when its output changes.
pub const WRITER_ID: &str = "native nanos writer v1 (TFS 5, ops layout)";

/// kernel.img and boot.img for an image, checked against their pins.
#[derive(Debug, Clone)]
pub struct NanosInputs {
    pub kernel: PathBuf,
    pub boot: PathBuf,
    pub kernel_sha256: String,
    pub boot_sha256: String,
}

/// A directory holding kernel.img and boot.img, used when the manifest names
/// none (before the ops home): a Nanos build, or a copy made for CI.
pub const NANOS_DIR_ENV: &str = "XTASK_NANOS_DIR";

/// Where Nanos releases may come from: an ops home given on the command
/// line, and whether (and from where) a release may be fetched.
#[derive(Clone, Debug, Default)]
pub struct NanosSource {
    pub ops_home: Option<PathBuf>,
    pub fetch: crate::host::nanos_release::FetchFlags,
}

/// Where an image's kernel.img and boot.img come from, in order: the
/// manifest's `[nanos] kernel`/`boot` (see [`nanos_inputs`]), an ops home
/// given on the command line (`--ops-home`), `$XTASK_NANOS_DIR`, your ops
/// home's release `~/.ops/VERSION/` when it is there (checked against the
/// lock's pin), the xtask's cache, else the release fetched into the cache
/// (`nanos_release`; never with `--offline`). Returns the directory and
/// what chose it.
pub fn nanos_dir(project: &Project, source: &NanosSource, nanos: &NanosSection) -> Result<(PathBuf, &'static str)> {
    let version = nanos.version.as_str();
    let release = |home: &Path| home.join(".ops").join(version);
    if let Some(home) = &source.ops_home {
        return Ok((release(home), "--ops-home"));
    }
    if let Some(dir) = std::env::var_os(NANOS_DIR_ENV) {
        return Ok((PathBuf::from(dir), NANOS_DIR_ENV));
    }
    if let Some(home) = crate::spec::project::home_dir() {
        let ops = release(&home);
        if ops.join("kernel.img").is_file() && ops.join("boot.img").is_file() {
            check_against_pin(project, version, &ops)?;
            return Ok((ops, "the ops home ~/.ops"));
        }
    }
    let fetched = crate::host::nanos_release::ensure(project, version, &source.fetch)?;
    Ok((fetched.dir, if fetched.downloaded { "a fetch into the cache" } else { "the xtask's cache" }))
}

/// Where `nanos_dir` finds a release without fetching (for `doctor`); the
/// error names every place it looked.
pub fn nanos_dir_offline(project: &Project, nanos: &NanosSection) -> Result<(PathBuf, &'static str)> {
    let offline = NanosSource {
        ops_home: None,
        fetch: crate::host::nanos_release::FetchFlags { nanos_url: None, offline: true },
    };
    nanos_dir(project, &offline, nanos).map_err(|_| {
        let version = nanos.version.as_str();
        let ops = crate::spec::project::home_dir()
            .map(|h| h.join(".ops").join(version).join("kernel.img").display().to_string())
            .unwrap_or_else(|| "(HOME is not set)".into());
        let cache = crate::host::nanos_release::cache_root()
            .map(|c| c.join(version).display().to_string())
            .unwrap_or_else(|e| format!("({e:#})"));
        anyhow::anyhow!(
            "no Nanos {version} on this machine: {NANOS_DIR_ENV} is not set, the ops home has no {ops}, and the xtask's cache has no {cache}"
        )
    })
}

/// A release directory found elsewhere (ops's home) must hold the files the lock pins.
fn check_against_pin(project: &Project, version: &str, dir: &Path) -> Result<()> {
    let pin = crate::host::nanos_release::pin(project, version)?;
    crate::host::nanos_release::check_release_dir(
        dir,
        pin.as_ref(),
        &format!("that is not the pinned release; remove it (or set {NANOS_DIR_ENV}) to use the pinned one"),
    )
}

/// Finds kernel.img and boot.img (see [`nanos_dir`]) and checks their pinned digests.
pub fn nanos_inputs(
    project: &Project,
    image: &Image,
    nanos: &NanosSection,
    source: &NanosSource,
) -> Result<NanosInputs> {
    // Only when the manifest does not name both files is a release needed.
    let release_dir = match (&nanos.kernel, &nanos.boot) {
        (Some(_), Some(_)) => None,
        _ => Some(nanos_dir(project, source, nanos)?.0),
    };
    let locate = |given: &Option<HostPath>, file: &str, key: &str, pin: Option<&str>| -> Result<(PathBuf, String)> {
        let path = match (given, &release_dir) {
            (Some(p), _) => project.host(p),
            (None, Some(dir)) => dir.join(file),
            (None, None) => unreachable!("a release directory is found when a file is not given"),
        };
        if !path.is_file() {
            bail!(
                "{}: the Nanos {} {file} is missing at {}; without --ops-home and {NANOS_DIR_ENV} the xtask fetches the release itself ({} for a mirror), or fill an ops home with `ops update`, or set `[nanos] {key} = \"PATH\"`",
                image.manifest.display(),
                nanos.version,
                path.display(),
                crate::host::nanos_release::URL_ENV
            );
        }
        let digest = sha256_file(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if let Some(pin) = pin {
            if pin != digest {
                bail!(
                    "{}: {} has sha256 {digest}, but `[nanos] {key}_sha256` pins {pin}; use the pinned Nanos {} {file}, or update the pin if you changed releases on purpose",
                    image.manifest.display(),
                    path.display(),
                    nanos.version
                );
            }
        }
        Ok((path, digest))
    };
    let (kernel, kernel_sha256) =
        locate(&nanos.kernel, "kernel.img", "kernel", nanos.kernel_sha256.as_ref().map(|s| s.as_str()))?;
    let (boot, boot_sha256) = locate(&nanos.boot, "boot.img", "boot", nanos.boot_sha256.as_ref().map(|s| s.as_str()))?;
    Ok(NanosInputs { kernel, boot, kernel_sha256, boot_sha256 })
}

/// The root tuple's entries besides `children`: the image manifest.
pub fn root_manifest(image: &Image, nanos: &NanosSection) -> BTreeMap<String, Value> {
    let mut arguments = vec![Value::str(&image.bin)];
    arguments.extend(image.args.iter().map(Value::str));
    let mut environment: BTreeMap<String, Value> = [
        ("USER", "root".to_string()),
        ("PWD", "/".to_string()),
        ("NANOS_VERSION", nanos.version.to_string()),
        ("NANOS_ARCH", "amd64".to_string()),
        ("IMAGE_NAME", image.name.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Value::String(v)))
    .collect();
    for (k, v) in &image.env {
        environment.insert(k.to_string(), Value::str(v));
    }
    BTreeMap::from([
        ("program".to_string(), Value::str(format!("/{}", image.bin))),
        ("arguments".to_string(), Value::Vector(arguments)),
        ("environment".to_string(), Value::Tuple(environment)),
        ("mounts".to_string(), Value::tuple([(WORKSPACE_MOUNT_KEY, Value::str(WORKSPACE_MOUNT))])),
        ("readonly_rootfs".to_string(), Value::str("true")),
        ("reboot_on_exit".to_string(), Value::str("t")),
    ])
}

/// The root filesystem: `stage` lists (host file, path relative to `/`),
/// the program first.
pub fn root_fs(image: &Image, nanos: &NanosSection, stage: &[(PathBuf, String)]) -> Result<FsSpec> {
    let mut tree = BTreeMap::new();
    for (source, staged) in stage {
        tfs::insert(&mut tree, &format!("/{staged}"), Node::File(Source::Host(source.clone())))
            .with_context(|| format!("{}", image.manifest.display()))?;
    }
    let ops_files: [(&str, &[u8]); 3] = [
        ("/etc/passwd", b"root:x:0:0:root:/root:/bin/nobash"),
        ("/etc/resolv.conf", b"nameserver  8.8.8.8\n"),
        ("/proc/sys/kernel/hostname", b"uniboot"),
    ];
    for (path, bytes) in ops_files {
        if tfs::insert(&mut tree, path, Node::File(Source::Bytes(bytes.to_vec()))).is_err() {
            // The manifest provides its own; it wins.
        }
    }
    tfs::insert(&mut tree, WORKSPACE_MOUNT, Node::Dir(BTreeMap::new()))?;
    Ok(FsSpec {
        label: String::new(),
        size: nanos.root_size.map(|s| s.bytes()),
        meta: root_manifest(image, nanos),
        tree,
    })
}

pub fn image_spec(
    image: &Image,
    nanos: &NanosSection,
    inputs: &NanosInputs,
    stage: &[(PathBuf, String)],
) -> Result<ImageSpec> {
    Ok(ImageSpec { boot: inputs.boot.clone(), kernel: inputs.kernel.clone(), root: root_fs(image, nanos, stage)? })
}

/// Writes `image` to `output` natively, reads it back to check every file
/// and the manifest, and returns its record.
pub fn write(
    image: &Image,
    plan: &crate::spec::image_plan::ImagePlan,
    found: &NanosInputs,
    inputs: crate::spec::image_plan::Inputs,
    output: &Path,
) -> Result<crate::spec::image_plan::ImageRecord> {
    let nanos = image.nanos.as_ref().expect("plan() requires [nanos]");
    let spec = image_spec(image, nanos, found, &plan.stage)?;
    let total = tfs::data_bytes(&spec.root.tree)? + std::fs::metadata(&found.kernel)?.len();
    let bar = crate::support::progress::bytes_bar(&format!("writing {}", image.name), total);
    let partial = nanos_image::image::partial_path(output);
    let written = nanos_image::image::write_image_to(&spec, &partial, &|n| bar.inc(n));
    bar.finish_and_clear();
    written.with_context(|| format!("{}: the native image writer failed", image.manifest.display()))?;
    // Read back and hash the partial file; only a checked image replaces the old one.
    replace_when_checked(&partial, output, |written| {
        let report = {
            let file = std::fs::File::open(written)?;
            nanos_image::inspect::inspect(&file)
                .with_context(|| format!("the image just written ({}) does not read back", written.display()))?
        };
        check_read_back(&report, image, nanos, &inputs, plan)?;
        let (sha256, blake3) = crate::support::hashing::sha256_and_blake3(written, |_| {})?;
        Ok(crate::spec::image_plan::ImageRecord {
            image: image.name.to_string(),
            file: output.file_name().expect("file name").to_string_lossy().into_owned(),
            size: std::fs::metadata(written)?.len(),
            sha256,
            blake3,
            builder: "native".into(),
            ops_version: None,
            content_digest: Some(report.content_digest),
            inputs: inputs.clone(),
        })
    })
}

/// Runs `check` on the freshly written `partial` file and renames it to
/// `output` only when the check passes; otherwise removes it, leaving
/// whatever `output` held before untouched.
pub fn replace_when_checked<T>(partial: &Path, output: &Path, check: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    match check(partial) {
        Ok(value) => {
            std::fs::rename(partial, output)
                .with_context(|| format!("cannot move the image to {}", output.display()))?;
            Ok(value)
        }
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            Err(e)
        }
    }
}

/// The image must hold exactly what went in: the manifest, the kernel, the
/// program and every staged file, byte for byte.
fn check_read_back(
    report: &nanos_image::inspect::Inspected,
    image: &Image,
    nanos: &NanosSection,
    inputs: &crate::spec::image_plan::Inputs,
    plan: &crate::spec::image_plan::ImagePlan,
) -> Result<()> {
    let fs = |role: &str| report.filesystems.iter().find(|f| f.role == role);
    let (Some(boot), Some(root)) = (fs("boot"), fs("root")) else {
        bail!("the image written for {} lacks a boot or root filesystem", image.name);
    };
    let sha_of = |f: &nanos_image::inspect::FsReport, path: &str| {
        f.files.iter().find(|e| e.path == path).and_then(|e| e.sha256.clone())
    };
    let mut expected = vec![(boot, "/kernel".to_string(), inputs.kernel_sha256.clone())];
    expected.push((root, format!("/{}", plan.stage[0].1), inputs.program_sha256.clone()));
    for (staged, digest) in &inputs.files {
        expected.push((root, format!("/{staged}"), digest.clone()));
    }
    for (f, path, digest) in expected {
        if sha_of(f, &path).as_deref() != Some(digest.as_str()) {
            bail!("the image written for {} reads back without {path} (sha256 {digest}): the writer is broken, please report it", image.name);
        }
    }
    if root.manifest != Value::Tuple(root_manifest(image, nanos)).to_json() {
        bail!(
            "the image written for {} reads back with a different manifest: the writer is broken, please report it",
            image.name
        );
    }
    Ok(())
}

#[cfg(test)]
mod replace_tests {
    use super::*;

    #[test]
    fn a_failed_check_keeps_the_old_image_and_removes_the_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let (partial, output) = (dir.path().join("a.img.partial"), dir.path().join("a.img"));
        std::fs::write(&output, b"the image deploy would ship").unwrap();
        std::fs::write(&partial, b"a broken new image").unwrap();
        let e = replace_when_checked(&partial, &output, |p| -> Result<()> {
            assert_eq!(std::fs::read(p).unwrap(), b"a broken new image", "the check must see the new bytes");
            bail!("reads back wrong")
        });
        assert!(e.is_err());
        assert_eq!(std::fs::read(&output).unwrap(), b"the image deploy would ship");
        assert!(!partial.exists());

        std::fs::write(&partial, b"a good new image").unwrap();
        let n = replace_when_checked(&partial, &output, |p| Ok(std::fs::metadata(p)?.len())).unwrap();
        assert_eq!(n, 16);
        assert_eq!(std::fs::read(&output).unwrap(), b"a good new image");
        assert!(!partial.exists());
    }
}
