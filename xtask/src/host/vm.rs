//! Booting an image the way a Gevulot node does, one task per boot: QEMU
//! with the node's command line (q35, virtio-scsi with the image on a
//! read-only drive, `-virtfs … mount_tag=0` for the task's workspace,
//! `isa-debug-exit`, virtio-rng), CPUs and memory from the manifest, and
//! the VM service (gRPC) served over vsock. Without `/dev/vhost-vsock` the
//! vsock device is `vhost-device-vsock` behind QEMU's
//! `vhost-user-vsock-pci` (shared guest memory): the guest's connection to
//! CID 2, port 8080 arrives at the Unix socket `vm.sock_8080`, where the
//! node is served.
//!
//! Differences from the node, on purpose: `-no-reboot` (the image asks to
//! reboot on exit; the node tears the VM down after its one task anyway),
//! and the accelerator is a setting (`accel=kvm:tcg` falls back only when
//! KVM is absent, not when it is broken).
//!
//! Invariants: every process started here (QEMU, the vsock helper) is
//! owned by a guard that kills and reaps it on every exit path; the
//! sockets live in a temporary directory removed with it.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::host::local_node::{workspace_path, NodeAnswer, ServedTask, Submission, TaskSpec};
use anyhow::{bail, Context, Result};

/// The guest CID the VM gets (any value ≥ 3; one VM at a time).
const GUEST_CID: u32 = 3;
/// The node's VM service port.
const SERVICE_PORT: u32 = 8080;
/// How long a KVM boot may take to ask for its task before `auto` gives up
/// on KVM: a Nanos boot takes about a second (two under TCG), while a broken
/// KVM either kills QEMU at once or leaves the guest stuck.
const KVM_PROBE: Duration = Duration::from_secs(15);
/// Serial lines quoted in an error.
const TAIL_LINES: usize = 15;

/// The pinned vsock helper (crates.io, rust-vmm).
pub const VSOCK_HELPER: &str = "vhost-device-vsock";
pub const VSOCK_HELPER_VERSION: &str = "0.3.0";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
    /// KVM when it works, else TCG with a warning.
    Auto,
}

/// The host programs a boot needs.
#[derive(Clone, Debug)]
pub struct VmTools {
    pub qemu: PathBuf,
    pub vsock_helper: PathBuf,
    /// Serves the task on the VM service's socket (`gevulot-local-node`).
    pub local_node: PathBuf,
}

impl VmTools {
    /// QEMU on PATH, the vsock helper (PATH, else the project's tools
    /// directory), and the local node program (built when missing).
    pub fn locate(project: &crate::spec::project::Project) -> Result<Self> {
        crate::host::system_packages::require(&[&crate::host::system_packages::QEMU])?;
        let qemu = crate::spec::project::on_path(crate::host::system_packages::QEMU.program).expect("just checked");
        let vsock_helper = find_vsock_helper(&project.target_dir.join("tools")).with_context(|| {
            format!(
                "{VSOCK_HELPER} is not installed: `cargo install --locked {VSOCK_HELPER} --version {VSOCK_HELPER_VERSION}` (or `cargo xtask test`, which installs it into target/tools)"
            )
        })?;
        let local_node = crate::host::local_node::program(project)?;
        Ok(Self { qemu, vsock_helper, local_node })
    }
}

/// The vsock helper on PATH, else in the project's tools directory.
pub fn find_vsock_helper(project_tools: &Path) -> Option<PathBuf> {
    crate::spec::project::on_path(VSOCK_HELPER)
        .or_else(|| Some(vsock_helper_path(project_tools)).filter(|p| p.is_file()))
}

/// Where `cargo xtask test` installs the pinned vsock helper.
pub fn vsock_helper_path(tools_dir: &Path) -> PathBuf {
    tools_dir.join(format!("{VSOCK_HELPER}-{VSOCK_HELPER_VERSION}")).join("bin").join(VSOCK_HELPER)
}

