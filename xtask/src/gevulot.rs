//! Driving the user's `gevulot-cli` (Nanos-era node, gevulotnetwork/gevulot
//! a384416): its flags, its output lines, and the two hashes.
//!
//! Facts from its source: every command exits 0 even on failure and prints
//! `An error occurs...` instead, so success is read from the output lines.
//! Program hash = SHA3-256(name ‖ image file name ‖ image URL ‖ BLAKE3 hex);
//! for a local file the URL is `http://LISTEN/` + hex SHA3-256 of the path
//! exactly as passed.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha3::{Digest, Sha3_256};
use xshell::{cmd, Shell};

/// Connection flags shared by deploy and exec.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeFlags {
    /// The node's JSON-RPC URL.
    #[arg(long, env = "GEVULOT_JSONURL", default_value = "http://localhost:9944")]
    pub jsonurl: String,
    /// The key file that signs transactions (passed to gevulot-cli; never read or copied).
    #[arg(long, env = "GEVULOT_KEYFILE", default_value = "localkey.pki")]
    pub keyfile: PathBuf,
    /// Seconds before gevulot-cli gives up on one RPC request.
    #[arg(long)]
    pub rpc_timeout: Option<u64>,
    /// Where deployment records are kept.
    #[arg(long, default_value = "deployments")]
    pub record_dir: PathBuf,
}

impl NodeFlags {
    /// gevulot-cli's global arguments.
    pub fn global_args(&self) -> Vec<String> {
        let mut args =
            vec!["-j".to_string(), self.jsonurl.clone(), "-k".to_string(), self.keyfile.display().to_string()];
        if let Some(t) = self.rpc_timeout {
            args.extend(["--rpctimeout".to_string(), t.to_string()]);
        }
        args
    }

    pub fn require_keyfile(&self) -> Result<()> {
        if !self.keyfile.is_file() {
            bail!(
                "key file {} not found; create one with `gevulot-cli -k {} generate-key` and have the node whitelist its public key (`gevulot-cli -k {} show-public-key`)",
                self.keyfile.display(), self.keyfile.display(), self.keyfile.display()
            );
        }
        Ok(())
    }
}

pub fn cli() -> Result<PathBuf> {
    crate::project::on_path("gevulot-cli").context(
        "gevulot-cli is not on PATH: build it from the gevulotnetwork/gevulot repository (`cargo install --path crates/cli`); `cargo xtask doctor` checks every prerequisite",
    )
}

/// The program hash a node gives an image.
pub fn program_hash(name: &str, image_file_name: &str, image_file_url: &str, blake3_hex: &str) -> String {
    let mut h = Sha3_256::new();
    h.update(name.as_bytes());
    h.update(image_file_name.as_bytes());
    h.update(image_file_url.as_bytes());
    h.update(blake3_hex.as_bytes());
    hex::encode(h.finalize())
}

/// How an image reaches the node, and what the CLI is given for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageSource {
    /// The `-p`/`-v` argument: the path exactly as passed, or the BLAKE3 hex.
    pub cli_arg: String,
    pub image_file_name: String,
    pub image_file_url: String,
}

/// A local image served by gevulot-cli itself on `listen`.
pub fn served_locally(path: &Path, listen: SocketAddr) -> ImageSource {
    let typed = path.display().to_string();
    let digest = hex::encode(Sha3_256::digest(typed.as_bytes()));
    ImageSource {
        image_file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        image_file_url: format!("http://{listen}/{digest}"),
        cli_arg: typed,
    }
}

/// An image hosted at `url`: the CLI gets its checksum; the file name is the
/// URL's last path segment (or the checksum when there is none).
pub fn hosted(url: &str, blake3_hex: &str) -> ImageSource {
    let after_host = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let path = after_host.split_once('/').map(|(_, p)| p).unwrap_or("");
    let path = path.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    ImageSource {
        cli_arg: blake3_hex.to_string(),
        image_file_name: if last.is_empty() { blake3_hex.to_string() } else { last.to_string() },
        image_file_url: url.to_string(),
    }
}

/// Runs gevulot-cli, echoing its output to stderr (its progress) and
/// returning it. Its exit code says little: it exits 0 on failures too.
pub fn run_cli(sh: &Shell, cli: &Path, args: &[String]) -> Result<String> {
    let mut command: Command = cmd!(sh, "{cli} {args...}").into();
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let mut child = command.spawn().with_context(|| format!("cannot start {}", cli.display()))?;
    let stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("  gevulot-cli: {line}");
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut out = String::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line?;
        eprintln!("  gevulot-cli: {line}");
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait()?;
    let err = err_thread.join().unwrap_or_default();
    if !status.success() {
        bail!("gevulot-cli exited with {status}:\n{out}{err}");
    }
    Ok(out)
}

