//! `cargo xtask nanos fetch [VERSION]` and `nanos list`: the Nanos releases
//! the images boot, fetched and checked by hand (`nanos_release` does it on
//! demand for `image`, `run --vm` and `release`).

use anyhow::Result;
use xshell::Shell;

use crate::host::nanos_release::{self, FetchFlags};
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct NanosFlags {
    #[command(subcommand)]
    pub action: NanosAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum NanosAction {
    /// Fetch a release into the cache, checked against (or pinning, on first
    /// use) the lock; default: every version the image manifests name.
    Fetch {
        version: Option<String>,
        #[command(flatten)]
        fetch: FetchFlags,
        #[arg(long)]
        json: bool,
    },
    /// The versions the manifests name, the lock's pins and what is cached.
    List {
        #[arg(long)]
        json: bool,
    },
}

impl NanosFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        match self.action {
            NanosAction::Fetch { version, fetch, json } => {
                let versions = match version {
                    Some(v) => vec![v],
                    None => manifest_versions(&project)?,
                };
                let mut done = Vec::new();
                for version in versions {
                    let fetched = nanos_release::ensure(&project, &version, &fetch)?;
                    if !json {
                        println!(
                            "Nanos {version}: {} ({}{})",
                            project.show(&fetched.dir),
                            if fetched.downloaded { "fetched" } else { "already cached" },
                            if fetched.pinned_now { ", pinned now: commit the lock" } else { "" }
                        );
                    }
                    done.push(serde_json::json!({ "version": version, "fetched": fetched }));
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&done)?);
                }
                Ok(())
            }
            NanosAction::List { json } => {
                let mut rows = Vec::new();
                for version in manifest_versions(&project)? {
                    let pin = nanos_release::pin(&project, &version)?;
                    let cached = nanos_release::cached(&version)?;
                    rows.push(serde_json::json!({
                        "version": version,
                        "pin": pin,
                        "cached": cached,
                        "url": nanos_release::archive_url(&FetchFlags::default().base_url(), &version),
                    }));
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                } else {
                    for row in &rows {
                        println!(
                            "Nanos {}: {}; {}",
                            row["version"].as_str().unwrap_or("?"),
                            match row["pin"]["archive_sha256"].as_str() {
                                Some(sha) => format!("pinned (archive sha256 {sha})"),
                                None => "not pinned (the first fetch pins it)".into(),
                            },
                            match row["cached"].as_str() {
                                Some(dir) => format!("cached in {dir}"),
                                None => format!("not cached (from {})", row["url"].as_str().unwrap_or("?")),
                            }
                        );
                    }
                }
                Ok(())
            }
        }
    }
}

/// Every `[nanos] version` the image manifests name.
fn manifest_versions(project: &Project) -> Result<Vec<String>> {
    let manifests = project.manifests()?;
    let mut versions: Vec<String> =
        manifests.images.iter().filter_map(|i| i.nanos.as_ref().map(|n| n.version.as_str().to_string())).collect();
    versions.sort();
    versions.dedup();
    Ok(versions)
}
