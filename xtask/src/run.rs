//! `cargo xtask run PAIR`: a prover → verifier workflow run on this machine
//! the way a Gevulot node runs it. Each program is the static binary of its
//! image, started with the image's arguments, environment and CPUs, with a
//! fresh workspace directory standing for `/workspace`; it gets its task
//! over the shim protocol from a loopback node, and every result file's
//! BLAKE3 is checked. The verifier gets the prover's proof file the way a
//! workflow's second step does.
//!
//! Image paths (the SRS, the verifier keys) are mapped to their host
//! sources in arguments and environment values, since no image exists here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::local_node::TaskSpec;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::build::{execute, plan, HostPaths};
use crate::host_verify::{self, HostVerdict};
use crate::manifest::{Image, Workflow};
use crate::project::Project;

#[derive(clap::Args, Debug)]
pub struct RunFlags {
    /// The pair to run (default: the only one declared).
    pub pair: Option<String>,
    /// Prove this witness file instead of capturing one.
    #[arg(long)]
    pub witness: Option<PathBuf>,
    /// Capture the witness from this JSON-RPC node (with --from/--to).
    #[arg(long, requires_all = ["from", "to"])]
    pub rpc: Option<String>,
    #[arg(long)]
    pub from: Option<u64>,
    #[arg(long)]
    pub to: Option<u64>,
    /// Seconds each program may run (a Gevulot node allows 1800).
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Boot the pair's images in QEMU as a node does (the images `deploy`
    /// would ship, built when stale), instead of running the binaries.
    #[arg(long)]
    pub vm: bool,
    /// With --vm: the accelerator.
    #[arg(long, value_enum, default_value = "auto", requires = "vm")]
    pub accel: crate::vm::Accel,
    /// With --vm: seconds a VM may take to ask for its task (a node allows 60).
    #[arg(long, default_value_t = 60, requires = "vm")]
    pub start_timeout: u64,
    /// With --vm: ops's home for kernel.img/boot.img (see `cargo xtask image`).
    #[arg(long, requires = "vm")]
    pub ops_home: Option<PathBuf>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Headers in the demo chain: the verifier image pins the key for 8.
const DEMO_HEADERS: u64 = 8;
const FIXTURE: &str = "tests/fixtures/anvil-chain-8.witness.json";

#[derive(Serialize)]
struct StepOutcome {
    image: String,
    seconds: f64,
    workspace: String,
    outputs: Vec<String>,
}

#[derive(Serialize)]
struct Outcome {
    pair: String,
    witness_source: String,
    /// The host's verdict: the proof verified here against the verifier
    /// image's pinned keys, for the witness given.
    valid: bool,
    /// What the verifier program reported.
    verifier_valid: bool,
    host: HostVerdict,
    verdict: serde_json::Value,
    prover: StepOutcome,
    verifier: StepOutcome,
}

impl RunFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let manifests = project.manifests()?;
        let pair = match &self.pair {
            Some(name) => manifests.pair_named(name).map_err(anyhow::Error::msg)?,
            None => match manifests.pairs.as_slice() {
                [only] => only,
                _ => bail!("name the pair to run: {}", manifests.pair_names()),
            },
        };
        let prover = manifests.image(pair.prover.as_str()).expect("validated pair");
        let verifier = manifests.image(pair.verifier.as_str()).expect("validated pair");

        // What booting needs, before anything is built.
        if self.vm {
            crate::vm::VmTools::locate(&project)?;
        }

        // 1. The static binaries, exactly as the images carry them.
        crate::tools::ensure_static_toolchain(sh)?;
        let images = [prover, verifier];
        let built = execute(sh, &project, &plan(&images, &HostPaths::of(&project)), &images, &project.root, None)?;
        let binary = |i: usize| project.root.join(&built[i].path);

