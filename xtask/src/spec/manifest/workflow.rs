//! A pair's workflow, as its manifest declares it: the files a run is given
//! (`inputs`), the prover's task (`prove`: arguments, the files it writes,
//! which one is the proof) and the verifier's task on the prover's files
//! (`verify`), and the host's own check of the proof (`check`). `run`,
//! `run --vm` and `exec` build their tasks and verdicts from this and
//! nothing else.
//!
//! Arguments name files through placeholders, resolved to VM paths:
//! `${inputs.NAME}` (a file the run is given), `${outputs.NAME}` (a file
//! the prover writes; in `prove` only), `${prove.NAME}` (a prover output
//! handed to the verifier; in `verify` only). The check runs on the host:
//! `${proof}` (the proof file), `${report}` (where it writes its JSON
//! report), `${inputs.NAME}` (the input files), `${prover.env.VAR}` /
//! `${verifier.env.VAR}` (that image's environment value, each image path
//! in it mapped to the file the image carries). An optional `preflight`
//! (same form, without `${proof}`/`${report}`) checks the inputs on the
//! host before any task is sent.
//!
//! An optional `segments` fans the prover out: the host cuts an input into
//! pieces with a declared split command (`${out}/1.json`, `2.json`, … in
//! order), each piece is proven by its own prover task (`${segment.piece}`
//! → `${segment.proof}`, paths numbered by `${n}`), and an argument of
//! `prove` holding `${segments.proof}` is repeated once per segment proof,
//! which the prove task is handed.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::WORKSPACE_MOUNT;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSections {
    /// Input name → where the task finds it (a VM path under /workspace).
    #[serde(default)]
    pub inputs: BTreeMap<FileName, Spanned<String>>,
    pub prove: Spanned<ProveSection>,
    pub verify: Spanned<VerifySection>,
    pub preflight: Option<Spanned<CheckSection>>,
    pub check: Spanned<CheckSection>,
    /// Input name → the host file `run` uses when none is given.
    #[serde(default)]
    pub defaults: BTreeMap<FileName, Spanned<super::HostPath>>,
    pub capture: Option<Spanned<CaptureSection>>,
    pub segments: Option<Spanned<SegmentsSection>>,
}

/// The prover fanned out over pieces of an input, before its `prove` task.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentsSection {
    /// The input cut into pieces.
    pub input: Spanned<String>,
    /// Run on the host: writes the pieces as `${out}/1.json`, `2.json`, ….
    pub split: Spanned<CheckSection>,
    /// Where segment `${n}`'s task finds its piece (a VM path).
    pub piece: Spanned<String>,
    /// Where segment `${n}`'s task writes its proof (a VM path).
    pub proof: Spanned<String>,
    /// The segment task's arguments: `${segment.piece}`, `${segment.proof}`.
    pub args: Vec<Spanned<String>>,
}

/// A declared fan-out, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segments {
    pub input: String,
    pub split: Check,
    piece: String,
    proof: String,
    args: Vec<String>,
}

/// In a `prove` argument: repeated once per segment proof.
pub const SEGMENT_PROOFS: &str = "${segments.proof}";

impl Segments {
    /// Segment `n`'s piece (n counts from 1).
    pub fn piece_path(&self, n: usize) -> String {
        self.piece.replace("${n}", &n.to_string())
    }

    /// Segment `n`'s proof.
    pub fn proof_path(&self, n: usize) -> String {
        self.proof.replace("${n}", &n.to_string())
    }

    /// Segment `n`'s prover task.
    pub fn task(&self, n: usize) -> StepTask {
        let (piece, proof) = (self.piece_path(n), self.proof_path(n));
        let args = self
            .args
            .iter()
            .map(|a| {
                substitute(a, |scope, name| match (scope, name) {
                    ("segment", "piece") => Some(piece.clone()),
                    ("segment", "proof") => Some(proof.clone()),
                    _ => None,
                })
                .expect("validated placeholders")
            })
            .collect();
        StepTask { args, inputs: vec![("piece".into(), piece)], handed_over: Vec::new() }
    }
}

/// How `run` makes an input from a JSON-RPC node (`--rpc URL --from A --to B`),
/// or from a local anvil when none is named.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSection {
    /// The input it makes.
    pub input: Spanned<String>,
    /// `prover` or `verifier`: the program of that image, run on this machine.
    pub program: Spanned<String>,
    /// With `${rpc}`, `${from}`, `${to}` and `${out}` (the file to write).
    pub args: Vec<Spanned<String>>,
    /// Without `--rpc`: blocks mined on a local anvil (when installed) and captured from 1.
    pub anvil_blocks: Option<u64>,
}

