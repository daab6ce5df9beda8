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
use std::time::{Duration, Instant};

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
    /// Seconds one gevulot-cli call may take before it is killed (the CLI has no limit of its own).
    #[arg(long, default_value_t = 600)]
    pub cli_timeout: u64,
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

    /// The limit for one gevulot-cli call.
    pub fn cli_timeout(&self) -> Duration {
        Duration::from_secs(self.cli_timeout.max(1))
    }

    /// A warning when the node is elsewhere but the CLI would serve files on
    /// loopback, where that node can never fetch them.
    pub fn unreachable_listen_warning(&self, listen: SocketAddr) -> Option<String> {
        let host = url::Url::parse(&self.jsonurl).ok()?.host_str()?.trim_matches(['[', ']']).to_string();
        let node_is_local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        (!node_is_local && listen.ip().is_loopback()).then(|| {
            format!(
                "warning: the node {} is not on this machine, but gevulot-cli will serve files on {listen} (loopback), which it cannot reach; pass --listen-addr with an address the node can connect to",
                self.jsonurl
            )
        })
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
    crate::spec::project::on_path("gevulot-cli").context(
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

/// An image hosted at `url`, as gevulot-cli derives it: the CLI gets the
/// checksum; the file name is the last path segment as the `url` crate
/// parses it (empty when the path is empty or ends in `/`; never the query
/// or fragment), or the checksum as given for a URL without a path; the
/// URL itself is kept exactly as typed.
pub fn hosted(url: &str, blake3_hex: &str) -> Result<ImageSource> {
    let parsed = url::Url::parse(url).with_context(|| format!("image URL {url:?} is not a URL the node can fetch"))?;
    let image_file_name = parsed
        .path_segments()
        .and_then(|mut segments| segments.next_back().map(String::from))
        .unwrap_or_else(|| blake3_hex.to_string());
    Ok(ImageSource { cli_arg: blake3_hex.to_string(), image_file_name, image_file_url: url.to_string() })
}

/// The checksum text a program hash contains: the node decodes the hex and
/// prints it back in lower case.
pub fn checksum_text(blake3_hex: &str) -> String {
    blake3_hex.to_ascii_lowercase()
}

/// How a gevulot-cli call's output is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// Every line to stderr (deploy's upload progress, exec).
    Lines,
    /// Nothing: the caller summarises (polling).
    Quiet,
}

/// Runs gevulot-cli and returns its output (stdout then stderr). Its exit
/// code says little (it exits 0 on failures and prints `An error...`), but
/// a non-zero exit (it panics, 101, when the node is unreachable or an RPC
/// times out) or running past `timeout` (it is then killed) is an error.
pub fn run_cli(sh: &Shell, cli: &Path, args: &[String], timeout: Duration, echo: Echo) -> Result<String> {
    let mut command: Command = cmd!(sh, "{cli} {args...}").into();
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let mut child = command.spawn().with_context(|| format!("cannot start {}", cli.display()))?;
    let pipe = |reader: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufReader::new(reader).lines().map_while(Result::ok) {
                if echo == Echo::Lines {
                    eprintln!("  gevulot-cli: {line}");
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        })
    };
    let out_thread = pipe(Box::new(child.stdout.take().expect("piped")));
    let err_thread = pipe(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out_thread.join().unwrap_or_default();
    let err = err_thread.join().unwrap_or_default();
    match status {
        None => bail!(
            "gevulot-cli {} did not finish within {} s and was stopped; raise --cli-timeout if the node is slow",
            args.iter().find(|a| !a.starts_with('-')).map(String::as_str).unwrap_or(""),
            timeout.as_secs()
        ),
        Some(status) if !status.success() => {
            bail!("gevulot-cli exited with {status}: {}", last_lines(&format!("{out}{err}"), 3))
        }
        Some(_) => Ok(format!("{out}{err}")),
    }
}

/// The last `n` non-empty lines of `text`, joined, for one-line errors.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// The value after `prefix` on the first line holding it.
pub fn field_after<'a>(output: &'a str, prefix: &str) -> Option<&'a str> {
    output.lines().find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.trim()))
}

