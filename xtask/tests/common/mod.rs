//! Helpers shared by the xtask's integration tests.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A process's stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A second checkout of this workspace's committed tree at `dir/name`
/// (`git archive HEAD`): no target directory, no untracked files.
pub fn committed_checkout(dir: &Path, name: &str) -> PathBuf {
    let checkout = dir.join(name);
    std::fs::create_dir(&checkout).unwrap();
    let archive = Command::new("git").arg("-C").arg(root()).args(["archive", "HEAD"]).output().unwrap();
    assert!(archive.status.success(), "{}", text(&archive));
    let mut tar = Command::new("tar").arg("-x").arg("-C").arg(&checkout).stdin(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(tar.stdin.as_mut().unwrap(), &archive.stdout).unwrap();
    drop(tar.stdin.take());
    assert!(tar.wait().unwrap().success());
    checkout
}

/// Replaces `from` with `to` in `file`, which must contain it.
pub fn edit(file: &Path, from: &str, to: &str) {
    let original = std::fs::read_to_string(file).unwrap();
    assert!(original.contains(from), "{} no longer contains {from:?}: update the test", file.display());
    std::fs::write(file, original.replace(from, to)).unwrap();
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the root), else `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// Skips (or, under `CI=true`, fails) a test that lacks `what`.
pub fn require<T>(what: Option<T>, missing: &str) -> Option<T> {
    if what.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and {missing}");
        }
        eprintln!("SKIPPED: {missing}");
    }
    what
}

/// A loopback HTTP server laid out as ops's release server
/// (`/VERSION/nanos-release-linux-VERSION.tar.gz`), for the fetch tests. A
/// TEST SERVER, not Nanos's: its archives are made from the kernel fixture.
/// How it answers depends on the version asked for: `9.0.404` and `9.0.500`
/// answer with that status, `9.0.truncated` sends half the archive,
/// `9.0.stall` never answers, `9.0.escape` holds a `../` path; any other
/// version gets `archive` (served slowly, so concurrent fetches overlap).
pub struct ReleaseServer {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ReleaseServer {
    pub fn start(archive: Vec<u8>, escape: Vec<u8>) -> Self {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/release", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (archive, escape, counted) = (archive.clone(), escape.clone(), counted.clone());
                std::thread::spawn(move || {
                    let mut line = String::new();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let version = path.trim_start_matches("/release/").split('/').next().unwrap_or("").to_string();
                    let expected = format!("/release/{version}/nanos-release-linux-{version}.tar.gz");
                    let send = |stream: &mut std::net::TcpStream, status: &str, body: &[u8], length: usize| {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
                        );
                        let _ = stream.write_all(body);
                    };
                    match version.as_str() {
                        _ if path != expected => send(&mut stream, "404 Not Found", b"", 0),
                        "9.0.404" => send(&mut stream, "404 Not Found", b"", 0),
                        "9.0.500" => send(&mut stream, "500 Internal Server Error", b"", 0),
                        "9.0.truncated" => send(&mut stream, "200 OK", &archive[..archive.len() / 2], archive.len()),
                        "9.0.stall" => std::thread::sleep(std::time::Duration::from_secs(3600)),
                        "9.0.escape" => send(&mut stream, "200 OK", &escape, escape.len()),
                        _ => {
                            let _ = write!(
                                stream,
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                archive.len()
                            );
                            for chunk in archive.chunks(archive.len().div_ceil(10)) {
                                if stream.write_all(chunk).is_err() {
                                    return;
                                }
                                std::thread::sleep(std::time::Duration::from_millis(50));
                            }
                        }
                    }
                });
            }
        });
        Self { url, requests }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The Nanos kernel fixture beside the workspace, if present.
pub fn nanos_fixture() -> Option<PathBuf> {
    let candidates =
        [std::env::var_os("XTASK_NANOS_DIR").map(PathBuf::from), Some(root().join("../shared/nanos/b9c3671"))];
    candidates.into_iter().flatten().find(|d| d.join("kernel.img").is_file() && d.join("boot.img").is_file())
}

/// The fixture as ops's release archive, and a hostile copy holding `../`.
pub fn fixture_archives(fixture: &Path) -> (Vec<u8>, Vec<u8>) {
    let files: Vec<(&str, Vec<u8>)> = ["kernel.img", "boot.img", "mkfs", "dump"]
        .iter()
        .filter(|f| fixture.join(f).is_file())
        .map(|f| (*f, std::fs::read(fixture.join(f)).unwrap()))
        .collect();
    let mut hostile = files.clone();
    hostile.push(("../escaped", b"outside".to_vec()));
    (xtask::host::nanos_release::pack(&files), xtask::host::nanos_release::pack(&hostile))
}

/// `command` as on a fresh machine: HOME is `home` (no ops, no cache), no
/// kernel directory, its own lock file, and `server` as the release mirror.
/// Cargo and rustup keep their real homes (a build must not refetch them).
pub fn as_fresh_machine(command: &mut Command, home: &Path, server: &ReleaseServer) {
    let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let cargo_home = std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| real_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME").map(PathBuf::from).unwrap_or_else(|| real_home.join(".rustup"));
    command
        .env("HOME", home)
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XTASK_NANOS_DIR")
        .env("XTASK_NANOS_LOCK", home.join("nanos-releases.lock"))
        .env("XTASK_NANOS_URL", &server.url);
}
