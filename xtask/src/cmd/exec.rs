//! `cargo xtask exec PAIR --input NAME=FILE…` (`--witness FILE` for the
//! header-chain pair): runs the deployed pair on its inputs. Runs the pair's
//! declared preflight on the inputs, builds the two-step workflow (`--tasks`
//! JSON) from the pair's declaration and the recorded deployment, sends it
//! with `gevulot-cli exec`, polls `print-tx-tree` and `get-tx` (bounded)
//! until the verification exists, decodes and saves both results, and runs
//! the pair's declared check on the proof against the deployed images' files.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use xshell::Shell;

use crate::host::gevulot::{self, Deployment, Echo, NodeFlags};
use crate::pipeline::host_verify::{self, Carried, HostVerdict};
use crate::spec::manifest::workflow::Role;
use crate::spec::manifest::Workflow;
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct ExecFlags {
    /// The deployed pair.
    pub pair: String,
    /// The witness to prove (from `prover witness-capture`): the
    /// header-chain pair's input `witness` (same as `--input witness=FILE`).
    #[arg(long)]
    pub witness: Option<PathBuf>,
    /// A file for one of the pair's declared inputs (repeat for each).
    #[arg(long = "input", value_name = "NAME=FILE")]
    pub inputs: Vec<crate::pipeline::pair_tasks::InputArg>,
    #[command(flatten)]
    pub node: NodeFlags,
    /// Seconds to wait for the verification (a node kills a VM after 1800).
    #[arg(long, default_value_t = 1900)]
    pub wait: u64,
    /// Seconds between polls (doubled after each failed poll, up to 60).
    #[arg(long, default_value_t = 5)]
    pub poll: u64,
    /// Where gevulot-cli serves the witness to the node (same default and
    /// meaning as deploy's: the node must be able to connect to it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,
    /// Where to save the results (default: target/exec/TX).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the plan, the tasks JSON gevulot-cli would send, and stop
    /// before anything is sent. (`--print-tasks` is the same.)
    #[arg(long, alias = "print-tasks")]
    pub dry_run: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One warning per deployed image that carries the development SRS.
fn insecure_warnings(deployment: &Deployment, prover_image: &Path, verifier_image: &Path) -> Result<Vec<String>> {
    let mut insecure = Vec::new();
    for (name, file) in [(&deployment.prover.image, prover_image), (&deployment.verifier.image, verifier_image)] {
        let files = crate::pipeline::insecure_srs::insecure_files_in_image(file)?;
        if !files.is_empty() {
            insecure.push(crate::pipeline::insecure_srs::warning(name, &files));
        }
    }
    Ok(insecure)
}

/// gevulot-cli's `cmd_args`: `{name, value}` pairs it flattens back to
/// `name value …`, dropping empty strings. A flag takes the argument after
/// it as its value; anything else stands alone with an empty value.
fn cmd_args(args: &[String]) -> Vec<Value> {
    let mut pairs = Vec::new();
    let mut rest = args.iter().peekable();
    while let Some(name) = rest.next() {
        let value = match rest.peek() {
            Some(next) if name.starts_with('-') && !next.starts_with('-') => rest.next().map(String::as_str),
            _ => None,
        };
        pairs.push(json!({"name": name, "value": value.unwrap_or("")}));
    }
    pairs
}

/// The `--tasks` JSON of the pair's declared workflow: the prover's task on
/// the run's inputs (`local` maps input name → file on this machine), then
/// the verifier's on the prover's files (`Output` inputs) and any inputs it
/// declares.
pub fn tasks_json(deployment: &Deployment, workflow: &Workflow, local: &BTreeMap<String, String>) -> Result<Value> {
    if workflow.segments.is_some() {
        bail!("the pair declares [segments]: its segment tasks are all the prover program, and a Gevulot workflow step names an earlier step's output only by its program's hash, so one workflow cannot hand each segment's proof to the aggregate step. `exec` does not yet submit the segments as separate runs: run the pair here with `cargo xtask run` (or `run --vm`)");
    }
    let prover = &deployment.prover.program_hash;
    let step = |program: &str, task: crate::spec::manifest::workflow::StepTask| -> Result<Value> {
        let mut inputs = Vec::new();
        for (name, vm_path) in &task.inputs {
            let local_path = local.get(name).with_context(|| format!("no file given for the input {name:?}"))?;
            inputs.push(json!({"Input": {"local_path": local_path, "vm_path": vm_path}}));
        }
        for (_, vm_path) in &task.handed_over {
            inputs.push(json!({"Output": {"source_program": prover, "file_name": vm_path}}));
        }
        Ok(json!({"program": program, "cmd_args": cmd_args(&task.args), "inputs": inputs}))
    };
    Ok(json!([step(prover, workflow.prove_task())?, step(&deployment.verifier.program_hash, workflow.verify_task())?]))
}

/// A transaction as `get-tx` prints it (only the parts read here).
#[derive(Debug, Deserialize)]
struct RpcTransaction {
    hash: String,
    payload: Value,
}

#[derive(Debug, Serialize)]
struct Outcome {
    run_tx: String,
    proof_tx: String,
    verification_tx: String,
    /// The host's verdict: the downloaded proof verified here against the
    /// deployed verifier image's pinned keys, for the witness that was sent.
    valid: bool,
    /// What the node's verifier reported.
    node_valid: bool,
    host: HostVerdict,
    verdict: Value,
    out_dir: String,
    files: Vec<String>,
}

impl ExecFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let manifests = project.manifests()?;
        let deployment = self.current_deployment(&project, &manifests)?;
        let pair = manifests.pair_named(&self.pair).map_err(anyhow::Error::msg)?;
        let workflow = &pair.workflow;
        let mut given = self.inputs.clone();
        if let Some(witness) = &self.witness {
            given.push(crate::pipeline::pair_tasks::InputArg { name: "witness".into(), file: witness.clone() });
        }
        let inputs = crate::pipeline::pair_tasks::bind_inputs(pair, &given)?;
        let local: BTreeMap<String, String> =
            inputs.iter().map(|(n, p)| (n.clone(), p.display().to_string())).collect();
        // The files of the deployed images, read out of them: what the node runs.
        let prover_image = project.root.join(&deployment.prover.image_file);
        let verifier_image = project.root.join(&deployment.verifier.image_file);
        let (prover_files, verifier_files) = (Carried::Image(&prover_image), Carried::Image(&verifier_image));
        let program_of = |role: Role| {
            let image = match role {
                Role::Prover => &deployment.prover.image,
                Role::Verifier => &deployment.verifier.image,
            };
            let image = manifests.image(image).context("deployed image in the manifests (checked above)")?;
            crate::pipeline::programs::program(&project, &image.bin)
        };
        if let Some(preflight) = &workflow.preflight {
            host_verify::preflight(workflow, &program_of(preflight.program)?, prover_files, verifier_files, &inputs)?;
        }
        // A pair deployed with --allow-insecure-srs: every verdict says so.
        let insecure = insecure_warnings(&deployment, &prover_image, &verifier_image)?;
        insecure.iter().for_each(|w| eprintln!("{w}"));
        let check_program = program_of(workflow.check.program)?;
        let tasks = tasks_json(&deployment, workflow, &local)?;
        if self.dry_run {
            println!("{}", serde_json::to_string_pretty(&tasks)?);
            return Ok(());
        }
        if self.listen_addr.port() == 0 {
            bail!("--listen-addr needs a fixed port: the node fetches the witness from it");
        }
        let cli = gevulot::cli()?;
        self.node.require_keyfile()?;
        if let Some(warning) = self.node.unreachable_listen_warning(self.listen_addr) {
            eprintln!("{warning}");
        }
        let mut args = self.node.global_args();
        args.extend(["exec", "-l", &self.listen_addr.to_string(), "--tasks", &tasks.to_string()].map(String::from));
        let sent = gevulot::run_cli(sh, &cli, &args, self.node.cli_timeout(), Echo::Lines)?;
        let run_tx = gevulot::parse_exec_output(&sent)?;
        eprintln!("workflow sent: run transaction {run_tx}; waiting up to {} s for the verification", self.wait);
        let (proof, verification) = self.wait_for_results(sh, &cli, &run_tx, &deployment)?;
        let out = self.out.clone().unwrap_or_else(|| project.target_dir.join("exec").join(&run_tx));
        let mut outcome = save(&out, &run_tx, &proof, &verification)?;
        let proof_vm_path = workflow.proof_path();
        let proof_name = Path::new(proof_vm_path).file_name().expect("a file name").to_string_lossy().into_owned();
        outcome.host = match std::fs::read(out.join(&proof_name)) {
            Ok(bytes) if outcome.files.contains(&proof_name) => host_verify::check(&host_verify::CheckRun {
                workflow,
                program: &check_program,
                prover: prover_files,
                verifier: verifier_files,
                proof: &bytes,
                inputs: &inputs,
            }),
            _ => HostVerdict {
                valid: false,
                reason: Some(format!(
                    "the proof file {proof_vm_path} could not be downloaded from the node, so it was not verified here"
                )),
                report: None,
            },
        };
        outcome.valid = outcome.host.valid;
        let disagreement = host_verify::disagreement(outcome.node_valid, &outcome.host);
        if let Some(line) = &disagreement {
            eprintln!("{line}");
        }
        atomic_write::write_json_atomic(&out.join("host-verdict.json"), &outcome.host)?;
        outcome.files.push("host-verdict.json".into());
        self.print(&project, &out, &run_tx, &outcome)?;
        if outcome.valid && !insecure.is_empty() {
            eprintln!("warning: VALID only against the INSECURE development SRS the deployed pair carries: anyone can forge such a proof");
        }
        if !outcome.valid {
            bail!(
                "the proof is not valid on this machine: {}{}",
                outcome.host.reason.as_deref().unwrap_or("rejected"),
                if disagreement.is_some() { " (the node's verifier claimed it valid)" } else { "" }
            );
        }
        Ok(())
    }

    /// The pair's deployment record, its images unchanged since.
    fn current_deployment(
        &self,
        project: &Project,
        manifests: &crate::spec::manifest::Manifests,
    ) -> Result<Deployment> {
        let record_dir = project.root.join(&self.node.record_dir);
        let record_path = gevulot::record_path(&record_dir, &self.pair);
        if !record_path.exists() {
            bail!(
                "no deployment recorded for {} ({}); run `cargo xtask deploy {}` first",
                self.pair,
                project.show(&record_path),
                self.pair
            );
        }
        let deployment: Deployment = crate::spec::records::load(&record_path)?;
        for deployed in [&deployment.prover, &deployment.verifier] {
            let image = manifests
                .image(&deployed.image)
                .with_context(|| format!("the deployed image {} is no longer in the manifests", deployed.image))?;
            let (_, now) = crate::pipeline::image::current_image(project, image)?;
            if now.blake3 != deployed.blake3 {
                bail!(
                    "image {} changed since it was deployed (deployed BLAKE3 {}, now {}); deploy again with `cargo xtask deploy {}`",
                    deployed.image, deployed.blake3, now.blake3, self.pair
                );
            }
        }
        Ok(deployment)
    }

    fn print(&self, project: &Project, out: &Path, run_tx: &str, outcome: &Outcome) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(&outcome)?);
        } else {
            println!(
                "run {run_tx}: {} (the pair's check on this machine; the node's verifier says {})",
                if outcome.valid { "VALID" } else { "INVALID" },
                if outcome.node_valid { "valid" } else { "invalid" }
            );
            println!("  proof tx {}, verification tx {}", outcome.proof_tx, outcome.verification_tx);
            println!("  saved in {}: {}", project.show(out), outcome.files.join(", "));
        }
        Ok(())
    }

    /// Polls the run's transaction tree until a Proof from our prover and a
    /// Verification from our verifier exist, or the wait runs out. A failed
    /// poll (the real CLI panics when the node is unreachable or an RPC times
    /// out) is counted and retried with a growing pause; only `--wait` ends it.
    fn wait_for_results(
        &self,
        sh: &Shell,
        cli: &Path,
        run_tx: &str,
        d: &Deployment,
    ) -> Result<(RpcTransaction, RpcTransaction)> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(self.wait);
        let timeout = self.node.cli_timeout();
        let spinner = crate::support::progress::units("waiting for the node");
        let mut seen = std::collections::BTreeMap::new();
        let mut failures = Failures::default();
        let mut polls = 0u64;
        let mut state = "sent".to_string();
        let mut shown_state: Option<String> = None;
        loop {
            polls += 1;
            let mut args = self.node.global_args();
            args.extend(["print-tx-tree".to_string(), run_tx.to_string()]);
            let poll = (|| -> Result<Option<(String, String)>> {
                let tree = gevulot::run_cli(sh, cli, &args, timeout, Echo::Quiet)?;
                let Some(hashes) = gevulot::parse_tx_tree(&tree) else {
                    state = gevulot::last_lines(&tree, 1);
                    return Ok(None);
                };
                for hash in hashes.into_iter().filter(|h| h != run_tx) {
                    if seen.contains_key(&hash) {
                        continue;
                    }
                    let mut args = self.node.global_args();
                    args.extend(["get-tx".to_string(), hash.clone()]);
                    let out = gevulot::run_cli(sh, cli, &args, timeout, Echo::Quiet)?;
                    if let Ok(tx) = serde_json::from_str::<RpcTransaction>(out.trim()) {
                        seen.insert(hash, tx);
                    }
                }
                let find = |kind: &str, field: &str, program: &str| {
                    seen.values()
                        .find(|t| {
                            t.payload.get(kind).and_then(|p| p.get(field)).and_then(Value::as_str) == Some(program)
                        })
                        .map(|t| t.hash.clone())
                };
                let proof = find("Proof", "prover", &d.prover.program_hash);
                let verification = find("Verification", "verifier", &d.verifier.program_hash);
                state = match (&proof, &verification) {
                    (None, _) => format!("{} transactions, no proof yet", seen.len()),
                    (Some(_), None) => "proof made, verification pending".into(),
                    _ => "verified".into(),
                };
                Ok(proof.zip(verification))
            })();
            let pause = match poll {
                Ok(Some((p, v))) => {
                    spinner.finish_and_clear();
                    failures.report();
                    return Ok((seen.remove(&p).expect("seen"), seen.remove(&v).expect("seen")));
                }
                Ok(None) => {
                    failures.streak = 0;
                    Duration::from_secs(self.poll)
                }
                Err(e) => failures.record(&e.to_string(), self.poll),
            };
            spinner.set_message(format!(
                "{state}; {polls} polls{}",
                if failures.total > 0 { format!(", {} failed", failures.total) } else { String::new() }
            ));
            // Without a terminal (CI logs, pipes) the spinner is hidden: each new
            // state is one line, however many polls repeat it.
            if spinner.is_hidden() && shown_state.as_deref() != Some(state.as_str()) {
                eprintln!("  node: {state} ({} s)", started.elapsed().as_secs());
                shown_state = Some(state.clone());
            }
            if Instant::now() + pause >= deadline {
                spinner.finish_and_clear();
                failures.report();
                bail!(
                    "no verification for run {run_tx} within {} s (last state: {state}); the node may still be working: check later with `gevulot-cli -j {} print-tx-tree {run_tx}`",
                    self.wait, self.node.jsonurl
                );
            }
            std::thread::sleep(pause);
        }
    }
}

