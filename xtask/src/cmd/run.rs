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

use crate::pipeline::pair_tasks::{bind_inputs, prove_task, run_image, segment_task, verify_task, InputArg};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::host::local_node::TaskSpec;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::pipeline::build::{execute, plan, HostPaths};
use crate::pipeline::host_verify::{self, Carried, HostVerdict};
use crate::pipeline::image_host_paths;
use crate::spec::manifest::workflow::{substitute, Capture, Role, Segments};
use crate::spec::manifest::{Image, Workflow};
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct RunFlags {
    /// The pair to run (default: the only one declared).
    pub pair: Option<String>,
    /// Prove this witness file instead of capturing one (the header-chain
    /// pair's input `witness`; same as `--input witness=FILE`).
    #[arg(long)]
    pub witness: Option<PathBuf>,
    /// A file for one of the pair's declared inputs (repeat for each).
    #[arg(long = "input", value_name = "NAME=FILE")]
    pub inputs: Vec<InputArg>,
    /// Make the pair's captured input ([capture]) from this JSON-RPC node (with --from/--to).
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
    pub accel: crate::host::vm::Accel,
    /// With --vm: seconds a VM may take to ask for its task (a node allows 60).
    #[arg(long, default_value_t = 60, requires = "vm")]
    pub start_timeout: u64,
    /// With --vm: ops's home for kernel.img/boot.img (see `cargo xtask image`).
    #[arg(long, requires = "vm")]
    pub ops_home: Option<PathBuf>,
    /// With --vm: how the Nanos release may be fetched (see `cargo xtask image`).
    #[command(flatten)]
    pub fetch: crate::host::nanos_release::FetchFlags,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

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
    inputs_source: String,
    /// The host's verdict: the proof verified here against the verifier
    /// image's pinned keys, for the witness given.
    valid: bool,
    /// What the verifier program reported.
    verifier_valid: bool,
    host: HostVerdict,
    verdict: serde_json::Value,
    /// The prover's segment tasks, before its prove task (pairs that declare [segments]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    segments: Vec<StepOutcome>,
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
            crate::host::vm::VmTools::locate(&project)?;
        }

        // 1. The static binaries, exactly as the images carry them.
        crate::host::tools::ensure_static_toolchain(sh)?;
        let images = [prover, verifier];
        let built = execute(sh, &project, &plan(&images, &HostPaths::of(&project)), &images, &project.root, None)?;
        let binary = |i: usize| project.root.join(&built[i].path);

        // 2. What the images carry: the SRS (dev SRS made on demand) and the verifier key.
        crate::pipeline::generated_files::ensure_generated_files(&project, &manifests, &images)?;
        // (--vm: the image build warns, reading the images themselves.)
        for image in images.iter().filter(|_| !self.vm) {
            let carried: Vec<PathBuf> =
                image_host_paths::image_paths(&project, image)?.into_values().map(PathBuf::from).collect();
            let insecure = crate::pipeline::insecure_srs::insecure_host_files(&carried);
            if !insecure.is_empty() {
                eprintln!("{}", crate::pipeline::insecure_srs::warning(image.name.as_str(), &insecure));
            }
        }

        // 3. The inputs: given, captured or the pair's defaults.
        let run_dir = next_run_dir(&project, pair.name.as_str())?;
        let prover_ws = run_dir.join("prover-workspace");
        std::fs::create_dir_all(&prover_ws)?;
        let workflow = &pair.workflow;
        let role_binary = |role: Role| match role {
            Role::Prover => binary(0),
            Role::Verifier => binary(1),
        };
        let (inputs, inputs_source) = self.gather_inputs(sh, &project, pair, &run_dir, &role_binary)?;
        for (name, file) in &inputs {
            let in_ws = crate::host::local_node::workspace_path(&prover_ws, &workflow.inputs[name])?;
            std::fs::create_dir_all(in_ws.parent().expect("under the workspace"))?;
            std::fs::copy(file, &in_ws).with_context(|| format!("cannot copy the input {name} into the workspace"))?;
        }

        if self.vm {
            let vms = Vms { project: &project, manifests: &manifests, pair, run_dir: &run_dir, inputs: &inputs };
            return self.run_in_vms(sh, vms, [prover, verifier], inputs_source);
        }
        let (prover_files, verifier_files) =
            (Carried::Manifest(&project, prover), Carried::Manifest(&project, verifier));
        if let Some(preflight) = &workflow.preflight {
            host_verify::preflight(workflow, &role_binary(preflight.program), prover_files, verifier_files, &inputs)?;
        }

        // 4. The prover's segment tasks, if the pair fans out, then its prove task.
        let segments = match &workflow.segments {
            None => Vec::new(),
            Some(fan_out) => {
                let at = SegmentTasks { project: &project, prover, fan_out, run_dir: &run_dir, prover_ws: &prover_ws };
                at.prove(sh, &role_binary(fan_out.split.program), &inputs, "", |ws, task| {
                    let done = run_image(&project, prover, &binary(0), ws, task, self.timeout)?;
                    Ok((done.elapsed, done.files))
                })?
            }
        };
        let tx = task_id(&run_dir, "prover");
        eprintln!("prover task {tx}: proving {inputs_source}");
        let task = prove_task(tx, prover, workflow, segments.len());
        let proved = run_image(&project, prover, &binary(0), &prover_ws, task, self.timeout)?;

        // 5. The verifier task, with the prover's output as its input.
        let (proof_local, verifier_ws) = hand_over(&run_dir, workflow, &prover_ws, &proved.files)?;
        let tx = task_id(&run_dir, "verifier");
        eprintln!("verifier task {tx}");
        let verified =
            run_image(&project, verifier, &binary(1), &verifier_ws, verify_task(tx, verifier, workflow), self.timeout)?;
        let verdict: serde_json::Value =
            serde_json::from_slice(&verified.data).context("the verifier's result data is not a JSON verdict")?;
        let verifier_valid = verdict["valid"] == true;

        // 6. The host's own check, as the pair declares it, on the files the images would carry.
        let host = host_verify::check(&host_verify::CheckRun {
            workflow,
            program: &role_binary(workflow.check.program),
            prover: prover_files,
            verifier: verifier_files,
            proof: &std::fs::read(&proof_local)?,
            inputs: &inputs,
        });
        if let Some(line) = host_verify::disagreement(verifier_valid, &host) {
            eprintln!("{line}");
        }
        let valid = host.valid;

        let outcome = Outcome {
            pair: pair.name.to_string(),
            inputs_source,
            valid,
            verifier_valid,
            host,
            segments,
            prover: step(&project, prover, proved.elapsed, &proved.files, &prover_ws),
            verifier: step(&project, verifier, verified.elapsed, &verified.files, &verifier_ws),
            verdict,
        };
        outcome.print(self.json)
    }

    /// Steps 4 and 5 in VMs: each image booted for its task, the proof
    /// handed to the verifier as a workflow's second step, then the host's
    /// own check against the keys read out of the verifier image.
    fn run_in_vms(
        &self,
        sh: &Shell,
        vms: Vms<'_>,
        [prover, verifier]: [&Image; 2],
        inputs_source: String,
    ) -> Result<()> {
        let Vms { project, manifests, pair, run_dir, inputs } = vms;
        let tools = crate::host::vm::VmTools::locate(project)?;
        let source =
            crate::pipeline::native::NanosSource { ops_home: self.ops_home.clone(), fetch: self.fetch.clone() };
        let built = crate::pipeline::image::ensure_images(sh, project, manifests, &[prover, verifier], &source)?;
        let image_file = |i: usize| project.root.join(&built[i].2);
        let (prover_image, verifier_image) = (image_file(0), image_file(1));
        let (prover_files, verifier_files) = (Carried::Image(&prover_image), Carried::Image(&verifier_image));
        let workflow = &pair.workflow;
        let program_of = |role: Role| {
            let image = if role == Role::Prover { prover } else { verifier };
            crate::pipeline::programs::program(project, &image.bin)
        };
        if let Some(preflight) = &workflow.preflight {
            host_verify::preflight(workflow, &program_of(preflight.program)?, prover_files, verifier_files, inputs)?;
        }
        let prover_ws = run_dir.join("prover-workspace");
        let show_line = |line: &str| eprintln!("  vm | {line}");
        let vm_run = |image: &Image, file: &Path, ws: &Path, task: TaskSpec| -> Result<crate::host::vm::VmReport> {
            let serial_log = run_dir.join(format!("{}.serial.log", image.name));
            let spinner = crate::support::progress::units(&format!("{} in a VM", image.name));
            spinner.set_message("booting");
            let report = crate::host::vm::run_vm(
                &tools,
                &crate::host::vm::VmRun {
                    name: image.name.as_str(),
                    image: file,
                    cpus: image.cpus.get(),
                    mem_mib: image.memory.mib(),
                    workspace: ws,
                    serial_log: &serial_log,
                    task,
                    node_answer: Default::default(),
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
        let segments = match &workflow.segments {
            None => Vec::new(),
            Some(fan_out) => {
                let at = SegmentTasks { project, prover, fan_out, run_dir, prover_ws: &prover_ws };
                at.prove(sh, &program_of(fan_out.split.program)?, inputs, " in a VM", |ws, task| {
                    let done = vm_run(prover, &image_file(0), ws, task)?;
                    Ok((done.elapsed, done.files))
                })?
            }
        };
        let tx = task_id(run_dir, "prover");
        eprintln!("prover task {tx} in a VM: proving {inputs_source}");
        let task = prove_task(tx, prover, workflow, segments.len());
        let proved = vm_run(prover, &image_file(0), &prover_ws, task)?;
        let (proof_local, verifier_ws) = hand_over(run_dir, workflow, &prover_ws, &proved.files)?;
        let tx = task_id(run_dir, "verifier");
        eprintln!("verifier task {tx} in a VM");
        let verified = vm_run(verifier, &image_file(1), &verifier_ws, verify_task(tx, verifier, workflow))?;
        let verdict: serde_json::Value =
            serde_json::from_slice(&verified.data).context("the verifier's result data is not a JSON verdict")?;
        let verifier_valid = verdict["valid"] == true;
        let host = host_verify::check(&host_verify::CheckRun {
            workflow,
            program: &program_of(workflow.check.program)?,
            prover: prover_files,
            verifier: verifier_files,
            proof: &std::fs::read(&proof_local)?,
            inputs,
        });
        if let Some(line) = host_verify::disagreement(verifier_valid, &host) {
            eprintln!("{line}");
        }
        let outcome = Outcome {
            pair: pair.name.to_string(),
            inputs_source,
            valid: host.valid,
            verifier_valid,
            host,
            segments,
            prover: step(project, prover, proved.elapsed, &proved.files, &prover_ws),
            verifier: step(project, verifier, verified.elapsed, &verified.files, &verifier_ws),
            verdict,
        };
        outcome.print(self.json)
    }

    /// The pair's inputs, each given with --input (`--witness F` is `--input
    /// witness=F`); otherwise made by the pair's declared capture (from
    /// --rpc, or a local anvil when installed), or the pair's default file.
    /// Returns them bound to their names, and a line saying where each came from.
    fn gather_inputs(
        &self,
        sh: &Shell,
        project: &Project,
        pair: &crate::spec::manifest::Pair,
        run_dir: &Path,
        role_binary: &dyn Fn(Role) -> PathBuf,
    ) -> Result<(BTreeMap<String, PathBuf>, String)> {
        let workflow = &pair.workflow;
        let mut given = self.inputs.clone();
        if let Some(file) = &self.witness {
            given.push(InputArg { name: "witness".into(), file: file.clone() });
        }
        if self.rpc.is_some() && workflow.capture.is_none() {
            bail!(
                "--rpc captures an input, but the pair {} declares no [capture] ({})",
                pair.name,
                pair.manifest.display()
            );
        }
        let mut sources = Vec::new();
        for (name, vm_path) in &workflow.inputs {
            if given.iter().any(|i| &i.name == name) {
                continue;
            }
            let made = run_dir.join(Path::new(vm_path).file_name().expect("a file under /workspace"));
            let capture = workflow.capture.as_ref().filter(|c| &c.input == name);
            if let Some(c) = capture {
                if let Some(source) = self.capture(sh, project, c, &role_binary(c.program), &made)? {
                    given.push(InputArg { name: name.clone(), file: made });
                    sources.push(format!("{name} from {source}"));
                    continue;
                }
            }
            if let Some(default) = workflow.defaults.get(name) {
                given.push(InputArg { name: name.clone(), file: project.host(default) });
                let why = if capture.is_some() { ", no anvil installed" } else { "" };
                sources.push(format!("{name} from {default} (the pair's default{why})"));
            }
        }
        let inputs = bind_inputs(pair, &given)?;
        let given_source = inputs
            .iter()
            .filter(|(n, _)| !sources.iter().any(|s: &String| s.starts_with(&format!("{n} from "))))
            .map(|(n, p)| format!("{n} = {}", project.show(p)));
        let inputs_source = given_source.chain(sources.iter().cloned()).collect::<Vec<_>>().join(", ");
        Ok((inputs, inputs_source))
    }

    /// The pair's declared capture into `out`: from `--rpc URL --from A --to B`,
    /// else from a local anvil (when installed and the pair names how many
    /// blocks). Returns where it came from, or None when neither is at hand.
    fn capture(
        &self,
        sh: &Shell,
        project: &Project,
        capture: &Capture,
        program: &Path,
        out: &Path,
    ) -> Result<Option<String>> {
        let run = |url: &str, from: u64, to: u64| -> Result<()> {
            let values = |scope: &str, _: &str| match scope {
                "rpc" => Some(url.to_string()),
                "from" => Some(from.to_string()),
                "to" => Some(to.to_string()),
                "out" => Some(out.display().to_string()),
                _ => None,
            };
            let args: Vec<String> = capture
                .args
                .iter()
                .map(|a| substitute(a, values).map_err(anyhow::Error::msg))
                .collect::<Result<_>>()?;
            cmd!(sh, "{program} {args...}").quiet().ignore_stdout().run()?;
            Ok(())
        };
        if let (Some(url), Some(from), Some(to)) = (&self.rpc, self.from, self.to) {
            run(url, from, to)?;
            return Ok(Some(format!("{url} blocks {from}..={to}")));
        }
        let (Some(blocks), Ok(anvil)) = (capture.anvil_blocks, anvil_harness::binary(&project.target_dir)) else {
            return Ok(None);
        };
        let node = anvil_harness::Anvil::start(&anvil, None)?;
        node.mine_with_transactions(blocks)?;
        run(&node.url, 1, blocks)?;
        Ok(Some(format!("a local anvil {} (blocks 1..={blocks})", anvil_harness::VERSION)))
    }
}

/// What `run --vm` works on.
struct Vms<'a> {
    project: &'a Project,
    manifests: &'a crate::spec::manifest::Manifests,
    pair: &'a crate::spec::manifest::Pair,
    run_dir: &'a Path,
    inputs: &'a BTreeMap<String, PathBuf>,
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
    let given = task.inputs.iter().map(|(_, vm)| Ok((crate::host::local_node::workspace_path(prover_ws, vm)?, vm)));
    for file in handed.chain(given) {
        let (from, vm_path) = file?;
        let to = crate::host::local_node::workspace_path(&verifier_ws, vm_path)?;
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::copy(&from, &to).with_context(|| format!("cannot hand {vm_path} to the verifier"))?;
    }
    Ok((proof, verifier_ws))
}

/// Where a fan-out's segment tasks run, and whose workspace gets their proofs.
struct SegmentTasks<'a> {
    project: &'a Project,
    prover: &'a Image,
    fan_out: &'a Segments,
    run_dir: &'a Path,
    prover_ws: &'a Path,
}