/// One task in one VM.
pub struct VmRun<'a> {
    /// The image's name, for messages.
    pub name: &'a str,
    pub image: &'a Path,
    pub cpus: u32,
    pub mem_mib: u64,
    /// The host directory the guest sees as `/workspace`.
    pub workspace: &'a Path,
    /// The serial console is saved here.
    pub serial_log: &'a Path,
    pub task: TaskSpec,
    /// How the node answers the result (`Answers`, as a node does).
    pub node_answer: NodeAnswer,
    pub accel: Accel,
    /// The node kills a VM after 1800 s.
    pub task_timeout: Duration,
    /// …and one that has not asked for a task after 60 s.
    pub start_timeout: Duration,
    /// Called with each program line of the console, as it comes.
    pub on_line: &'a (dyn Fn(&str) + Sync),
}

/// A task the VM completed, its result files checked.
#[derive(Debug)]
pub struct VmReport {
    pub data: Vec<u8>,
    pub files: Vec<(String, PathBuf)>,
    /// From starting QEMU to the task handed out.
    pub boot_to_task: Duration,
    pub elapsed: Duration,
    pub accel: Accel,
}

/// Set by SIGINT/SIGTERM while a VM runs, so the run can stop its
/// processes and remove its sockets instead of dying with them left behind.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Catches SIGINT and SIGTERM for as long as it lives (then the default
/// handling is back).
struct InterruptGuard;

impl InterruptGuard {
    fn install() -> Self {
        INTERRUPTED.store(false, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
            libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
        }
        Self
    }

    fn interrupted(&self) -> bool {
        INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        // SAFETY: restoring the default disposition.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
        }
    }
}

/// Kills and reaps its processes when dropped, whatever happened.
struct Processes(Vec<Child>);

