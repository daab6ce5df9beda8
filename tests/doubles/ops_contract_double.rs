//! TEST DOUBLE of NanoVMs `ops` — not ops. It enforces the contract in
//! docs/ops-nanos.md the way the real ops fails, and writes a fake image
//! file, so `cargo xtask image` can be exercised end to end where ops cannot
//! be installed. It builds no bootable image.
//!
//! Modelled: `ops version`; `ops build ELF -c CONFIG -i NAME --nanos-version V
//! -t onprem` run offline: `$OPS_HOME/.ops/latest.txt` must exist ("No local
//! build found"), the kernel for V must exist, config keys are checked
//! case-insensitively against ops's fields with unknown keys fatal (Go's
//! DisallowUnknownFields), ManifestPassthrough values must be strings (or
//! arrays/maps of strings), every `Files` entry is read from cwd + "/" + f
//! even when absolute, and OPS_DEFAULT_CONFIG must be JSON. The image lands
//! in `$OPS_HOME/.ops/images/NAME` (NAME cut at its first '.'), laid out as
//! ops lays it out (ops_image_layout.rs: boot.img, the boot and root TFS
//! filesystems with ops's manifest, MBR partitions) with ops's random UUIDs
//! and random map order, so two builds differ byte-wise; the kernel and
//! boot.img are whatever the ops home holds (test doubles in the tests, so
//! the image does not boot). The path is printed as `Bootable image
//! file:<path>` inside ANSI colour codes.
//!
//! Fault injection for tests: OPS_CONTRACT_DOUBLE_MODE=fail (exit 1 after
//! printing an error), =no-path (exit 0, print no path), =no-image (print a
//! path but write nothing). OPS_CONTRACT_DOUBLE_LOG=FILE appends one line per
//! invocation.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

mod ops_image_layout;
use ops_image_layout::Entry;

const CONFIG_FIELDS: &[&str] = &[
    "Args",
    "BaseVolumeSz",
    "Boot",
    "BuildDir",
    "CloudConfig",
    "Debugflags",
    "Dirs",
    "Env",
    "Files",
    "Kernel",
    "Klibs",
    "LocalFilesParentDirectory",
    "ManifestPassthrough",
    "MapDirs",
    "Mounts",
    "NameServers",
    "NanosVersion",
    "NoTrace",
    "Program",
    "ProgramPath",
    "RebootOnExit",
    "RunConfig",
    "TargetRoot",
    "Uefi",
    "VolumesDir",
];
const RUN_CONFIG_FIELDS: &[&str] = &[
    "Accel",
    "CPUs",
    "Memory",
    "Ports",
    "Verbose",
    "Bridged",
    "Debug",
    "GPUs",
    "Klibs",
    "Mounts",
    "ShowDebug",
    "ShowErrors",
    "ShowWarnings",
    "UDPPorts",
    "VirtioNet",
    "Vga",
    "TapName",
    "IPAddress",
    "Gateway",
    "NetMask",
];

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(log) = std::env::var_os("OPS_CONTRACT_DOUBLE_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{}", args.join(" "));
        }
    }
    let home = std::env::var_os("OPS_HOME").or_else(|| std::env::var_os("HOME")).map(PathBuf::from).unwrap_or_default();
    let ops_dir = home.join(".ops");
    let latest = std::fs::read_to_string(ops_dir.join("latest.txt")).ok().map(|s| s.trim().to_string());
    match args.first().map(String::as_str) {
        Some("version") => {
            println!("Ops version: 0.1.43 (contract test double)");
            println!("Nanos version: {}", latest.as_deref().unwrap_or("unknown"));
            ExitCode::SUCCESS
        }
        Some("build") => build(&args[1..], &ops_dir, latest),
        _ => fail("the ops contract double models only `ops version` and `ops build`"),
    }
}

