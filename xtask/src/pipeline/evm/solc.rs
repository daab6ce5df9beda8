//! The pinned Solidity compiler: the npm package `solc` (soljson, the
//! official compiler built for JavaScript; runs offline under Node.js),
//! installed into the target directory on first use, driven through its
//! standard-JSON interface.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use xshell::{cmd, Shell};

use crate::spec::project::Project;

/// The version snark-verifier 0.2.0's generated contract pins (`pragma
/// solidity 0.8.19`), so the only one that compiles it.
pub const VERSION: &str = "0.8.19";
const PACKAGE: &str = "solc";

/// The settings every compilation uses: recorded with the bytecode.
/// Optimizer off, as snark-verifier's own `compile_solidity` runs solc: with
/// it on, soljson did not finish the 1.2 MB verifier in 10 minutes here.
pub fn settings() -> Value {
    json!({
        "optimizer": { "enabled": false },
        "evmVersion": "paris",
        "metadata": { "bytecodeHash": "none", "appendCBOR": false },
        "outputSelection": { "*": { "*": ["evm.bytecode.object", "evm.deployedBytecode.object"] } }
    })
}

pub fn install_dir(project: &Project) -> PathBuf {
    project.target_dir.join("tools").join(format!("solc-{VERSION}"))
}

/// The compiler's entry point (present once installed).
pub fn entry(project: &Project) -> PathBuf {
    install_dir(project).join("node_modules/solc/solc.js")
}

/// The pinned solcjs, installed with npm on first use; checked by the
/// version it reports.
pub fn ensure(sh: &Shell, project: &Project) -> Result<PathBuf> {
    let js = entry(project);
    if installed_version(sh, &js).as_deref().is_some_and(|v| v.starts_with(&format!("{VERSION}+"))) {
        return Ok(js);
    }
    let spec = format!("{PACKAGE}@{VERSION}");
    crate::host::tools::npm_install(sh, project, &install_dir(project), &spec)?;
    match installed_version(sh, &js) {
        Some(v) if v.starts_with(&format!("{VERSION}+")) => Ok(js),
        other => bail!("npm installed {spec} but it reports version {other:?}, expected {VERSION}"),
    }
}

fn installed_version(sh: &Shell, js: &std::path::Path) -> Option<String> {
    if !js.exists() {
        return None;
    }
    let out = cmd!(sh, "node {js} --version").quiet().ignore_stderr().read().ok()?;
    Some(out.trim().to_string())
}

/// A compiled contract: creation code and runtime code.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub creation: Vec<u8>,
    pub runtime: Vec<u8>,
}

/// Compiles `sources` (file name → Solidity); returns every contract by
/// (file, contract name). Compiler errors fail with solc's messages.
pub fn compile(
    sh: &Shell,
    js: &std::path::Path,
    sources: &BTreeMap<String, String>,
) -> Result<BTreeMap<(String, String), Compiled>> {
    let input = json!({
        "language": "Solidity",
        "sources": sources.iter().map(|(name, code)| (name.clone(), json!({ "content": code }))).collect::<serde_json::Map<_, _>>(),
        "settings": settings(),
    });
    // Through files, not pipes: solcjs exits before Node flushes a piped
    // stdout past 64 KiB.
    let scratch = tempfile::tempdir()?;
    let (input_path, output_path) = (scratch.path().join("input.json"), scratch.path().join("output.json"));
    std::fs::write(&input_path, serde_json::to_vec(&input)?)?;
    let module = js.parent().context("solc.js has a directory")?;
    let script = "const [module, input, output] = process.argv.slice(1); const fs = require('fs'); \
                  fs.writeFileSync(output, require(module).compile(fs.readFileSync(input, 'utf8')));";
    cmd!(sh, "node -e {script} {module} {input_path} {output_path}")
        .quiet()
        .run()
        .context("running solc under Node.js")?;
    let output: Value = serde_json::from_slice(&std::fs::read(&output_path)?).context("solc's output is not JSON")?;
    let errors: Vec<String> = output["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["severity"] == "error")
        .map(|e| e["formattedMessage"].as_str().unwrap_or_default().to_string())
        .collect();
    if !errors.is_empty() {
        bail!("solc {VERSION} refused the contract:\n{}", errors.join("\n"));
    }
    let mut compiled = BTreeMap::new();
    for (file, contracts) in output["contracts"].as_object().context("solc compiled no contract")? {
        for (name, contract) in contracts.as_object().into_iter().flatten() {
            let code = |field: &str| -> Result<Vec<u8>> {
                let object = contract["evm"][field]["object"].as_str().unwrap_or_default();
                hex::decode(object).with_context(|| format!("solc's {field} for {name} is not hex"))
            };
            compiled.insert(
                (file.clone(), name.clone()),
                Compiled { creation: code("bytecode")?, runtime: code("deployedBytecode")? },
            );
        }
    }
    Ok(compiled)
}