/// A declared capture, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    pub input: String,
    pub program: Role,
    pub args: Vec<String>,
    pub anvil_blocks: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    /// `prover` or `verifier`: the program of that image, run on this machine.
    pub program: Spanned<String>,
    pub args: Vec<Spanned<String>>,
}

/// An image's part in the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Prover,
    Verifier,
}

impl Role {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "prover" => Some(Role::Prover),
            "verifier" => Some(Role::Verifier),
            _ => None,
        }
    }
}

/// The host's check: a program of the pair and its arguments (placeholders
/// unresolved: they name host files known only when it runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub program: Role,
    pub args: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProveSection {
    pub args: Vec<Spanned<String>>,
    /// Output name → the VM path the prover writes it to.
    pub outputs: BTreeMap<FileName, Spanned<String>>,
    /// The output that is the proof (downloaded and checked on the host).
    pub proof: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySection {
    pub args: Vec<Spanned<String>>,
}

/// An input or output name: what `--input NAME=FILE` and placeholders say.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileName(String);

impl FileName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for FileName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let ok = text.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(serde::de::Error::custom(format!(
                "file name {text:?}: use lowercase letters, digits and '_', starting with a letter"
            )));
        }
        Ok(Self(text))
    }
}

/// A validated workflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workflow {
    /// Input name → VM path.
    pub inputs: BTreeMap<String, String>,
    pub prove_args: Vec<String>,
    /// Output name → VM path.
    pub outputs: BTreeMap<String, String>,
    pub proof: String,
    pub verify_args: Vec<String>,
    /// Run on the host before anything is sent: the inputs are usable.
    pub preflight: Option<Check>,
    pub check: Check,
    /// Input name → the host file `run` uses when none is given.
    pub defaults: BTreeMap<String, super::HostPath>,
    pub capture: Option<Capture>,
    pub segments: Option<Segments>,
}

/// A task as the workflow defines it: arguments and the files it is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepTask {
    pub args: Vec<String>,
    /// Inputs given to the run: (name, VM path).
    pub inputs: Vec<(String, String)>,
    /// The prover's outputs this step reads: (name, VM path).
    pub handed_over: Vec<(String, String)>,
}

impl Workflow {
    /// The prover's task: its arguments, the inputs it reads.
    pub fn prove_task(&self) -> StepTask {
        self.prove_task_after(0)
    }

    /// The prover's task after `segments` segment tasks: each argument
    /// naming `${segments.proof}` repeated per segment, their proofs handed over.
    pub fn prove_task_after(&self, segments: usize) -> StepTask {
        let Some(fan_out) = &self.segments else { return self.task(&self.prove_args) };
        let proofs: Vec<String> = (1..=segments).map(|n| fan_out.proof_path(n)).collect();
        let args: Vec<String> = self
            .prove_args
            .iter()
            .flat_map(|arg| match arg.contains(SEGMENT_PROOFS) {
                true => proofs.iter().map(|p| arg.replace(SEGMENT_PROOFS, p)).collect(),
                false => vec![arg.clone()],
            })
            .collect();
        let mut task = self.task(&args);
        task.handed_over.extend(proofs.into_iter().enumerate().map(|(i, p)| (format!("segment {}", i + 1), p)));
        task
    }

    /// The verifier's task: its arguments, the inputs and prover outputs it reads.
    pub fn verify_task(&self) -> StepTask {
        self.task(&self.verify_args)
    }

    /// The VM path of the proof.
    pub fn proof_path(&self) -> &str {
        &self.outputs[&self.proof]
    }

    fn task(&self, args: &[String]) -> StepTask {
        let mut task = StepTask { args: Vec::new(), inputs: Vec::new(), handed_over: Vec::new() };
        for arg in args {
            let resolved = substitute(arg, |scope, name| {
                let path = match scope {
                    "inputs" => self.inputs.get(name)?,
                    "outputs" | "prove" => self.outputs.get(name)?,
                    _ => return None,
                };
                let used = match scope {
                    "inputs" => &mut task.inputs,
                    "prove" => &mut task.handed_over,
                    _ => return Some(path.clone()),
                };
                if !used.iter().any(|(n, _)| n == name) {
                    used.push((name.to_string(), path.clone()));
                }
                Some(path.clone())
            })
            .expect("validated placeholders");
            task.args.push(resolved);
        }
        task
    }
}

