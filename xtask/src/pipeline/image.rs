//! Nanos images (the library `cmd/image.rs` and others use): written by the
//! native writer or through NanoVMs `ops`.
//!
//! Plan, then execute. [`plan`] turns an image manifest into data: the files
//! to stage (program, SRS, extra files, at their image paths), the ops
//! `config.json` ([`ops_config`], snapshot-tested), and the digests of every
//! input. Execution stages a self-contained directory, checks what offline
//! ops needs, runs `ops build` from inside the staging directory with a
//! hermetic environment, moves the image to `target/images/NAME.img` and
//! writes its record (`NAME.record.json`: size, sha256, BLAKE3, inputs).
//! An image whose inputs are unchanged is not rebuilt: ops is not started.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use xshell::{cmd, Shell};

use crate::pipeline::build::{execute, plan as build_plan, HostPaths};
use crate::pipeline::native::NanosSource;
pub use crate::spec::image_plan::{
    config_json, inputs, load_record, ops_config, staged_name, ImagePlan, ImageRecord, Inputs, OpsConfig, RunConfig,
};
use crate::spec::manifest::{Builder, Image};
use crate::spec::project::{home_dir, on_path, Project};
use crate::support::hashing::{sha256_and_blake3, sha256_file};

/// Where images and their records go instead of `target/images` (tests
/// point it at a scratch directory, so the images `deploy` would ship are
/// never replaced by test builds).
pub const IMAGES_DIR_ENV: &str = "XTASK_IMAGES_DIR";

pub fn images_dir(project: &Project) -> PathBuf {
    match std::env::var_os(IMAGES_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => project.target_dir.join("images"),
    }
}

/// The one step before planning that writes files: the SRS file an image
/// carries, generated (development SRS) or downsized into the cache when
/// needed. `None` for an image without `[srs]`.
pub fn prepare_srs(project: &Project, image: &Image) -> Result<Option<PathBuf>> {
    image.srs.as_ref().map(|srs| crate::pipeline::srs::srs_for_image(project, image, srs)).transpose()
}

/// Prepares each image's SRS, then plans it with its built program.
pub fn plan_all(project: &Project, images: &[&Image], programs: &[PathBuf]) -> Result<Vec<ImagePlan>> {
    images
        .iter()
        .zip(programs)
        .map(|(image, program)| plan(project, image, program, prepare_srs(project, image)?.as_deref()))
        .collect()
}

/// An image as data: what is staged from where, and where the image and its
/// record go. Writes nothing and generates nothing: the SRS file comes
/// prepared (see [`prepare_srs`]).
pub fn plan(project: &Project, image: &Image, program: &Path, srs_file: Option<&Path>) -> Result<ImagePlan> {
    let Some(nanos) = &image.nanos else {
        bail!(
            "{}: add `[nanos] version = \"0.1.52\"` (the Nanos release ops builds the image with)",
            image.manifest.display()
        );
    };
    let mut stage = vec![(program.to_path_buf(), image.bin.clone())];
    if let Some(srs) = &image.srs {
        let file = srs_file.with_context(|| format!("image {} carries an SRS: prepare it first", image.name))?;
        stage.push((file.to_path_buf(), staged_name(srs.path.as_str())));
    }
    for f in &image.files {
        let source = project.host(&f.source);
        if !source.is_file() {
            bail!(
                "{}: file {} (for {}) does not exist at {}; {}{}",
                image.manifest.display(),
                f.source,
                f.path,
                source.display(),
                if f.path.as_str().starts_with("/keys/") {
                    "make it with `cargo xtask keys`"
                } else {
                    "create it or fix the path"
                },
                project.moved_target_hint(&f.source)
            );
        }
        stage.push((source, staged_name(f.path.as_str())));
    }
    let dir = images_dir(project);
    Ok(ImagePlan {
        image: image.name.to_string(),
        nanos_version: nanos.version.to_string(),
        stage,
        config: ops_config(image),
        stage_dir: dir.join(format!("{}.stage", image.name)),
        output: dir.join(format!("{}.img", image.name)),
        record: dir.join(format!("{}.record.json", image.name)),
    })
}

