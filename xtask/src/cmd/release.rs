//! `cargo xtask release`: every image written by the native writer, so the
//! same sources give the same bytes; then `SHA256SUMS` and a release record
//! (per image: sha256, BLAKE3, size, content digest, the Gevulot program
//! hash for `--url`, every input digest). `--verify RECORD` rebuilds the
//! recorded commit in a clean checkout (its own target directory) and
//! reports each image as identical or not.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::pipeline::build::{execute, plan as build_plan, HostPaths};
use crate::pipeline::image::{plan as image_plan, Inputs};
use crate::spec::project::Project;

#[derive(clap::Args, Debug, Default)]
pub struct ReleaseFlags {
    /// Images to release (default: all).
    pub images: Vec<String>,
    /// Where the images, SHA256SUMS and release.json go (default: target/nanos-release).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where the images will be served from: record each image's Gevulot
    /// program hash for URL/NAME.img.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// ops's home, holding the pinned Nanos kernel.img and boot.img in
    /// DIR/.ops/VERSION/ (default: your home), unless the manifests give paths.
    #[arg(long)]
    pub ops_home: Option<PathBuf>,
    #[command(flatten)]
    pub fetch: crate::host::nanos_release::FetchFlags,
    /// Rebuild the release RECORD describes in a clean checkout and compare.
    #[arg(long, value_name = "RECORD")]
    pub verify: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub const RECORD_FILE: &str = "release.json";
pub const SUMS_FILE: &str = "SHA256SUMS";

impl crate::spec::records::Record for ReleaseRecord {
    const KIND: &'static str = "xtask-release";
    const WHAT: &'static str = "a release record";
    const VERSION: u32 = 2;
    const REMAKE: &'static str = "make the release again (`cargo xtask release`)";