/// Replaces every `${scope.name}` in `text` with `lookup(scope, name)`;
/// `Err` names the first placeholder that resolves to nothing or is malformed.
pub fn substitute(text: &str, mut lookup: impl FnMut(&str, &str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("{:?} opens a placeholder it never closes", text))?;
        let inner = &after[..end];
        let (scope, name) = inner.split_once('.').unwrap_or((inner, ""));
        out.push_str(&lookup(scope, name).ok_or_else(|| format!("placeholder ${{{inner}}}"))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A workflow VM path: a file under the workspace mount.
fn check_vm_path(path: &str) -> Result<(), String> {
    let inside = path.strip_prefix(WORKSPACE_MOUNT).and_then(|r| r.strip_prefix('/'));
    match inside {
        Some(rel) if !rel.is_empty() && !rel.ends_with('/') && rel.split('/').all(|c| !c.is_empty() && c != "." && c != "..") => {
            Ok(())
        }
        _ => Err(format!(
            "{path:?} is not a file under {WORKSPACE_MOUNT}/: a task's files live in the workspace the node mounts there"
        )),
    }
}

/// What the pair's images hold, for checking the workflow against them
/// (`None`: unknown, because that image's manifest failed to load).
pub trait PairImages {
    /// Whether the image of `role` sets the environment variable `var`.
    fn sets(&self, role: Role, var: &str) -> Option<bool>;
    /// Whether it carries the file `path` (its SRS path or one of its files).
    fn carries(&self, role: Role, path: &str) -> Option<bool>;
}

/// Validates `sections` against the pair's images, reporting every problem
/// as (span, message).
pub fn validate(sections: WorkflowSections, images: &dyn PairImages) -> Result<Workflow, Problems> {
    let mut errors = Vec::new();
    let inputs = vm_paths("inputs", &sections.inputs, &mut errors);
    let prove_span = sections.prove.span();
    let prove = sections.prove.into_inner();
    let outputs = vm_paths("prove.outputs", &prove.outputs, &mut errors);
    distinct_paths(&inputs, &outputs, &prove_span, &mut errors);
    if !outputs.contains_key(prove.proof.get_ref()) {
        errors.push((
            prove.proof.span(),
            format!(
                "key `prove.proof`: {:?} is not one of the prover's outputs ({})",
                prove.proof.get_ref(),
                outputs.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let scope = Scope { images, inputs: &inputs, outputs: &outputs, fans_out: sections.segments.is_some() };
    let prove_args =
        scope.task_args("prove", Role::Prover, &prove.args, &["inputs", "outputs", "segments"], &mut errors);
    let verify_args =
        scope.task_args("verify", Role::Verifier, &sections.verify.get_ref().args, &["inputs", "prove"], &mut errors);
    if scope.fans_out && !prove_args.iter().any(|a| a.contains(SEGMENT_PROOFS)) {
        errors.push((
            prove_span.clone(),
            format!("key `prove.args`: the pair declares [segments], so the prove task must take their proofs: put {SEGMENT_PROOFS} in an argument (it is repeated once per segment, e.g. \"--segment=${{segments.proof}}\")"),
        ));
    }
    let preflight = sections.preflight.map(|p| scope.host_command("preflight", p.into_inner(), false, &mut errors));
    let check = scope.host_command("check", sections.check.into_inner(), true, &mut errors);
    let defaults = defaults_of(sections.defaults, &inputs, &mut errors);
    let capture = sections.capture.map(|c| capture_of(c.into_inner(), &inputs, &mut errors));
    let segments =
        sections.segments.map(|section| validate_segments(section.into_inner(), &inputs, &outputs, &mut errors));
    if errors.is_empty() {
        Ok(Workflow {
            inputs,
            prove_args,
            outputs,
            proof: prove.proof.into_inner(),
            verify_args,
            preflight: preflight.flatten(),
            check: check.expect("no errors"),
            defaults,
            capture: capture.flatten(),
            segments: segments.flatten(),
        })
    } else {
        Err(errors)
    }
}

/// Problems found in a workflow, each at its position in the manifest.
pub type Problems = Vec<(std::ops::Range<usize>, String)>;

/// Name → VM path, each required to be a file under the workspace mount.
fn vm_paths(key: &str, map: &BTreeMap<FileName, Spanned<String>>, errors: &mut Problems) -> BTreeMap<String, String> {
    let mut paths = BTreeMap::new();
    for (name, path) in map {
        if let Err(e) = check_vm_path(path.get_ref()) {
            errors.push((path.span(), format!("key `{key}.{}`: {e}", name.as_str())));
        }
        paths.insert(name.as_str().to_string(), path.get_ref().clone());
    }
    paths
}

/// Every input and output at its own path.
fn distinct_paths(
    inputs: &BTreeMap<String, String>,
    outputs: &BTreeMap<String, String>,
    at: &std::ops::Range<usize>,
    errors: &mut Problems,
) {
    let mut seen: BTreeMap<&String, String> = BTreeMap::new();
    for (name, path) in inputs
        .iter()
        .map(|(n, p)| (format!("inputs.{n}"), p))
        .chain(outputs.iter().map(|(n, p)| (format!("prove.outputs.{n}"), p)))
    {
        if let Some(first) = seen.insert(path, name.clone()) {
            errors
                .push((at.clone(), format!("`{name}` and `{first}` are both {path:?}: each file needs its own path")));
        }
    }
}

/// What a workflow's arguments may name: the pair's files and images.
struct Scope<'a> {
    images: &'a dyn PairImages,
    inputs: &'a BTreeMap<String, String>,
    outputs: &'a BTreeMap<String, String>,
    fans_out: bool,
}

impl Scope<'_> {
    /// A task's arguments: each placeholder names a file this step has, no
    /// argument is empty, and a literal path outside the workspace is one
    /// the image carries.
    fn task_args(
        &self,
        step: &str,
        role: Role,
        args: &[Spanned<String>],
        scopes: &[&str],
        errors: &mut Problems,
    ) -> Vec<String> {
        for arg in args {
            let known = |scope: &str, name: &str| -> Option<String> {
                if !scopes.contains(&scope) {
                    return None;
                }
                match scope {
                    "inputs" => self.inputs.get(name).cloned(),
                    "segments" => (self.fans_out && name == "proof").then(String::new),
                    _ => self.outputs.get(name).cloned(),
                }
            };
            if arg.get_ref().is_empty() {
                errors.push((arg.span(), format!("key `{step}.args`: an empty argument, which gevulot-cli drops")));
            } else if let Err(e) = substitute(arg.get_ref(), known) {
                let names = self.placeholders(scopes);
                errors.push((
                    arg.span(),
                    format!(
                        "key `{step}.args`: {e} names nothing this step can use; it can use: {}",
                        if names.is_empty() { "no placeholders".to_string() } else { names.join(", ") }
                    ),
                ));
            } else if let Some(path) = self.uncarried_path(role, arg.get_ref()) {
                errors.push((
                    arg.span(),
                    format!(
                        "key `{step}.args`: {path} is not under {WORKSPACE_MOUNT}/ and the {} image does not carry it (its [srs] path or [[files]])",
                        format!("{role:?}").to_lowercase()
                    ),
                ));
            }
        }
        args.iter().map(|a| a.get_ref().clone()).collect()
    }

    /// Every placeholder the scopes offer, for an error message.
    fn placeholders(&self, scopes: &[&str]) -> Vec<String> {
        scopes
            .iter()
            .flat_map(|scope| match *scope {
                "segments" if self.fans_out => vec![SEGMENT_PROOFS.to_string()],
                "segments" => Vec::new(),
                "inputs" => self.inputs.keys().map(|n| format!("${{{scope}.{n}}}")).collect(),
                _ => self.outputs.keys().map(|n| format!("${{{scope}.{n}}}")).collect(),
            })
            .collect()
    }

    /// A literal path outside the workspace (`/x` or `--flag=/x`) that the
    /// image does not carry.
    fn uncarried_path<'t>(&self, role: Role, text: &'t str) -> Option<&'t str> {
        let path = text.split_once('=').map(|(_, v)| v).unwrap_or(text);
        let elsewhere = path.starts_with('/')
            && !path.contains("${")
            && check_vm_path(path).is_err()
            && !path.starts_with("/dev/")
            && !path.starts_with("/proc/");
        (elsewhere && self.images.carries(role, path) == Some(false)).then_some(path)
    }

    /// A host command (`preflight`, or with `after_proof` the `check`): a
    /// program of the pair and arguments naming what the host has.
    fn host_command(
        &self,
        key: &str,
        section: CheckSection,
        after_proof: bool,
        errors: &mut Problems,
    ) -> Option<Check> {
        let program = Role::parse(section.program.get_ref());
        if program.is_none() {
            errors.push((
                section.program.span(),
                format!("key `{key}.program`: {:?} is neither \"prover\" nor \"verifier\"", section.program.get_ref()),
            ));
        }
        let mut args = Vec::new();
        for arg in &section.args {
            let known = |scope: &str, name: &str| -> Option<String> {
                match (scope, name) {
                    ("proof" | "report", "") if after_proof => Some(String::new()),
                    ("inputs", name) => self.inputs.get(name).cloned(),
                    (role, rest) => {
                        let var = rest.strip_prefix("env.")?;
                        self.images.sets(Role::parse(role)?, var).unwrap_or(true).then(String::new)
                    }
                }
            };
            if let Err(e) = substitute(arg.get_ref(), known) {
                errors.push((
                    arg.span(),
                    format!(
                        "key `{key}.args`: {e} names nothing it can use; it can use: {}{}${{prover.env.VAR}} or ${{verifier.env.VAR}} for a variable that image sets",
                        if after_proof { "${proof}, ${report}, " } else { "" },
                        self.inputs.keys().map(|n| format!("${{inputs.{n}}}, ")).collect::<String>()
                    ),
                ));
            }
            args.push(arg.get_ref().clone());
        }
        // The host's verdict needs the check to read the proof and to write a
        // report naming it (`valid` and `proof_blake3`; host_verify.rs).
        for needed in ["${proof}", "${report}"].iter().filter(|_| after_proof) {
            if !args.iter().any(|a| a.contains(needed)) {
                errors.push((
                    section.program.span(),
                    format!("key `{key}.args`: the check must take {needed}: it reads the proof at ${{proof}} and writes a JSON report at ${{report}} with a boolean `valid` and the `proof_blake3` of the proof it checked"),
                ));
            }
        }
        Some(Check { program: program?, args })
    }
}

/// `[defaults]`: a host file per declared input.
fn defaults_of(
    section: BTreeMap<FileName, Spanned<super::HostPath>>,
    inputs: &BTreeMap<String, String>,
    errors: &mut Problems,
) -> BTreeMap<String, super::HostPath> {
    let mut defaults = BTreeMap::new();
    for (name, file) in section {
        if !inputs.contains_key(name.as_str()) {
            errors.push((file.span(), format!("key `defaults.{}`: the pair declares no such input", name.as_str())));
        }
        defaults.insert(name.as_str().to_string(), file.into_inner());
    }
    defaults
}

/// `[capture]`: a declared input, a program of the pair, and arguments
/// naming only `${rpc}`, `${from}`, `${to}` and `${out}`.
fn capture_of(c: CaptureSection, inputs: &BTreeMap<String, String>, errors: &mut Problems) -> Option<Capture> {
    if !inputs.contains_key(c.input.get_ref()) {
        errors
            .push((c.input.span(), format!("key `capture.input`: the pair declares no input {:?}", c.input.get_ref())));
    }
    let program = Role::parse(c.program.get_ref());
    if program.is_none() {
        errors.push((
            c.program.span(),
            format!("key `capture.program`: {:?} is neither \"prover\" nor \"verifier\"", c.program.get_ref()),
        ));
    }
    for arg in &c.args {
        let known = |scope: &str, name: &str| {
            ["rpc", "from", "to", "out"]
                .contains(&scope)
                .then_some(())
                .filter(|()| name.is_empty())
                .map(|()| String::new())
        };
        if let Err(e) = substitute(arg.get_ref(), known) {
            errors.push((
                arg.span(),
                format!("key `capture.args`: {e} names nothing; it can use: ${{rpc}}, ${{from}}, ${{to}}, ${{out}}"),
            ));
        }
    }
    program.map(|program| Capture {
        input: c.input.into_inner(),
        program,
        args: c.args.into_iter().map(Spanned::into_inner).collect(),
        anvil_blocks: c.anvil_blocks,
    })
}

/// `[segments]`: an input to cut, a host split command writing `${out}`,
/// numbered workspace paths apart from every other file, and a segment
/// task that reads its piece and writes its proof.
fn validate_segments(
    section: SegmentsSection,
    inputs: &BTreeMap<String, String>,
    outputs: &BTreeMap<String, String>,
    errors: &mut Vec<(std::ops::Range<usize>, String)>,
) -> Option<Segments> {
    if !inputs.contains_key(section.input.get_ref()) {
        errors.push((
            section.input.span(),
            format!("key `segments.input`: the pair declares no input {:?}", section.input.get_ref()),
        ));
    }
    let mut numbered = |key: &str, path: &Spanned<String>| {
        let text = path.get_ref();
        if !text.contains("${n}") {
            errors.push((path.span(), format!("key `segments.{key}`: {text:?} has no ${{n}}: each segment needs its own file (e.g. \"/workspace/segment-${{n}}.json\")")));
        } else if let Err(e) = check_vm_path(&text.replace("${n}", "1")) {
            errors.push((path.span(), format!("key `segments.{key}`: {e}")));
        } else if let Some((name, _)) = inputs.iter().chain(outputs).find(|(_, p)| Segments::matches(text, p)) {
            errors.push((
                path.span(),
                format!(
                    "key `segments.{key}`: {text:?} can name the same file as `{name}`: each file needs its own path"
                ),
            ));
        }
    };
    numbered("piece", &section.piece);
    numbered("proof", &section.proof);
    if section.piece.get_ref() == section.proof.get_ref() {
        errors.push((section.proof.span(), "key `segments.proof`: the same path as `segments.piece`".to_string()));
    }
    let split = section.split.into_inner();
    let program = Role::parse(split.program.get_ref());
    if program.is_none() {
        errors.push((
            split.program.span(),
            format!(
                "key `segments.split.program`: {:?} is neither \"prover\" nor \"verifier\"",
                split.program.get_ref()
            ),
        ));
    }
    for arg in &split.args {
        let known = |scope: &str, name: &str| match scope {
            "inputs" => inputs.get(name).cloned(),
            "out" if name.is_empty() => Some(String::new()),
            _ => None,
        };
        if let Err(e) = substitute(arg.get_ref(), known) {
            errors.push((
                arg.span(),
                format!(
                    "key `segments.split.args`: {e} names nothing; it can use: ${{out}}{}",
                    inputs.keys().map(|n| format!(", ${{inputs.{n}}}")).collect::<String>()
                ),
            ));
        }
    }
    if !split.args.iter().any(|a| a.get_ref().contains("${out}")) {
        errors.push((
            split.program.span(),
            "key `segments.split.args`: the split must take ${out}, the directory it writes the pieces to".to_string(),
        ));
    }
    for arg in &section.args {
        let known =
            |scope: &str, name: &str| (scope == "segment" && ["piece", "proof"].contains(&name)).then(String::new);
        if arg.get_ref().is_empty() {
            errors.push((arg.span(), "key `segments.args`: an empty argument, which gevulot-cli drops".to_string()));
        } else if let Err(e) = substitute(arg.get_ref(), known) {
            errors.push((
                arg.span(),
                format!("key `segments.args`: {e} names nothing; it can use: ${{segment.piece}}, ${{segment.proof}}"),
            ));
        }
    }
    for needed in ["${segment.piece}", "${segment.proof}"] {
        if !section.args.iter().any(|a| a.get_ref().contains(needed)) {
            errors.push((section.piece.span(), format!("key `segments.args`: the segment task must take {needed}")));
        }
    }
    Some(Segments {
        input: section.input.into_inner(),
        split: Check { program: program?, args: split.args.into_iter().map(Spanned::into_inner).collect() },
        piece: section.piece.into_inner(),
        proof: section.proof.into_inner(),
        args: section.args.into_iter().map(Spanned::into_inner).collect(),
    })
}

impl Segments {
    /// Whether the numbered `pattern` can be `path` for some n.
    fn matches(pattern: &str, path: &str) -> bool {
        let (head, tail) = pattern.split_once("${n}").expect("numbered");
        path.strip_prefix(head)
            .and_then(|rest| rest.strip_suffix(tail))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header-chain images: the verifier pins keys, the prover carries an SRS.
    struct TestImages;

    impl PairImages for TestImages {
        fn sets(&self, role: Role, var: &str) -> Option<bool> {
            Some(role == Role::Verifier && var == "HEADER_CHAIN_KEYS")
        }
        fn carries(&self, role: Role, path: &str) -> Option<bool> {
            Some(role == Role::Prover && path == "/srs/kzg_bn254_14.srs")
        }
    }

    fn parse(text: &str) -> Result<Workflow, Vec<String>> {
        let sections: WorkflowSections = toml::from_str(text).map_err(|e| vec![e.message().to_string()])?;
        validate(sections, &TestImages).map_err(|errors| errors.into_iter().map(|(_, m)| m).collect())
    }

    /// The committed pair manifest's workflow (its `[pair]` table is the
    /// loader's, not the workflow's): the tests edit it, never a retyped copy.
    fn header_chain() -> String {
        let text = include_str!("../../../../manifests/pairs/header-chain.toml");
        let start = text.find("[pair]").expect("a [pair] table");
        let end = start + text[start..].find("\n\n").expect("a blank line after [pair]");
        format!("{}{}", &text[..start], &text[end..])
    }

    #[test]
    fn tasks_come_from_the_declaration() {
        let w = parse(&header_chain()).unwrap();
        let prove = w.prove_task();
        assert_eq!(prove.args, ["prove", "--witness", "/workspace/witness.json", "--proof", "/workspace/proof.json"]);
        assert_eq!(prove.inputs, [("witness".to_string(), "/workspace/witness.json".to_string())]);
        assert!(prove.handed_over.is_empty());
        let verify = w.verify_task();
        assert_eq!(verify.args, ["verify", "--proof", "/workspace/proof.json"]);
        assert!(verify.inputs.is_empty());
        assert_eq!(verify.handed_over, [("proof".to_string(), "/workspace/proof.json".to_string())]);
        assert_eq!(w.proof_path(), "/workspace/proof.json");
    }

    #[test]
    fn the_check_is_declared_with_host_placeholders() {
        let w = parse(&header_chain()).unwrap();
        assert_eq!(w.check.program, Role::Verifier);
        assert_eq!(w.check.args[2], "${proof}");
        let resolved: Vec<String> = w
            .check
            .args
            .iter()
            .map(|a| substitute(a, |scope, name| Some(format!("<{scope}|{name}>"))).unwrap())
            .collect();
        assert_eq!(resolved[4], "<inputs|witness>");
        assert_eq!(resolved[6], "<verifier|env.HEADER_CHAIN_KEYS>");
        assert_eq!(resolved[8], "<report|>");
    }

    #[test]
    fn placeholders_inside_an_argument_are_resolved() {
        let text = header_chain().replace(r#""--proof", "${prove.proof}""#, r#""--proof=${prove.proof}""#);
        assert_eq!(parse(&text).unwrap().verify_task().args, ["verify", "--proof=/workspace/proof.json"]);
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let text = r#"
            inputs = { witness = "/tmp/witness.json" }
            [prove]
            args = ["prove", "${inputs.witnes}", "${prove.proof}"]
            outputs = { proof = "/workspace/../proof.json" }
            proof = "proofs"
            [verify]
            args = ["verify", "${outputs.proof}", "${prove.proof"]
            [check]
            program = "host"
            args = ["${verifier.env.KEYS}", "${proof}", "${prover.env.HEADER_CHAIN_KEYS}"]
        "#;
        let errors = parse(text).unwrap_err();
        let all = errors.join("\n");
        for expected in [
            "key `inputs.witness`: \"/tmp/witness.json\" is not a file under /workspace/",
            "key `prove.outputs.proof`: \"/workspace/../proof.json\" is not a file under /workspace/",
            "key `prove.proof`: \"proofs\" is not one of the prover's outputs (proof)",
            "key `prove.args`: placeholder ${inputs.witnes} names nothing",
            "key `prove.args`: placeholder ${prove.proof} names nothing",
            "key `verify.args`: placeholder ${outputs.proof} names nothing this step can use; it can use: ${inputs.witness}, ${prove.proof}",
            "never closes",
            "key `check.program`: \"host\" is neither \"prover\" nor \"verifier\"",
            "key `check.args`: placeholder ${verifier.env.KEYS} names nothing it can use",
            "key `check.args`: placeholder ${prover.env.HEADER_CHAIN_KEYS} names nothing",
            "key `check.args`: the check must take ${report}",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert_eq!(errors.len(), 11, "{all}");
    }

    #[test]
    fn unknown_keys_and_bad_names_are_refused() {
        let text = header_chain().replace("[verify]", "[verify]\nfiles = []");
        assert!(parse(&text).unwrap_err()[0].contains("unknown field `files`"));
        let text = header_chain().replace("witness = ", "Witness-File = ").replace("${inputs.witness}", "x");
        assert!(parse(&text).unwrap_err()[0].contains("use lowercase letters"));
    }

    #[test]
    fn a_path_the_image_does_not_carry_is_refused() {
        let text = header_chain().replace(
            r#""--proof", "${outputs.proof}""#,
            r#""--proof", "${outputs.proof}", "--srs", "/srs/kzg_bn254_14.srs""#,
        );
        assert!(parse(&text).is_ok(), "{:?}", parse(&text));
        let text = header_chain().replace(
            r#""--proof", "${outputs.proof}""#,
            r#""--proof", "${outputs.proof}", "--srs=/srs/kzg_bn254_15.srs""#,
        );
        let errors = parse(&text).unwrap_err();
        assert!(
            errors[0].contains("/srs/kzg_bn254_15.srs is not under /workspace/ and the prover image does not carry it"),
            "{errors:?}"
        );
        let text =
            header_chain().replace(r#"args = ["verify","#, r#"args = ["verify", "--srs", "/srs/kzg_bn254_14.srs","#);
        assert!(parse(&text).unwrap_err()[0].contains("the verifier image does not carry it"));
    }

    #[test]
    fn defaults_and_capture_name_declared_inputs() {
        let text = header_chain();
        let w = parse(&text).unwrap();
        assert_eq!(w.defaults["witness"].as_str(), "tests/fixtures/anvil-chain-8.witness.json");
        let capture = w.capture.unwrap();
        assert_eq!((capture.input.as_str(), capture.program, capture.anvil_blocks), ("witness", Role::Prover, Some(8)));
        let bad = text
            .replace("witness = \"tests", "data = \"tests")
            .replace("input = \"witness\"", "input = \"data\"")
            .replace("${out}", "${output}");
        let errors = parse(&bad).unwrap_err().join("\n");
        assert!(errors.contains("key `defaults.data`: the pair declares no such input"), "{errors}");
        assert!(errors.contains("key `capture.input`: the pair declares no input \"data\""), "{errors}");
        assert!(errors.contains("key `capture.args`: placeholder ${output} names nothing"), "{errors}");
    }

    const SEGMENTS: &str = r#"
        [segments]
        input = "witness"
        split = { program = "prover", args = ["split-witness", "--witness", "${inputs.witness}", "--out-dir", "${out}"] }
        piece = "/workspace/segment-${n}.witness.json"
        proof = "/workspace/segment-${n}.proof.json"
        args = ["prove", "--witness", "${segment.piece}", "--proof", "${segment.proof}"]
    "#;

    fn fanned_out() -> String {
        let aggregate = header_chain().replace(
            r#"args = ["prove", "--witness", "${inputs.witness}", "--proof", "${outputs.proof}"]"#,
            r#"args = ["aggregate", "--segment=${segments.proof}", "--proof", "${outputs.proof}"]"#,
        );
        format!("{aggregate}\n{SEGMENTS}")
    }

    #[test]
    fn segments_fan_the_prover_out_and_the_prove_task_takes_every_proof() {
        let w = parse(&fanned_out()).unwrap();
        let segments = w.segments.as_ref().unwrap();
        assert_eq!((segments.input.as_str(), segments.split.program), ("witness", Role::Prover));
        let second = segments.task(2);
        assert_eq!(
            second.args,
            ["prove", "--witness", "/workspace/segment-2.witness.json", "--proof", "/workspace/segment-2.proof.json"]
        );
        assert_eq!(second.inputs, [("piece".to_string(), "/workspace/segment-2.witness.json".to_string())]);
        let aggregate = w.prove_task_after(3);
        assert_eq!(
            aggregate.args,
            [
                "aggregate",
                "--segment=/workspace/segment-1.proof.json",
                "--segment=/workspace/segment-2.proof.json",
                "--segment=/workspace/segment-3.proof.json",
                "--proof",
                "/workspace/proof.json"
            ]
        );
        let handed: Vec<&str> = aggregate.handed_over.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(
            handed,
            ["/workspace/segment-1.proof.json", "/workspace/segment-2.proof.json", "/workspace/segment-3.proof.json"]
        );
        assert!(aggregate.inputs.is_empty(), "the aggregation reads proofs, not the witness");
    }

    #[test]
    fn a_bad_fan_out_is_refused_with_every_reason() {
        let errors = parse(&format!("{}\n{SEGMENTS}", header_chain())).unwrap_err().join("\n");
        assert!(errors.contains("the pair declares [segments], so the prove task must take their proofs"), "{errors}");
        let text = header_chain().replace("${outputs.proof}\"]", "${outputs.proof}\", \"${segments.proof}\"]");
        let errors = parse(&text).unwrap_err().join("\n");
        assert!(errors.contains("placeholder ${segments.proof} names nothing"), "{errors}");
        let bad = fanned_out()
            .replace(r#"input = "witness""#, r#"input = "data""#)
            .replace("segment-${n}.witness.json", "segment.witness.json")
            .replace("/workspace/segment-${n}.proof.json", "/tmp/segment-${n}.proof.json")
            .replace(r#""--out-dir", "${out}""#, r#""--out-dir", "${outdir}""#)
            .replace(r#""--proof", "${segment.proof}""#, r#""--proof", "${segment.out}""#);
        let errors = parse(&bad).unwrap_err().join("\n");
        for expected in [
            "key `segments.input`: the pair declares no input \"data\"",
            "key `segments.piece`: \"/workspace/segment.witness.json\" has no ${n}",
            "key `segments.proof`: \"/tmp/segment-1.proof.json\" is not a file under /workspace/",
            "key `segments.split.args`: placeholder ${outdir} names nothing",
            "the split must take ${out}",
            "key `segments.args`: placeholder ${segment.out} names nothing",
            "the segment task must take ${segment.proof}",
        ] {
            assert!(errors.contains(expected), "missing {expected:?} in:\n{errors}");
        }
        let clash = fanned_out().replace("/workspace/segment-${n}.proof.json", "/workspace/proof${n}.json").replace(
            r#"outputs = { proof = "/workspace/proof.json" }"#,
            r#"outputs = { proof = "/workspace/proof7.json" }"#,
        );
        let errors = parse(&clash).unwrap_err().join("\n");
        assert!(errors.contains("can name the same file as `proof`"), "{errors}");
    }

    #[test]
    fn two_files_at_one_path_are_refused() {
        let text = header_chain().replace("/workspace/witness.json", "/workspace/proof.json");
        assert!(parse(&text).unwrap_err()[0].contains("each file needs its own path"));
        let text = header_chain().replace(r#"args = ["verify","#, r#"args = ["", "verify","#);
        assert!(parse(&text).unwrap_err()[0].contains("an empty argument, which gevulot-cli drops"));
    }
}
