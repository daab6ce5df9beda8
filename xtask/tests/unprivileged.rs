//! The xtask as a developer without root runs it: what only root can
//! install is named with the one exact command, before anything is built or
//! fetched. CI runs as root, so the test drops to `nobody` with `setpriv`.

use std::process::Command;

use xtask::host::system_packages::{instruction, is_root, Family, MUSL_GCC, QEMU};

/// `xtask ARGS` as an unprivileged user, with only `path` on PATH.
fn xtask_unprivileged(args: &[&str], path: &std::path::Path, workspace: &std::path::Path) -> std::process::Output {
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let mut command = if is_root() {
        // Resolved here: the child's PATH is the empty one under test.
        let setpriv = xtask::spec::project::on_path("setpriv").expect("setpriv (util-linux) is installed");
        let mut c = Command::new(setpriv);
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]).arg(xtask);
        c
    } else {
        Command::new(xtask)
    };
    command
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", workspace)
        .env("XTASK_WORKSPACE", workspace)
        .current_dir(workspace)
        .output()
        .expect("the xtask starts")
}

#[test]
fn without_root_the_test_command_names_the_packages_and_stops() {
    let scratch = tempfile::tempdir().unwrap();
    let empty_path = scratch.path().join("bin");
    std::fs::create_dir(&empty_path).unwrap();
    let workspace = scratch.path().join("ws");
    std::fs::create_dir(&workspace).unwrap();
    // `nobody` must be able to enter the scratch directory and nothing more.
    use std::os::unix::fs::PermissionsExt;
    for d in [scratch.path(), &workspace, &empty_path] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let o = xtask_unprivileged(&["test"], &empty_path, &workspace);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    let expected = instruction(&[&MUSL_GCC, &QEMU], Family::of_this_machine(), false);
    assert!(stderr.contains(&expected), "expected\n{expected}\nin\n{stderr}");
    if Family::of_this_machine() == Family::Debian {
        assert!(stderr.contains("\n  sudo apt-get install -y musl-tools qemu-system-x86\n"), "{stderr}");
    }
    // Stopped first: no install attempt, no workspace lookup, nothing written.
    assert!(!stderr.contains("installing") && !stderr.contains("Cargo.toml"), "{stderr}");
    assert_eq!(std::fs::read_dir(&workspace).unwrap().count(), 0, "something was written");
}