fn build(args: &[String], ops_dir: &Path, latest: Option<String>) -> ExitCode {
    let (mut elf, mut config, mut name, mut version, mut target) = (None, None, None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let slot = match a.as_str() {
            "-c" | "--config" => &mut config,
            "-i" | "--imagename" => &mut name,
            "--nanos-version" => &mut version,
            "-t" | "--target-cloud" => &mut target,
            flag if flag.starts_with('-') => return fail(&format!("Error: unknown flag: {flag}")),
            _ => {
                if elf.is_some() {
                    return fail("Error: accepts 1 arg(s)");
                }
                elf = Some(a.clone());
                continue;
            }
        };
        match it.next() {
            Some(v) => *slot = Some(v.clone()),
            None => return fail(&format!("Error: flag needs an argument: {a}")),
        }
    }
    let Some(latest) = latest else {
        // Offline, ops cannot fetch the latest version and has no fallback.
        return fail("No local build found.");
    };
    let version = version.unwrap_or(latest);
    let kernel = ops_dir.join(&version).join("kernel.img");
    if !kernel.is_file() {
        return fail(&format!(
            "error: kernel.img not found for Nanos {version} at {} (offline: cannot download)",
            kernel.display()
        ));
    }
    if target.as_deref().is_some_and(|t| t != "onprem") {
        return fail("the contract double only builds onprem images");
    }
    if let Some(default) = std::env::var_os("OPS_DEFAULT_CONFIG") {
        match std::fs::read(&default).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
            Some(Value::Object(_)) => {}
            _ => return fail(&format!("error reading {}: not a JSON object", PathBuf::from(default).display())),
        }
    }
    let cwd = std::env::current_dir().unwrap();
    let config: Value = match config.map(|c| std::fs::read(cwd.join(c))) {
        Some(Ok(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return fail(&format!("error: config: {e}")),
        },
        Some(Err(e)) => return fail(&format!("error: config: {e}")),
        None => Value::Object(Default::default()),
    };
    if let Err(e) = check_config(&config, &cwd) {
        return fail(&e);
    }
    let Some(elf) = elf else { return fail("Error: requires an ELF argument") };
    let program = cwd.join(elf.trim_start_matches("./"));
    match std::fs::read(&program) {
        Ok(b) if b.starts_with(b"\x7fELF") => {}
        Ok(_) => return fail(&format!("{} is not an ELF file", program.display())),
        Err(e) => return fail(&format!("error: {}: {e}", program.display())),
    }
    let name = name.unwrap_or_else(|| elf.clone());
    let name = name.split('.').next().unwrap_or_default().to_string();
    let mode = std::env::var("OPS_CONTRACT_DOUBLE_MODE").unwrap_or_default();
    if mode == "fail" {
        return fail("error: failed to write image: injected failure (OPS_CONTRACT_DOUBLE_MODE=fail)");
    }
    let images = ops_dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let image = images.join(&name);
    if mode == "no-path" {
        println!("image built (the double prints no path in this mode)");
        return ExitCode::SUCCESS;
    }
    if mode != "no-image" {
        let root = match ops_manifest(&config, &elf, &name, &version, &cwd) {
            Ok(root) => root,
            Err(e) => return fail(&e),
        };
        if let Err(e) = ops_image_layout::write(&image, &ops_dir.join(&version).join("boot.img"), &kernel, &root) {
            return fail(&format!("failed creating image file: {e}"));
        }
    }
    println!("\x1b[1;32mBootable image file:{}\x1b[0m", image.display());
    ExitCode::SUCCESS
}

fn config_files(config: &Value) -> Vec<String> {
    field(config, "Files")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// A config key, matched case-insensitively as Go's encoding/json does.
fn field<'a>(config: &'a Value, name: &str) -> Option<&'a Value> {
    config.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn strings_only(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(a) => a.iter().all(strings_only),
        Value::Object(o) => o.values().all(strings_only),
        _ => false,
    }
}

fn check_config(config: &Value, cwd: &Path) -> Result<(), String> {
    let Some(object) = config.as_object() else {
        return Err("json: cannot unmarshal into Go value of type types.Config".into());
    };
    for key in object.keys() {
        if !CONFIG_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(key)) {
            return Err(format!("json: unknown field \"{key}\""));
        }
    }
    if let Some(run) = field(config, "RunConfig") {
        let Some(run) = run.as_object() else { return Err("json: cannot unmarshal RunConfig".into()) };
        for key in run.keys() {
            if !RUN_CONFIG_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(key)) {
                return Err(format!("json: unknown field \"{key}\""));
            }
        }
        if run.iter().any(|(k, v)| k.eq_ignore_ascii_case("CPUs") && !v.is_u64()) {
            return Err("json: cannot unmarshal into Go struct field RunConfig.CPUs of type int".into());
        }
        if run.iter().any(|(k, v)| k.eq_ignore_ascii_case("Memory") && !v.is_string()) {
            return Err("json: cannot unmarshal into Go struct field RunConfig.Memory of type string".into());
        }
    }
    let typed: BTreeMap<&str, fn(&Value) -> bool> = BTreeMap::from([
        ("Program", Value::is_string as fn(&Value) -> bool),
        ("Args", |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string))),
        ("Files", |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string))),
        ("Env", |v: &Value| v.as_object().is_some_and(|o| o.values().all(Value::is_string))),
        ("Mounts", |v: &Value| v.as_object().is_some_and(|o| o.values().all(Value::is_string))),
        ("RebootOnExit", Value::is_boolean),
    ]);
    for (key, ok) in typed {
        if let Some(v) = field(config, key) {
            if !ok(v) {
                return Err(format!("json: cannot unmarshal {v} into Go struct field Config.{key}"));
            }
        }
    }
    if let Some(pass) = field(config, "ManifestPassthrough") {
        let Some(pass) = pass.as_object() else { return Err("json: ManifestPassthrough must be an object".into()) };
        for (k, v) in pass {
            if !strings_only(v) {
                return Err(format!(
                    "ManifestPassthrough {k}: value {v} is not a string (nor an array or map of strings)"
                ));
            }
        }
    }
    for f in config_files(config) {
        // ops reads cwd + "/" + f, even for an absolute f.
        let path = PathBuf::from(format!("{}/{}", cwd.display(), f));
        if !path.is_file() {
            return Err(format!("error: file {f}: open {}: no such file or directory", path.display()));
        }
    }
    Ok(())
}

