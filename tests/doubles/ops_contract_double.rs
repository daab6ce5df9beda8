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
//! in `$OPS_HOME/.ops/images/NAME` (NAME cut at its first '.'), with random
//! bytes standing for ops's random filesystem UUID, and the path is printed
//! as `Bootable image file:<path>` inside ANSI colour codes.
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
        let mut out = b"OPS CONTRACT TEST DOUBLE IMAGE - NOT BOOTABLE\n".to_vec();
        out.extend(std::fs::read(&kernel).unwrap());
        out.extend(serde_json::to_vec(&config).unwrap());
        let mut files: Vec<String> = config_files(&config);
        files.sort();
        for f in files {
            out.extend(f.as_bytes());
            out.extend(std::fs::read(cwd.join(f.trim_start_matches('/'))).unwrap());
        }
        out.extend(std::fs::read(&program).unwrap());
        // ops draws a random filesystem UUID for every build.
        let mut uuid = [0u8; 16];
        std::fs::File::open("/dev/urandom").and_then(|mut r| std::io::Read::read_exact(&mut r, &mut uuid)).unwrap();
        out.extend(uuid);
        std::fs::write(&image, out).unwrap();
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