impl Processes {
    /// Kills and reaps every process (a `Child` dropped is not killed).
    fn stop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.0.clear();
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The node's QEMU line, with vhost-user vsock on `vhost_socket`.
pub fn qemu_args(run: &VmRun<'_>, accel: Accel, vhost_socket: &Path) -> Vec<String> {
    let accel = match accel {
        Accel::Kvm => "kvm",
        Accel::Tcg | Accel::Auto => "tcg",
    };
    let mem = run.mem_mib;
    let mut args: Vec<String> = [
        "-machine",
        "q35",
        "-device",
        "pcie-root-port,port=0x10,chassis=1,id=pci.1,bus=pcie.0,multifunction=on,addr=0x3",
        "-device",
        "pcie-root-port,port=0x11,chassis=2,id=pci.2,bus=pcie.0,addr=0x3.0x1",
        "-device",
        "pcie-root-port,port=0x12,chassis=3,id=pci.3,bus=pcie.0,addr=0x3.0x2",
        "-device",
        "virtio-scsi-pci,bus=pci.2,addr=0x0,id=scsi0",
        "-device",
        "scsi-hd,bus=scsi0.0,drive=hd0",
        "-vga",
        "none",
    ]
    .map(String::from)
    .to_vec();
    args.extend(["-smp".into(), run.cpus.to_string()]);
    args.extend(["-device".into(), "isa-debug-exit".into(), "-m".into(), format!("{mem}M")]);
    args.extend(["-device".into(), "virtio-rng-pci".into()]);
    args.extend(["-machine".into(), format!("accel={accel}"), "-cpu".into(), "max".into()]);
    args.extend([
        "-drive".into(),
        format!("file={},format=raw,if=none,id=hd0,readonly=on", run.image.display()),
        "-display".into(),
        "none".into(),
        "-serial".into(),
        "stdio".into(),
        "-no-reboot".into(),
    ]);
    args.extend([
        "-virtfs".into(),
        format!("local,path={},mount_tag=0,security_model=none,multidevs=remap,id=hd0", run.workspace.display()),
    ]);
    args.extend([
        "-chardev".into(),
        format!("socket,id=vsock0,path={}", vhost_socket.display()),
        "-device".into(),
        "vhost-user-vsock-pci,chardev=vsock0".into(),
        "-object".into(),
        format!("memory-backend-memfd,id=mem,size={mem}M,share=on"),
        "-numa".into(),
        "node,memdev=mem".into(),
    ]);
    args
}

/// Whether a console line is the program's, not the kernel's: Nanos
/// prefixes its own lines with `[seconds]`, and reports the read-only
/// drive's refused writes as `SCSI SENSE`.
fn is_program_line(line: &str) -> bool {
    let kernel_stamp = line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .is_some_and(|(stamp, _)| !stamp.is_empty() && stamp.chars().all(|c| c.is_ascii_digit() || c == '.'));
    !(kernel_stamp || line.starts_with("SCSI SENSE") || line.trim().is_empty())
}

/// Boots `run.image` with `run.task` served, waits for its result (bounded),
/// and checks the result files. `Accel::Auto` tries KVM first when
/// `/dev/kvm` exists and falls back to TCG (with a warning) when QEMU dies
/// or the guest has not asked for its task within seconds.
pub fn run_vm(tools: &VmTools, run: &VmRun<'_>) -> Result<VmReport> {
    for (name, path) in [("image", run.image), ("workspace", run.workspace)] {
        if !path.exists() {
            bail!("{}: the {name} {} does not exist", run.name, path.display());
        }
    }
    for file in &run.task.files {
        let local = workspace_path(run.workspace, file)?;
        if !local.is_file() {
            bail!("{}: the task names {file}, but the run's workspace has no {}", run.name, local.display());
        }
    }
    let kvm_known_broken = KVM_BROKEN.load(std::sync::atomic::Ordering::SeqCst);
    match run.accel {
        Accel::Auto if Path::new("/dev/kvm").exists() && !kvm_known_broken => {
            match boot(tools, run, Accel::Kvm, Some(KVM_PROBE)) {
                Err(e) if e.downcast_ref::<KvmFailed>().is_some() => {
                    eprintln!("warning: KVM is present but QEMU failed with it ({e}); using TCG (slower)");
                    KVM_BROKEN.store(true, std::sync::atomic::Ordering::SeqCst);
                    boot(tools, run, Accel::Tcg, None)
                }
                other => other,
            }
        }
        Accel::Auto => boot(tools, run, Accel::Tcg, None),
        accel => boot(tools, run, accel, None),
    }
}

/// Set once `auto` has seen KVM fail: later VMs of this run go straight to TCG.
static KVM_BROKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// QEMU exited early under KVM (for `auto`'s fallback).
#[derive(Debug)]
struct KvmFailed(String);

impl std::fmt::Display for KvmFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KvmFailed {}

fn boot(tools: &VmTools, run: &VmRun<'_>, accel: Accel, kvm_probe: Option<Duration>) -> Result<VmReport> {
    let interrupts = InterruptGuard::install();
    // Unix socket paths are short (108 bytes): keep them in a temporary directory.
    let sockets = tempfile::Builder::new().prefix("xtask-vm").tempdir().context("cannot create a socket directory")?;
    let vhost_socket = sockets.path().join("vhost.sock");
    let uds = sockets.path().join("vm.sock");
    let node = ServedTask::start(
        &tools.local_node,
        &uds.with_file_name(format!("vm.sock_{SERVICE_PORT}")),
        &run.task,
        run.node_answer,
        run.workspace,
        sockets.path(),
    )
    .context("cannot serve the VM service on its vsock socket")?;
    let mut processes = Processes(Vec::new());
    start_vsock_helper(tools, &vhost_socket, &uds, &mut processes)?;

    let started = Instant::now();
    let mut qemu = Command::new(&tools.qemu)
        .args(qemu_args(run, accel, &vhost_socket))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", tools.qemu.display()))?;
    let log = std::fs::File::create(run.serial_log)
        .with_context(|| format!("cannot create the serial log {}", run.serial_log.display()))?;
    let stdout = qemu.stdout.take().expect("piped");
    let stderr = qemu.stderr.take().expect("piped");
    processes.0.push(qemu);
    let console = Console::default();
    std::thread::scope(|scope| -> Result<VmReport> {
        scope.spawn(|| console.read_serial(stdout, log, run.on_line));
        scope.spawn(|| console.read_qemu_errors(stderr));
        let watch = Watch { run, node: &node, kvm_probe, started, interrupts: &interrupts, console: &console };
        let (result, handed_out_at) = watch.until_submission(&mut processes);
        // Stop QEMU now so the console threads end before the scope does.
        processes.stop();
        let elapsed = started.elapsed();
        match result? {
            Submission::Failed => bail!(
                "image {}: the program reported its task as Failed; last console lines:\n{}",
                run.name,
                console.tail()
            ),
            Submission::Invalid(why) => bail!("image {}: {why}", run.name),
            Submission::Result { data, files } => {
                Ok(VmReport { data, files, boot_to_task: handed_out_at.unwrap_or(elapsed), elapsed, accel })
            }
        }
    })
}

/// Starts `vhost-device-vsock` (the node's vsock without /dev/vhost-vsock)
/// and waits until its socket exists.
fn start_vsock_helper(tools: &VmTools, vhost_socket: &Path, uds: &Path, processes: &mut Processes) -> Result<()> {
    let helper = Command::new(&tools.vsock_helper)
        .args(["--guest-cid", &GUEST_CID.to_string()])
        .arg("--socket")
        .arg(vhost_socket)
        .arg("--uds-path")
        .arg(uds)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", tools.vsock_helper.display()))?;
    processes.0.push(helper);
    let helper = processes.0.last_mut().expect("just pushed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !vhost_socket.exists() {
        if let Some(status) = helper.try_wait()? {
            let mut err = String::new();
            if let Some(mut e) = helper.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            bail!("{} exited ({status}) before it was ready: {}", tools.vsock_helper.display(), err.trim());
        }
        if Instant::now() > deadline {
            bail!("{} did not create {} within 10 s", tools.vsock_helper.display(), vhost_socket.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// What the VM printed (its serial console) and what QEMU complained of.
#[derive(Default)]
struct Console {
    lines: Mutex<Vec<String>>,
    qemu_errors: Mutex<String>,
}

impl Console {
    /// Copies the serial console to the log, line by line, as it comes;
    /// the program's own lines go to `on_line` too.
    fn read_serial(&self, stdout: impl std::io::Read, log: std::fs::File, on_line: &(dyn Fn(&str) + Sync)) {
        let mut log = std::io::BufWriter::new(log);
        for line in std::io::BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            let line = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
            let _ = writeln!(log, "{line}");
            let _ = log.flush();
            if is_program_line(&line) {
                on_line(&line);
            }
            self.lines.lock().expect("console").push(line);
        }
    }

    fn read_qemu_errors(&self, stderr: impl std::io::Read) {
        let mut all = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut all);
        self.qemu_errors.lock().expect("qemu errors").push_str(&all);
    }

    /// QEMU's last complaint.
    fn last_qemu_error(&self) -> String {
        self.qemu_errors.lock().expect("qemu errors").trim().lines().last().unwrap_or("").to_string()
    }

    /// The console's last lines and QEMU's last complaint, for an error.
    fn tail(&self) -> String {
        let lines = self.lines.lock().expect("console");
        let from = lines.len().saturating_sub(TAIL_LINES);
        let mut text = lines[from..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n");
        let qemu_err = self.last_qemu_error();
        if !qemu_err.is_empty() {
            text.push_str(&format!("\n  qemu: {qemu_err}"));
        }
        text
    }
}

/// A running VM watched until it submits, stops, or runs out of time.
struct Watch<'a> {
    run: &'a VmRun<'a>,
    node: &'a ServedTask,
    kvm_probe: Option<Duration>,
    started: Instant,
    interrupts: &'a InterruptGuard,
    console: &'a Console,
}

impl Watch<'_> {
    /// The submission, or why there is none; and when the task was handed out.
    fn until_submission(&self, processes: &mut Processes) -> (Result<Submission>, Option<Duration>) {
        let qemu_index = processes.0.len() - 1;
        let mut handed_out_at: Option<Duration> = None;
        loop {
            let elapsed = self.started.elapsed();
            if handed_out_at.is_none() && self.node.task_handed_out() {
                handed_out_at = Some(elapsed);
            }
            if let Some(submission) = self.node.submission() {
                // The program exits after its one task; give QEMU a moment to stop on its own.
                let grace = Instant::now() + Duration::from_secs(10);
                while Instant::now() < grace && matches!(processes.0[qemu_index].try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                return (Ok(submission), handed_out_at);
            }
            let exited = match processes.0[qemu_index].try_wait() {
                Ok(exited) => exited,
                Err(e) => return (Err(e.into()), handed_out_at),
            };
            let stop = match exited {
                Some(status) => Some(self.stopped(status, elapsed, handed_out_at)),
                None => self.limit_reached(elapsed, handed_out_at).map(Err),
            };
            if let Some(result) = stop {
                return (result, handed_out_at);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// QEMU exited: a submission that arrived as it did, or why it stopped.
    fn stopped(
        &self,
        status: std::process::ExitStatus,
        elapsed: Duration,
        handed_out_at: Option<Duration>,
    ) -> Result<Submission> {
        // Give the console reader a moment to drain.
        std::thread::sleep(Duration::from_millis(200));
        if let Some(submission) = self.node.submission() {
            return Ok(submission);
        }
        if let (Some(probe), None) = (self.kvm_probe, handed_out_at) {
            if elapsed < probe {
                let err = self.console.last_qemu_error();
                return Err(anyhow::Error::new(KvmFailed(format!("QEMU exited ({status}): {err}"))));
            }
        }
        Err(anyhow::anyhow!(
            "image {}: the VM stopped ({status}) after {:.1} s without submitting a result{}; last console lines:\n{}",
            self.run.name,
            elapsed.as_secs_f64(),
            if handed_out_at.is_some() {
                " (the task was handed out: the program crashed or exited early)"
            } else {
                " (it never asked for a task)"
            },
            self.console.tail()
        ))
    }

    /// The limit a still-running VM has reached, if any: the KVM probe, an
    /// interrupt, the start or the task limit.
    fn limit_reached(&self, elapsed: Duration, handed_out_at: Option<Duration>) -> Option<anyhow::Error> {
        let run = self.run;
        if let (Some(probe), None) = (self.kvm_probe, handed_out_at) {
            if elapsed > probe {
                return Some(anyhow::Error::new(KvmFailed(format!(
                    "the guest had not asked for its task after {} s",
                    probe.as_secs()
                ))));
            }
        }
        if self.interrupts.interrupted() {
            return Some(anyhow::anyhow!(
                "image {}: interrupted; the VM and the vsock helper were stopped and the sockets removed",
                run.name
            ));
        }
        if handed_out_at.is_none() && elapsed > run.start_timeout {
            return Some(anyhow::anyhow!(
                "image {}: the VM did not ask for a task within {} s (a node stops such a VM); last console lines:\n{}",
                run.name,
                run.start_timeout.as_secs(),
                self.console.tail()
            ));
        }
        if elapsed > run.task_timeout {
            return Some(anyhow::anyhow!(
                "image {}: the task ran past the {} s limit and the VM was stopped, as a node does; last console lines:\n{}",
                run.name,
                run.task_timeout.as_secs(),
                self.console.tail()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_lines_are_told_from_program_lines() {
        assert!(!is_program_line("[0.412214] NET: no network interface found"));
        assert!(!is_program_line("SCSI SENSE 70 00 07 00 00 00: KEY 7, ASC/ASCQ 27/00"));
        assert!(is_program_line("valid: blocks 1..=8"));
        assert!(is_program_line("[x] not a kernel stamp"));
    }

    #[test]
    fn the_qemu_line_is_the_nodes_with_vhost_user_vsock() {
        let on_line = |_: &str| {};
        let run = VmRun {
            name: "v",
            image: Path::new("/i/v.img"),
            cpus: 2,
            mem_mib: 512,
            workspace: Path::new("/w"),
            serial_log: Path::new("/l"),
            task: TaskSpec { tx_hash: "t".into(), name: "v".into(), args: vec![], files: vec![] },
            node_answer: NodeAnswer::Answers,
            accel: Accel::Tcg,
            task_timeout: Duration::from_secs(1800),
            start_timeout: Duration::from_secs(60),
            on_line: &on_line,
        };
        let line = qemu_args(&run, Accel::Tcg, Path::new("/s/vhost.sock")).join(" ");
        for part in [
            "-machine q35",
            "-smp 2",
            "-m 512M",
            "-machine accel=tcg",
            "file=/i/v.img,format=raw,if=none,id=hd0,readonly=on",
            "local,path=/w,mount_tag=0,security_model=none,multidevs=remap",
            "vhost-user-vsock-pci,chardev=vsock0",
            "memory-backend-memfd,id=mem,size=512M,share=on",
            "-device isa-debug-exit",
            "-serial stdio",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
        assert!(qemu_args(&run, Accel::Kvm, Path::new("/s")).join(" ").contains("accel=kvm"));
    }
}
