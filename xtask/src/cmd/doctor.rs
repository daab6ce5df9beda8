//! `cargo xtask doctor`: which prerequisites are present, and how to get
//! each missing one. It only looks; it changes nothing.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::spec::project::{on_path, Project, IMAGE_TARGET};
use crate::support::hashing::sha256_file;

#[derive(clap::Args, Debug)]
pub struct DoctorFlags {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Finding {
    what: String,
    ok: bool,
    detail: String,
    /// How to get it, when missing.
    fix: Option<String>,
}

fn found(what: &str, detail: String) -> Finding {
    Finding { what: what.into(), ok: true, detail, fix: None }
}

fn missing(what: &str, detail: String, fix: &str) -> Finding {
    Finding { what: what.into(), ok: false, detail, fix: Some(fix.into()) }
}

fn first_line(sh: &Shell, program: &Path, arg: &str) -> Option<String> {
    let out = cmd!(sh, "{program} {arg}").quiet().ignore_stderr().read().ok()?;
    out.lines().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string())
}

impl DoctorFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let mut report = build_tools(sh);
        report.extend(vm_tools(sh, &project));
        report.extend(chain_tools(&project));
        match project.manifests() {
            Ok(manifests) => {
                for image in &manifests.images {
                    report.extend(image_findings(&project, image));
                }
            }
            Err(_) => report.push(missing("manifests", "do not validate".into(), "cargo xtask check shows why")),
        }

        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            let width = report.iter().map(|f| f.what.chars().count()).max().unwrap_or(0);
            for f in &report {
                let fix = f.fix.as_ref().map(|fix| format!(" → {fix}")).unwrap_or_default();
                println!("{} {:<width$}  {}{fix}", if f.ok { "ok     " } else { "MISSING" }, f.what, f.detail);
            }
        }
        Ok(())
    }
}

/// What building needs: the musl target and C compiler, and ops for images
/// built with it.
fn build_tools(sh: &Shell) -> Vec<Finding> {
    let mut report = Vec::new();
    let targets = cmd!(sh, "rustup target list --installed").quiet().ignore_stderr().read().unwrap_or_default();
    report.push(if targets.lines().any(|t| t.trim() == IMAGE_TARGET) {
        found("musl target", IMAGE_TARGET.into())
    } else {
        missing(
            "musl target",
            format!("{IMAGE_TARGET} is not installed"),
            "rustup target add x86_64-unknown-linux-musl (rustup also installs it from rust-toolchain.toml)",
        )
    });

    report.push(match on_path(crate::pipeline::build::MUSL_CC) {
        Some(p) => found("musl C compiler", p.display().to_string()),
        None => missing(
            "musl C compiler",
            "musl-gcc not on PATH (the static build compiles mimalloc)".into(),
            "apt-get install musl-tools",
        ),
    });
    let ops_get =
        "install NanoVMs ops: curl https://ops.city/get.sh -sSfL | sh (then `ops update` fetches the Nanos kernel)";
    report.push(match on_path("ops") {
        Some(ops) => found("ops", first_line(sh, &ops, "version").unwrap_or_else(|| ops.display().to_string())),
        None => missing(
            "ops",
            "not on PATH (needed for images with builder = \"ops\"; the native writer and `release` do not use it)"
                .into(),
            ops_get,
        ),
    });
    report
}

/// What booting images needs: QEMU and the vsock helper.
fn vm_tools(sh: &Shell, project: &Project) -> Vec<Finding> {
    let mut report = Vec::new();
    report.push(match on_path("qemu-system-x86_64") {
        Some(q) => found("qemu", first_line(sh, &q, "--version").unwrap_or_default()),
        None => missing(
            "qemu",
            "qemu-system-x86_64 not on PATH (needed for `run --vm` and the boot tests, not for building)".into(),
            "sudo apt-get install qemu-system-x86 (Debian/Ubuntu), sudo dnf install qemu-system-x86 (Fedora)",
        ),
    });
    report.push(match crate::host::vm::find_vsock_helper(&project.target_dir.join("tools")) {
        Some(helper) => found("vsock helper", helper.display().to_string()),
        None if Path::new("/dev/vhost-vsock").exists() => found(
            "vsock helper",
            format!("not installed; /dev/vhost-vsock exists, but `run --vm` uses {}", crate::host::vm::VSOCK_HELPER),
        ),
        None => missing(
            "vsock helper",
            format!("{} is not installed (`run --vm` serves the VM service through it)", crate::host::vm::VSOCK_HELPER),
            &format!(
                "cargo install --locked {} --version {} (or cargo xtask test, which installs it)",
                crate::host::vm::VSOCK_HELPER,
                crate::host::vm::VSOCK_HELPER_VERSION
            ),
        ),
    });
    report
}

