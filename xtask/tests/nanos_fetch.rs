//! `cargo xtask image` on a fresh machine: no ops, an empty HOME, only
//! `XTASK_NANOS_URL` pointing at a loopback TEST SERVER laid out as ops's
//! release server (archives made from the Nanos kernel fixture). The first
//! build fetches the release, pins it on first use and builds; the second
//! downloads nothing. Wrong digests, truncated archives, HTTP errors, a
//! stalled server, a path escaping the cache, two fetches at once and
//! `--offline` with an empty cache each end clearly, nothing half cached.
//! No test reaches the internet.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{as_fresh_machine, fixture_archives, nanos_fixture, require, text, ReleaseServer};

/// The xtask with a fresh HOME and cache, no kernel directory, its own lock
/// file and images directory, and the test server as the release mirror.
fn fresh(home: &Path, server: &ReleaseServer) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    as_fresh_machine(&mut c, home, server);
    c.env("XTASK_IMAGES_DIR", home.join("images")).env("XTASK_NANOS_TIMEOUT", "5");
    c
}

fn run(mut c: Command, args: &[&str]) -> Output {
    c.args(args).output().unwrap()
}

#[test]
fn image_fetches_pins_and_caches_the_release() {
    let Some(fixture) = require(nanos_fixture(), "no Nanos kernel fixture (../shared/nanos/b9c3671)") else { return };
    let (archive, escape) = fixture_archives(&fixture);
    let server = ReleaseServer::start(archive, escape);
    let home = tempfile::tempdir().unwrap();
    let lock = home.path().join("nanos-releases.lock");

    // A fresh machine: the first image build fetches Nanos 0.1.52 and pins it.
    let o = run(fresh(home.path(), &server), &["image", "--builder", "native", "header-verifier", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.requests(), 1);
    assert!(text(&o).contains("pinned now on first use"), "{}", text(&o));
    let pins = std::fs::read_to_string(&lock).unwrap();
    let kernel_sha = xtask::support::hashing::sha256_file(&fixture.join("kernel.img")).unwrap();
    assert!(pins.contains("version = \"0.1.52\"") && pins.contains(&kernel_sha), "{pins}");
    let cache = home.path().join(".cache/gevulot-xtask/nanos/0.1.52");
    assert_eq!(std::fs::read(cache.join("kernel.img")).unwrap(), std::fs::read(fixture.join("kernel.img")).unwrap());
    // The image's record names the kernel and boot it was built with.
    let record = std::fs::read_to_string(home.path().join("images/header-verifier.record.json")).unwrap();
    assert!(record.contains(&kernel_sha), "{record}");

    // Again: cached, nothing downloaded; `nanos list` and `doctor` say so.
    let o = run(fresh(home.path(), &server), &["image", "--builder", "native", "header-verifier", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.requests(), 1, "the second build downloaded again");
    let o = run(fresh(home.path(), &server), &["nanos", "list"]);
    assert!(o.status.success() && text(&o).contains("pinned") && text(&o).contains("cached in"), "{}", text(&o));

    // A cached file that no longer matches its pin is refused.
    std::fs::write(cache.join("boot.img"), b"not the pinned boot stage").unwrap();
    let o = run(fresh(home.path(), &server), &["image", "--builder", "native", "header-verifier"]);
    assert!(!o.status.success() && text(&o).contains("but the lock pins"), "{}", text(&o));
}

#[test]
fn bad_releases_are_refused_and_nothing_is_cached() {
    let Some(fixture) = require(nanos_fixture(), "no Nanos kernel fixture (../shared/nanos/b9c3671)") else { return };
    let (archive, escape) = fixture_archives(&fixture);
    let server = ReleaseServer::start(archive, escape);
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join(".cache/gevulot-xtask/nanos");
    let fetch = |version: &str, extra: &[&str]| {
        let mut args = vec!["nanos", "fetch", version];
        args.extend(extra);
        run(fresh(home.path(), &server), &args)
    };
    for (version, says) in [
        ("9.0.404", "answered HTTP 404"),
        ("9.0.500", "answered HTTP 500"),
        ("9.0.truncated", "failed after"),
        ("9.0.stall", "cannot fetch"),
        ("9.0.escape", "outside the release directory"),
    ] {
        let o = fetch(version, &[]);
        assert!(!o.status.success(), "{version}: {}", text(&o));
        assert!(text(&o).contains(says), "{version}: {}", text(&o));
        assert!(!cache.join(version).exists(), "{version} was cached");
    }
    assert!(!home.path().join(".cache/gevulot-xtask/escaped").exists() && !cache.join("../escaped").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert!(!home.path().join("nanos-releases.lock").exists(), "a failed fetch pinned something");

    // A pin the archive does not match: refused, nothing cached, the lock unchanged.
    let lock = home.path().join("nanos-releases.lock");
    let pinned = format!(
        "[[release]]\nversion = \"0.1.77\"\narchive_sha256 = \"{}\"\nkernel_sha256 = \"00\"\nboot_sha256 = \"00\"\n",
        "ab".repeat(32)
    );
    std::fs::write(&lock, &pinned).unwrap();
    let o = fetch("0.1.77", &[]);
    assert!(!o.status.success() && text(&o).contains("refusing it"), "{}", text(&o));
    assert!(!cache.join("0.1.77").exists());
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), pinned);

    // --offline with an empty cache: says what to place where, touches no network.
    let before = server.requests();
    let o = fetch("0.1.78", &["--offline"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("--offline") && text(&o).contains(".cache/gevulot-xtask/nanos/0.1.78"), "{}", text(&o));
    assert_eq!(server.requests(), before);

    // Two fetches at once: one download, one consistent cache.
    let before = server.requests();
    let spawn = || fresh(home.path(), &server).args(["nanos", "fetch", "0.1.60"]).spawn().unwrap();
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{}\n{}", text(&a), text(&b));
    assert_eq!(server.requests() - before, 1, "both fetches downloaded");
    assert_eq!(
        std::fs::read(cache.join("0.1.60/kernel.img")).unwrap(),
        std::fs::read(fixture.join("kernel.img")).unwrap()
    );
}
