//! `cargo xtask bench vm`: the pair's images booted as a node boots them,
//! beside the same static binaries run on the host, in one run: boot to
//! task handed out, the verifier's task on the 8-header proof, and a small
//! prover task (1 header), with the accelerator named.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::host::vm::{run_vm, Accel, VmRun, VmTools};
use crate::pipeline::build::{execute, plan, HostPaths};
use crate::spec::project::Project;

use crate::pipeline::header_chain::{FIXTURE, PAIR};

struct Row {
    task: String,
    host_s: f64,
    vm_s: f64,
    boot_to_task_s: f64,
}

pub fn vm_suite(sh: &Shell, accel: Accel) -> Result<String> {
    let project = Project::locate()?;
    let manifests = project.manifests()?;
    // The header-chain pair: its prover proves the committed witness fixture.
    let pair = manifests.pair_named(PAIR).map_err(anyhow::Error::msg)?;
    let prover = manifests.image(pair.prover.as_str()).expect("validated pair");
    let verifier = manifests.image(pair.verifier.as_str()).expect("validated pair");
    let images = [prover, verifier];
    let tools = VmTools::locate(&project)?;
    crate::host::tools::ensure_static_toolchain(sh)?;
    let binaries = execute(sh, &project, &plan(&images, &HostPaths::of(&project)), &images, &project.root, None)?;
    let built = crate::pipeline::image::ensure_images(
        sh,
        &project,
        &manifests,
        &images,
        &crate::pipeline::native::NanosSource::default(),
    )?;
    let dir = project.target_dir.join("bench/vm");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    // The witnesses: the 8-header fixture, and its first header alone.
    let mut one: serde_json::Value = serde_json::from_slice(&std::fs::read(project.root.join(FIXTURE))?)?;
    one["headers"].as_array_mut().context("witness headers")?.truncate(1);
    let one_header = dir.join("one-header.witness.json");
    std::fs::write(&one_header, one.to_string())?;

    let quiet = |_: &str| {};
    let mut rows = Vec::new();
    let mut accel_used = None;
    let mut step = |label: &str,
                    image: &crate::spec::manifest::Image,
                    index: usize,
                    witness: &Path,
                    proof: Option<&Path>|
     -> Result<std::path::PathBuf> {
        let mut measured = [0.0f64; 2];
        let mut boot_to_task = 0.0;
        let mut proof_out = dir.clone();
        for (slot, in_vm) in [(0, false), (1, true)] {
            let ws = dir.join(format!("{label}-{}", if in_vm { "vm" } else { "host" }));
            std::fs::create_dir_all(&ws)?;
            let tx = format!("{:064x}", rows.len() * 2 + slot);
            let workflow = &pair.workflow;
            let task = match proof {
                None => {
                    std::fs::copy(witness, crate::host::local_node::workspace_path(&ws, &workflow.inputs["witness"])?)?;
                    crate::pipeline::pair_tasks::prove_task(tx, image, workflow, 0)
                }
                Some(p) => {
                    std::fs::copy(p, crate::host::local_node::workspace_path(&ws, workflow.proof_path())?)?;
                    crate::pipeline::pair_tasks::verify_task(tx, image, workflow)
                }
            };
            eprintln!("bench vm: {label} {}", if in_vm { "in a VM" } else { "on the host" });
            if in_vm {
                let log = dir.join(format!("{label}.serial.log"));
                let report = run_vm(
                    &tools,
                    &VmRun {
                        name: image.name.as_str(),
                        image: &project.root.join(&built[index].2),
                        cpus: image.cpus.get(),
                        mem_mib: image.memory.mib(),
                        workspace: &ws,
                        serial_log: &log,
                        task,
                        node_answer: Default::default(),
                        accel,
                        task_timeout: Duration::from_secs(1800),
                        start_timeout: Duration::from_secs(60),
                        on_line: &quiet,
                    },
                )?;
                measured[slot] = report.elapsed.as_secs_f64();
                boot_to_task = report.boot_to_task.as_secs_f64();
                accel_used = Some(report.accel);
                proof_out = crate::host::local_node::workspace_path(&ws, pair.workflow.proof_path())?;
            } else {
                let binary = project.root.join(&binaries[index].path);
                let report = crate::pipeline::pair_tasks::run_image(&project, image, &binary, &ws, task, 1800)?;
                measured[slot] = report.elapsed.as_secs_f64();
                proof_out = crate::host::local_node::workspace_path(&ws, pair.workflow.proof_path())?;
            }
        }
        rows.push(Row {
            task: label.to_string(),
            host_s: measured[0],
            vm_s: measured[1],
            boot_to_task_s: boot_to_task,
        });
        Ok(proof_out)
    };
    step("prove 1 header", prover, 0, &one_header, None)?;
    let proof_eight = step("prove 8 headers", prover, 0, &project.root.join(FIXTURE), None)?;
    step("verify 8 headers", verifier, 1, &proof_eight, Some(&proof_eight))?;
    let mut table = format!(
        "Tasks in VMs (QEMU, accel {:?}, the node's command line, vhost-user vsock) vs the same static binaries on the host (loopback shim).\n\n| task | host (s) | VM (s) | VM / host | VM boot to task handed out (s) |\n|---|---|---|---|---|\n",
        accel_used.unwrap_or(accel)
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1}× | {:.1} |\n",
            r.task,
            r.host_s,
            r.vm_s,
            r.vm_s / r.host_s.max(1e-9),
            r.boot_to_task_s
        ));
    }
    Ok(table)
}
