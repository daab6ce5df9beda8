//! Static, reproducible release binaries for the images' programs: the
//! plan (the exact cargo invocation, as data) and its execution.
//!
//! [`plan`] turns the manifests into the exact cargo invocation (arguments
//! and rustflags); [`execute`] runs it with a progress bar, then checks every
//! binary is fully static and reports its size and sha256. Reproducibility
//! comes from `--locked`, symbol stripping and remapping every host path
//! (checkout, target directory, cargo home, rustup home) to a fixed one.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::spec::manifest::Image;
use crate::spec::project::{cargo_home, rustup_home, Project, IMAGE_TARGET};
use crate::support::elf;
use crate::support::hashing::sha256_file;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct BuildPlan {
    pub target: String,
    pub packages: Vec<String>,
    pub bins: Vec<String>,
    pub cargo_args: Vec<String>,
    /// Passed as CARGO_ENCODED_RUSTFLAGS.
    pub rustflags: Vec<String>,
    /// Passed to C compilers (crates such as mimalloc build C code) as
    /// CFLAGS for the target: the same path remapping as for rustc.
    pub cflags: Vec<String>,
}

/// The environment variable cc-rs reads for the image target's C flags.
pub const TARGET_CFLAGS_VAR: &str = "CFLAGS_x86_64_unknown_linux_musl";
/// ... and for its C compiler: musl's gcc wrapper (Debian `musl-tools`).
pub const TARGET_CC_VAR: &str = "CC_x86_64_unknown_linux_musl";
pub const MUSL_CC: &str = "musl-gcc";

/// Fixed names every host path is remapped to.
pub const REMAP_CHECKOUT: &str = "/build/src";
pub const REMAP_TARGET: &str = "/build/target";
pub const REMAP_CARGO_HOME: &str = "/build/cargo";
pub const REMAP_RUSTUP_HOME: &str = "/build/rustup";

/// Host paths that must not leak into the binaries.
pub struct HostPaths {
    pub checkout: PathBuf,
    pub target_dir: PathBuf,
    pub cargo_home: Option<PathBuf>,
    pub rustup_home: Option<PathBuf>,
}

impl HostPaths {
    pub fn of(project: &Project) -> Self {
        Self {
            checkout: project.root.clone(),
            target_dir: project.target_dir.clone(),
            cargo_home: cargo_home(),
            rustup_home: rustup_home(),
        }
    }
}

pub fn plan(images: &[&Image], host: &HostPaths) -> BuildPlan {
    let packages: BTreeSet<String> = images.iter().map(|i| i.package.clone()).collect();
    let bins: BTreeSet<String> = images.iter().map(|i| i.bin.clone()).collect();
    let mut cargo_args: Vec<String> =
        ["build", "--release", "--locked", "--target", IMAGE_TARGET].iter().map(|s| s.to_string()).collect();
    for p in &packages {
        cargo_args.extend(["--package".to_string(), p.clone()]);
    }
    for b in &bins {
        cargo_args.extend(["--bin".to_string(), b.clone()]);
    }
    let mut rustflags = vec!["-C".to_string(), "target-feature=+crt-static".to_string()];
    // Shortest prefixes first: rustc and gcc apply the last matching remap,
    // so the most specific (a target directory inside the checkout) wins.
    // The target directory always gets its own name, inside the checkout or
    // not: generated sources (OUT_DIR) must read the same from any checkout.
    let mut remaps: Vec<(PathBuf, &str)> =
        vec![(host.checkout.clone(), REMAP_CHECKOUT), (host.target_dir.clone(), REMAP_TARGET)];
    if let Some(c) = &host.cargo_home {
        remaps.push((c.clone(), REMAP_CARGO_HOME));
    }
    if let Some(r) = &host.rustup_home {
        remaps.push((r.clone(), REMAP_RUSTUP_HOME));
    }
    remaps.sort_by_key(|(p, _)| p.as_os_str().len());
    // gcc's per-file random seed is fixed too.
    let mut cflags = vec!["-frandom-seed=0".to_string()];
    for (from, to) in remaps {
        rustflags.push(format!("--remap-path-prefix={}={to}", from.display()));
        cflags.push(format!("-ffile-prefix-map={}={to}", from.display()));
    }
    BuildPlan {
        target: IMAGE_TARGET.into(),
        packages: packages.into_iter().collect(),
        bins: bins.into_iter().collect(),
        cargo_args,
        rustflags,
        cflags,
    }
}