/// ops's home and the files offline ops needs from it.
pub struct OpsHome {
    pub home: PathBuf,
    pub default_config: PathBuf,
}

impl OpsHome {
    fn ops_dir(&self) -> PathBuf {
        self.home.join(".ops")
    }

    pub fn kernel(&self, version: &str) -> PathBuf {
        self.ops_dir().join(version).join("kernel.img")
    }

    pub fn boot(&self, version: &str) -> PathBuf {
        self.ops_dir().join(version).join("boot.img")
    }

    /// Seeds a hermetic home from the user's ~/.ops (pinned kernel and boot
    /// image), writes `latest.txt` and the empty default config, then says
    /// exactly what is still missing.
    pub fn prepare(home: PathBuf, version: &str, seed_from: Option<PathBuf>) -> Result<Self> {
        let this = Self { default_config: home.join("ops-default-config.json"), home };
        std::fs::create_dir_all(this.ops_dir().join(version))
            .with_context(|| format!("cannot create {}", this.ops_dir().display()))?;
        if let Some(user) = seed_from.filter(|u| *u != this.home) {
            for name in ["kernel.img", "boot.img"] {
                let (from, to) = (user.join(".ops").join(version).join(name), this.ops_dir().join(version).join(name));
                if from.is_file() && !to.exists() {
                    std::fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
                }
            }
        }
        let latest = this.ops_dir().join("latest.txt");
        if !latest.exists() {
            std::fs::write(&latest, version)?;
        }
        std::fs::write(&this.default_config, "{}\n")?;
        let missing: Vec<String> = [this.kernel(version), this.boot(version)]
            .iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            bail!(
                "ops cannot build offline: missing {}. Fetch Nanos {version} once with `ops update` (or `ops pkg`/`ops build --nanos-version {version}` on a networked machine), then run again; `--ops-home ~` uses your own ~/.ops",
                missing.join(" and ")
            );
        }
        Ok(this)
    }
}

/// Writes the staging directory afresh: the program, the files at their
/// image paths, and config.json. Hard links where possible (large SRS files).
pub fn stage(plan: &ImagePlan) -> Result<()> {
    if plan.stage_dir.exists() {
        std::fs::remove_dir_all(&plan.stage_dir)
            .with_context(|| format!("cannot clear {}", plan.stage_dir.display()))?;
    }
    for (source, staged) in &plan.stage {
        let to = plan.stage_dir.join(staged);
        std::fs::create_dir_all(to.parent().expect("staged files have a parent"))?;
        if std::fs::hard_link(source, &to).is_err() {
            std::fs::copy(source, &to).with_context(|| format!("cannot stage {}", source.display()))?;
        }
    }
    std::fs::write(plan.stage_dir.join("config.json"), config_json(&plan.config))?;
    Ok(())
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The image path in ops's output: `Bootable image file:<path>` (ops build)
/// or `onprem image '<path>' created...` (ops image create).
pub fn parse_image_path(output: &str) -> Option<PathBuf> {
    let clean = strip_ansi(output);
    for line in clean.lines() {
        if let Some(rest) = line.trim().strip_prefix("Bootable image file:") {
            return Some(PathBuf::from(rest.trim()));
        }
        if let Some(rest) = line.trim().strip_prefix("onprem image '") {
            if let Some(end) = rest.find("' created") {
                return Some(PathBuf::from(&rest[..end]));
            }
        }
    }
    None
}

impl OpsHome {
    /// ops with a hermetic environment: this home, and `{}` as the default
    /// config instead of the user's ~/.opsrc.
    fn command<'a>(&self, cmd: xshell::Cmd<'a>) -> xshell::Cmd<'a> {
        cmd.env("OPS_HOME", &self.home).env("HOME", &self.home).env("OPS_DEFAULT_CONFIG", &self.default_config)
    }
}

