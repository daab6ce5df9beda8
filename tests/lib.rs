//! What the end-to-end tests (in `tests/tests/`) share: a started anvil,
//! the workspace's binaries and paths, the ops kernel doubles.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

pub use anvil_harness::Anvil;

/// A fresh anvil (the pinned one, or `ANVIL_BIN`), optionally at a hardfork.
pub fn start_anvil(hardfork: Option<&str>) -> Result<Anvil> {
    Anvil::start(&anvil_binary()?, hardfork)
}

/// The anvil the tests start: `ANVIL_BIN` (set by `cargo xtask test`), else
/// the pinned copy in the target directory.
pub fn anvil_binary() -> Result<PathBuf> {
    anvil_harness::binary(&target_dir())
}

/// A debug build of one of the workspace's binaries (`prover`, `verifier`),
/// built on first use so that `cargo test -p end-to-end` works on its own.
/// Built with the target selection of `cargo test --workspace` (every bin
/// and test), so cargo resolves the same features and reuses every
/// dependency that run compiled instead of building them again.
pub fn workspace_binary(name: &str) -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let root = workspace_root();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root)
            .args(["build", "--locked", "--quiet", "--workspace", "--bins", "--tests"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the prover and verifier failed");
    });
    target_dir().join("debug").join(name)
}

/// How long [`fake_json_rpc`] holds a request it does not answer: far
/// beyond any timeout a client is given, so only the client ends the wait.
pub const NEVER: std::time::Duration = std::time::Duration::from_secs(3600);

/// A loopback HTTP server (one request per connection) answering each
/// JSON-RPC request with `respond(request)`, or holding it for [`NEVER`]
/// when that is `None`. Returns its URL.
pub fn fake_json_rpc(respond: impl Fn(&serde_json::Value) -> Option<String> + Send + 'static) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Ok(read_half) = stream.try_clone() else { continue };
            let mut reader = BufReader::new(read_half);
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            match respond(&request) {
                Some(text) => {
                    let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
                }
                None => std::thread::sleep(NEVER),
            }
        }
    });
    url
}

/// The workspace root.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace")
}

/// A process's stdout and stderr, for assertion messages.
pub fn output_text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace
/// root, where the tests run cargo), else `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Writes a kernel.img and a boot.img TEST DOUBLE into `dir` (an ops home's
/// `.ops/VERSION/`). Neither boots: the kernel is opaque payload to the
/// image writer, and the boot image is a boot record carrying the region
/// record Nanos's stage1 has (type 12, stage2's length) plus filler.
pub fn write_nanos_doubles(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("kernel.img"), b"KERNEL.IMG TEST DOUBLE (not a Nanos kernel)\n".repeat(20_000))?;
    let stage2_sectors = 64u64;
    let mut boot = vec![0u8; 512 * (1 + stage2_sectors as usize)];
    boot[..32].copy_from_slice(b"BOOT.IMG TEST DOUBLE (no stage1)");
    boot[426..434].copy_from_slice(&0u64.to_le_bytes());
    boot[434..442].copy_from_slice(&(512 * stage2_sectors).to_le_bytes());
    boot[442..446].copy_from_slice(&12u32.to_le_bytes());
    boot[510] = 0x55;
    boot[511] = 0xAA;
    for (i, b) in boot[512..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    std::fs::write(dir.join("boot.img"), boot)?;
    Ok(())
}

/// An expensive test input made once and shared: the directory
/// `target/test-artifacts/NAME-DIGEST`, where DIGEST is the BLAKE3 of the
/// bytes of `inputs` (the programs and files the artifact is made from).
/// The first test that asks makes it with `make` (into a scratch directory,
/// renamed into place only when `make` succeeded) while holding a file lock;
/// any other test, in this process or another, waits on the lock and then
/// finds it. No test depends on which came first.
pub fn shared_artifact(name: &str, inputs: &[&Path], make: impl FnOnce(&Path)) -> PathBuf {
    let mut hasher = blake3::Hasher::new();
    for input in inputs {
        let bytes = std::fs::read(input)
            .unwrap_or_else(|e| panic!("{} ({e}): the artifact's inputs exist first", input.display()));
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let digest = hasher.finalize().to_hex();
    let base = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&base).expect("the target directory is writable");
    let lock = std::fs::File::create(base.join(format!("{name}.lock"))).expect("a lock file");
    lock.lock().expect("the artifact lock");
    let dir = base.join(format!("{name}-{}", &digest[..16]));
    if !dir.is_dir() {
        let scratch = base.join(format!("{name}.making"));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).unwrap();
        make(&scratch);
        std::fs::rename(&scratch, &dir).expect("the made artifact moves into place");
    }
    dir
}