/// The value after `prefix` on the first line holding it.
pub fn field_after<'a>(output: &'a str, prefix: &str) -> Option<&'a str> {
    output.lines().find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.trim()))
}

/// What `deploy` printed: (tx hash, prover hash, verifier hash).
pub fn parse_deploy_output(output: &str) -> Result<(String, String, String)> {
    if !output.contains("deployed correctly") {
        let error = output.lines().find(|l| l.contains("error")).unwrap_or("no success line");
        bail!("gevulot-cli did not deploy: {error}");
    }
    let prover = field_after(output, "Prover hash:").context("no `Prover hash:` line")?;
    let verifier = field_after(output, "Verifier hash:").context("no `Verifier hash:` line")?.trim_end_matches('.');
    let tx = field_after(output, "Tx Hash:").context("no `Tx Hash:` line")?;
    Ok((tx.to_string(), prover.to_string(), verifier.to_string()))
}

/// The run transaction hash `exec` printed.
pub fn parse_exec_output(output: &str) -> Result<String> {
    match field_after(output, "Programs send to execution correctly. Tx hash:") {
        Some(tx) if !tx.is_empty() => Ok(tx.to_string()),
        _ => bail!(
            "gevulot-cli did not send the workflow: {}",
            output.lines().find(|l| l.contains("error")).unwrap_or("no success line")
        ),
    }
}

/// The hashes `print-tx-tree` printed (Root, Node and Leaf lines), or None
/// while the node has nothing (it prints an error until the proof exists).
pub fn parse_tx_tree(output: &str) -> Option<Vec<String>> {
    let hashes: Vec<String> = output
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            ["Root: ", "Node: ", "Leaf: "].iter().find_map(|p| l.strip_prefix(p)).map(|h| h.trim().to_string())
        })
        .collect();
    (!hashes.is_empty()).then_some(hashes)
}

/// A deployed program, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeployedProgram {
    pub image: String,
    pub name: String,
    pub program_hash: String,
    pub image_file: String,
    pub source: ImageSource,
    pub blake3: String,
    pub sha256: String,
    pub cpus: u32,
    pub mem_mib: u64,
}

/// Everything needed to find a deployment again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deployment {
    pub pair: String,
    pub node_url: String,
    pub tx_hash: String,
    /// When the CLI reported success (UTC, RFC 3339).
    pub deployed_at: String,
    pub prover: DeployedProgram,
    pub verifier: DeployedProgram,
}

pub fn record_path(dir: &Path, pair: &str) -> PathBuf {
    dir.join(format!("{pair}.json"))
}

/// Seconds since the epoch as RFC 3339 UTC (no calendar crate needed).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_hashes_follow_the_node() {
        // SHA3-256 over the four strings concatenated, nothing between them.
        let h = program_hash("p", "p.img", "http://127.0.0.1:8080/ab", "cd");
        assert_eq!(h, hex::encode(Sha3_256::digest(b"pp.imghttp://127.0.0.1:8080/abcd")));
        let local = served_locally(Path::new("/w/target/images/p.img"), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(local.image_file_name, "p.img");
        assert_eq!(
            local.image_file_url,
            format!("http://127.0.0.1:8080/{}", hex::encode(Sha3_256::digest(b"/w/target/images/p.img")))
        );
        let remote = hosted("https://example.org/images/p.img?x=1", "beef");
        assert_eq!((remote.cli_arg.as_str(), remote.image_file_name.as_str()), ("beef", "p.img"));
        assert_eq!(hosted("https://example.org", "beef").image_file_name, "beef");
    }

    #[test]
    fn cli_output_lines() {
        let out = "Start prover / verifier deployment\nProver / Verifier deployed correctly.\nProver hash:aa\nVerifier hash:bb.\nTx Hash:cc\n";
        assert_eq!(parse_deploy_output(out).unwrap(), ("cc".into(), "aa".into(), "bb".into()));
        let failed = "Start prover / verifier deployment\nAn error occurs during Prover / Verifier deployment :RPC response error:unauthorized\n";
        assert!(parse_deploy_output(failed).unwrap_err().to_string().contains("unauthorized"));
        assert_eq!(parse_exec_output("Programs send to execution correctly. Tx hash:dd\n").unwrap(), "dd");
        assert!(parse_exec_output("An error occurs during send execution Tx :boom\n").is_err());
        assert_eq!(parse_tx_tree("Root: r\n\tNode: n\n\t\tLeaf: l\n").unwrap(), vec!["r", "n", "l"]);
        assert_eq!(parse_tx_tree("An error while fetching transaction tree: RPC response error:not found: x\n"), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