/// What `deploy` printed: (tx hash, prover hash, verifier hash).
pub fn parse_deploy_output(output: &str) -> Result<(String, String, String)> {
    if !output.contains("deployed correctly") {
        let error = output.lines().find(|l| l.to_lowercase().contains("error")).unwrap_or("no success line");
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

impl crate::spec::records::Record for Deployment {
    const KIND: &'static str = "gevulot-deployment";
    const WHAT: &'static str = "a deployment record";
    const VERSION: u32 = 1;
    const REMAKE: &'static str = "deploy the pair again (`cargo xtask deploy PAIR`)";

    /// Records from before the envelope hold exactly version 1's fields.
    fn legacy(
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        fields.contains_key("pair").then_some(fields)
    }
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

    /// Golden vectors computed independently from the real gevulot-cli's
    /// rules (tests/fixtures/program-hash-vectors.json, copied from
    /// shared/gevulot/): local files served by the CLI and hosted URLs.
    #[test]
    fn program_hashes_match_the_golden_vectors() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/program-hash-vectors.json");
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let vectors = doc["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 9, "the vectors file lost entries");
        for v in vectors {
            let expect = &v["expect"];
            let (source, checksum) = match v["kind"].as_str().unwrap() {
                "local" => {
                    let content = hex::decode(v["content_hex"].as_str().unwrap()).unwrap();
                    let listen: SocketAddr = v["listen_addr"].as_str().unwrap().parse().unwrap();
                    let source = served_locally(Path::new(v["path_as_typed"].as_str().unwrap()), listen);
                    (source, blake3::hash(&content).to_hex().to_string())
                }
                "hosted" => {
                    let typed = v["checksum_as_typed"].as_str().unwrap();
                    (hosted(v["url_as_typed"].as_str().unwrap(), typed).unwrap(), checksum_text(typed))
                }
                other => panic!("unknown vector kind {other}"),
            };
            let name = v["name_override"].as_str().map(String::from).unwrap_or_else(|| source.image_file_name.clone());
            assert_eq!(source.image_file_name, expect["image_file_name"].as_str().unwrap(), "{v}");
            assert_eq!(source.image_file_url, expect["image_file_url"].as_str().unwrap(), "{v}");
            assert_eq!(checksum, expect["image_file_checksum"].as_str().unwrap(), "{v}");
            assert_eq!(name, expect["name"].as_str().unwrap(), "{v}");
            let hash = program_hash(&name, &source.image_file_name, &source.image_file_url, &checksum);
            assert_eq!(hash, expect["program_hash"].as_str().unwrap(), "{v}");
        }
        assert!(hosted("not a url", "ab").is_err());
    }

    #[test]
    fn a_remote_node_with_a_loopback_listen_address_is_warned_about() {
        let flags = |url: &str| NodeFlags {
            jsonurl: url.into(),
            keyfile: "k".into(),
            rpc_timeout: None,
            cli_timeout: 1,
            record_dir: "d".into(),
        };
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let public: SocketAddr = "192.0.2.7:8080".parse().unwrap();
        assert!(flags("http://node.example.org:9944").unreachable_listen_warning(loopback).is_some());
        assert!(flags("http://192.0.2.1:9944").unreachable_listen_warning(loopback).is_some());
        assert!(flags("http://node.example.org:9944").unreachable_listen_warning(public).is_none());
        for local in ["http://localhost:9944", "http://127.0.0.1:9944", "http://[::1]:9944"] {
            assert!(flags(local).unreachable_listen_warning(loopback).is_none(), "{local}");
        }
    }

    #[test]
    fn cli_output_lines() {
        let out = "Start prover / verifier deployment\nProver / Verifier deployed correctly.\nProver hash:aa\nVerifier hash:bb.\nTx Hash:cc\n";
        assert_eq!(parse_deploy_output(out).unwrap(), ("cc".into(), "aa".into(), "bb".into()));
        // The node's answer to a transaction it refuses (gevulot a384416).
        let failed = "Start prover / verifier deployment\nAn error occurs during Prover / Verifier deployment :Error during send  transaction to the node:RPC response error:invalid request: failed to persist transaction\n";
        assert!(parse_deploy_output(failed).unwrap_err().to_string().contains("failed to persist transaction"));
        assert_eq!(parse_exec_output("Programs send to execution correctly. Tx hash:dd\n").unwrap(), "dd");
        assert!(parse_exec_output("An error occurs during send execution Tx :boom\n").is_err());
        assert_eq!(parse_tx_tree("Root: r\n\tNode: n\n\t\tLeaf: l\n").unwrap(), vec!["r", "n", "l"]);
        assert_eq!(
            parse_tx_tree(
                "An error while fetching transaction tree: RPC response error:not found: no root tx found for x\n"
            ),
            None
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
