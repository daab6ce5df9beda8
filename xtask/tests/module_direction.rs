//! The xtask's floors, enforced: `cmd` over `pipeline` over `host` over
//! `spec` over `support`. A module uses its own floor or those below, never
//! one above; commands do not use each other (except a command's own
//! parts, listed below); and the imports within the libraries have no
//! cycle. Read from the sources, so a new import that breaks a rule fails
//! here with the modules that break it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A command module that is a part of another command, not a command of its own.
const COMMAND_PARTS: &[(&str, &str)] = &[("cmd::bench", "cmd::bench_vm")];

/// The floors, top first: a module may use its own floor and those after it.
const FLOORS: &[&str] = &["cmd", "pipeline", "host", "spec", "support"];

/// Module name → the modules it refers to, named to two levels
/// (`crate::pipeline::image::plan` → `pipeline::image`).
fn references(sources: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut refs = BTreeMap::new();
    for (module, text) in sources {
        let mut used = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let path: String =
                text[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
            let mut segments = path.split("::").filter(|s| !s.is_empty());
            let Some(first) = segments.next() else { continue };
            let target = match segments.next() {
                Some(second) => format!("{first}::{second}"),
                None => first.to_string(),
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

/// The floor a module is on (its index in `FLOORS`), or `None` when it is on none.
fn floor_of(module: &str) -> Option<usize> {
    let first = module.split("::").next()?;
    FLOORS.iter().position(|f| *f == first)
}

/// The node a module is in the cycle check: `floor::module` (a module's own
/// submodules are one node).
fn node_of(module: &str) -> String {
    module.split("::").take(2).collect::<Vec<_>>().join("::")
}

/// Every broken rule, as lines naming the modules.
fn violations(sources: &BTreeMap<String, String>) -> Vec<String> {
    let refs = references(sources);
    let is_command = |m: &str| m.starts_with("cmd::");
    let mut found = Vec::new();
    for module in refs.keys().filter(|m| floor_of(m).is_none()) {
        found.push(format!("module {module} is on no floor: move it under one of {}", FLOORS.join(", ")));
    }
    for (module, used) in &refs {
        let Some(from) = floor_of(module) else { continue };
        for target in used {
            match floor_of(target) {
                Some(to) if to < from => found.push(format!(
                    "{module} ({}) uses {target} ({}), a floor above it: move what it needs down to {} or below",
                    FLOORS[from], FLOORS[to], FLOORS[from]
                )),
                Some(_)
                    if is_command(target)
                        && is_command(module)
                        && node_of(module) != node_of(target)
                        && !COMMAND_PARTS.contains(&(module.as_str(), target.as_str())) =>
                {
                    found.push(format!("command {module} uses command {target}: share it through a library module"))
                }
                _ => {}
            }
        }
    }
    // Cycles among the libraries.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, used) in refs.iter().filter(|(m, _)| !is_command(m)) {
        let from = node_of(module);
        let entry = graph.entry(from.clone()).or_default();
        entry.extend(used.iter().filter(|t| !is_command(t)).map(|t| node_of(t)).filter(|t| *t != from));
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
fn modules_stay_on_their_floors_and_libraries_have_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = read_sources(&src);
    assert!(
        sources.contains_key("cmd::run") && sources.contains_key("spec::manifest::workflow"),
        "{:?}",
        sources.keys()
    );
    let found = violations(&sources);
    assert!(found.is_empty(), "the xtask's module rules are broken:\n{}", found.join("\n"));
}

#[test]
fn the_checker_finds_each_kind_of_violation() {
    let sources = |files: &[(&str, &str)]| -> BTreeMap<String, String> {
        files.iter().map(|(m, t)| (m.to_string(), t.to_string())).collect()
    };
    let clean = sources(&[
        ("cmd::run", "use crate::pipeline::pair_tasks::bind_inputs;"),
        ("cmd::bench", "crate::cmd::bench_vm::vm_suite()"),
        ("cmd::bench_vm", "use crate::host::vm;"),
        ("pipeline::pair_tasks", "use crate::spec::manifest::Image; use crate::host::vm::boot;"),
        ("spec::manifest", "use crate::spec::manifest::workflow::Workflow;"),
        ("spec::manifest::workflow", "use super::Image; crate::spec::project::Project"),
        ("host::vm", "crate::support::progress::bar()"),
        ("spec::project", ""),
        ("support::progress", ""),
    ]);
    assert_eq!(violations(&clean), Vec::<String>::new());

    let mut lib_uses_command = clean.clone();
    lib_uses_command.insert("host::vm".into(), "use crate::cmd::run::RunFlags;".into());
    assert_eq!(
        violations(&lib_uses_command),
        ["host::vm (host) uses cmd::run (cmd), a floor above it: move what it needs down to host or below"]
    );

    let mut lower_uses_higher = clean.clone();
    lower_uses_higher.insert("spec::project".into(), "crate::pipeline::image::images_dir()".into());
    assert_eq!(
        violations(&lower_uses_higher),
        ["spec::project (spec) uses pipeline::image (pipeline), a floor above it: move what it needs down to spec or below"]
    );

    let mut command_uses_command = clean.clone();
    command_uses_command.insert("cmd::run".into(), "crate::cmd::bench::BenchFlags".into());
    assert_eq!(
        violations(&command_uses_command),
        ["command cmd::run uses command cmd::bench: share it through a library module"]
    );

    let mut off_floor = clean.clone();
    off_floor.insert("helpers".into(), String::new());
    assert_eq!(
        violations(&off_floor),
        ["module helpers is on no floor: move it under one of cmd, pipeline, host, spec, support"]
    );

    let mut cycle = clean.clone();
    cycle.insert("host::vm".into(), "use crate::host::tools::vsock;".into());
    cycle.insert("host::tools".into(), "use crate::host::vm::boot;".into());
    let found = violations(&cycle);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0], "import cycle between libraries: host::tools → host::vm → host::tools");
}

#[test]
fn module_names_follow_the_files() {
    assert_eq!(module_of(Path::new("cmd/run.rs")), "cmd::run");
    assert_eq!(module_of(Path::new("pipeline/evm/mod.rs")), "pipeline::evm");
    assert_eq!(module_of(Path::new("spec/manifest/workflow.rs")), "spec::manifest::workflow");
    assert_eq!(module_of(Path::new("host/vm.rs")), "host::vm");
}
