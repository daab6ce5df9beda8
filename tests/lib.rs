//! A real Ethereum node for tests, benchmarks and demos: the pinned anvil
//! binary, started on a free loopback port and killed when dropped.
//! The end-to-end tests themselves live in `tests/tests/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// anvil's first two pre-funded, unlocked development accounts.
pub const DEV_ACCOUNT_0: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
pub const DEV_ACCOUNT_1: &str = "0x70997970c51812dc3a079c58e9bc6f1e7f6f2dea";

/// The anvil binary: `ANVIL_BIN`, else the copy `cargo xtask test` installs.
pub fn anvil_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ANVIL_BIN") {
        return Ok(PathBuf::from(p));
    }
    let tools = target_dir().join("tools");
    let found = std::fs::read_dir(&tools).ok().and_then(|entries| {
        entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"))
            .find(|p| p.is_file())
    });
    found.context("anvil is not installed: run the tests with `cargo xtask test` (it installs the pinned anvil), or set ANVIL_BIN")
}

pub struct Anvil {
    child: Child,
    pub url: String,
    agent: ureq::Agent,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Anvil {
    /// Starts anvil on 127.0.0.1 (optionally with a hardfork such as
    /// `"london"`) and waits until it answers JSON-RPC.
    pub fn start(hardfork: Option<&str>) -> Result<Self> {
        let bin = anvil_binary()?;
        let port = free_port()?;
        let mut command = Command::new(&bin);
        command.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"]);
        if let Some(fork) = hardfork {
            command.args(["--hardfork", fork]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
        let node = Self { child, url: format!("http://127.0.0.1:{port}"), agent };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if node.call("eth_blockNumber", json!([])).is_ok() {
                return Ok(node);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("anvil did not answer on {} within 30 s", node.url)
    }

    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut response = self.agent.post(&self.url).send_json(&body)?;
        let answer: Value = response.body_mut().read_json()?;
        if let Some(e) = answer.get("error") {
            bail!("{method}: {e}");
        }
        Ok(answer["result"].clone())
    }

    pub fn block_number(&self) -> Result<u64> {
        let n = self.call("eth_blockNumber", json!([]))?;
        Ok(u64::from_str_radix(n.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)?)
    }

    /// Mines `blocks` blocks, each holding one value transfer (anvil mines
    /// a block per transaction).
    pub fn mine_with_transactions(&self, blocks: u64) -> Result<()> {
        for i in 0..blocks {
            self.call(
                "eth_sendTransaction",
                // A legacy gas price works in every hardfork, Frontier included.
                json!([{"from": DEV_ACCOUNT_0, "to": DEV_ACCOUNT_1, "value": format!("{:#x}", i + 1), "gasPrice": "0x2540be400"}]),
            )?;
        }
        Ok(())
    }

    /// Mines `blocks` empty blocks.
    pub fn mine_empty(&self, blocks: u64) -> Result<()> {
        self.call("anvil_mine", json!([format!("{blocks:#x}")]))?;
        Ok(())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