/// Failed polls: counted, each distinct error shown once, and a pause that
/// doubles with each failure in a row (up to 60 s).
#[derive(Default)]
struct Failures {
    total: u64,
    streak: u32,
    distinct: Vec<(String, u64)>,
}

impl Failures {
    fn record(&mut self, error: &str, poll: u64) -> Duration {
        self.total += 1;
        self.streak += 1;
        match self.distinct.iter_mut().find(|(e, _)| e == error) {
            Some((_, n)) => *n += 1,
            None => {
                eprintln!("poll failed (retrying until --wait runs out): {error}");
                self.distinct.push((error.to_string(), 1));
            }
        }
        Duration::from_secs(poll.max(1).saturating_mul(1 << self.streak.min(6)).min(60))
    }

    fn report(&self) {
        for (error, n) in self.distinct.iter().filter(|(_, n)| *n > 1) {
            eprintln!("  that error repeated {n} times in all: {error}");
        }
    }
}

fn decode(payload: &Value, field: &str) -> Result<Vec<u8>> {
    let text =
        payload.get(field).and_then(Value::as_str).with_context(|| format!("no `{field}` in the transaction"))?;
    base64::engine::general_purpose::STANDARD.decode(text).with_context(|| format!("`{field}` is not base64"))
}

/// Saves the decoded results; downloads the prover's output files from the
/// node's file server when it can, checking their BLAKE3.
fn save(out: &Path, run_tx: &str, proof: &RpcTransaction, verification: &RpcTransaction) -> Result<Outcome> {
    std::fs::create_dir_all(out)?;
    let proof_payload = &proof.payload["Proof"];
    let verification_payload = &verification.payload["Verification"];
    let prover_data = decode(proof_payload, "proof")?;
    let verdict_bytes = decode(verification_payload, "verification")?;
    let verdict: Value =
        serde_json::from_slice(&verdict_bytes).context("the verification data is not the verifier's JSON verdict")?;
    let mut files = Vec::new();
    let mut write = |name: &str, bytes: &[u8]| -> Result<()> {
        atomic_write::write_atomic(&out.join(name), |w| w.write_all(bytes))?;
        files.push(name.to_string());
        Ok(())
    };
    write("prover-result.json", &prover_data)?;
    write("verdict.json", &verdict_bytes)?;
    write(
        "transactions.json",
        serde_json::to_string_pretty(
            &json!({"run": run_tx, "proof": proof.payload, "verification": verification.payload}),
        )?
        .as_bytes(),
    )?;
    for file in proof_payload["files"].as_array().into_iter().flatten() {
        let (Some(url), Some(checksum), Some(vm_path)) =
            (file["url"].as_str(), file["checksum"].as_str(), file["vm_path"].as_str())
        else {
            continue;
        };
        let name =
            Path::new(vm_path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
        match download(url) {
            Ok(bytes) if blake3::hash(&bytes).to_hex().as_str() == checksum => write(&name, &bytes)?,
            Ok(_) => eprintln!("warning: {url} does not match its BLAKE3 {checksum}; not saved"),
            Err(e) => eprintln!("warning: cannot download {vm_path} from {url} ({e}); its BLAKE3 is {checksum}"),
        }
    }
    Ok(Outcome {
        run_tx: run_tx.to_string(),
        proof_tx: proof.hash.clone(),
        verification_tx: verification.hash.clone(),
        valid: false,
        node_valid: verdict["valid"] == true,
        host: HostVerdict { valid: false, reason: Some("not verified yet".into()), report: None },
        verdict,
        out_dir: out.display().to_string(),
        files,
    })
}

fn download(url: &str) -> Result<Vec<u8>> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(60))).build().into();
    let mut response = agent.get(url).call()?;
    Ok(response.body_mut().read_to_vec()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::gevulot::{DeployedProgram, ImageSource};

    fn program(image: &str, hash: &str) -> DeployedProgram {
        DeployedProgram {
            image: image.into(),
            name: image.into(),
            program_hash: hash.into(),
            image_file: format!("target/images/{image}.img"),
            source: ImageSource {
                cli_arg: String::new(),
                image_file_name: String::new(),
                image_file_url: String::new(),
            },
            blake3: String::new(),
            sha256: String::new(),
            cpus: 1,
            mem_mib: 512,
        }
    }

    #[test]
    fn the_tasks_json_snapshot() {
        let d = Deployment {
            pair: "header-chain".into(),
            node_url: "http://localhost:9944".into(),
            tx_hash: "tx".into(),
            deployed_at: "2026-01-01T00:00:00Z".into(),
            prover: program("header-prover", "aaaa"),
            verifier: program("header-verifier", "bbbb"),
        };
        let expected = r#"[{"cmd_args":[{"name":"prove","value":""},{"name":"--witness","value":"/workspace/witness.json"},{"name":"--proof","value":"/workspace/proof.json"}],"inputs":[{"Input":{"local_path":"/data/witness.json","vm_path":"/workspace/witness.json"}}],"program":"aaaa"},{"cmd_args":[{"name":"verify","value":""},{"name":"--proof","value":"/workspace/proof.json"}],"inputs":[{"Output":{"file_name":"/workspace/proof.json","source_program":"aaaa"}}],"program":"bbbb"}]"#;
        let project = Project::locate().unwrap();
        let manifests = project.manifests().unwrap();
        let workflow = &manifests.pair_named("header-chain").unwrap().workflow;
        let local = BTreeMap::from([("witness".to_string(), "/data/witness.json".to_string())]);
        assert_eq!(tasks_json(&d, workflow, &local).unwrap().to_string(), expected);
        let err = tasks_json(&d, workflow, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("no file given for the input \"witness\""), "{err}");
    }

    #[test]
    fn the_second_pairs_tasks_json_snapshot() {
        let d = Deployment {
            pair: "blake-chain".into(),
            node_url: "http://localhost:9944".into(),
            tx_hash: "tx".into(),
            deployed_at: "2026-01-01T00:00:00Z".into(),
            prover: program("blake-chain-prover", "cccc"),
            verifier: program("blake-chain-verifier", "dddd"),
        };
        let expected = r#"[{"cmd_args":[{"name":"prove","value":""},{"name":"--input","value":"/workspace/input.bin"},{"name":"--proof","value":"/workspace/proof.json"}],"inputs":[{"Input":{"local_path":"/data/in.bin","vm_path":"/workspace/input.bin"}}],"program":"cccc"},{"cmd_args":[{"name":"verify","value":""},{"name":"--proof","value":"/workspace/proof.json"},{"name":"--report","value":"/workspace/verification.json"}],"inputs":[{"Output":{"file_name":"/workspace/proof.json","source_program":"cccc"}}],"program":"dddd"}]"#;
        let project = Project::locate().unwrap();
        let manifests = project.manifests().unwrap();
        let workflow = &manifests.pair_named("blake-chain").unwrap().workflow;
        let local = BTreeMap::from([("data".to_string(), "/data/in.bin".to_string())]);
        assert_eq!(tasks_json(&d, workflow, &local).unwrap().to_string(), expected);
    }

    #[test]
    fn flags_take_their_values_and_bare_arguments_stand_alone() {
        let args = ["verify", "--fast", "--proof", "/workspace/p", "x"].map(String::from);
        assert_eq!(
            Value::Array(cmd_args(&args)).to_string(),
            r#"[{"name":"verify","value":""},{"name":"--fast","value":""},{"name":"--proof","value":"/workspace/p"},{"name":"x","value":""}]"#
        );
    }
}