        // 2. What the images carry: the SRS (dev SRS made on demand) and the verifier key.
        crate::keys::ensure_verifier_files(&project, &manifests, &images)?;
        // (--vm: the image build warns, reading the images themselves.)
        for image in images.iter().filter(|_| !self.vm) {
            let carried: Vec<PathBuf> = image_paths(&project, image)?.into_values().map(PathBuf::from).collect();
            let insecure = crate::insecure_srs::insecure_host_files(&carried);
            if !insecure.is_empty() {
                eprintln!("{}", crate::insecure_srs::warning(image.name.as_str(), &insecure));
            }
        }

        // 3. The witness: given, captured from a node, from a local anvil, or the fixture.
        let run_dir = next_run_dir(&project, pair.name.as_str())?;
        let prover_ws = run_dir.join("prover-workspace");
        std::fs::create_dir_all(&prover_ws)?;
        let workflow = &pair.workflow;
        let witness_vm_path = workflow.inputs.get("witness").with_context(|| {
            format!("{}: `run` gives the pair a witness, but it declares no `witness` input", pair.manifest.display())
        })?;
        let witness_in_ws = crate::local_node::workspace_path(&prover_ws, witness_vm_path)?;
        if let Some(dir) = witness_in_ws.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let witness_source = self.take_witness(sh, &project, &binary(0), &witness_in_ws)?;

        if self.vm {
            return self.run_in_vms(sh, &project, &manifests, pair, [prover, verifier], &run_dir, witness_source);
        }

        // 4. The prover task.
        let tx = task_id(&run_dir, "prover");
        eprintln!("prover task {tx}: proving {witness_source}");
        let proved =
            run_image(&project, prover, &binary(0), &prover_ws, prove_task(tx, prover, workflow), self.timeout)?;

        // 5. The verifier task, with the prover's output as its input.
        let (proof_local, verifier_ws) = hand_over(&run_dir, workflow, &prover_ws, &proved.files)?;
        let tx = task_id(&run_dir, "verifier");
        eprintln!("verifier task {tx}");
        let verified =
            run_image(&project, verifier, &binary(1), &verifier_ws, verify_task(tx, verifier, workflow), self.timeout)?;
        let verdict: serde_json::Value =
            serde_json::from_slice(&verified.data).context("the verifier's result data is not a JSON verdict")?;
        let verifier_valid = verdict["valid"] == true;

        // 6. The host's own check: the proof against the verifier image's pinned keys, for this witness.
        let expected = host_verify::witness_statement(&binary(0), &witness_in_ws)?;
        let keys = host_verify::keys_from_files(&pinned_key_files(&project, verifier)?)?;
        let host = host_verify::verdict(&binary(1), &keys, &std::fs::read(&proof_local)?, &expected);
        if let Some(line) = host_verify::disagreement(verifier_valid, &host) {
            eprintln!("{line}");
        }
        let valid = host.valid;

