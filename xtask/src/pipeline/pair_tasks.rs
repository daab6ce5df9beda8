//! A pair's workflow as tasks: `--input NAME=FILE` bound to the declared
//! inputs, the prover's and verifier's task specs, and one image's
//! program run on a workspace with its task (image paths mapped to host
//! files). `run`, `exec` and `bench vm` build on these.

use crate::host::local_node::TaskSpec;
use crate::pipeline::image_host_paths;
use crate::spec::manifest::workflow::Segments;
use crate::spec::manifest::{Image, Workflow};
use crate::spec::project::Project;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `--input NAME=FILE`: a file for one of the pair's declared inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputArg {
    pub name: String,
    pub file: PathBuf,
}

impl std::str::FromStr for InputArg {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('=') {
            Some((name, file)) if !name.is_empty() && !file.is_empty() => {
                Ok(Self { name: name.to_string(), file: PathBuf::from(file) })
            }
            _ => Err(format!("{text:?}: write NAME=FILE, e.g. witness=chain.witness.json")),
        }
    }
}

/// The files given for the pair's inputs, checked against its declaration:
/// every declared input given once, no other, each an existing file.
pub fn bind_inputs(pair: &crate::spec::manifest::Pair, given: &[InputArg]) -> Result<BTreeMap<String, PathBuf>> {
    let declared = &pair.workflow.inputs;
    let names = || declared.keys().cloned().collect::<Vec<_>>().join(", ");
    let mut bound = BTreeMap::new();
    for input in given {
        if !declared.contains_key(&input.name) {
            bail!(
                "the pair {} has no input {:?}; it declares: {} ({})",
                pair.name,
                input.name,
                if declared.is_empty() { "none".to_string() } else { names() },
                pair.manifest.display()
            );
        }
        let file = std::fs::canonicalize(&input.file)
            .with_context(|| format!("input {}: file {} not found", input.name, input.file.display()))?;
        if bound.insert(input.name.clone(), file).is_some() {
            bail!("input {} is given twice", input.name);
        }
    }
    let missing: Vec<&String> = declared.keys().filter(|n| !bound.contains_key(*n)).collect();
    if !missing.is_empty() {
        bail!(
            "the pair {} needs a file for each of its inputs; give {}",
            pair.name,
            missing.iter().map(|n| format!("--input {n}=FILE")).collect::<Vec<_>>().join(" ")
        );
    }
    Ok(bound)
}

/// The workflow's prove step, as the pair declares it, after `segments`
/// segment tasks (0 when it declares none).
pub fn prove_task(tx_hash: String, prover: &Image, workflow: &Workflow, segments: usize) -> TaskSpec {
    let task = workflow.prove_task_after(segments);
    TaskSpec {
        tx_hash,
        name: prover.name.to_string(),
        files: task.handed_over.into_iter().chain(task.inputs).map(|(_, vm)| vm).collect(),
        args: task.args,
    }
}

/// Segment `n`'s prover task.
pub fn segment_task(tx_hash: String, prover: &Image, segments: &Segments, n: usize) -> TaskSpec {
    let task = segments.task(n);
    TaskSpec {
        tx_hash,
        name: prover.name.to_string(),
        files: task.inputs.into_iter().map(|(_, vm)| vm).collect(),
        args: task.args,
    }
}

/// The second step: the verifier on the prover's files.
pub fn verify_task(tx_hash: String, verifier: &Image, workflow: &Workflow) -> TaskSpec {
    let task = workflow.verify_task();
    TaskSpec {
        tx_hash,
        name: verifier.name.to_string(),
        files: task.handed_over.into_iter().chain(task.inputs).map(|(_, vm)| vm).collect(),
        args: task.args,
    }
}

/// Runs one image's program on `workspace` with `task`.
pub fn run_image(
    project: &Project,
    image: &Image,
    binary: &Path,
    workspace: &Path,
    task: TaskSpec,
    timeout: u64,
) -> Result<crate::host::local_node::RunReport> {
    let paths = image_host_paths::image_paths(project, image)?;
    let args: Vec<String> = image.args.iter().map(|a| image_host_paths::translate(a, &paths)).collect();
    let mut env: Vec<(String, String)> =
        image.env.iter().map(|(k, v)| (k.as_str().to_string(), image_host_paths::translate(v, &paths))).collect();
    // Nanos gives the program exactly the image's vCPUs.
    env.push(("RAYON_NUM_THREADS".into(), image.cpus.get().to_string()));
    let node = crate::host::local_node::program(project)?;
    crate::host::local_node::run_program(&node, binary, &args, &env, workspace, task, Duration::from_secs(timeout))
        .map_err(|e| anyhow::anyhow!("image {}: {e}; its workspace is kept at {}", image.name, project.show(workspace)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_bound_to_the_declaration() {
        let project = Project::locate().unwrap();
        let manifests = project.manifests().unwrap();
        let pair = manifests.pair_named("header-chain").unwrap();
        let arg = |text: &str| text.parse::<InputArg>();
        assert!(arg("witness").unwrap_err().contains("write NAME=FILE"));
        assert!(arg("=x").is_err() && arg("witness=").is_err());
        let fixture = project.root.join("tests/fixtures/anvil-chain-8.witness.json");
        let given = [arg(&format!("witness={}", fixture.display())).unwrap()];
        assert_eq!(bind_inputs(pair, &given).unwrap()["witness"], fixture.canonicalize().unwrap());
        let e = bind_inputs(pair, &[]).unwrap_err().to_string();
        assert!(e.contains("give --input witness=FILE"), "{e}");
        let e = bind_inputs(pair, &[arg("proof=x.json").unwrap()]).unwrap_err().to_string();
        assert!(e.contains("has no input \"proof\"; it declares: witness"), "{e}");
        let e = bind_inputs(pair, &[arg("witness=/nonexistent/w.json").unwrap()]).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/w.json not found"), "{e}");
        let twice = [given[0].clone(), given[0].clone()];
        assert!(bind_inputs(pair, &twice).unwrap_err().to_string().contains("given twice"));
    }
}