/// `ops version`'s first line, e.g. "Ops version: 0.1.43".
fn ops_version(sh: &Shell, ops: &Path, home: &OpsHome) -> String {
    home.command(cmd!(sh, "{ops} version"))
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .and_then(|o| strip_ansi(&o).lines().find(|l| l.starts_with("Ops version")).map(|l| l.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

/// The existing record, when it was made from exactly these inputs and its
/// image is still there with the recorded BLAKE3: nothing to build.
fn up_to_date(plan: &ImagePlan, inputs: &Inputs) -> Option<ImageRecord> {
    let record = load_record(&plan.record)?;
    if record.inputs != *inputs || std::fs::metadata(&plan.output).map(|m| m.len()).ok() != Some(record.size) {
        return None;
    }
    let (_, blake3) = sha256_and_blake3(&plan.output, |_| {}).ok()?;
    (blake3 == record.blake3).then_some(record)
}

/// Builds one image with ops (or reports it up to date).
fn build_one(
    sh: &Shell,
    project: &Project,
    plan: &ImagePlan,
    home: &OpsHome,
    ops: &Path,
) -> Result<(ImageRecord, bool)> {
    let inputs = inputs(
        plan,
        sha256_file(&home.kernel(&plan.nanos_version))?,
        sha256_file(&home.boot(&plan.nanos_version))?,
        format!("ops {}", sha256_file(ops)?),
    )?;
    if let Some(record) = up_to_date(plan, &inputs) {
        return Ok((record, false));
    }
    stage(plan)?;
    let nanos = &plan.nanos_version;
    let (program, name) = (&plan.config.program, &plan.image);
    let _dir = sh.push_dir(&plan.stage_dir);
    eprintln!("ops build {name} (Nanos {nanos}) in {}", project.show(&plan.stage_dir));
    let output = home
        .command(cmd!(sh, "{ops} build {program} -c config.json -i {name} --nanos-version {nanos} -t onprem"))
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot start {}", ops.display()))?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        bail!(
            "ops failed ({}) building {name}; its output:\n{text}\nthe staged inputs are in {}",
            output.status,
            plan.stage_dir.display()
        );
    }
    let built = parse_image_path(&text)
        .with_context(|| format!("ops exited 0 but printed no image path for {name}; its output:\n{text}"))?;
    if !built.is_file() {
        bail!("ops says it wrote {}, but there is no such file; its output:\n{text}", built.display());
    }
    let total = std::fs::metadata(&built)?.len();
    let bar = crate::support::progress::bytes_bar("hashing", total);
    let (sha256, blake3) = sha256_and_blake3(&built, |n| bar.set_position(n))?;
    bar.finish_and_clear();
    let record = ImageRecord {
        image: name.clone(),
        file: plan.output.file_name().expect("file name").to_string_lossy().into_owned(),
        size: total,
        sha256,
        blake3,
        builder: "ops".into(),
        ops_version: Some(ops_version(sh, ops, home)),
        content_digest: None,
        inputs,
    };
    // The previous image and record stay valid until both new ones are in place.
    std::fs::create_dir_all(plan.output.parent().expect("has a parent"))?;
    let staged_record = plan.record.with_extension("json.partial");
    crate::spec::records::save(&staged_record, &record)?;
    if std::fs::rename(&built, &plan.output).is_err() {
        let partial = plan.output.with_extension("img.partial");
        std::fs::copy(&built, &partial)?;
        std::fs::rename(&partial, &plan.output)?;
        std::fs::remove_file(&built)?;
    }
    std::fs::rename(&staged_record, &plan.record)?;
    Ok((record, true))
}

/// Builds one image with the native writer (or reports it up to date):
/// the image first, then its record, each replaced only when complete.
fn build_native(
    project: &Project,
    image: &Image,
    plan: &ImagePlan,
    source: &NanosSource,
) -> Result<(ImageRecord, bool)> {
    let nanos = image.nanos.as_ref().expect("plan() requires [nanos]");
    let found = crate::pipeline::native::nanos_inputs(project, image, nanos, source)?;
    let inputs = inputs(
        plan,
        found.kernel_sha256.clone(),
        found.boot_sha256.clone(),
        crate::pipeline::native::WRITER_ID.into(),
    )?;
    if let Some(record) = up_to_date(plan, &inputs) {
        return Ok((record, false));
    }
    let record = crate::pipeline::native::write(image, plan, &found, inputs, &plan.output)?;
    crate::spec::records::save(&plan.record, &record)?;
    Ok((record, true))
}

/// One image built (or found up to date), with where it is.
pub type BuiltImage = (ImageRecord, bool, String);

/// Builds every planned image with its manifest's builder (or finds it up
/// to date), warning about images that carry the development SRS.
pub fn build_images(
    sh: &Shell,
    project: &Project,
    images: &[&Image],
    plans: &[ImagePlan],
    source: &NanosSource,
    builder: Option<Builder>,
) -> Result<Vec<BuiltImage>> {
    let mut ops: Option<PathBuf> = None;
    let home_dir_default = project.target_dir.join("ops-home");
    let mut records = Vec::new();
    for (image, p) in images.iter().zip(plans) {
        let nanos = image.nanos.as_ref().expect("plan() requires [nanos]");
        let (record, rebuilt) = match builder.unwrap_or(nanos.builder) {
            Builder::Native => build_native(project, image, p, source)?,
            Builder::Ops => {
                if ops.is_none() {
                    ops = Some(on_path("ops").context("ops is not on PATH: install NanoVMs ops (curl https://ops.city/get.sh -sSfL | sh), or set `[nanos] builder = \"native\"`; `cargo xtask doctor` checks every prerequisite")?);
                }
                let home = OpsHome::prepare(
                    source.ops_home.clone().unwrap_or_else(|| home_dir_default.clone()),
                    &p.nanos_version,
                    home_dir(),
                )?;
                build_one(sh, project, p, &home, ops.as_ref().expect("found above"))?
            }
        };
        let insecure = crate::pipeline::insecure_srs::insecure_files_in_image(&p.output)?;
        if !insecure.is_empty() {
            eprintln!("{}", crate::pipeline::insecure_srs::warning(image.name.as_str(), &insecure));
        }
        records.push((record, rebuilt, project.show(&p.output)));
    }
    Ok(records)
}

/// Builds the static binaries and the images of `images`: what `cargo
/// xtask image` does, for commands that need the images (`run --vm`).
pub fn ensure_images(
    sh: &Shell,
    project: &Project,
    manifests: &crate::spec::manifest::Manifests,
    images: &[&Image],
    source: &NanosSource,
) -> Result<Vec<BuiltImage>> {
    let built = execute(sh, project, &build_plan(images, &HostPaths::of(project)), images, &project.root, None)?;
    crate::pipeline::generated_files::ensure_generated_files(project, manifests, images)?;
    let programs: Vec<PathBuf> = built.iter().map(|b| project.root.join(&b.path)).collect();
    let plans = plan_all(project, images, &programs)?;
    build_images(sh, project, images, &plans, source, None)
}

/// An image's record, after checking the image file still matches it.
pub fn current_image(project: &Project, image: &Image) -> Result<(std::path::PathBuf, ImageRecord)> {
    let dir = images_dir(project);
    let record_path = dir.join(format!("{}.record.json", image.name));
    if !record_path.exists() {
        bail!(
            "no image record for {} ({}); run `cargo xtask image {}` first",
            image.name,
            project.show(&record_path),
            image.name
        );
    }
    let record: ImageRecord = crate::spec::records::load(&record_path)?;
    let file = dir.join(&record.file);
    let (sha256, blake3) = crate::support::hashing::sha256_and_blake3(&file, |_| {})
        .with_context(|| format!("cannot read the image {}", file.display()))?;
    if blake3 != record.blake3 || sha256 != record.sha256 {
        bail!(
            "the image {} no longer matches its record (BLAKE3 {blake3}, recorded {}); rebuild it with `cargo xtask image {}`",
            project.show(&file), record.blake3, image.name
        );
    }
    Ok((file, record))
}