        let outcome = Outcome {
            pair: pair.name.to_string(),
            witness_source,
            valid,
            verifier_valid,
            host,
            prover: step(&project, prover, proved.elapsed, &proved.files, &prover_ws),
            verifier: step(&project, verifier, verified.elapsed, &verified.files, &verifier_ws),
            verdict,
        };
        outcome.print(self.json)
    }

    /// Steps 4 and 5 in VMs: each image booted for its task, the proof
    /// handed to the verifier as a workflow's second step, then the host's
    /// own check against the keys read out of the verifier image.
    #[allow(clippy::too_many_arguments)]
    fn run_in_vms(
        &self,
        sh: &Shell,
        project: &Project,
        manifests: &crate::manifest::Manifests,
        pair: &crate::manifest::Pair,
        [prover, verifier]: [&Image; 2],
        run_dir: &Path,
        witness_source: String,
    ) -> Result<()> {
        let tools = crate::vm::VmTools::locate(project)?;
        let built = crate::image::ensure_images(sh, project, manifests, &[prover, verifier], self.ops_home.clone())?;
        let image_file = |i: usize| project.root.join(&built[i].2);
        let prover_ws = run_dir.join("prover-workspace");
        let show_line = |line: &str| eprintln!("  vm | {line}");
        let vm_run = |image: &Image, file: &Path, ws: &Path, task: TaskSpec| -> Result<crate::vm::VmReport> {
            let serial_log = run_dir.join(format!("{}.serial.log", image.name));
            let spinner = crate::progress::units(&format!("{} in a VM", image.name));
            spinner.set_message("booting");
            let report = crate::vm::run_vm(
                &tools,
                &crate::vm::VmRun {
                    name: image.name.as_str(),
                    image: file,
                    cpus: image.cpus.get(),
                    mem_mib: image.memory.mib(),
                    workspace: ws,
                    serial_log: &serial_log,
                    task,
                    accel: self.accel,
                    task_timeout: Duration::from_secs(self.timeout),
                    start_timeout: Duration::from_secs(self.start_timeout),
                    on_line: &|line| spinner.suspend(|| show_line(line)),
                },
            );
            spinner.finish_and_clear();
            let report =
                report.with_context(|| format!("the serial console is saved in {}", project.show(&serial_log)))?;
            eprintln!(
                "{}: task handed out {:.1} s after boot, result after {:.1} s ({:?})",
                image.name,
                report.boot_to_task.as_secs_f64(),
                report.elapsed.as_secs_f64(),
                report.accel
            );
            Ok(report)
        };
        let tx = task_id(run_dir, "prover");
        eprintln!("prover task {tx} in a VM: proving {witness_source}");
        let workflow = &pair.workflow;
        let proved = vm_run(prover, &image_file(0), &prover_ws, prove_task(tx, prover, workflow))?;
        let (proof_local, verifier_ws) = hand_over(run_dir, workflow, &prover_ws, &proved.files)?;
        let tx = task_id(run_dir, "verifier");
        eprintln!("verifier task {tx} in a VM");
        let verified = vm_run(verifier, &image_file(1), &verifier_ws, verify_task(tx, verifier, workflow))?;
        let verdict: serde_json::Value =
            serde_json::from_slice(&verified.data).context("the verifier's result data is not a JSON verdict")?;
        let verifier_valid = verdict["valid"] == true;
        let prover_program = crate::programs::program(project, crate::programs::PROVER_BIN)?;
        let verifier_program = crate::programs::program(project, crate::programs::VERIFIER_BIN)?;
        let witness = crate::local_node::workspace_path(&prover_ws, &workflow.inputs["witness"])?;
        let expected = host_verify::witness_statement(&prover_program, &witness)?;
        let keys = host_verify::keys_in_image(&image_file(1))?;
        let host = host_verify::verdict(&verifier_program, &keys, &std::fs::read(&proof_local)?, &expected);
        if let Some(line) = host_verify::disagreement(verifier_valid, &host) {
            eprintln!("{line}");
        }
        let outcome = Outcome {
            pair: pair.name.to_string(),
            witness_source,
            valid: host.valid,
            verifier_valid,
            host,
            prover: step(project, prover, proved.elapsed, &proved.files, &prover_ws),
            verifier: step(project, verifier, verified.elapsed, &verified.files, &verifier_ws),
            verdict,
        };
        outcome.print(self.json)
    }

    fn take_witness(&self, sh: &Shell, project: &Project, prover_bin: &Path, out: &Path) -> Result<String> {
        if let Some(w) = &self.witness {
            std::fs::copy(w, out).with_context(|| format!("cannot read the witness {}", w.display()))?;
            return Ok(w.display().to_string());
        }
        let capture = |url: &str, from: u64, to: u64| -> Result<()> {
            let (from, to) = (from.to_string(), to.to_string());
            cmd!(sh, "{prover_bin} witness-capture --rpc {url} --from {from} --to {to} --witness {out}")
                .quiet()
                .ignore_stdout()
                .run()?;
            Ok(())
        };
        if let (Some(url), Some(from), Some(to)) = (&self.rpc, self.from, self.to) {
            capture(url, from, to)?;
            return Ok(format!("{url} blocks {from}..={to}"));
        }
        if let Ok(anvil) = anvil_harness::binary(&project.target_dir) {
            let node = anvil_harness::Anvil::start(&anvil, None)?;
            node.mine_with_transactions(DEMO_HEADERS)?;
            capture(&node.url, 1, DEMO_HEADERS)?;
            return Ok(format!("a local anvil {} (blocks 1..={DEMO_HEADERS})", anvil_harness::VERSION));
        }
        std::fs::copy(project.root.join(FIXTURE), out)?;
        Ok(format!("the committed fixture {FIXTURE} (no anvil installed)"))
    }
}

