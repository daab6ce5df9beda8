//! Test tools the project installs itself, pinned: anvil (a real Ethereum
//! node) from the npm package `@foundry-rs/anvil`, which ships the binary.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::project::Project;

pub const ANVIL_PACKAGE: &str = "@foundry-rs/anvil";
pub const ANVIL_VERSION: &str = "1.7.1";

pub fn anvil_dir(project: &Project) -> PathBuf {
    project.target_dir.join("tools").join(format!("anvil-{ANVIL_VERSION}"))
}

pub fn anvil_path(project: &Project) -> PathBuf {
    anvil_dir(project).join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}

/// The pinned anvil, installed with npm on first use.
pub fn ensure_anvil(sh: &Shell, project: &Project) -> Result<PathBuf> {
    let bin = anvil_path(project);
    if installed_version(sh, &bin).as_deref() == Some(ANVIL_VERSION) {
        return Ok(bin);
    }
    let dir = anvil_dir(project);
    std::fs::create_dir_all(&dir)?;
    eprintln!("installing {ANVIL_PACKAGE}@{ANVIL_VERSION} into {}", project.show(&dir));
    let spec = format!("{ANVIL_PACKAGE}@{ANVIL_VERSION}");
    cmd!(sh, "npm install --no-audit --no-fund --no-save --prefix {dir} {spec}")
        .quiet()
        .run()
        .context("npm could not install anvil; install Node.js and npm (Debian: `apt-get install nodejs npm`) and check that the npm registry is reachable")?;
    match installed_version(sh, &bin) {
        Some(v) if v == ANVIL_VERSION => Ok(bin),
        Some(v) => bail!("npm installed anvil {v}, expected {ANVIL_VERSION}"),
        None => bail!(
            "npm installed {spec} but {} does not run; the package ships binaries for linux-amd64 only here",
            bin.display()
        ),
    }
}

fn installed_version(sh: &Shell, bin: &std::path::Path) -> Option<String> {
    if !bin.exists() {
        return None;
    }
    let out = cmd!(sh, "{bin} --version").quiet().ignore_stderr().read().ok()?;
    let first = out.lines().next()?;
    first.strip_prefix("anvil Version: ").map(|v| v.trim().to_string())
}

/// The static target, added with rustup when the pinned toolchain lacks it
/// (rust-toolchain.toml lists it, but an existing toolchain is not updated).
pub fn ensure_musl_target(sh: &Shell) -> Result<()> {
    let target = crate::project::IMAGE_TARGET;
    let installed = cmd!(sh, "rustup target list --installed").quiet().read().unwrap_or_default();
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    cmd!(sh, "rustup target add {target}")
        .run()
        .with_context(|| format!("cannot install the {target} target with rustup"))
}

/// The static binaries link mimalloc, which is C: it needs musl's gcc wrapper.
pub fn require_musl_cc() -> Result<()> {
    if crate::project::on_path(crate::build::MUSL_CC).is_some() {
        return Ok(());
    }
    bail!(
        "{} is not installed: the static build compiles mimalloc (C) for musl; install it with `apt-get install musl-tools` (Debian/Ubuntu), or run `cargo xtask test`, which installs it",
        crate::build::MUSL_CC
    )
}

/// Installs musl-tools with apt when `musl-gcc` is missing (CI and fresh
/// Debian machines, as root); elsewhere says what to install.
pub fn ensure_musl_cc(sh: &Shell) -> Result<()> {
    if require_musl_cc().is_ok() {
        return Ok(());
    }
    if crate::project::on_path("apt-get").is_none() {
        return require_musl_cc();
    }
    eprintln!("installing musl-tools with apt-get (musl-gcc builds mimalloc for the static binaries)");
    cmd!(sh, "apt-get update -qq").quiet().run().context("apt-get update failed (are you root?)")?;
    cmd!(sh, "apt-get install -y -qq musl-tools").quiet().run().context("apt-get install musl-tools failed")?;
    require_musl_cc()
}

/// What the static build needs, installed when possible: the musl target
/// (rustup) and musl-gcc (apt-get, as root on Debian/Ubuntu).
pub fn ensure_static_toolchain(sh: &Shell) -> Result<()> {
    ensure_musl_target(sh)?;
    ensure_musl_cc(sh)
}

/// Whether this process runs as root (apt-get can install), read from /proc.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:").map(|r| r.split_whitespace().next() == Some("0"))))
        .unwrap_or(false)
}

/// QEMU for booting images: installed with apt when missing (as root on
/// Debian/Ubuntu); otherwise the exact command to run.
pub fn ensure_qemu(sh: &Shell) -> Result<()> {
    if crate::project::on_path("qemu-system-x86_64").is_some() {
        return Ok(());
    }
    if crate::project::on_path("apt-get").is_none() || !is_root() {
        bail!(
            "qemu-system-x86_64 is not installed and this user cannot install it: run `sudo apt-get install qemu-system-x86` (Debian/Ubuntu) or `sudo dnf install qemu-system-x86` (Fedora), then run this again"
        );
    }
    eprintln!("installing qemu-system-x86 with apt-get (the tests boot the images)");
    cmd!(sh, "apt-get update -qq").quiet().run().context("apt-get update failed")?;
    cmd!(sh, "apt-get install -y -qq --no-install-recommends qemu-system-x86")
        .quiet()
        .run()
        .context("apt-get install qemu-system-x86 failed")?;
    Ok(())
}

/// The pinned vhost-device-vsock (vsock for VMs without /dev/vhost-vsock),
/// built once with `cargo install --locked` into the project's tools directory.
pub fn ensure_vsock_helper(sh: &Shell, project: &Project) -> Result<PathBuf> {
    let tools = project.target_dir.join("tools");
    let bin = crate::vm::vsock_helper_path(&tools);
    if bin.is_file() {
        return Ok(bin);
    }
    let (name, version) = (crate::vm::VSOCK_HELPER, crate::vm::VSOCK_HELPER_VERSION);
    let root = bin.parent().and_then(|b| b.parent()).expect("tools/NAME-VERSION/bin/NAME");
    eprintln!("installing {name} {version} into {} (about two minutes, once)", project.show(root));
    cmd!(sh, "cargo install --locked --quiet {name} --version {version} --root {root}")
        .run()
        .with_context(|| format!("cannot install {name} {version} from crates.io"))?;
    Ok(bin)
}