/// The root manifest ops builds (lepton/image.go): the program and files,
/// arguments with the program first, ops's environment, mounts renumbered
/// to the node's 0-based 9p tags, passthrough keys, reboot_on_exit.
fn ops_manifest(
    config: &Value,
    elf: &str,
    name: &str,
    version: &str,
    cwd: &Path,
) -> Result<BTreeMap<String, Entry>, String> {
    let strings = |key: &str| -> Vec<String> {
        field(config, key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let map = |key: &str| -> Vec<(String, Value)> {
        field(config, key).and_then(Value::as_object).map(|o| o.clone().into_iter().collect()).unwrap_or_default()
    };
    let program = elf.trim_start_matches("./").to_string();
    let mut children = BTreeMap::new();
    add_file(&mut children, &program, cwd.join(&program));
    for f in config_files(config) {
        add_file(&mut children, &f, cwd.join(&f));
    }
    let temp = std::env::temp_dir().join(format!("ops-contract-double-{}", std::process::id()));
    std::fs::create_dir_all(&temp).map_err(|e| e.to_string())?;
    for (path, bytes) in [
        ("/etc/passwd", &b"root:x:0:0:root:/root:/bin/nobash"[..]),
        ("/etc/resolv.conf", b"nameserver  8.8.8.8\n"),
        ("/proc/sys/kernel/hostname", b"uniboot"),
    ] {
        let host = temp.join(path.rsplit('/').next().unwrap());
        std::fs::write(&host, bytes).map_err(|e| e.to_string())?;
        add_file(&mut children, path, host);
    }
    let mut environment = BTreeMap::new();
    for (k, v) in [
        ("USER", "root"),
        ("PWD", "/"),
        ("OPS_VERSION", "0.1.43"),
        ("NANOS_VERSION", version),
        ("NANOS_ARCH", "amd64"),
        ("IMAGE_NAME", name),
    ] {
        environment.insert(k.to_string(), Entry::Str(v.to_string()));
    }
    for (k, v) in map("Env") {
        environment.insert(k, Entry::Str(v.as_str().unwrap_or_default().to_string()));
    }
    let mut mounts = BTreeMap::new();
    for (k, v) in map("Mounts") {
        let guest = v.as_str().unwrap_or_default().to_string();
        children_dir(&mut children, guest.trim_start_matches('/')); // ops's mkDirPath
        let key = match k.strip_prefix('%').and_then(|n| n.parse::<u32>().ok()) {
            Some(n) if n > 0 => format!("%{}", n - 1),
            _ => k,
        };
        mounts.insert(key, Entry::Str(guest));
    }
    let mut arguments = vec![program.clone()];
    arguments.extend(strings("Args"));
    let mut root = BTreeMap::from([
        ("program".to_string(), Entry::Str(format!("/{program}"))),
        ("arguments".to_string(), Entry::List(arguments)),
        ("environment".to_string(), Entry::Map(environment)),
    ]);
    if !mounts.is_empty() {
        root.insert("mounts".to_string(), Entry::Map(mounts));
    }
    if field(config, "RebootOnExit").and_then(Value::as_bool) == Some(true) {
        root.insert("reboot_on_exit".to_string(), Entry::Str("t".into()));
    }
    for (k, v) in map("ManifestPassthrough") {
        let entry = match v {
            Value::String(s) => Entry::Str(s),
            Value::Array(a) => Entry::List(a.iter().filter_map(|x| x.as_str().map(String::from)).collect()),
            _ => return Err(format!("passthrough {k}: only strings are modelled by the double")),
        };
        root.insert(k, entry);
    }
    root.insert("children".to_string(), Entry::Map(children));
    Ok(root)
}

fn children_dir<'a>(dir: &'a mut BTreeMap<String, Entry>, path: &str) -> &'a mut BTreeMap<String, Entry> {
    let mut node = dir;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let entry = node.entry(part.to_string()).or_insert_with(|| Entry::Map(BTreeMap::new()));
        node = match entry {
            Entry::Map(m) => m,
            _ => panic!("{path}: a file where a directory should be"),
        };
    }
    node
}

/// ops's AddFile: the guest path's parts (empty ones dropped), directories made.
fn add_file(children: &mut BTreeMap<String, Entry>, guest: &str, host: PathBuf) {
    let (dir, name) = guest.trim_start_matches('/').rsplit_once('/').unwrap_or(("", guest.trim_start_matches('/')));
    children_dir(children, dir).insert(name.to_string(), Entry::HostFile(host));
}