/// The workflow's hand-over, in a fresh verifier workspace: each prover
/// output the verifier reads (from the prover's result), each input it reads
/// (from the prover's workspace). Returns (the proof file, that workspace).
fn hand_over(
    run_dir: &Path,
    workflow: &Workflow,
    prover_ws: &Path,
    prover_files: &[(String, PathBuf)],
) -> Result<(PathBuf, PathBuf)> {
    let produced = |vm_path: &str| {
        prover_files
            .iter()
            .find(|(vm, _)| vm == vm_path)
            .map(|(_, local)| local.clone())
            .with_context(|| format!("the prover's result does not list {vm_path}"))
    };
    let proof = produced(workflow.proof_path())?;
    let verifier_ws = run_dir.join("verifier-workspace");
    std::fs::create_dir_all(&verifier_ws)?;
    let task = workflow.verify_task();
    let handed = task.handed_over.iter().map(|(_, vm)| Ok::<_, anyhow::Error>((produced(vm)?, vm)));
    let given = task.inputs.iter().map(|(_, vm)| Ok((crate::local_node::workspace_path(prover_ws, vm)?, vm)));
    for file in handed.chain(given) {
        let (from, vm_path) = file?;
        let to = crate::local_node::workspace_path(&verifier_ws, vm_path)?;
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::copy(&from, &to).with_context(|| format!("cannot hand {vm_path} to the verifier"))?;
    }
    Ok((proof, verifier_ws))
}

/// The workflow's first step, as the pair declares it.
pub(crate) fn prove_task(tx_hash: String, prover: &Image, workflow: &Workflow) -> TaskSpec {
    let task = workflow.prove_task();
    TaskSpec {
        tx_hash,
        name: prover.name.to_string(),
        files: task.inputs.into_iter().map(|(_, vm)| vm).collect(),
        args: task.args,
    }
}

/// The second step: the verifier on the prover's files.
pub(crate) fn verify_task(tx_hash: String, verifier: &Image, workflow: &Workflow) -> TaskSpec {
    let task = workflow.verify_task();
    TaskSpec {
        tx_hash,
        name: verifier.name.to_string(),
        files: task.handed_over.into_iter().chain(task.inputs).map(|(_, vm)| vm).collect(),
        args: task.args,
    }
}

impl Outcome {
    /// The summary (or JSON); an error when the host's verdict is invalid.
    fn print(&self, json: bool) -> Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
        } else {
            let s = &self.verdict["statement"];
            println!("pair {}: witness from {}", self.pair, self.witness_source);
            for (role, step) in [("prover  ", &self.prover), ("verifier", &self.verifier)] {
                println!("  {role} {:<16} {:>7.1} s  → {}", step.image, step.seconds, step.outputs.join(", "));
            }
            println!(
                "  verdict: {} for blocks {}..={} (last hash {}), verified here against the pinned key",
                if self.valid { "VALID" } else { "INVALID" },
                s["first_number"],
                s["last_number"],
                s["last_hash"].as_str().unwrap_or("?")
            );
        }
        if !self.valid {
            bail!("the proof is not valid on this machine: {}", self.host.reason.as_deref().unwrap_or("rejected"));
        }
        Ok(())
    }
}

