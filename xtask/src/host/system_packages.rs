//! Programs that come from the operating system's packages (musl-gcc, QEMU):
//! what is missing, and either installing it (as root on Debian/Ubuntu, as
//! CI runs) or the one exact command the user must run, before any build
//! starts. Nothing here asks for a password or runs `sudo` itself.

use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::spec::project::on_path;

/// A program the xtask runs, and the package that provides it per family.
pub struct SystemPackage {
    pub program: &'static str,
    /// What it is for, for the message.
    pub why: &'static str,
    pub debian: &'static str,
    pub fedora: &'static str,
    pub arch: &'static str,
}

/// musl's gcc wrapper: the static binaries compile mimalloc (C) for musl.
pub const MUSL_GCC: SystemPackage = SystemPackage {
    program: "musl-gcc",
    why: "compiles mimalloc (C) for the static binaries",
    debian: "musl-tools",
    fedora: "musl-gcc",
    arch: "musl",
};

/// QEMU boots the images (`run --vm`, the boot tests).
pub const QEMU: SystemPackage = SystemPackage {
    program: "qemu-system-x86_64",
    why: "boots the images (`run --vm` and the boot tests)",
    debian: "qemu-system-x86",
    fedora: "qemu-system-x86",
    arch: "qemu-system-x86",
};

/// Package manager families, told apart by /etc/os-release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Debian,
    Fedora,
    Arch,
    Unknown,
}

impl Family {
    /// The family from the text of /etc/os-release (`ID`, then `ID_LIKE`).
    pub fn from_os_release(text: &str) -> Self {
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                .map(|v| v.trim().trim_matches('"').to_ascii_lowercase())
                .unwrap_or_default()
        };
        let ids = format!("{} {}", field("ID"), field("ID_LIKE"));
        for id in ids.split_whitespace() {
            match id {
                "debian" | "ubuntu" => return Family::Debian,
                "fedora" | "rhel" | "centos" | "rocky" | "almalinux" => return Family::Fedora,
                "arch" | "manjaro" => return Family::Arch,
                _ => {}
            }
        }
        Family::Unknown
    }

    pub fn of_this_machine() -> Self {
        std::fs::read_to_string("/etc/os-release").map(|t| Self::from_os_release(&t)).unwrap_or(Family::Unknown)
    }

    /// The command that installs `packages` (as root: no `sudo`).
    fn install_command(self, packages: &[&SystemPackage], root: bool) -> Option<String> {
        let sudo = if root { "" } else { "sudo " };
        let names = |pick: fn(&SystemPackage) -> &'static str| packages.iter().map(|p| pick(p)).collect::<Vec<_>>();
        Some(match self {
            Family::Debian => format!("{sudo}apt-get install -y {}", names(|p| p.debian).join(" ")),
            Family::Fedora => format!("{sudo}dnf install -y {}", names(|p| p.fedora).join(" ")),
            Family::Arch => format!("{sudo}pacman -S --needed {}", names(|p| p.arch).join(" ")),
            Family::Unknown => return None,
        })
    }
}

/// Whether this process can install packages itself.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The packages among `wanted` whose program is not on PATH.
pub fn missing<'a>(wanted: &[&'a SystemPackage]) -> Vec<&'a SystemPackage> {
    wanted.iter().copied().filter(|p| on_path(p.program).is_none()).collect()
}

/// What to tell a user who lacks `missing`: what each is for, and the exact
/// command for this machine's family (every family's, when unknown).
pub fn instruction(missing: &[&SystemPackage], family: Family, root: bool) -> String {
    let mut text = String::from("missing programs:");
    for p in missing {
        let _ = write!(text, "\n  {}: {}", p.program, p.why);
    }
    match family.install_command(missing, root) {
        Some(command) => {
            let _ = write!(text, "\ninstall them with:\n  {command}\nthen run this again");
        }
        None => {
            let _ = write!(text, "\ninstall them with your package manager, e.g.:");
            for f in [Family::Debian, Family::Fedora, Family::Arch] {
                let _ = write!(text, "\n  {}", f.install_command(missing, root).expect("known family"));
            }
            text.push_str("\nthen run this again");
        }
    }
    text
}

/// Fails with the exact install command unless every program is present.
pub fn require(wanted: &[&SystemPackage]) -> Result<()> {
    let missing = missing(wanted);
    if missing.is_empty() {
        return Ok(());
    }
    bail!("{}", instruction(&missing, Family::of_this_machine(), is_root()))
}

/// Installs what is missing with apt-get when this is root on Debian/Ubuntu
/// (CI, fresh containers); anywhere else fails with the exact command, so a
/// user without root learns it before any build starts.
pub fn ensure(sh: &Shell, wanted: &[&SystemPackage]) -> Result<()> {
    let missing = missing(wanted);
    if missing.is_empty() {
        return Ok(());
    }
    let family = Family::of_this_machine();
    if !(is_root() && family == Family::Debian && on_path("apt-get").is_some()) {
        bail!("{}", instruction(&missing, family, is_root()));
    }
    let packages: Vec<&str> = missing.iter().map(|p| p.debian).collect();
    let names = packages.join(" ");
    eprintln!("installing {names} with apt-get");
    cmd!(sh, "apt-get update -qq").quiet().run().context("apt-get update failed")?;
    cmd!(sh, "apt-get install -y -qq --no-install-recommends {packages...}")
        .quiet()
        .run()
        .with_context(|| format!("apt-get install {names} failed"))?;
    require(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_from_os_release() {
        assert_eq!(Family::from_os_release("ID=debian\nVERSION_ID=\"12\"\n"), Family::Debian);
        assert_eq!(Family::from_os_release("ID=pop\nID_LIKE=\"ubuntu debian\"\n"), Family::Debian);
        assert_eq!(Family::from_os_release("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"), Family::Fedora);
        assert_eq!(Family::from_os_release("ID=arch\n"), Family::Arch);
        assert_eq!(Family::from_os_release("ID=alpine\n"), Family::Unknown);
        // `ID_LIKE` must not be read as `ID`.
        assert_eq!(Family::from_os_release("ID_LIKE=debian\nID=fedora\n"), Family::Fedora);
    }

    #[test]
    fn one_exact_command_per_family() {
        let text = instruction(&[&MUSL_GCC, &QEMU], Family::Debian, false);
        assert!(text.contains("\n  sudo apt-get install -y musl-tools qemu-system-x86\n"), "{text}");
        assert!(text.contains("musl-gcc: compiles mimalloc"), "{text}");
        let text = instruction(&[&MUSL_GCC], Family::Fedora, true);
        assert!(text.contains("\n  dnf install -y musl-gcc\n") && !text.contains("sudo"), "{text}");
        let text = instruction(&[&QEMU], Family::Unknown, false);
        for line in [
            "sudo apt-get install -y qemu-system-x86",
            "sudo dnf install -y qemu-system-x86",
            "sudo pacman -S --needed",
        ] {
            assert!(text.contains(line), "{text}");
        }
    }
}
