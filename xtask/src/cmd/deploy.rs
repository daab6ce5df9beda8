//! `cargo xtask deploy PAIR`: deploys the pair's images (built by `cargo
//! xtask image`) with `gevulot-cli deploy`, checks the program hashes the
//! CLI prints against our own computation, and records the deployment
//! (atomically, only after the CLI reported success).

use crate::pipeline::image::current_image;
use std::net::SocketAddr;

use anyhow::{bail, Result};
use xshell::Shell;

use crate::host::gevulot::{self, DeployedProgram, Deployment, NodeFlags};
use crate::spec::image_plan::ImageRecord;
use crate::spec::manifest::Image;
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct DeployFlags {
    /// The pair to deploy.
    pub pair: String,
    #[command(flatten)]
    pub node: NodeFlags,
    /// Where gevulot-cli serves local images to the node (it must reach it within 10 s).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,
    /// The prover image is hosted here (then its BLAKE3 is passed instead of a path).
    #[arg(long, requires = "verifier_url")]
    pub prover_url: Option<String>,
    /// The verifier image is hosted here.
    #[arg(long, requires = "prover_url")]
    pub verifier_url: Option<String>,
    /// Deploy even when an image carries the INSECURE development SRS
    /// (anyone can forge proofs against it): for test networks only.
    #[arg(long)]
    pub allow_insecure_srs: bool,
    /// Print the plan (the programs, their hashes, the gevulot-cli
    /// arguments) and stop before anything is sent.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the deployment record (or the plan) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `deploy` will do: the two programs as the node will know them, and
/// the gevulot-cli arguments that deploy them.
#[derive(Debug, serde::Serialize)]
pub struct DeployPlan {
    pub pair: String,
    pub node_url: String,
    pub prover: DeployedProgram,
    pub verifier: DeployedProgram,
    pub cli_args: Vec<String>,
}

impl DeployFlags {
    /// Refuses images that carry the development SRS (in an SRS file or a
    /// pinned key), unless `--allow-insecure-srs`.
    fn refuse_insecure_srs(&self, images: &[(&Image, &std::path::Path)]) -> Result<()> {
        let mut found = Vec::new();
        for (image, file) in images {
            let files = crate::pipeline::insecure_srs::insecure_files_in_image(file)?;
            if !files.is_empty() {
                found.push(format!("{} ({})", image.name, files.join(", ")));
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        if self.allow_insecure_srs {
            eprintln!(
                "warning: deploying the INSECURE development SRS in {} (--allow-insecure-srs): anyone can forge proofs this verifier accepts",
                found.join("; ")
            );
            return Ok(());
        }
        bail!(
            "refusing to deploy: {} carr{} the INSECURE development SRS, whose secret anyone can derive and forge proofs with. Put a ceremony SRS in the prover manifest's [srs] (source and sha256; README, \"Security notes\"), run `cargo xtask keys` and `cargo xtask image`, then deploy; or pass --allow-insecure-srs for a test network",
            found.join("; "),
            if found.len() == 1 { "ies" } else { "y" }
        )
    }

    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        // What a real deploy needs is checked first; a dry run needs neither.
        let cli = if self.dry_run {
            None
        } else {
            let cli = gevulot::cli()?;
            self.node.require_keyfile()?;
            Some(cli)
        };
        let plan = self.plan(&project)?;
        let Some(cli) = cli else {
            if self.json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                println!("would deploy {} to {} (nothing sent):", plan.pair, plan.node_url);
                for p in [&plan.prover, &plan.verifier] {
                    println!(
                        "  {:<8} {}  program {}  from {}",
                        p.image, p.image_file, p.program_hash, p.source.cli_arg
                    );
                }
                println!("  gevulot-cli {}", plan.cli_args.join(" "));
            }
            return Ok(());
        };
        self.execute(sh, &project, &cli, plan)
    }

    /// The programs (checked against their records and for the development
    /// SRS) and the gevulot-cli arguments; nothing is sent.
    fn plan(&self, project: &Project) -> Result<DeployPlan> {
        let manifests = project.manifests()?;
        let pair = manifests.pair_named(&self.pair).map_err(anyhow::Error::msg)?;
        if self.listen_addr.port() == 0 {
            bail!("--listen-addr needs a fixed port: the program hashes contain it");
        }
        let prover = manifests.image(pair.prover.as_str()).expect("validated pair");
        let verifier = manifests.image(pair.verifier.as_str()).expect("validated pair");
        // Each image checked against its record once (a full read and hash).
        let (prover_file, prover_record) = current_image(project, prover)?;
        let (verifier_file, verifier_record) = current_image(project, verifier)?;
        self.refuse_insecure_srs(&[(prover, &prover_file), (verifier, &verifier_file)])?;
        if self.prover_url.is_none() {
            if let Some(warning) = self.node.unreachable_listen_warning(self.listen_addr) {
                eprintln!("{warning}");
            }
        }
        let program = |image: &Image, url: &Option<String>, file: std::path::PathBuf, record: ImageRecord| {
            let source = match url {
                Some(url) => gevulot::hosted(url, &record.blake3)?,
                None => gevulot::served_locally(&file, self.listen_addr),
            };
            let name = image.name.to_string();
            Ok::<_, anyhow::Error>(DeployedProgram {
                program_hash: gevulot::program_hash(
                    &name,
                    &source.image_file_name,
                    &source.image_file_url,
                    &record.blake3,
                ),
                image: name.clone(),
                name,
                image_file: project.show(&file),
                source,
                blake3: record.blake3,
                sha256: record.sha256,
                cpus: image.cpus.get(),
                mem_mib: image.memory.mib(),
            })
        };
        let p = program(prover, &self.prover_url, prover_file, prover_record)?;
        let v = program(verifier, &self.verifier_url, verifier_file, verifier_record)?;
        let cli_args = self.cli_args(&p, &v);
        Ok(DeployPlan {
            pair: self.pair.clone(),
            node_url: self.node.jsonurl.clone(),
            prover: p,
            verifier: v,
            cli_args,
        })
    }

    fn cli_args(&self, p: &DeployedProgram, v: &DeployedProgram) -> Vec<String> {
        let mut args = self.node.global_args();
        args.extend(
            [
                "deploy",
                "-n",
                &self.pair,
                "-p",
                &p.source.cli_arg,
                "-v",
                &v.source.cli_arg,
                "--provername",
                &p.name,
                "--verifiername",
                &v.name,
                "--provercpus",
                &p.cpus.to_string(),
                "--provermem",
                &p.mem_mib.to_string(),
                "--verifiercpus",
                &v.cpus.to_string(),
                "--verifiermem",
                &v.mem_mib.to_string(),
                "-l",
                &self.listen_addr.to_string(),
            ]
            .map(String::from),
        );
        if let (Some(pu), Some(vu)) = (&self.prover_url, &self.verifier_url) {
            args.extend(["--proverimgurl".into(), pu.clone(), "--verifierimgurl".into(), vu.clone()]);
        }
        args
    }

    /// Runs gevulot-cli, checks the hashes it reports against the plan's,
    /// and records the deployment.
    fn execute(&self, sh: &Shell, project: &Project, cli: &std::path::Path, plan: DeployPlan) -> Result<()> {
        let DeployPlan { prover: p, verifier: v, cli_args: args, .. } = plan;
        eprintln!("deploying {} ({} + {}) to {}", self.pair, p.name, v.name, self.node.jsonurl);
        let output = gevulot::run_cli(sh, cli, &args, self.node.cli_timeout(), gevulot::Echo::Lines)?;
        let (tx_hash, prover_hash, verifier_hash) = gevulot::parse_deploy_output(&output)?;
        for (what, ours, theirs) in
            [("prover", &p.program_hash, &prover_hash), ("verifier", &v.program_hash, &verifier_hash)]
        {
            if ours != theirs {
                bail!(
                    "gevulot-cli reports {what} hash {theirs}, but the image, its name and its URL give {ours}; nothing recorded (transaction {tx_hash}); check that the CLI saw the same file and listen address"
                );
            }
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let deployment = Deployment {
            pair: self.pair.clone(),
            node_url: self.node.jsonurl.clone(),
            tx_hash,
            deployed_at: gevulot::rfc3339(now),
            prover: p.clone(),
            verifier: v.clone(),
        };
        let record = project.root.join(&self.node.record_dir);
        std::fs::create_dir_all(&record)?;
        let path = gevulot::record_path(&record, &self.pair);
        crate::spec::records::save(&path, &deployment)?;
        if self.json {
            println!("{}", crate::spec::records::pretty(&deployment)?);
        } else {
            println!("deployed {} in transaction {}", self.pair, deployment.tx_hash);
            println!("  prover   {}  program {}", p.name, p.program_hash);
            println!("  verifier {}  program {}", v.name, v.program_hash);
            println!("  record   {} (commit it: the record of what is live)", project.show(&path));
        }
        Ok(())
    }
}
