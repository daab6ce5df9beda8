//! The Nanos release an image names, without ops: fetched from where ops
//! fetches it (`BASE/VERSION/nanos-release-linux-VERSION.tar.gz`, files at
//! the archive's top level), checked against the pins in
//! `nanos-releases.lock` (archive, kernel.img and boot.img sha256),
//! unpacked into a per-user cache (`$XDG_CACHE_HOME/gevulot-xtask/nanos/`).
//!
//! A version not yet pinned is pinned by its first fetch (trust on first
//! use; the lock is meant to be committed, so everyone after checks the
//! same bytes). A digest that does not match its pin is refused and
//! nothing is cached. Downloads go to a temporary file, are checked, then
//! unpacked into a temporary directory renamed into place; concurrent
//! fetches wait on a lock file in the cache.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::project::Project;

/// Where ops downloads releases from.
pub const DEFAULT_BASE_URL: &str = "https://storage.googleapis.com/nanos/release";
/// A mirror (or a local server) laid out as ops's: `BASE/VERSION/ARCHIVE`.
pub const URL_ENV: &str = "XTASK_NANOS_URL";
/// The whole download's limit in seconds (default 600).
pub const TIMEOUT_ENV: &str = "XTASK_NANOS_TIMEOUT";
/// Another lock file than the workspace's (tests).
pub const LOCK_ENV: &str = "XTASK_NANOS_LOCK";
pub const LOCK_FILE: &str = "nanos-releases.lock";
/// The files an image needs; the others in the archive are kept too.
pub const REQUIRED: [&str; 2] = ["kernel.img", "boot.img"];
/// Archives larger than this are refused (a release is about 10 MB).
const MAX_ARCHIVE: u64 = 512 << 20;

/// How a release may be obtained.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct FetchFlags {
    /// Base URL of Nanos releases (a mirror laid out as ops's server:
    /// BASE/VERSION/nanos-release-linux-VERSION.tar.gz); default
    /// $XTASK_NANOS_URL, else ops's.
    #[arg(long)]
    pub nanos_url: Option<String>,
    /// Never download a Nanos release: use what is on this machine.
    #[arg(long)]
    pub offline: bool,
}

impl FetchFlags {
    pub fn base_url(&self) -> String {
        self.nanos_url
            .clone()
            .or_else(|| std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
            .trim_end_matches('/')
            .to_string()
    }
}

/// One release's digests, as the lock pins them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub version: String,
    pub archive_sha256: String,
    pub kernel_sha256: String,
    pub boot_sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    #[serde(default, rename = "release")]
    releases: Vec<Pin>,
}

pub fn lock_path(project: &Project) -> PathBuf {
    std::env::var_os(LOCK_ENV).map(PathBuf::from).unwrap_or_else(|| project.root.join(LOCK_FILE))
}