impl SegmentTasks<'_> {
    /// The pair's declared split, on this machine (`program`): the pieces
    /// it wrote (`1.json`, `2.json`, … in `run_dir/pieces`), in order.
    fn split(&self, sh: &Shell, program: &Path, inputs: &BTreeMap<String, PathBuf>) -> Result<Vec<PathBuf>> {
        let out = self.run_dir.join("pieces");
        std::fs::create_dir_all(&out)?;
        let args: Vec<String> = self
            .fan_out
            .split
            .args
            .iter()
            .map(|a| {
                substitute(a, |scope, name| match scope {
                    "inputs" => inputs.get(name).map(|p| p.display().to_string()),
                    "out" => Some(out.display().to_string()),
                    _ => None,
                })
                .map_err(anyhow::Error::msg)
            })
            .collect::<Result<_>>()?;
        cmd!(sh, "{program} {args...}")
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| format!("the pair's split of its input {} failed", self.fan_out.input))?;
        let pieces: Vec<PathBuf> = (1..).map(|n| out.join(format!("{n}.json"))).take_while(|p| p.is_file()).collect();
        if pieces.is_empty() {
            bail!("the pair's split wrote no pieces (1.json, 2.json, …) to {}", self.project.show(&out));
        }
        Ok(pieces)
    }

    /// The split (by `split_program`), then one prover task per piece
    /// (`run_task`: on the host or in a VM; it returns the time taken and
    /// the result files), each in a fresh workspace holding its piece; each
    /// proof copied into the prove task's workspace.
    fn prove(
        &self,
        sh: &Shell,
        split_program: &Path,
        inputs: &BTreeMap<String, PathBuf>,
        how: &str,
        mut run_task: impl FnMut(&Path, TaskSpec) -> Result<(Duration, Vec<(String, PathBuf)>)>,
    ) -> Result<Vec<StepOutcome>> {
        let pieces = self.split(sh, split_program, inputs)?;
        let mut outcomes = Vec::new();
        for (n, piece) in pieces.iter().enumerate().map(|(i, p)| (i + 1, p)) {
            let ws = self.run_dir.join(format!("segment-{n}-workspace"));
            let to = crate::host::local_node::workspace_path(&ws, &self.fan_out.piece_path(n))?;
            std::fs::create_dir_all(to.parent().expect("under the workspace"))?;
            std::fs::copy(piece, &to).with_context(|| format!("cannot copy segment {n}'s piece into its workspace"))?;
            let tx = task_id(self.run_dir, &format!("segment {n}"));
            eprintln!("prover task {tx}{how}: segment {n} of {}", pieces.len());
            let (elapsed, files) = run_task(&ws, segment_task(tx, self.prover, self.fan_out, n))?;
            let vm_path = self.fan_out.proof_path(n);
            let (_, local) = files
                .iter()
                .find(|(vm, _)| *vm == vm_path)
                .with_context(|| format!("segment {n}'s task did not return its proof {vm_path}"))?;
            let to = crate::host::local_node::workspace_path(self.prover_ws, &vm_path)?;
            std::fs::create_dir_all(to.parent().expect("under the workspace"))?;
            std::fs::copy(local, &to).with_context(|| format!("cannot hand segment {n}'s proof to the prove task"))?;
            outcomes.push(step(self.project, self.prover, elapsed, &files, &ws));
        }
        Ok(outcomes)
    }
}

impl Outcome {
    /// The summary (or JSON); an error when the host's verdict is invalid.
    fn print(&self, json: bool) -> Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
        } else {
            println!("pair {}: {}", self.pair, self.inputs_source);
            for (n, step) in self.segments.iter().enumerate() {
                let role = format!("segment {}", n + 1);
                println!("  {role:<8} {:<16} {:>7.1} s  → {}", step.image, step.seconds, step.outputs.join(", "));
            }
            for (role, step) in [("prover  ", &self.prover), ("verifier", &self.verifier)] {
                println!("  {role} {:<16} {:>7.1} s  → {}", step.image, step.seconds, step.outputs.join(", "));
            }
            // A header-chain verdict names the blocks it proves.
            let s = &self.verdict["statement"];
            let about = match (s["first_number"].as_u64(), s["last_number"].as_u64()) {
                (Some(first), Some(last)) => {
                    format!(" for blocks {first}..={last} (last hash {})", s["last_hash"].as_str().unwrap_or("?"))
                }
                _ => String::new(),
            };
            println!(
                "  verdict: {}{about}, by the pair's check on this machine",
                if self.valid { "VALID" } else { "INVALID" }
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