    /// Version 1 was these fields with `"format": 1` in place of kind and version.
    fn legacy(
        mut fields: serde_json::Map<String, serde_json::Value>,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        (fields.remove("format")? == 1).then_some(fields)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReleaseRecord {
    pub source: SourceState,
    /// `rustc -V` of the toolchain that built the programs.
    pub toolchain: String,
    /// The image writer's identity.
    pub writer: String,
    pub url: Option<String>,
    pub images: Vec<ReleasedImage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceState {
    /// The git commit the release was built from.
    pub commit: Option<String>,
    /// Whether the checkout had changes beyond that commit.
    pub dirty: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReleasedImage {
    pub image: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub blake3: String,
    pub content_digest: String,
    /// The Gevulot program hash when served from `image_url` (with `--url`).
    pub image_url: Option<String>,
    pub program_hash: Option<String>,
    pub manifest: String,
    pub manifest_sha256: String,
    pub inputs: Inputs,
}

impl ReleaseFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let source =
            crate::pipeline::native::NanosSource { ops_home: self.ops_home.clone(), fetch: self.fetch.clone() };
        let ops_home = &source;
        if let Some(record) = &self.verify {
            return verify(sh, &project, record, ops_home, self.json);
        }
        let out = self.out.clone().unwrap_or_else(|| default_out(&project));
        let record = release(sh, &project, &self.images, ops_home, &out, self.url.as_deref())?;
        if self.json {
            println!("{}", crate::spec::records::pretty(&record)?);
        } else {
            for i in &record.images {
                println!(
                    "{:<16} {:>11} bytes  sha256 {}  {}",
                    i.image,
                    i.size,
                    i.sha256,
                    project.show(&out.join(&i.file))
                );
            }
            println!("wrote {} and {} in {}", SUMS_FILE, RECORD_FILE, project.show(&out));
        }
        Ok(())
    }
}

fn git_state(sh: &Shell, root: &Path) -> SourceState {
    let _dir = sh.push_dir(root);
    let commit = cmd!(sh, "git rev-parse HEAD").quiet().ignore_stderr().read().ok();
    let dirty =
        cmd!(sh, "git status --porcelain").quiet().ignore_stderr().read().map_or(true, |s| !s.trim().is_empty());
    SourceState { commit, dirty }
}

/// Builds the programs, then writes every selected image into `out` with
/// the native writer, then `SHA256SUMS` and the record (atomically, last).
pub fn release(
    sh: &Shell,
    project: &Project,
    names: &[String],
    ops_home: &crate::pipeline::native::NanosSource,
    out: &Path,
    url: Option<&str>,
) -> Result<ReleaseRecord> {
    let manifests = project.manifests()?;
    let images = manifests.select(names).map_err(anyhow::Error::msg)?;
    for image in &images {
        if image.nanos.is_none() {
            bail!("{}: add a `[nanos]` section (version, and ideally kernel_sha256 and boot_sha256) to release this image", image.manifest.display());
        }
    }
    let built = execute(sh, project, &build_plan(&images, &HostPaths::of(project)), &images, &project.root, None)?;
    crate::pipeline::generated_files::ensure_generated_files(project, &manifests, &images)?;
    let source = git_state(sh, &project.root);
    let toolchain = {
        let _dir = sh.push_dir(&project.root);
        cmd!(sh, "rustc -V").quiet().read().context("cannot run `rustc -V`")?
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut released = Vec::new();
    for (image, b) in images.iter().zip(&built) {
        let nanos = image.nanos.as_ref().expect("checked above");
        let srs_file = crate::pipeline::image::prepare_srs(project, image)?;
        let plan = image_plan(project, image, &project.root.join(&b.path), srs_file.as_deref())?;
        let found = crate::pipeline::native::nanos_inputs(project, image, nanos, ops_home)?;
        for (key, pinned, digest) in [
            ("kernel_sha256", &nanos.kernel_sha256, &found.kernel_sha256),
            ("boot_sha256", &nanos.boot_sha256, &found.boot_sha256),
        ] {
            if pinned.is_none() {
                eprintln!(
                    "warning: {} does not pin `[nanos] {key}`; this release records {digest}: add `{key} = \"{digest}\"` so every build checks it",
                    image.manifest.display()
                );
            }
        }
        let inputs = crate::pipeline::image::inputs(
            &plan,
            found.kernel_sha256.clone(),
            found.boot_sha256.clone(),
            crate::pipeline::native::WRITER_ID.into(),
        )?;
        let output = out.join(format!("{}.img", image.name));
        let record = crate::pipeline::native::write(image, &plan, &found, inputs, &output)?;
        let (image_url, program_hash) = match url {
            Some(base) => {
                let image_url = format!("{}/{}", base.trim_end_matches('/'), record.file);
                let source = crate::host::gevulot::hosted(&image_url, &record.blake3)?;
                let hash = crate::host::gevulot::program_hash(
                    image.name.as_str(),
                    &source.image_file_name,
                    &source.image_file_url,
                    &record.blake3,
                );
                (Some(image_url), Some(hash))
            }
            None => (None, None),
        };
        let manifest_path = project.root.join(&image.manifest);
        released.push(ReleasedImage {
            image: record.image,
            file: record.file,
            size: record.size,
            sha256: record.sha256,
            blake3: record.blake3,
            content_digest: record.content_digest.expect("native records carry it"),
            image_url,
            program_hash,
            manifest: image.manifest.display().to_string(),
            manifest_sha256: crate::support::hashing::sha256_file(&manifest_path)?,
            inputs: record.inputs,
        });
    }
    released.sort_by(|a, b| a.file.cmp(&b.file));
    let sums: String = released.iter().map(|i| format!("{}  {}\n", i.sha256, i.file)).collect();
    atomic_write::write_atomic(&out.join(SUMS_FILE), |w| w.write_all(sums.as_bytes()))?;
    let record = ReleaseRecord {
        source,
        toolchain: toolchain.trim().to_string(),
        writer: crate::pipeline::native::WRITER_ID.into(),
        url: url.map(str::to_string),
        images: released,
    };
    crate::spec::records::save(&out.join(RECORD_FILE), &record)?;
    Ok(record)
}

#[derive(Debug, Serialize)]
pub struct Verdict {
    pub image: String,
    pub recorded_sha256: String,
    pub rebuilt_sha256: Option<String>,
    pub identical: bool,
    /// Inputs that differ, when the image does.
    pub differing_inputs: Vec<String>,
}

fn differing_inputs(a: &Inputs, b: &Inputs) -> Vec<String> {
    let mut out = Vec::new();
    let fields = [
        ("nanos_version", &a.nanos_version, &b.nanos_version),
        ("program", &a.program_sha256, &b.program_sha256),
        ("config", &a.config_sha256, &b.config_sha256),
        ("kernel.img", &a.kernel_sha256, &b.kernel_sha256),
        ("boot.img", &a.boot_sha256, &b.boot_sha256),
        ("writer", &a.builder, &b.builder),
    ];
    for (name, x, y) in fields {
        if x != y {
            out.push(name.to_string());
        }
    }
    for (path, digest) in &a.files {
        if b.files.get(path) != Some(digest) {
            out.push(format!("file {path}"));
        }
    }
    out.extend(b.files.keys().filter(|p| !a.files.contains_key(*p)).map(|p| format!("file {p} (new)")));
    out
}

/// A clean checkout of `commit`: exactly the committed files.
fn clean_checkout(sh: &Shell, repo: &Path, commit: &str, to: &Path) -> Result<()> {
    let _dir = sh.push_dir(repo);
    let object = format!("{commit}^{{commit}}");
    if cmd!(sh, "git cat-file -e {object}").quiet().ignore_stderr().run().is_err() {
        bail!(
            "commit {commit} is not in the repository at {}: fetch it, or verify from a clone that has it",
            repo.display()
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let tar = to.with_extension("tar");
    cmd!(sh, "git archive --format=tar -o {tar} {commit}").quiet().run().context("git archive failed")?;
    cmd!(sh, "tar -xf {tar} -C {to}").quiet().run().context("cannot unpack the checkout")?;
    std::fs::remove_file(&tar)?;
    Ok(())
}

fn verify(
    sh: &Shell,
    project: &Project,
    record_path: &Path,
    ops_home: &crate::pipeline::native::NanosSource,
    json: bool,
) -> Result<()> {
    let recorded: ReleaseRecord = crate::spec::records::load(record_path)?;
    let scratch = tempfile::Builder::new().prefix("xtask-release-verify-").tempdir()?;
    let checkout = scratch.path().join("clean").join("checkout");
    match (&recorded.source.commit, recorded.source.dirty) {
        (Some(commit), false) => {
            eprintln!("verify: a clean checkout of {commit} in {}", checkout.display());
            clean_checkout(sh, &project.root, commit, &checkout)?;
        }
        _ => {
            eprintln!(
                "verify: the release was made from uncommitted sources; comparing with a copy of this checkout's files instead (commit the sources for a verifiable release)"
            );
            crate::pipeline::build::copy_checkout(sh, &project.root, &checkout)?;
        }
    }
    // The clean checkout builds in its own, empty target directory, outside
    // the checkout (as with a global CARGO_TARGET_DIR): the dev SRS and keys
    // are made there and found through the manifests' `${target}/…`.
    let mut clean = Project::at(&checkout)?;
    clean.target_dir = checkout.parent().expect("scratch/clean/checkout").join("target");
    let _target = sh.push_env("CARGO_TARGET_DIR", &clean.target_dir);
    let names: Vec<String> = recorded.images.iter().map(|i| i.image.clone()).collect();
    let out = scratch.path().join("release");
    let rebuilt = release(sh, &clean, &names, ops_home, &out, recorded.url.as_deref())?;
    let mut verdicts = Vec::new();
    for want in &recorded.images {
        let got = rebuilt.images.iter().find(|i| i.image == want.image);
        verdicts.push(Verdict {
            image: want.image.clone(),
            recorded_sha256: want.sha256.clone(),
            rebuilt_sha256: got.map(|g| g.sha256.clone()),
            identical: got.is_some_and(|g| g == want),
            differing_inputs: got.map(|g| differing_inputs(&want.inputs, &g.inputs)).unwrap_or_default(),
        });
    }
    // The SHA256SUMS beside the record, when there is one, must match too.
    let recorded_sums = record_path.parent().map(|d| d.join(SUMS_FILE)).and_then(|p| std::fs::read(p).ok());
    let rebuilt_sums = std::fs::read(out.join(SUMS_FILE))?;
    let sums_identical = recorded_sums.as_ref().map(|r| *r == rebuilt_sums);
    let all = verdicts.iter().all(|v| v.identical)
        && rebuilt.toolchain == recorded.toolchain
        && sums_identical != Some(false);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "identical": all, "sha256sums_identical": sums_identical, "images": verdicts,
            }))?
        );
    } else {
        println!("{:<16}  {:<64}  {:<64}  identical", "image", "recorded sha256", "rebuilt sha256");
        for v in &verdicts {
            println!(
                "{:<16}  {}  {:<64}  {}{}",
                v.image,
                v.recorded_sha256,
                v.rebuilt_sha256.as_deref().unwrap_or("(not rebuilt)"),
                if v.identical { "yes" } else { "NO" },
                if v.differing_inputs.is_empty() {
                    String::new()
                } else {
                    format!(" (inputs differ: {})", v.differing_inputs.join(", "))
                }
            );
        }
    }
    if !json {
        match sums_identical {
            Some(true) => println!("{SUMS_FILE}: identical"),
            Some(false) => println!("{SUMS_FILE}: DIFFERENT"),
            None => println!("{SUMS_FILE}: none beside the record to compare"),
        }
    }
    if rebuilt.toolchain != recorded.toolchain {
        bail!("the toolchain differs: recorded {:?}, this machine {:?}", recorded.toolchain, rebuilt.toolchain);
    }
    if !all {
        bail!("the rebuilt release differs from {}: see the table above", record_path.display());
    }
    if !json {
        println!("reproduced: {} images byte-identical from a clean checkout", verdicts.len());
    }
    Ok(())
}

pub fn default_out(project: &Project) -> PathBuf {
    project.target_dir.join("nanos-release")
}