fn load_lock(path: &Path) -> Result<LockFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("{} is not a Nanos release lock: fix or delete it", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LockFile::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The pin for `version`, if the lock has one.
pub fn pin(project: &Project, version: &str) -> Result<Option<Pin>> {
    Ok(load_lock(&lock_path(project))?.releases.into_iter().find(|p| p.version == version))
}

fn record_pin(path: &Path, pin: &Pin) -> Result<()> {
    let mut lock = load_lock(path)?;
    lock.releases.retain(|p| p.version != pin.version);
    lock.releases.push(pin.clone());
    lock.releases.sort_by(|a, b| a.version.cmp(&b.version));
    let text = format!(
        "# Nanos releases: sha256 of each release archive and of its kernel.img and boot.img.\n# Written by the first fetch of a version (trust on first use); commit it so\n# every later fetch, anywhere, is checked against the same bytes.\n\n{}",
        toml::to_string(&lock)?
    );
    atomic_write::write_atomic(path, |w| w.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `$XDG_CACHE_HOME/gevulot-xtask/nanos`, else `~/.cache/gevulot-xtask/nanos`.
pub fn cache_root() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => crate::spec::project::home_dir()
            .context("neither XDG_CACHE_HOME nor HOME is set: set one, or XTASK_NANOS_DIR")?
            .join(".cache"),
    };
    Ok(base.join("gevulot-xtask").join("nanos"))
}

pub fn archive_name(version: &str) -> String {
    format!("nanos-release-linux-{version}.tar.gz")
}

pub fn archive_url(base: &str, version: &str) -> String {
    format!("{base}/{version}/{}", archive_name(version))
}

/// A cached release: its directory when kernel.img and boot.img are there.
pub fn cached(version: &str) -> Result<Option<PathBuf>> {
    let dir = cache_root()?.join(version);
    Ok(REQUIRED.iter().all(|f| dir.join(f).is_file()).then_some(dir))
}

/// What `ensure` did.
#[derive(Debug, Serialize)]
pub struct Fetched {
    pub dir: PathBuf,
    pub downloaded: bool,
    /// The version had no pin and this fetch recorded one.
    pub pinned_now: bool,
}

/// The release `version` in the cache, fetched (and pinned, on first use)
/// when missing. `offline`: never the network.
pub fn ensure(project: &Project, version: &str, flags: &FetchFlags) -> Result<Fetched> {
    let lock_file = lock_path(project);
    let pinned = load_lock(&lock_file)?.releases.into_iter().find(|p| p.version == version);
    let root = cache_root()?;
    if let Some(dir) = cached(version)? {
        check_files(&dir, pinned.as_ref())?;
        return Ok(Fetched { dir, downloaded: false, pinned_now: false });
    }
    let url = archive_url(&flags.base_url(), version);
    if flags.offline {
        bail!(
            "Nanos {version} is not on this machine and --offline forbids fetching it: put its kernel.img and boot.img in {} (from {url}), or point XTASK_NANOS_DIR at a directory holding them",
            root.join(version).display()
        );
    }
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create the cache {}", root.display()))?;
    let _guard = crate::support::dir_lock::DirLock::take(&root, "fetch")?;
    // Another fetch may have finished while this one waited.
    if let Some(dir) = cached(version)? {
        check_files(&dir, pinned.as_ref())?;
        return Ok(Fetched { dir, downloaded: false, pinned_now: false });
    }
    let partial = root.join(format!(".{}.partial", archive_name(version)));
    let unpacking = root.join(format!(".{version}.unpacking"));
    let outcome = (|| -> Result<Pin> {
        let archive_sha256 = download(&url, &partial)?;
        if let Some(pin) = &pinned {
            if pin.archive_sha256 != archive_sha256 {
                bail!(
                    "the Nanos {version} archive from {url} has sha256 {archive_sha256}, but {} pins {}: refusing it (a changed release or a tampered mirror); nothing was cached",
                    lock_file.display(),
                    pin.archive_sha256
                );
            }
        }
        let _ = std::fs::remove_dir_all(&unpacking);
        unpack(&partial, &unpacking).with_context(|| format!("the archive from {url}"))?;
        let digest = |f: &str| crate::support::hashing::sha256_file(&unpacking.join(f));
        let found = Pin {
            version: version.to_string(),
            archive_sha256,
            kernel_sha256: digest("kernel.img")?,
            boot_sha256: digest("boot.img")?,
        };
        if let Some(pin) = &pinned {
            if (&pin.kernel_sha256, &pin.boot_sha256) != (&found.kernel_sha256, &found.boot_sha256) {
                bail!("the Nanos {version} archive's kernel.img or boot.img is not the pinned one ({}); nothing was cached", lock_file.display());
            }
        }
        Ok(found)
    })();
    let _ = std::fs::remove_file(&partial);
    let found = match outcome {
        Ok(found) => found,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&unpacking);
            return Err(e);
        }
    };
    let dir = root.join(version);
    std::fs::rename(&unpacking, &dir)
        .with_context(|| format!("cannot move the unpacked release into {}", dir.display()))?;
    let pinned_now = pinned.is_none();
    if pinned_now {
        record_pin(&lock_file, &found)?;
        eprintln!(
            "note: Nanos {version} was not pinned; pinned now on first use in {} (archive sha256 {}): commit it, so every later fetch is checked against these bytes",
            lock_file.display(),
            found.archive_sha256
        );
    }
    Ok(Fetched { dir, downloaded: true, pinned_now })
}

/// A cached release's files against their pins.
fn check_files(dir: &Path, pin: Option<&Pin>) -> Result<()> {
    check_release_dir(dir, pin, &format!("delete {} and fetch again", dir.display()))
}

