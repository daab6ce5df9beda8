//! `cargo xtask check`: validate every manifest (types, names, packages and
//! binaries, pairs) and print what they declare, without building anything.

use anyhow::Result;
use xshell::Shell;

use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct CheckFlags {
    /// Print the validated manifests as JSON.
    #[arg(long)]
    pub json: bool,
}

impl CheckFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let manifests = project.manifests()?;
        if self.json {
            let images: Vec<_> = manifests
                .images
                .iter()
                .map(|i| {
                    serde_json::json!({
                        "name": i.name, "manifest": i.manifest, "package": i.package, "bin": i.bin,
                        "args": i.args, "memory_mib": i.memory.mib(), "cpus": i.cpus,
                        "srs": i.srs.as_ref().map(|s| serde_json::json!({"source": s.source, "sha256": s.sha256, "k": s.k, "path": s.path})),
                        "env": i.env,
                        "nanos": i.nanos.as_ref().map(|n| serde_json::json!({"version": n.version, "builder": n.builder, "kernel_sha256": n.kernel_sha256, "boot_sha256": n.boot_sha256})), "files": i.files.iter().map(|f| serde_json::json!({"source": f.source, "path": f.path})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let pairs: Vec<_> = manifests
                .pairs
                .iter()
                .map(|p| {
                    let w = &p.workflow;
                    // A fan-out's prove arguments grow with the segments: shown as declared.
                    let prove = if w.segments.is_some() { w.prove_args.clone() } else { w.prove_task().args };
                    let segments = w.segments.as_ref().map(
                        |s| serde_json::json!({"input": s.input, "split": s.split.args, "first_task": s.task(1).args}),
                    );
                    serde_json::json!({
                        "name": p.name, "manifest": p.manifest, "prover": p.prover, "verifier": p.verifier,
                        "inputs": w.inputs, "segments": segments, "prove": prove, "outputs": w.outputs,
                        "proof": w.proof_path(), "verify": w.verify_task().args,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({"images": images, "pairs": pairs}))?);
            return Ok(());
        }
        for i in &manifests.images {
            println!(
                "image {:<18} {}/{} memory {} cpus {}{}{}  ({})",
                i.name.as_str(),
                i.package,
                i.bin,
                i.memory,
                i.cpus.get(),
                i.srs.as_ref().map(|s| format!(" srs k={} at {}", s.k.get(), s.path)).unwrap_or_default(),
                i.nanos
                    .as_ref()
                    .map(|n| format!(" nanos {} ({} builder)", n.version, format!("{:?}", n.builder).to_lowercase()))
                    .unwrap_or_default(),
                i.manifest.display()
            );
        }
        for p in &manifests.pairs {
            let inputs: Vec<String> =
                p.workflow.inputs.iter().map(|(n, vm)| format!("--input {n}=FILE → {vm}")).collect();
            let fan_out = match &p.workflow.segments {
                Some(s) => format!(" (a task per segment of {} first)", s.input),
                None => String::new(),
            };
            println!(
                "pair  {:<18} prover {}{fan_out} → verifier {}, proof {}{}  ({})",
                p.name.as_str(),
                p.prover,
                p.verifier,
                p.workflow.proof_path(),
                if inputs.is_empty() { String::new() } else { format!(", {}", inputs.join(", ")) },
                p.manifest.display()
            );
        }
        Ok(())
    }
}
