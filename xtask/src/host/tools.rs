//! Test tools the project installs itself, pinned: anvil (a real Ethereum
//! node) from the npm package `@foundry-rs/anvil`, which ships the binary.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::host::system_packages;
use crate::spec::project::Project;

use anvil_harness::{PACKAGE as ANVIL_PACKAGE, VERSION as ANVIL_VERSION};

/// The pinned anvil, installed with npm on first use.
pub fn ensure_anvil(sh: &Shell, project: &Project) -> Result<PathBuf> {
    let bin = anvil_harness::installed_binary(&project.target_dir);
    if installed_version(sh, &bin).as_deref() == Some(ANVIL_VERSION) {
        return Ok(bin);
    }
    let spec = format!("{ANVIL_PACKAGE}@{ANVIL_VERSION}");
    npm_install(sh, project, &anvil_harness::install_dir(&project.target_dir), &spec)?;
    match installed_version(sh, &bin) {
        Some(v) if v == ANVIL_VERSION => Ok(bin),
        Some(v) => bail!("npm installed anvil {v}, expected {ANVIL_VERSION}"),
        None => bail!(
            "npm installed {spec} but {} does not run; the package ships binaries for linux-amd64 only here",
            bin.display()
        ),
    }
}

/// `npm install` of one pinned package into its own directory `dir`.
/// npm's report is captured, not passed on: the xtask's stdout may be JSON.
pub fn npm_install(sh: &Shell, project: &Project, dir: &std::path::Path, spec: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    eprintln!("installing {spec} into {}", project.show(dir));
    let fix =
        "install Node.js and npm (Debian: `apt-get install nodejs npm`) and check that the npm registry is reachable";
    let out = cmd!(sh, "npm install --no-audit --no-fund --no-save --prefix {dir} {spec}")
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot run npm to install {spec}; {fix}"))?;
    if !out.status.success() {
        bail!("npm could not install {spec} ({}); {fix}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
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
    let target = crate::spec::project::IMAGE_TARGET;
    let installed = cmd!(sh, "rustup target list --installed").quiet().read().unwrap_or_default();
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    cmd!(sh, "rustup target add {target}")
        .run()
        .with_context(|| format!("cannot install the {target} target with rustup"))
}

/// What the static build needs, installed when possible: musl-gcc (see
/// [`system_packages::ensure`]) and the musl target (rustup).
pub fn ensure_static_toolchain(sh: &Shell) -> Result<()> {
    system_packages::ensure(sh, &[&system_packages::MUSL_GCC])?;
    ensure_musl_target(sh)
}

/// The pinned vhost-device-vsock (vsock for VMs without /dev/vhost-vsock),
/// built once with `cargo install --locked` into the project's tools directory.
pub fn ensure_vsock_helper(sh: &Shell, project: &Project) -> Result<PathBuf> {
    let tools = project.target_dir.join("tools");
    let bin = crate::host::vm::vsock_helper_path(&tools);
    if bin.is_file() {
        return Ok(bin);
    }
    let (name, version) = (crate::host::vm::VSOCK_HELPER, crate::host::vm::VSOCK_HELPER_VERSION);
    let root = bin.parent().and_then(|b| b.parent()).expect("tools/NAME-VERSION/bin/NAME");
    eprintln!("installing {name} {version} into {} (about two minutes, once)", project.show(root));
    cmd!(sh, "cargo install --locked --quiet {name} --version {version} --root {root}")
        .run()
        .with_context(|| format!("cannot install {name} {version} from crates.io"))?;
    Ok(bin)
}
