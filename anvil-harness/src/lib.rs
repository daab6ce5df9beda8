//! A real Ethereum node for the xtask (`run`, `bench`) and the tests: the
//! pinned anvil binary, started on a free loopback port, killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// anvil's first two pre-funded, unlocked development accounts.
pub const DEV_ACCOUNT_0: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
pub const DEV_ACCOUNT_1: &str = "0x70997970c51812dc3a079c58e9bc6f1e7f6f2dea";

/// The npm package that ships anvil, and the version every tool pins.
pub const PACKAGE: &str = "@foundry-rs/anvil";
pub const VERSION: &str = "1.7.1";

/// Where `npm install --prefix DIR` puts the pinned anvil: DIR is
/// `TARGET/tools/anvil-VERSION` (the xtask installs it there).
pub fn install_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("tools").join(format!("anvil-{VERSION}"))
}

pub fn installed_binary(target_dir: &Path) -> PathBuf {
    install_dir(target_dir).join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}

/// The anvil to start: `ANVIL_BIN`, else the pinned copy under `target_dir`.
pub fn binary(target_dir: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ANVIL_BIN") {
        return Ok(PathBuf::from(p));
    }
    let installed = installed_binary(target_dir);
    if installed.is_file() {
        return Ok(installed);
    }
    bail!(
        "anvil is not installed at {}: run `cargo xtask test` (it installs {PACKAGE}@{VERSION}), or set ANVIL_BIN",
        installed.display()
    )
}

pub struct Anvil {
    child: Child,
    pub url: String,
    client: json_rpc::Client,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Anvil {
    /// Starts `bin` on 127.0.0.1 (optionally with a hardfork such as
    /// `"london"`) and waits until it answers JSON-RPC. A long-lived child,
    /// so `std::process` rather than xshell (which runs commands to the end).
    pub fn start(bin: &Path, hardfork: Option<&str>) -> Result<Self> {
        Self::start_with(bin, hardfork, &[])
    }

    /// [`Anvil::start`] with more of anvil's flags (e.g. `--disable-code-size-limit`).
    pub fn start_with(bin: &Path, hardfork: Option<&str>, flags: &[&str]) -> Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(bin);
        command.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"]);
        if let Some(fork) = hardfork {
            command.args(["--hardfork", fork]);
        }
        command.args(flags);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let client = json_rpc::Client::new(&url, json_rpc::Policy::once(Duration::from_secs(10)));
        let node = Self { child, url, client };
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
        Ok(self.client.call(method, params)?)
    }

    pub fn block_number(&self) -> Result<u64> {
        Ok(self.client.call_quantity("eth_blockNumber", json!([]))?)
    }

    /// Sends `tx` with `eth_sendTransaction` and returns its receipt (anvil
    /// answers with the hash before it mines, so the receipt is polled for).
    pub fn send_transaction(&self, tx: Value) -> Result<Value> {
        Ok(self.client.send_transaction(tx, Duration::from_secs(30), Duration::from_millis(20))?)
    }

    /// Mines `blocks` blocks, each holding one value transfer (anvil mines
    /// a block per transaction), and returns once the last one is mined.
    pub fn mine_with_transactions(&self, blocks: u64) -> Result<()> {
        for i in 0..blocks {
            // A legacy gas price works in every hardfork, Frontier included.
            self.send_transaction(
                json!({"from": DEV_ACCOUNT_0, "to": DEV_ACCOUNT_1, "value": format!("{:#x}", i + 1), "gasPrice": "0x2540be400"}),
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
