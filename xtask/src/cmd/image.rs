//! `cargo xtask image [IMAGE...]`: Nanos images (`crate::pipeline::image`), native
//! or through ops, with their records.

use crate::pipeline::build::{execute, plan as build_plan, HostPaths};
use crate::pipeline::image::{build_images, plan_all, stage};
use crate::pipeline::native::NanosSource;
use crate::spec::manifest::Builder;
use crate::spec::project::Project;
use anyhow::Result;
use std::path::PathBuf;
use xshell::Shell;

#[derive(clap::Args, Debug, Default)]
pub struct ImageFlags {
    /// Images to build (default: all).
    pub images: Vec<String>,
    /// Print the plan and stop before anything is built: the images are
    /// staged (directory and config.json, what ops would get), none is
    /// written. (`--stage-only` is the same.)
    #[arg(long, alias = "stage-only")]
    pub dry_run: bool,
    /// ops's home (OPS_HOME; ops keeps kernels in DIR/.ops). Default: target/ops-home,
    /// seeded with the pinned kernel from ~/.ops when it is there.
    #[arg(long)]
    pub ops_home: Option<PathBuf>,
    #[command(flatten)]
    pub fetch: crate::host::nanos_release::FetchFlags,
    /// Build with this builder whatever the manifests say.
    #[arg(long, value_enum)]
    pub builder: Option<Builder>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

impl ImageFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let manifests = project.manifests()?;
        let images = manifests.select(&self.images).map_err(anyhow::Error::msg)?;
        let built =
            execute(sh, &project, &build_plan(&images, &HostPaths::of(&project)), &images, &project.root, None)?;
        crate::pipeline::generated_files::ensure_generated_files(&project, &manifests, &images)?;
        let programs: Vec<PathBuf> = built.iter().map(|b| project.root.join(&b.path)).collect();
        let plans = plan_all(&project, &images, &programs)?;
        if self.dry_run {
            for p in &plans {
                stage(p)?;
            }
            if self.json {
                println!("{}", serde_json::to_string_pretty(&plans)?);
            } else {
                for p in &plans {
                    println!(
                        "staged {} in {} (config.json, {} files); ops not run",
                        p.image,
                        project.show(&p.stage_dir),
                        p.stage.len()
                    );
                }
            }
            return Ok(());
        }
        let source = NanosSource { ops_home: self.ops_home.clone(), fetch: self.fetch.clone() };
        let records = build_images(sh, &project, &images, &plans, &source, self.builder)?;
        if self.json {
            let list = records
                .iter()
                .map(|(r, rebuilt, path)| {
                    Ok(serde_json::json!({"record": crate::spec::records::json(r)?, "rebuilt": rebuilt, "path": path}))
                })
                .collect::<Result<Vec<_>>>()?;
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else {
            for (r, rebuilt, path) in &records {
                println!(
                    "{} {:<16} {:>11} bytes  blake3 {}  {path}",
                    if *rebuilt { "built     " } else { "up to date" },
                    r.image,
                    r.size,
                    r.blake3
                );
            }
        }
        Ok(())
    }
}