/// A release directory's kernel.img and boot.img against `pin` (none: any);
/// `remedy` says what to do on a mismatch.
pub fn check_release_dir(dir: &Path, pin: Option<&Pin>, remedy: &str) -> Result<()> {
    let Some(pin) = pin else { return Ok(()) };
    for (file, expected) in [("kernel.img", &pin.kernel_sha256), ("boot.img", &pin.boot_sha256)] {
        let path = dir.join(file);
        let digest =
            crate::support::hashing::sha256_file(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if &digest != expected {
            bail!(
                "{} has sha256 {digest}, but the lock pins {expected} for Nanos {}: {remedy}",
                path.display(),
                pin.version
            );
        }
    }
    Ok(())
}

/// Downloads `url` to `partial` (replaced), with a progress bar, under
/// the download limit; returns the sha256.
fn download(url: &str, partial: &Path) -> Result<String> {
    let seconds = std::env::var(TIMEOUT_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_global(Some(Duration::from_secs(seconds)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().with_context(|| format!("cannot fetch {url}"))?;
    let status = response.status();
    if status != 200 {
        bail!(
            "fetching {url} answered HTTP {status}: is `[nanos] version` a published release, and does {URL_ENV} (or --nanos-url) point at a server laid out as ops's?"
        );
    }
    let length: Option<u64> = response.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse().ok());
    if length.is_some_and(|l| l > MAX_ARCHIVE) {
        bail!("{url} is {} bytes; a Nanos release is far smaller: refusing it", length.unwrap_or(0));
    }
    let bar =
        crate::support::progress::download(&format!("fetching {}", url.rsplit('/').next().unwrap_or(url)), length);
    let mut body = response.body_mut().with_config().limit(MAX_ARCHIVE).reader();
    let mut file = std::fs::File::create(partial).with_context(|| format!("cannot write {}", partial.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = body.read(&mut buf).with_context(|| format!("downloading {url} failed after {total} bytes"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])?;
        total += n as u64;
        bar.set_position(total);
    }
    bar.finish_and_clear();
    if length.is_some_and(|l| l != total) {
        bail!("downloading {url} failed after {total} of {} bytes: the connection ended early", length.unwrap_or(0));
    }
    file.sync_all()?;
    Ok(hex::encode(hasher.finalize()))
}

/// Unpacks a release archive into `into`: regular files and directories
/// only, every path relative and inside; kernel.img and boot.img required.
fn unpack(archive: &Path, into: &Path) -> Result<()> {
    std::fs::create_dir_all(into)?;
    let file = std::fs::File::open(archive)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    for entry in tar.entries().context("not a gzip'd tar archive")? {
        let mut entry = entry.context("a damaged or truncated archive")?;
        let path = entry.path().context("an entry with an unreadable path")?.into_owned();
        let safe = path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !safe || path.as_os_str().is_empty() {
            bail!("the archive holds {}, a path outside the release directory: refusing it", path.display());
        }
        let target = into.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&target)?,
            tar::EntryType::Regular => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut out = std::fs::File::create(&target)?;
                std::io::copy(&mut entry, &mut out).context("a damaged or truncated archive")?;
                // Kept executable where it was (mkfs, dump); never setuid or world-writable.
                let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
                out.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
            }
            other => bail!("the archive holds {} ({other:?}), not a regular file: refusing it", path.display()),
        }
    }
    for file in REQUIRED {
        if !into.join(file).is_file() {
            bail!("the archive has no {file} at its top level (ops's release layout)");
        }
    }
    Ok(())
}

/// A release archive in ops's layout: `files` (name, bytes) at the top
/// level of a gzip'd tar, names written as given (`..` included: the tests
/// make hostile archives with it). For mirrors and tests.
#[doc(hidden)]
pub fn pack(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_entry_type(tar::EntryType::Regular);
        let raw = &mut header.as_gnu_mut().expect("a GNU header").name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        builder.append(&header, data.as_slice()).expect("writing to memory");
    }
    builder.into_inner().and_then(|gz| gz.finish()).expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        pack(&entries.iter().map(|(name, data)| (*name, data.to_vec())).collect::<Vec<_>>())
    }

    #[test]
    fn archives_unpack_only_inside_and_need_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        std::fs::write(&archive, tar_gz(&[("kernel.img", b"k"), ("boot.img", b"b"), ("mkfs", b"m")])).unwrap();
        unpack(&archive, &dir.path().join("ok")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("ok/kernel.img")).unwrap(), b"k");
        for (name, bad) in [("escape", "../evil"), ("absolute", "/tmp/evil"), ("deeper", "a/../../evil")] {
            std::fs::write(&archive, tar_gz(&[("kernel.img", b"k"), (bad, b"x")])).unwrap();
            let e = format!("{:#}", unpack(&archive, &dir.path().join(name)).unwrap_err());
            assert!(e.contains("outside the release directory"), "{bad}: {e}");
        }
        assert!(!dir.path().join("evil").exists());
        std::fs::write(&archive, tar_gz(&[("boot.img", b"b")])).unwrap();
        assert!(format!("{:#}", unpack(&archive, &dir.path().join("nokernel")).unwrap_err()).contains("no kernel.img"));
        let whole = tar_gz(&[("kernel.img", &[7u8; 100_000]), ("boot.img", b"b")]);
        std::fs::write(&archive, &whole[..whole.len() / 2]).unwrap();
        assert!(unpack(&archive, &dir.path().join("truncated")).is_err());
    }

    #[test]
    fn pins_are_recorded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(LOCK_FILE);
        let pin = Pin {
            version: "0.1.52".into(),
            archive_sha256: "a".into(),
            kernel_sha256: "k".into(),
            boot_sha256: "b".into(),
        };
        record_pin(&lock, &pin).unwrap();
        record_pin(&lock, &Pin { version: "0.1.50".into(), ..pin.clone() }).unwrap();
        let read = load_lock(&lock).unwrap();
        assert_eq!(read.releases.len(), 2);
        assert_eq!(read.releases[1], pin);
        std::fs::write(&lock, "[[release]]\nversion = 1\n").unwrap();
        assert!(format!("{:#}", load_lock(&lock).unwrap_err()).contains("is not a Nanos release lock"));
    }

    #[test]
    fn the_url_is_laid_out_as_opss() {
        assert_eq!(
            archive_url(DEFAULT_BASE_URL, "0.1.52"),
            "https://storage.googleapis.com/nanos/release/0.1.52/nanos-release-linux-0.1.52.tar.gz"
        );
        let flags = FetchFlags { nanos_url: Some("http://127.0.0.1:9/mirror/".into()), offline: false };
        assert_eq!(flags.base_url(), "http://127.0.0.1:9/mirror");
    }
}