/// What deploying and the chain tools need: gevulot-cli, anvil, solc.
fn chain_tools(project: &Project) -> Vec<Finding> {
    let mut report = Vec::new();
    report.push(match on_path("gevulot-cli") {
        Some(g) => found("gevulot-cli", g.display().to_string()),
        None => missing(
            "gevulot-cli",
            "not on PATH (needed for deploy and exec)".into(),
            "build it from the gevulotnetwork/gevulot repository: cargo install --path crates/cli",
        ),
    });
    let anvil = anvil_harness::installed_binary(&project.target_dir);
    report.push(if anvil.is_file() {
        found("anvil", format!("{} {}", anvil_harness::VERSION, project.show(&anvil)))
    } else {
        missing(
            "anvil",
            "not installed (tests and the local demo need an Ethereum node)".into(),
            "cargo xtask test installs it, or: npm install @foundry-rs/anvil@1.7.1",
        )
    });
    let solc = crate::pipeline::evm::solc::entry(project);
    report.push(match (on_path("node"), solc.is_file()) {
        (Some(_), true) => found("solc", format!("{} {}", crate::pipeline::evm::solc::VERSION, project.show(&solc))),
        (Some(_), false) => missing(
            "solc",
            format!(
                "{} not installed (evm-verifier compiles the EVM verifier with it)",
                crate::pipeline::evm::solc::VERSION
            ),
            "cargo xtask evm-verifier installs it with npm (package solc, runs offline under Node.js)",
        ),
        (None, _) => missing(
            "solc",
            "Node.js (`node`) is not on PATH: solc runs under it".into(),
            "install Node.js and npm (Debian: apt-get install nodejs npm)",
        ),
    });

    report
}

/// An image's carried files, kernel and SRS pin.
fn image_findings(project: &Project, image: &crate::spec::manifest::Image) -> Vec<Finding> {
    let mut report = Vec::new();
    for file in &image.files {
        let path = project.host(&file.source);
        let what = format!("{} for {}", file.path, image.name);
        report.push(if path.is_file() {
            found(&what, project.show(&path))
        } else {
            missing(
                &what,
                format!("{} is missing ({}){}", file.source, path.display(), project.moved_target_hint(&file.source)),
                if file.make.is_some() {
                    "its manifest has a make recipe: `cargo xtask image` makes it"
                } else {
                    "see the manifest's comment on it"
                },
            )
        });
    }
    if let Some(nanos) = &image.nanos {
        report.push(kernel_finding(project, image, nanos));
    }
    let Some(srs) = &image.srs else { return report };
    let path = project.host(&srs.source);
    let what = format!("SRS for {}", image.name);
    report.push(match sha256_file(&path) {
        Ok(digest) if digest == srs.sha256.as_str() => {
            found(&what, format!("{} (sha256 matches the pin)", project.show(&path)))
        }
        Ok(digest) => missing(
            &what,
            format!("{} has sha256 {digest}, the manifest pins {}", project.show(&path), srs.sha256),
            "regenerate or re-download the file the pin names",
        ),
        Err(_) => missing(
            &what,
            format!("{} is missing ({}){}", srs.source, path.display(), project.moved_target_hint(&srs.source)),
            &format!("cargo xtask srs generate --k {} (development only)", srs.k.get()),
        ),
    });
    report
}

/// One line for an image's kernel: the file it will boot, where that choice
/// came from (the manifest, `--ops-home`, `XTASK_NANOS_DIR`, ops's home), its
/// digest, and whether the manifest pins it.
fn kernel_finding(
    project: &Project,
    image: &crate::spec::manifest::Image,
    nanos: &crate::spec::manifest::NanosSection,
) -> Finding {
    let what = format!("Nanos {} for {}", nanos.version, image.name);
    let (kernel, source) = match &nanos.kernel {
        Some(path) => (project.host(path), format!("the manifest's [nanos] kernel = \"{path}\"")),
        None => match crate::pipeline::native::nanos_dir_offline(project, nanos) {
            Ok((dir, source)) => (dir.join("kernel.img"), format!("{source} ({})", dir.display())),
            Err(e) => {
                return missing(
                    &what,
                    format!("{e:#}"),
                    &format!(
                        "`cargo xtask nanos fetch {}` (or the first `cargo xtask image` does it; {} for a mirror), or set {} to a directory with kernel.img and boot.img",
                        nanos.version,
                        crate::host::nanos_release::URL_ENV,
                        crate::pipeline::native::NANOS_DIR_ENV
                    ),
                )
            }
        },
    };
    if !kernel.is_file() {
        return missing(
            &what,
            format!("no kernel.img at {} (looked there because of {source})", kernel.display()),
            &format!(
                "`cargo xtask nanos fetch {}` (or the first `cargo xtask image` does it; {} for a mirror), or set {} to a directory with kernel.img and boot.img",
                nanos.version,
                crate::host::nanos_release::URL_ENV,
                crate::pipeline::native::NANOS_DIR_ENV
            ),
        );
    }
    let offline = crate::pipeline::native::NanosSource {
        ops_home: None,
        fetch: crate::host::nanos_release::FetchFlags { nanos_url: None, offline: true },
    };
    let lock = match crate::host::nanos_release::pin(project, nanos.version.as_str()) {
        Ok(Some(pin)) if pin.kernel_sha256 == crate::support::hashing::sha256_file(&kernel).unwrap_or_default() => {
            "; the lock's pin matches".to_string()
        }
        Ok(Some(_)) => "; NOT the kernel nanos-releases.lock pins".to_string(),
        Ok(None) => "; not in nanos-releases.lock (the first fetch pins it)".to_string(),
        Err(e) => format!("; {e:#}"),
    };
    match crate::pipeline::native::nanos_inputs(project, image, nanos, &offline) {
        Ok(inputs) => found(
            &what,
            format!(
                "kernel {} from {source}, sha256 {}{}{lock}",
                project.show(&inputs.kernel),
                inputs.kernel_sha256,
                if nanos.kernel_sha256.is_some() && nanos.boot_sha256.is_some() {
                    ", pins match"
                } else {
                    ", not pinned in the manifest"
                }
            ),
        ),
        Err(e) => missing(&what, format!("{e:#}"), "use the release the pins name, or update the pins on purpose"),
    }
}
