//! The xtask's floors, enforced: commands (`src/cmd/`) use libraries, a
//! library never uses a command, commands do not use each other (except a
//! command's own parts, listed below), and the libraries' imports have no
//! cycle. Read from the sources, so a new import that breaks a rule fails
//! here with the modules that break it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A command module that is a part of another command, not a command of its own.
const COMMAND_PARTS: &[(&str, &str)] = &[("cmd::bench", "cmd::bench_vm")];

/// Module name → what it refers to (`crate::a::b` → `a`, or `cmd::b` under `cmd`).
fn references(sources: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut refs = BTreeMap::new();
    for (module, text) in sources {
        let mut used = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let path: String =
                text[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
            let mut segments = path.split("::").filter(|s| !s.is_empty());
            let Some(first) = segments.next() else { continue };
            let target = match (first, segments.next()) {
                ("cmd", Some(command)) => format!("cmd::{command}"),
                (first, _) => first.to_string(),
            };
            if !module.starts_with(&target) || module.len() > target.len() && !module[target.len()..].starts_with("::")
            {
                used.insert(target);
            }
        }
        refs.insert(module.clone(), used);
    }
    refs
}

/// The module a source file is: `cmd/run.rs` → `cmd::run`, `evm/mod.rs` → `evm`.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let file = parts.pop().expect("a file");
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts.join("::")
}

fn read_sources(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap();
                // The binary is outside the library; lib.rs only declares modules.
                if rel == Path::new("main.rs") || rel == Path::new("lib.rs") {
                    continue;
                }
                out.insert(module_of(rel), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// Every broken rule, as lines naming the modules.
fn violations(sources: &BTreeMap<String, String>) -> Vec<String> {
    let refs = references(sources);
    let is_command = |m: &str| m.starts_with("cmd::");
    let mut found = Vec::new();
    for (module, used) in &refs {
        for target in used.iter().filter(|t| is_command(t)) {
            if !is_command(module) {
                found.push(format!(
                    "library {module} uses command {target}: move what it needs out of {target} into a library module"
                ));
            } else if !COMMAND_PARTS.contains(&(module.as_str(), target.as_str())) {
                found.push(format!("command {module} uses command {target}: share it through a library module"));
            }
        }
    }
    // Cycles among the libraries (top-level names; a module's own submodules are one node).
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, used) in refs.iter().filter(|(m, _)| !is_command(m)) {
        let from = top(module);
        let entry = graph.entry(from.clone()).or_default();
        entry.extend(used.iter().filter(|t| !is_command(t)).map(|t| top(t)).filter(|t| *t != from));
    }
    if let Some(cycle) = find_cycle(&graph) {
        found.push(format!("import cycle between libraries: {}", cycle.join(" → ")));
    }
    found
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn commands_use_libraries_and_libraries_have_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = read_sources(&src);
    assert!(sources.contains_key("cmd::run") && sources.contains_key("manifest::workflow"), "{:?}", sources.keys());
    let found = violations(&sources);
    assert!(found.is_empty(), "the xtask's module rules are broken:\n{}", found.join("\n"));
}

#[test]
fn the_checker_finds_each_kind_of_violation() {
    let sources = |files: &[(&str, &str)]| -> BTreeMap<String, String> {
        files.iter().map(|(m, t)| (m.to_string(), t.to_string())).collect()
    };
    let clean = sources(&[
        ("cmd::run", "use crate::pair_tasks::bind_inputs;"),
        ("cmd::bench", "crate::cmd::bench_vm::vm_suite()"),
        ("cmd::bench_vm", "use crate::vm;"),
        ("pair_tasks", "use crate::manifest::Image; use crate::vm::boot;"),
        ("manifest", "use crate::manifest::workflow::Workflow;"),
        ("manifest::workflow", "use super::Image; crate::project::Project"),
        ("vm", ""),
        ("project", ""),
    ]);
    assert_eq!(violations(&clean), Vec::<String>::new());

    let mut lib_uses_command = clean.clone();
    lib_uses_command.insert("vm".into(), "use crate::cmd::run::RunFlags;".into());
    assert_eq!(
        violations(&lib_uses_command),
        ["library vm uses command cmd::run: move what it needs out of cmd::run into a library module"]
    );

    let mut command_uses_command = clean.clone();
    command_uses_command.insert("cmd::run".into(), "crate::cmd::bench::BenchFlags".into());
    assert_eq!(
        violations(&command_uses_command),
        ["command cmd::run uses command cmd::bench: share it through a library module"]
    );

    let mut cycle = clean.clone();
    cycle.insert("manifest".into(), "use crate::pair_tasks::bind_inputs;".into());
    let found = violations(&cycle);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0], "import cycle between libraries: manifest → pair_tasks → manifest");
}

#[test]
fn module_names_follow_the_files() {
    assert_eq!(module_of(Path::new("cmd/run.rs")), "cmd::run");
    assert_eq!(module_of(Path::new("evm/mod.rs")), "evm");
    assert_eq!(module_of(Path::new("manifest/workflow.rs")), "manifest::workflow");
    assert_eq!(module_of(Path::new("vm.rs")), "vm");
}