#[derive(Debug, Serialize, Clone)]
pub struct BuiltBinary {
    pub image: String,
    pub bin: String,
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Runs the plan's cargo build in `checkout` (with `target_dir`, when given,
/// as CARGO_TARGET_DIR), then checks and hashes each image's binary.
pub fn execute(
    sh: &Shell,
    project: &Project,
    plan: &BuildPlan,
    images: &[&Image],
    checkout: &Path,
    target_dir: Option<&Path>,
) -> Result<Vec<BuiltBinary>> {
    crate::host::system_packages::require(&[&crate::host::system_packages::MUSL_GCC])?;
    let _dir = sh.push_dir(checkout);
    let args = &plan.cargo_args;
    let mut command: Command = cmd!(sh, "cargo {args...} --quiet --message-format=json-render-diagnostics")
        .env("CARGO_ENCODED_RUSTFLAGS", plan.rustflags.join("\x1f"))
        .env(TARGET_CFLAGS_VAR, plan.cflags.join(" "))
        .env(TARGET_CC_VAR, MUSL_CC)
        // C's __DATE__ and __TIME__ (mimalloc prints its build time) follow it.
        .env("SOURCE_DATE_EPOCH", "0")
        .into();
    if let Some(t) = target_dir {
        command.env("CARGO_TARGET_DIR", t);
    }
    // A user's RUSTFLAGS would be ignored under CARGO_ENCODED_RUSTFLAGS; make that explicit.
    command.env_remove("RUSTFLAGS");
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let progress = crate::support::progress::units(&format!("cargo build --release --target {IMAGE_TARGET}"));
    let mut child = command.spawn().context("cannot start cargo")?;
    let stdout = child.stdout.take().expect("piped");
    let mut artifacts = 0u64;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        if let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) {
            if msg["reason"] == "compiler-artifact" {
                artifacts += 1;
                let name = msg["target"]["name"].as_str().unwrap_or("?");
                progress.set_message(format!("{artifacts} crates built, last: {name}"));
                progress.tick();
            }
        }
    }
    let status = child.wait()?;
    progress.finish_and_clear();
    if !status.success() {
        bail!("cargo build for {IMAGE_TARGET} failed (see its output above); if the target is missing, run `rustup target add {IMAGE_TARGET}` (rust-toolchain.toml lists it)");
    }
    let target_root = target_dir.map(Path::to_path_buf).unwrap_or_else(|| project.target_dir.clone());
    let mut built = Vec::new();
    for image in images {
        let path = target_root.join(IMAGE_TARGET).join("release").join(&image.bin);
        let data = std::fs::read(&path)
            .with_context(|| format!("cargo reported success but {} is missing", path.display()))?;
        if let Err(why) = elf::check_static(&data) {
            bail!("{} (image {}) is not fully static: {why}; check .cargo/config.toml and the crate's dependencies on C libraries", path.display(), image.name);
        }
        built.push(BuiltBinary {
            image: image.name.to_string(),
            bin: image.bin.clone(),
            path: path.strip_prefix(checkout).unwrap_or(&path).display().to_string(),
            size: data.len() as u64,
            sha256: sha256_file(&path)?,
        });
    }
    Ok(built)
}

pub fn copy_checkout(sh: &Shell, from: &Path, to: &Path) -> Result<()> {
    let _dir = sh.push_dir(from);
    let listing = cmd!(sh, "git ls-files -z --cached --others --exclude-standard")
        .read()
        .context("cannot list the checkout's files with git; --verify-reproducible needs a git checkout")?;
    for rel in listing.split('\0').filter(|s| !s.is_empty()) {
        let src = from.join(rel);
        if !src.is_file() {
            continue; // deleted but still in the index
        }
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().expect("a file has a parent"))?;
        std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
    }
    Ok(())
}
