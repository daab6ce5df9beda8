//! `cargo xtask inspect IMAGE`: what a Nanos image holds (ours, ops's, or a
//! bare filesystem): partitions, each filesystem's manifest and files, and
//! the content digest that ignores UUIDs and placement, so an image fetched
//! from a node can be compared with a local rebuild.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::Shell;

use nanos_image::inspect::{inspect, Inspected};

#[derive(clap::Args, Debug)]
pub struct InspectFlags {
    /// The image file.
    pub image: PathBuf,
    /// Print the whole report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print only the content digest.
    #[arg(long, conflicts_with = "json")]
    pub digest: bool,
}

impl InspectFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let file = std::fs::File::open(&self.image).with_context(|| format!("cannot open {}", self.image.display()))?;
        let report = inspect(&file).with_context(|| {
            format!("{} is not a well-formed Nanos image (or a TFS filesystem)", self.image.display())
        })?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else if self.digest {
            println!("{}", report.content_digest);
        } else {
            print_report(&self.image, &report);
        }
        Ok(())
    }
}

fn print_report(path: &std::path::Path, r: &Inspected) {
    println!("{}: {} bytes, {}", path.display(), r.size, r.layout);
    for p in &r.partitions {
        println!(
            "  partition {}: type {} {} at {} ({} bytes)",
            p.index,
            p.kind,
            if p.active { "active" } else { "inactive" },
            p.offset,
            p.size
        );
    }
    for fs in &r.filesystems {
        println!(
            "{} filesystem at {} ({} bytes): TFS v{}, uuid {}, label {:?}, {} log extensions",
            fs.role, fs.offset, fs.size, fs.tfs_version, fs.uuid, fs.label, fs.log_extensions
        );
        if let Some(manifest) = fs.manifest.as_object().filter(|m| !m.is_empty()) {
            println!("  manifest:");
            for (key, value) in manifest {
                println!("    {key} = {value}");
            }
        }
        println!("  files:");
        for f in &fs.files {
            match f.kind.as_str() {
                "file" => {
                    println!("    {:>12}  {}  {}", f.size.unwrap_or(0), f.sha256.as_deref().unwrap_or(""), f.path)
                }
                "symlink" => {
                    println!("    {:>12}  {:<64}  {} -> {}", "symlink", "", f.path, f.target.as_deref().unwrap_or(""))
                }
                kind => println!("    {kind:>12}  {:<64}  {}", "", f.path),
            }
        }
    }
    println!("content digest {}", r.content_digest);
}