/// One step's summary, from a host run or a VM run alike.
fn step(project: &Project, image: &Image, elapsed: Duration, files: &[(String, PathBuf)], ws: &Path) -> StepOutcome {
    StepOutcome {
        image: image.name.to_string(),
        seconds: elapsed.as_secs_f64(),
        workspace: project.show(ws),
        outputs: files.iter().map(|(_, local)| project.show(local)).collect(),
    }
}

/// Runs one image's program on `workspace` with `task`.
pub(crate) fn run_image(
    project: &Project,
    image: &Image,
    binary: &Path,
    workspace: &Path,
    task: TaskSpec,
    timeout: u64,
) -> Result<crate::local_node::RunReport> {
    let paths = image_paths(project, image)?;
    let args: Vec<String> = image.args.iter().map(|a| translate(a, &paths)).collect();
    let mut env: Vec<(String, String)> =
        image.env.iter().map(|(k, v)| (k.as_str().to_string(), translate(v, &paths))).collect();
    // Nanos gives the program exactly the image's vCPUs.
    env.push(("RAYON_NUM_THREADS".into(), image.cpus.get().to_string()));
    let node = crate::local_node::program(project)?;
    crate::local_node::run_program(&node, binary, &args, &env, workspace, task, Duration::from_secs(timeout))
        .map_err(|e| anyhow::anyhow!("image {}: {e}; its workspace is kept at {}", image.name, project.show(workspace)))
}

/// The host files of the keys the verifier image pins (its `HEADER_CHAIN_KEYS`).
fn pinned_key_files(project: &Project, verifier: &Image) -> Result<Vec<PathBuf>> {
    let paths = image_paths(project, verifier)?;
    let value = verifier
        .env
        .iter()
        .find(|(k, _)| k.as_str() == host_verify::KEYS_ENV)
        .map(|(_, v)| translate(v, &paths))
        .with_context(|| {
            format!(
                "{}: the verifier image sets no {} (its pinned keys)",
                verifier.manifest.display(),
                host_verify::KEYS_ENV
            )
        })?;
    Ok(value.split(',').filter(|p| !p.is_empty()).map(PathBuf::from).collect())
}

/// Image path → host file, for everything the image would carry.
fn image_paths(project: &Project, image: &Image) -> Result<BTreeMap<String, String>> {
    let mut paths = BTreeMap::new();
    if let Some(srs) = &image.srs {
        let file = crate::srs::srs_for_image(project, image, srs)?;
        paths.insert(srs.path.to_string(), file.display().to_string());
    }
    for f in &image.files {
        paths.insert(f.path.to_string(), project.host(&f.source).display().to_string());
    }
    Ok(paths)
}

/// Replaces every comma-separated part of `value` that is an image path.
fn translate(value: &str, paths: &BTreeMap<String, String>) -> String {
    value
        .split(',')
        .map(|part| paths.get(part).cloned().unwrap_or_else(|| part.to_string()))
        .collect::<Vec<_>>()
        .join(",")
}

/// target/run/PAIR/N for the next free N: earlier runs stay for inspection.
fn next_run_dir(project: &Project, pair: &str) -> Result<PathBuf> {
    let base = project.target_dir.join("run").join(pair);
    std::fs::create_dir_all(&base)?;
    for n in 1.. {
        let dir = base.join(n.to_string());
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    unreachable!("some run number is free")
}

/// A transaction-hash-like id for a local task.
fn task_id(run_dir: &Path, step: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(run_dir.as_os_str().as_encoded_bytes());
    h.update(step.as_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_are_translated_in_lists_and_values() {
        let paths = BTreeMap::from([("/keys/a.json".to_string(), "/host/a.json".to_string())]);
        assert_eq!(translate("/keys/a.json", &paths), "/host/a.json");
        assert_eq!(translate("/keys/a.json,/keys/b.json", &paths), "/host/a.json,/keys/b.json");
        assert_eq!(translate("info", &paths), "info");
    }
}
