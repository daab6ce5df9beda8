//! Splitting snark-verifier's verifier into contracts that each fit the
//! EVM's 24,576-byte code limit (EIP-170).
//!
//! The generated verifier is one straight-line Yul block: after a prologue
//! (`success`, the moduli `f_p`/`f_q`, `validate_ec_point`) every top-level
//! statement passes values on only through memory at literal addresses and
//! through `success`. So the statements can be cut into parts, each a
//! contract that receives the verifier's calldata followed by the windows
//! of memory its statements touch (packed from address 0, every literal
//! address rewritten to match: [`PartLayout`]), runs its statements,
//! reverts if `success` is false, and returns those windows. The verifier
//! contract checks the calldata, keeps the memory at the generated code's
//! addresses, and for each part in order copies its windows in, calls it
//! with `staticcall`, and copies them back; the last part ends as the
//! original does. Packing matters: memory expansion is paid again in every
//! call frame and grows with the square of the highest address, so passing
//! each part all memory up to its highest address cost 5 M gas of the 9 M
//! (8 headers); windows cost about 1 M. The parts' addresses are given to
//! the verifier's constructor, which refuses any whose code hash is not the
//! one compiled here, so the deployed verifier's behaviour is fixed by its
//! own code.
//!
//! Anything this does not recognise (a top-level `let` beyond the
//! prologue's, a memory access at a computed address, an opcode outside the
//! list below) is an error, never a silently wrong split.

use std::ops::Range;

use anyhow::{bail, Context, Result};

/// EIP-170: the largest runtime code a contract may have.
pub const CODE_SIZE_LIMIT: usize = 24_576;

/// The parsed verifier body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// `let success := true`, `let f_p := …`, `let f_q := …`.
    pub prelude: Vec<String>,
    /// Yul function definitions (each part carries them all).
    pub functions: Vec<String>,
    pub statements: Vec<Statement>,
    /// Exactly the calldata the verifier reads: instances, then the proof.
    pub calldata_bytes: usize,
    /// Calldata offsets of the public instances.
    pub instance_offsets: Vec<usize>,
    /// The calldata the generated code reads as scalars,
    /// `mod(calldataload(X), f_q)`: reduced, not checked, so `x + r` would
    /// pass for `x`. Runs of 32-byte words, in order; the instances are the
    /// first run.
    pub scalar_words: Vec<Range<usize>>,
    /// The scalar field's modulus (`f_q`), as written in the prelude.
    pub scalar_modulus: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub text: String,
    /// The memory ranges it reads or writes.
    pub memory: Vec<Range<usize>>,
    /// The calldata offsets it reads (`calldataload`).
    pub calldata_offsets: Vec<usize>,
    /// Those it reads as scalars, `mod(calldataload(X), f_q)`.
    pub scalar_offsets: Vec<usize>,
    /// It checks a point read from the proof (`validate_ec_point`).
    pub reads_point: bool,
}

/// Opcodes and functions whose arguments are values, not memory.
const PURE: &[&str] = &[
    "mulmod",
    "addmod",
    "mod",
    "sub",
    "add",
    "mul",
    "div",
    "and",
    "or",
    "xor",
    "not",
    "eq",
    "lt",
    "gt",
    "iszero",
    "shl",
    "shr",
    "byte",
    "gas",
    "validate_ec_point",
];

/// Gives each elliptic-curve precompile call exactly the gas it costs
/// (EIP-1108: ecAdd 150, ecMul 6,000, pairing 45,000 + 34,000 per pair)
/// instead of `gas()`. A call fails only on input that is not a point, and a
/// failing call burns all the gas it was given: with `gas()` a proof with
/// an edited accumulator ran the verifier out of gas at any limit, where it
/// must revert. A valid proof costs the same either way.
pub fn bound_precompile_gas(solidity: &str) -> Result<String> {
    const CALL: &str = "staticcall(gas(), ";
    let mut out = String::with_capacity(solidity.len());
    let mut rest = solidity;
    while let Some(at) = rest.find(CALL) {
        out.push_str(&rest[..at]);
        let args = &rest[at + CALL.len()..];
        let mut parts = args.splitn(4, ',').map(str::trim);
        let (address, _input, length) = (parts.next(), parts.next(), parts.next());
        let gas = match address {
            Some("0x6") => Some(150),
            Some("0x7") => Some(6_000),
            Some("0x8") => {
                let length = length.and_then(|l| u64::from_str_radix(l.trim_start_matches("0x"), 16).ok());
                let length = length.context("a pairing call whose input length is not a literal")?;
                anyhow::ensure!(length % 192 == 0, "a pairing call of {length} bytes, not whole pairs");
                Some(45_000 + 34_000 * length / 192)
            }
            _ => None,
        };
        match gas {
            Some(gas) => out.push_str(&format!("staticcall({gas}, ")),
            None => out.push_str(CALL),
        }
        rest = args;
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses the Solidity snark-verifier writes (one contract, one fallback
/// holding one assembly block).
pub fn parse(solidity: &str) -> Result<Program> {
    let open = solidity.find("assembly").context("the generated verifier has no assembly block")?;
    let body_start = open + solidity[open..].find('{').context("assembly block has no body")? + 1;
    let mut prelude = Vec::new();
    let mut functions = Vec::new();
    let mut statements = Vec::new();
    let mut ended = false;
    let mut calldata_bytes = 0;
    let mut current = String::new();
    let mut depth = 0i64;
    for line in solidity[body_start..].lines() {
        let code = line.split("//").next().unwrap_or_default();
        if depth == 0 && code.trim() == "}" {
            ended = true;
            break;
        }
        if depth == 0 && code.trim().is_empty() {
            continue;
        }
        current.push_str(code.trim_end());
        current.push('\n');
        depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
        if depth < 0 {
            bail!("unbalanced braces in the generated verifier");
        }
        if depth > 0 {
            continue;
        }
        let text = std::mem::take(&mut current);
        let trimmed = text.trim();
        if trimmed.starts_with("function ") {
            let touched = accesses(trimmed)?;
            if !touched.memory.is_empty() || !touched.calldata_offsets.is_empty() {
                bail!(
                    "a function of the generated verifier reads memory or calldata ({trimmed:.60}); it cannot be split"
                );
            }
            functions.push(text);
        } else if trimmed.starts_with("let data := mload(0x40)") || trimmed.starts_with("if iszero(eq(data, 0x80))") {
            // Solidity's memory-layout check; the parts run on memory they are given.
        } else if ["let success :=", "let f_p :=", "let f_q :="].iter().any(|p| trimmed.starts_with(p)) {
            prelude.push(text);
        } else if trimmed.starts_with("let ") {
            bail!("the generated verifier keeps a value on the stack across statements ({trimmed:.60}); it cannot be split");
        } else if trimmed == "if iszero(success) { revert(0, 0) }" || trimmed == "return(0, 0)" {
            // The original ending; every part ends with its own.
        } else {
            let touched = accesses(trimmed)?;
            calldata_bytes = calldata_bytes.max(touched.calldata_offsets.iter().map(|o| o + 32).max().unwrap_or(0));
            statements.push(Statement {
                memory: touched.memory,
                calldata_offsets: touched.calldata_offsets,
                scalar_offsets: touched.scalar_offsets,
                reads_point: touched.reads_point,
                text,
            });
        }
    }
    if !ended {
        bail!("the generated verifier's assembly block does not end");
    }
    if prelude.len() != 3 || statements.is_empty() {
        bail!(
            "the generated verifier does not have the expected shape (prelude {}, statements {})",
            prelude.len(),
            statements.len()
        );
    }
    let scalar_modulus = prelude
        .iter()
        .find_map(|l| l.trim().strip_prefix("let f_q := "))
        .context("the generated verifier names no scalar modulus")?
        .trim()
        .to_string();
    // Calldata holds the instances, then the proof, which starts with a
    // commitment (a point checked by validate_ec_point): the instances are
    // the words read before the first point.
    let first_point = statements
        .iter()
        .filter(|s| s.reads_point)
        .flat_map(|s| s.calldata_offsets.iter().copied())
        .min()
        .context("the generated verifier reads no point from the proof")?;
    let mut instance_offsets: Vec<usize> = statements
        .iter()
        .flat_map(|s| s.calldata_offsets.iter().copied())
        .filter(|offset| *offset < first_point)
        .collect();
    instance_offsets.sort_unstable();
    instance_offsets.dedup();
    if instance_offsets.is_empty()
        || instance_offsets.iter().enumerate().any(|(i, o)| *o != 32 * i)
        || instance_offsets.len() * 32 != first_point
    {
        bail!("the generated verifier's public instances are not the words before the proof ({instance_offsets:?}, proof at {first_point:#x}); it cannot be split safely");
    }
    let mut scalar_offsets: Vec<usize> = statements.iter().flat_map(|s| s.scalar_offsets.iter().copied()).collect();
    scalar_offsets.sort_unstable();
    scalar_offsets.dedup();
    if !instance_offsets.iter().all(|o| scalar_offsets.binary_search(o).is_ok()) {
        bail!("the generated verifier does not read every public instance as a scalar; it cannot be split safely");
    }
    let scalar_words = word_runs(&scalar_offsets);
    // Every calldata word is read: an unread word could be anything, and
    // the same proof would have many encodings.
    let mut read: Vec<usize> = statements.iter().flat_map(|s| s.calldata_offsets.iter().copied()).collect();
    read.sort_unstable();
    read.dedup();
    if let Some(unread) = (0..calldata_bytes).step_by(32).find(|o| read.binary_search(o).is_err()) {
        bail!("the generated verifier never reads the calldata word at {unread:#x}; it cannot be split safely");
    }
    Ok(Program { prelude, functions, statements, calldata_bytes, instance_offsets, scalar_words, scalar_modulus })
}

/// Sorted word offsets merged into runs of adjacent words.
fn word_runs(offsets: &[usize]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for &offset in offsets {
        match runs.last_mut() {
            Some(run) if run.end == offset => run.end = offset + 32,
            _ => runs.push(offset..offset + 32),
        }
    }
    runs
}

#[derive(Default)]
struct Touched {
    memory: Vec<Range<usize>>,
    calldata_offsets: Vec<usize>,
    scalar_offsets: Vec<usize>,
    reads_point: bool,
}

/// Every call in `code` and the memory and calldata it reaches. Every
/// calldata word it reads must be a scalar (`mod(calldataload(X), f_q)`,
/// which the verifier requires below r) or a coordinate bound by
/// `let NAME := calldataload(X)` and passed to `validate_ec_point` in the
/// same statement; any other read is refused.
fn accesses(code: &str) -> Result<Touched> {
    let mut touched = Touched::default();
    let mut validated: Vec<&str> = Vec::new();
    each_call(code, |name, args| {
        if name == "validate_ec_point" {
            touched.reads_point = true;
            validated.extend(args.iter().copied());
        }
        if name == "mod" && args.get(1) == Some(&"f_q") {
            if let Some(inner) = args[0].strip_prefix("calldataload") {
                let offset = arguments(inner).and_then(|a| a.first().and_then(|o| literal_value(o)));
                touched.scalar_offsets.push(offset.context("calldataload at a computed address")?);
            }
        }
        if name == "calldataload" {
            touched.calldata_offsets.push(literal(name, args, 0)?);
        } else if let Some(ranges) = memory_arguments(name, args)? {
            for (k, len) in ranges {
                let at = literal(name, args, k)?;
                touched.memory.push(at..at.checked_add(len).context("address overflows")?);
            }
        } else if !PURE.contains(&name) {
            bail!("the generated verifier uses `{name}`, which the splitter does not know");
        }
        Ok(())
    })?;
    for offset in &touched.calldata_offsets {
        if touched.scalar_offsets.contains(offset) {
            continue;
        }
        let bound = point_coordinates(code).into_iter().find(|(_, at)| at == offset).map(|(name, _)| name);
        if !bound.is_some_and(|name| validated.contains(&name)) {
            bail!(
                "the generated verifier reads calldata at {offset:#x} neither as a scalar nor as a point it validates; it cannot be split safely"
            );
        }
    }
    Ok(touched)
}

/// `let NAME := calldataload(X)` in `code`: (NAME, X).
fn point_coordinates(code: &str) -> Vec<(&str, usize)> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("let ") {
        let after = &rest[at + 4..];
        rest = after;
        let Some((name, value)) = after.split_once(":=") else { continue };
        let name = name.trim();
        let value = value.trim_start();
        let Some(call) = value.strip_prefix("calldataload") else { continue };
        if name.bytes().all(is_ident) {
            if let Some(offset) = arguments(call.trim_start()).and_then(|a| a.first().and_then(|o| literal_value(o))) {
                found.push((name, offset));
            }
        }
    }
    found
}

/// The memory a call reaches: (index of an address argument, bytes from
/// it) for each range; `None` when it reaches none.
fn memory_arguments(name: &str, args: &[&str]) -> Result<Option<Vec<(usize, usize)>>> {
    Ok(Some(match name {
        "mload" | "mstore" => vec![(0, 32)],
        "mstore8" => vec![(0, 1)],
        "keccak256" => vec![(0, literal(name, args, 1)?)],
        // staticcall(gas, address, in, in_len, out, out_len)
        "staticcall" => vec![(2, literal(name, args, 3)?), (4, literal(name, args, 5)?)],
        "return" | "revert" => vec![(0, literal(name, args, 1)?)],
        _ => return Ok(None),
    }))
}

/// Argument `k` of a call, which must be a literal.
fn literal(name: &str, args: &[&str], k: usize) -> Result<usize> {
    args.get(k)
        .and_then(|a| literal_value(a))
        .with_context(|| format!("{name} at a computed address ({:?}); the verifier cannot be split", args.get(k)))
}

/// Calls `visit(name, arguments)` for every call in `code`, nested ones
/// included, in text order. The arguments are slices of `code`.
fn each_call<'a>(code: &'a str, mut visit: impl FnMut(&'a str, &[&'a str]) -> Result<()>) -> Result<()> {
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !(bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') || (i > 0 && is_ident(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        let name = &code[start..i];
        // Yul allows space between a function's name and its arguments.
        let mut open = i;
        while open < bytes.len() && bytes[open].is_ascii_whitespace() {
            open += 1;
        }
        if bytes.get(open) != Some(&b'(') {
            continue;
        }
        let args = arguments(&code[open..]).with_context(|| format!("unbalanced call to {name}"))?;
        visit(name, &args)?;
    }
    Ok(())
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The top-level arguments of the call whose `(` starts `rest`.
fn arguments(rest: &str) -> Option<Vec<&str>> {
    let mut depth = 0;
    let mut args = Vec::new();
    let mut from = 1;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    args.push(rest[from..i].trim());
                    return Some(args);
                }
            }
            ',' if depth == 1 => {
                args.push(rest[from..i].trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    None
}

fn literal_value(text: &str) -> Option<usize> {
    match text.strip_prefix("0x") {
        Some(hex) => usize::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The statements cut into runs whose source is at most `max_source_bytes`
/// (a part's code size follows its source size closely).
pub fn group(program: &Program, max_source_bytes: usize) -> Vec<Range<usize>> {
    let mut parts = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, statement) in program.statements.iter().enumerate() {
        if size > 0 && size + statement.text.len() > max_source_bytes {
            parts.push(start..i);
            (start, size) = (i, 0);
        }
        size += statement.text.len();
    }
    parts.push(start..program.statements.len());
    parts
}

/// Where a part keeps the verifier's memory: the windows of it that its
/// statements touch, packed one after another from address 0. A part's
/// memory is then tens of kilobytes, not the verifier's full half megabyte:
/// memory expansion is paid again in every call frame, and grows with the
/// square of the highest address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartLayout {
    pub windows: Vec<Window>,
    /// The part's memory: the windows' total size.
    pub bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Where the window is in the verifier's memory (the original addresses).
    pub global: Range<usize>,
    /// Where it starts in the part's memory.
    pub local: usize,
}

/// Touched ranges closer than this share a window: each window costs the
/// verifier two copies (an identity-precompile call, ~150 gas, each), a gap
/// only 3 gas per word per copy.
const WINDOW_GAP: usize = 512;

/// The windows the statements in `range` touch (word-aligned, merged when
/// within [`WINDOW_GAP`]), and where each goes in the part's memory.
pub fn layout(program: &Program, range: &Range<usize>) -> PartLayout {
    let mut touched: Vec<Range<usize>> = program.statements[range.clone()]
        .iter()
        .flat_map(|s| s.memory.iter())
        .filter(|r| !r.is_empty())
        .map(|r| r.start / 32 * 32..r.end.next_multiple_of(32))
        .collect();
    touched.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::new();
    for r in touched {
        match merged.last_mut() {
            Some(last) if r.start <= last.end + WINDOW_GAP => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut bytes = 0;
    let windows = merged
        .into_iter()
        .map(|global| {
            let window = Window { local: bytes, global: global.clone() };
            bytes += global.len();
            window
        })
        .collect();
    PartLayout { windows, bytes }
}

impl PartLayout {
    /// Where `len` bytes at verifier address `at` are in the part's memory.
    pub fn local(&self, at: usize, len: usize) -> Option<usize> {
        if len == 0 {
            // Nothing is read or written: any address will do.
            return Some(0);
        }
        let end = at.checked_add(len)?;
        self.windows
            .iter()
            .find(|w| w.global.start <= at && end <= w.global.end)
            .map(|w| w.local + (at - w.global.start))
    }
}

/// `code` with every memory address moved to its place in `layout`.
fn relocate(code: &str, layout: &PartLayout) -> Result<String> {
    rewrite_addresses(code, |name, at, len| {
        layout
            .local(at, len)
            .with_context(|| format!("{name} at {at:#x} ({len} bytes) is outside the part's memory windows"))
    })
}

/// A part's statement read back through its windows: its addresses in the
/// verifier's memory.
fn restore(code: &str, layout: &PartLayout) -> Result<String> {
    rewrite_addresses(code, |name, at, len| {
        let end = at.checked_add(len).context("address overflows")?;
        layout
            .windows
            .iter()
            .find(|w| w.local <= at && end <= w.local + w.global.len())
            .map(|w| w.global.start + (at - w.local))
            .with_context(|| format!("{name} at part address {at:#x} ({len} bytes) is in none of its windows"))
    })
}

/// `code` with each memory address argument replaced by `place(at, len)`,
/// written in hex (an address of a zero-length access, which touches
/// nothing, as 0).
fn rewrite_addresses(code: &str, place: impl Fn(&str, usize, usize) -> Result<usize>) -> Result<String> {
    let mut edits: Vec<(Range<usize>, usize)> = Vec::new();
    each_call(code, |name, args| {
        for (k, len) in memory_arguments(name, args)?.unwrap_or_default() {
            let at = literal(name, args, k)?;
            let placed = if len == 0 { 0 } else { place(name, at, len)? };
            // The argument is a slice of `code`: its offset is where it sits.
            let start = args[k].as_ptr() as usize - code.as_ptr() as usize;
            edits.push((start..start + args[k].len(), placed));
        }
        Ok(())
    })?;
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(code.len());
    let mut from = 0;
    for (r, placed) in edits {
        out.push_str(&code[from..r.start]);
        out.push_str(&format!("{placed:#x}"));
        from = r.end;
    }
    out.push_str(&code[from..]);
    Ok(out)
}

/// `statement` relocated into `layout`, required to read back as the
/// original program through the same windows: what the verifier copies in
/// and out is exactly what the statement uses.
fn relocate_checked(statement: &str, layout: &PartLayout) -> Result<String> {
    let relocated = relocate(statement, layout)?;
    let original = rewrite_addresses(statement, |_, at, _| Ok(at))?;
    if restore(&relocated, layout)? != original {
        bail!("a part's statement does not read back as the original through its memory windows ({statement:.60})");
    }
    Ok(relocated)
}

pub const PRAGMA: &str = "// SPDX-License-Identifier: MIT\npragma solidity 0.8.19;\n";

/// The 4-byte calldata with which a verifier's constructor binds a part to
/// itself ("bind"). A part's real calldata is never 4 bytes long.
pub const BIND_CALL: u32 = 0x6269_6e64;

/// The word a verifier (and its last part) returns when a proof verifies:
/// the key id, as 32 bytes. Callers require exactly this answer.
pub fn success_word(key_id: &str) -> Result<String> {
    let bytes = hex::decode(key_id).ok().filter(|b| b.len() == 32);
    let bytes = bytes.with_context(|| format!("key id {key_id:?} is not 32 bytes of hex"))?;
    Ok(format!("0x{}", hex::encode(bytes)))
}

/// The Solidity of part `index` (of `count`) covering `range`, its memory
/// laid out as `layout`.
///
/// A part answers only the verifier it is bound to (its constructor calls
/// the part once with [`BIND_CALL`]; the part keeps the caller in storage
/// slot 0, so its code, and code hash, do not depend on the verifier), and
/// only calldata of exactly the length the verifier sends. The last part
/// returns [`success_word`], which the verifier requires.
pub fn part_source(
    program: &Program,
    range: &Range<usize>,
    layout: &PartLayout,
    index: usize,
    count: usize,
    key_id: &str,
) -> Result<String> {
    let calldata = program.calldata_bytes;
    let size = layout.bytes;
    let last = index + 1 == count;
    let mut body = format!(
        "if eq(calldatasize(), 4) {{
    if iszero(eq(shr(224, calldataload(0)), {BIND_CALL:#x})) {{ revert(0, 0) }}
    if sload(0) {{ revert(0, 0) }}
    sstore(0, caller())
    return(0, 0)
}}
if iszero(eq(caller(), sload(0))) {{ revert(0, 0) }}
if iszero(eq(calldatasize(), {total:#x})) {{ revert(0, 0) }}
",
        total = calldata + size
    );
    for line in program.prelude.iter().chain(&program.functions) {
        body.push_str(line);
    }
    body.push_str(&format!("calldatacopy(0, {calldata:#x}, {size:#x})\n"));
    for statement in &program.statements[range.clone()] {
        body.push_str(&relocate_checked(&statement.text, layout)?);
    }
    body.push_str("if iszero(success) { revert(0, 0) }\n");
    body.push_str(&if last {
        format!("mstore(0, {})\nreturn(0, 0x20)\n", success_word(key_id)?)
    } else {
        format!("return(0, {size:#x})\n")
    });
    Ok(format!(
        "{PRAGMA}
// Part {n} of {count} of the header-chain verifier for key {key_id}.
// Bound once to the verifier deployed with it, and called by that verifier
// only: calldata is the verifier's calldata ({calldata} bytes), then the
// {windows} windows of the verifier's memory this part uses ({size} bytes),
// packed in address order. Anything else reverts.
contract {name} {{
    fallback(bytes calldata) external returns (bytes memory) {{
        assembly {{
{body}        }}
    }}
}}
",
        n = index + 1,
        windows = layout.windows.len(),
        name = part_name(index),
    ))
}

pub fn part_name(index: usize) -> String {
    format!("HeaderChainVerifierPart{:02}", index + 1)
}

pub const VERIFIER_NAME: &str = "HeaderChainVerifier";

/// One table entry per window: verifier offset, part offset, length (4
/// bytes each, big-endian).
const WINDOW_ENTRY_BYTES: usize = 12;

/// The verifier contract: checks the calldata, then runs the parts in order,
/// copying each its memory windows and copying them back after. `parts`
/// are (layout, runtime code hash).
pub fn verifier_source(program: &Program, parts: &[(PartLayout, [u8; 32])], key_id: &str) -> Result<String> {
    let calldata = program.calldata_bytes;
    let success = success_word(key_id)?;
    let count = parts.len();
    let hashes = parts.iter().map(|(_, h)| format!("            bytes32(0x{})", hex::encode(h))).collect::<Vec<_>>();
    let memory = parts.iter().flat_map(|(l, _)| l.windows.iter().map(|w| w.global.end)).max().unwrap_or(0);
    let staging = parts.iter().map(|(l, _)| l.bytes).max().unwrap_or(0);
    let mut table = String::new();
    let mut calls = String::new();
    let mut first = 0;
    for (i, (layout, codehash)) in parts.iter().enumerate() {
        for w in &layout.windows {
            for field in [w.global.start, w.local, w.global.len()] {
                let field = u32::try_from(field).expect("EVM memory offsets fit in 32 bits");
                table.push_str(&format!("{field:08x}"));
            }
        }
        let (n, size) = (layout.windows.len(), layout.bytes);
        let total = calldata + size;
        // The part's code is checked on every call, against a hash in this
        // contract's own code: its runtime code fixes what it runs.
        calls.push_str(&format!(
            "            {{\n                let part := sload({i})\n                if iszero(eq(extcodehash(part), 0x{hash})) {{ revert(0, 0) }}\n                windows(entries, original, staging, {first}, {n}, 0)\n",
            hash = hex::encode(codehash)
        ));
        if i + 1 == count {
            calls.push_str(&format!(
                "                if iszero(staticcall(gas(), part, input, {total:#x}, staging, 0x20)) {{ revert(0, 0) }}\n                if iszero(eq(returndatasize(), 0x20)) {{ revert(0, 0) }}\n                if iszero(eq(mload(staging), {success})) {{ revert(0, 0) }}\n            }}\n"
            ));
        } else {
            calls.push_str(&format!(
                "                if iszero(staticcall(gas(), part, input, {total:#x}, staging, {size:#x})) {{ revert(0, 0) }}\n                if iszero(eq(returndatasize(), {size:#x})) {{ revert(0, 0) }}\n                windows(entries, original, staging, {first}, {n}, 1)\n            }}\n"
            ));
        }
        first += n;
    }
    debug_assert!(table.len() / 2 == first * WINDOW_ENTRY_BYTES);
    let canonical = canonical_scalars(program);
    Ok(format!(
        "{PRAGMA}
// The header-chain verifier for key {key_id}, in {count} parts (EIP-170).
// Calldata: the 6 public instances (32 bytes each, big-endian), then the
// proof: {calldata} bytes exactly; each instance, and each scalar of the
// proof, below the scalar field's modulus. Returns the key id (32 bytes)
// when the proof verifies; reverts otherwise.
contract {VERIFIER_NAME} {{
    // The parts' runtime code hashes, fixed when this contract was compiled;
    // each part is bound to this contract, which alone may call it.
    constructor(address[] memory parts) {{
        bytes32[{count}] memory expected = [
{hashes}
        ];
        require(parts.length == {count}, \"expected {count} part addresses\");
        for (uint256 i = 0; i < {count}; i++) {{
            require(parts[i].codehash == expected[i], \"a part's code is not the one this verifier was compiled with\");
            (bool bound, ) = parts[i].call(hex\"{BIND_CALL:08x}\");
            require(bound, \"a part is bound to another verifier already: deploy the parts again\");
            address part = parts[i];
            assembly {{
                sstore(i, part)
            }}
        }}
    }}

    fallback(bytes calldata) external returns (bytes memory) {{
        // Each part's windows of the verifier's memory, in call order:
        // (verifier offset, part offset, length), 4 bytes each.
        bytes memory table = hex\"{table}\";
        assembly {{
            // Memory past the table: `input` holds the calldata, then the
            // part's memory (`staging`, {staging} bytes at most); `original`
            // the verifier's memory at the generated code's addresses
            // ({memory} bytes).
            let entries := add(table, 0x20)
            let input := and(add(add(entries, mload(table)), 0x1f), not(0x1f))
            let staging := add(input, {calldata:#x})
            let original := add(staging, {staging:#x})
            // Copies windows [first, first + n) of the table into the part's
            // memory (back = 0) or back out of it (back = 1), with the
            // identity precompile.
            function windows(table_entries, original_memory, part_memory, first, n, back) {{
                for {{ let k := first }} lt(k, add(first, n)) {{ k := add(k, 1) }} {{
                    let entry := mload(add(table_entries, mul(k, {WINDOW_ENTRY_BYTES})))
                    let at := add(original_memory, shr(224, entry))
                    let part_at := add(part_memory, and(shr(192, entry), 0xffffffff))
                    let len := and(shr(160, entry), 0xffffffff)
                    let from := at
                    let to := part_at
                    if back {{
                        from := part_at
                        to := at
                    }}
                    if iszero(staticcall(gas(), 0x4, from, len, to, len)) {{ revert(0, 0) }}
                }}
            }}
            if iszero(eq(calldatasize(), {calldata:#x})) {{ revert(0, 0) }}
{canonical}            calldatacopy(input, 0, {calldata:#x})
{calls}            mstore(0, {success})
            return(0, 0x20)
        }}
    }}
}}
",
        hashes = hashes.join(",\n"),
    ))
}

/// Requires the scalars the generated code reads canonical. snark-verifier
/// reduces them (instances and the proof's evaluations) modulo r; this
/// makes exactly one calldata encode each statement and each proof (points
/// are already checked canonical by validate_ec_point).
fn canonical_scalars(program: &Program) -> String {
    let mut canonical = format!("            let r := {}\n", program.scalar_modulus);
    for run in &program.scalar_words {
        canonical.push_str(&format!(
            "            for {{ let o := {:#x} }} lt(o, {:#x}) {{ o := add(o, 0x20) }} {{\n                if iszero(lt(calldataload(o), r)) {{ revert(0, 0) }}\n            }}\n",
            run.start, run.end
        ));
    }
    canonical
}

/// The whole verifier as one contract (when it fits EIP-170): the same
/// calldata checks as the split verifier's, the generated statements at
/// their own addresses, and the key id returned on success.
pub fn single_source(program: &Program, key_id: &str) -> Result<String> {
    let calldata = program.calldata_bytes;
    let success = success_word(key_id)?;
    let canonical = canonical_scalars(program);
    let mut body = String::new();
    for line in program.prelude.iter().chain(&program.functions) {
        body.push_str(line);
    }
    for statement in &program.statements {
        body.push_str(&statement.text);
    }
    Ok(format!(
        "{PRAGMA}
// The header verifier for key {key_id}, one contract.
// Calldata: the {instances} public instances (32 bytes each, big-endian),
// then the proof: {calldata} bytes exactly; each instance, and each scalar
// of the proof, below the scalar field's modulus. Returns the key id (32
// bytes) when the proof verifies; reverts otherwise.
contract {VERIFIER_NAME} {{
    fallback(bytes calldata) external returns (bytes memory) {{
        assembly {{
            if iszero(eq(calldatasize(), {calldata:#x})) {{ revert(0, 0) }}
{canonical}{body}if iszero(success) {{ revert(0, 0) }}
            mstore(0, {success})
            return(0, 0x20)
        }}
    }}
}}
",
        instances = program.instance_offsets.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    const GENERATED: &str = r#"
// SPDX-License-Identifier: MIT

pragma solidity 0.8.19;

contract Halo2Verifier {
    fallback(bytes calldata) external returns (bytes memory) {
        assembly ("memory-safe") {
            // Enforce that Solidity memory layout is respected
            let data := mload(0x40)
            if iszero(eq(data, 0x80)) {
                revert(0, 0)
            }

            let success := true
            let f_p := 0x30
            let f_q := 0x31
            function validate_ec_point(x, y) -> valid {
                {
                    valid := lt(x, 0x30)
                }
            }
            mstore(0xa0, mod(calldataload(0x0), f_q))
            {
                let x := calldataload(0x20)
                mstore(0xc0, x)
                let y := calldataload(0x40)
                success := and(validate_ec_point(x, y), success)
                mstore(0xc0, mod(calldataload(0x60), f_q))
                mstore(0xc0, mod(calldataload(0x80), f_q))
            }
            mstore(0x100, keccak256(0xa0, 64))
            success := and(eq(staticcall(gas(), 0x8, 0x100, 0x180, 0x300, 0x20), 1), success)

            // Revert if anything fails
            if iszero(success) { revert(0, 0) }

            // Return empty bytes on success
            return(0, 0)

        }
    }
}
"#;

    #[test]
    fn statements_memory_and_calldata_are_found() {
        let p = parse(GENERATED).unwrap();
        assert_eq!(p.prelude.len(), 3);
        assert_eq!(p.functions.len(), 1);
        assert_eq!(p.calldata_bytes, 0xa0);
        assert_eq!((p.instance_offsets.clone(), p.scalar_modulus.as_str()), (vec![0], "0x31"));
        assert_eq!(p.scalar_words, vec![0..0x20, 0x60..0xa0]);
        let ends: Vec<usize> = p.statements.iter().map(|s| s.memory.iter().map(|r| r.end).max().unwrap_or(0)).collect();
        // mstore(0xa0) → 0xc0; the block's mstore(0xc0) → 0xe0; keccak256(0xa0, 64)
        // and mstore(0x100) → 0x120; staticcall's input 0x100 + 0x180 = 0x280,
        // output 0x300 + 0x20 = 0x320.
        assert_eq!(ends, vec![0xc0, 0xe0, 0x120, 0x320]);
        assert_eq!(group(&p, 60), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(group(&p, 10_000), vec![0..4]);
    }

    #[test]
    fn what_cannot_be_split_is_refused() {
        let computed = GENERATED.replace("mstore(0xa0, mod", "mstore(add(0xa0, 1), mod");
        assert!(parse(&computed).unwrap_err().to_string().contains("computed address"));
        let stack = GENERATED.replace("mstore(0x100, keccak256(0xa0, 64))", "let t := keccak256(0xa0, 64)");
        assert!(parse(&stack).unwrap_err().to_string().contains("on the stack"));
        let unknown = GENERATED.replace("mstore(0x100, keccak256(0xa0, 64))", "mstore(0x100, extcodesize(0x1))");
        assert!(parse(&unknown).unwrap_err().to_string().contains("extcodesize"));
        let computed_scalar = GENERATED.replace("mod(calldataload(0x60), f_q)", "mod(calldataload(add(0x60, 0)), f_q)");
        assert!(parse(&computed_scalar).unwrap_err().to_string().contains("computed address"));
        let impure = GENERATED.replace("valid := lt(x, 0x30)", "valid := lt(x, mload(0x30))");
        assert!(parse(&impure).unwrap_err().to_string().contains("reads memory or calldata"));
        let unread_instance = GENERATED.replace("mod(calldataload(0x0), f_q)", "calldataload(0x0)");
        let e = parse(&unread_instance).unwrap_err().to_string();
        assert!(e.contains("neither as a scalar nor as a point"), "{e}");
        // Any spacing: a call written `mload (…)` is still a memory access.
        let spaced =
            GENERATED.replace("mstore(0x100, keccak256(0xa0, 64))", "mstore (0x100, keccak256 (add(0xa0, 1), 64))");
        assert!(parse(&spaced).unwrap_err().to_string().contains("computed address"));
        // A coordinate read but not validated, and a calldata word never read.
        let unvalidated = GENERATED.replace("validate_ec_point(x, y)", "validate_ec_point(x, x)");
        let e = parse(&unvalidated).unwrap_err().to_string();
        assert!(e.contains("at 0x40 neither as a scalar nor as a point"), "{e}");
        let unread = GENERATED.replace("mod(calldataload(0x60), f_q)", "mod(calldataload(0x80), f_q)");
        assert!(parse(&unread).unwrap_err().to_string().contains("never reads the calldata word at 0x60"));
        // Memory-touching builtins the splitter does not model.
        for builtin in ["mcopy(0x0, 0x20, 0x20)", "calldatacopy(0x0, 0x0, 0x20)", "log0(0x0, 0x20)"] {
            let other = GENERATED.replace("mstore(0x100, keccak256(0xa0, 64))", builtin);
            assert!(parse(&other).unwrap_err().to_string().contains("which the splitter does not know"), "{builtin}");
        }
    }

    #[test]
    fn return_and_revert_touch_memory_and_are_relocated() {
        let with_return = GENERATED.replace(
            "mstore(0x100, keccak256(0xa0, 64))",
            "mstore(0x100, keccak256(0xa0, 64))\n            if iszero(success) { revert(0x100, 0x20) }",
        );
        let p = parse(&with_return).unwrap();
        assert_eq!(p.statements[3].memory, vec![0x100..0x120], "{:?}", p.statements[3]);
        let l = layout(&p, &(2..4));
        assert!(relocate(&p.statements[3].text, &l).unwrap().contains("revert(0x60, 0x20)"));
        // A zero-length return touches nothing and may stay anywhere.
        assert_eq!(relocate("return(0x4000, 0)", &l).unwrap(), "return(0x0, 0)");
    }

    #[test]
    fn parts_read_back_as_the_original_through_their_windows() {
        let p = parse(GENERATED).unwrap();
        for range in group(&p, 60) {
            let l = layout(&p, &range);
            for statement in &p.statements[range] {
                relocate_checked(&statement.text, &l).unwrap();
            }
        }
        // A layout whose windows overlap in the part's memory does not read back.
        let l = layout(&p, &(2..3));
        let mut bad = l.clone();
        bad.windows.push(Window { global: 0x2000..0x2040, local: 0 });
        bad.windows.rotate_right(1);
        let e = relocate_checked("mstore(0x2000, keccak256(0xa0, 64))", &bad).unwrap_err().to_string();
        assert!(e.contains("does not read back as the original"), "{e}");
    }

    #[test]
    fn a_verifier_in_one_contract_checks_the_calldata_and_returns_the_key_id() {
        let p = parse(GENERATED).unwrap();
        let single = single_source(&p, KEY).unwrap();
        let guard = single.find("if iszero(eq(calldatasize(), 0xa0)) { revert(0, 0) }").expect("exact calldata");
        let canonical = single.find("if iszero(lt(calldataload(o), r)) { revert(0, 0) }").expect("canonical scalars");
        let first = single.find(p.statements[0].text.trim()).expect("the generated statements");
        let success = single.find("if iszero(success) { revert(0, 0) }").expect("success required");
        let answer = single.find(&format!("mstore(0, 0x{KEY})\n            return(0, 0x20)")).expect("the key id");
        assert!(guard < canonical && canonical < first && first < success && success < answer, "{single}");
        assert!(single.contains("let f_q := 0x31") && single.contains("function validate_ec_point"), "{single}");
        // Every statement, at its own addresses, and no part machinery.
        for statement in &p.statements {
            assert!(single.contains(&statement.text), "missing {}", statement.text);
        }
        assert!(!single.contains("sload") && !single.contains("extcodehash"), "{single}");
        assert!(!single.contains("return(0, 0)\n"), "the generated empty return is replaced: {single}");
    }

    #[test]
    fn a_part_gets_only_the_windows_it_touches_packed_from_zero() {
        let p = parse(GENERATED).unwrap();
        let ranges = group(&p, 60);
        // keccak256(0xa0, 64) and mstore(0x100): two ranges 0x20 apart, one window.
        let keccak = layout(&p, &ranges[2]);
        assert_eq!(keccak.windows, vec![Window { global: 0xa0..0x120, local: 0 }]);
        // The staticcall's input and output, 0x80 apart: one window.
        let call = layout(&p, &ranges[3]);
        assert_eq!((call.windows.len(), call.bytes), (1, 0x220));
        // Further apart than WINDOW_GAP: two windows, packed.
        let far = parse(&GENERATED.replace("0x300, 0x20)", "0x3000, 0x20)")).unwrap();
        let two = layout(&far, &ranges[3]);
        assert_eq!(
            two.windows,
            vec![Window { global: 0x100..0x280, local: 0 }, Window { global: 0x3000..0x3020, local: 0x180 }]
        );
        assert_eq!((two.bytes, two.local(0x3000, 0x20), two.local(0x3010, 0x20)), (0x1a0, Some(0x180), None));
        let source = part_source(&far, &ranges[3], &two, 3, 4, KEY).unwrap();
        assert!(source.contains("staticcall(gas(), 0x8, 0x0, 0x180, 0x180, 0x20)"), "{source}");
        assert!(source.contains("calldatacopy(0, 0xa0, 0x1a0)"), "{source}");
        let keccak_source = part_source(&p, &ranges[2], &keccak, 2, 4, KEY).unwrap();
        assert!(keccak_source.contains("mstore(0x60, keccak256(0x0, 64))"), "{keccak_source}");
        // An address outside the layout is an error, not a silent miss.
        let e = relocate("mstore(0x4000, 1)", &two).unwrap_err();
        assert!(e.to_string().contains("outside the part's memory windows"), "{e}");
    }

    #[test]
    fn parts_pass_memory_on_and_the_verifier_calls_them_in_order() {
        let p = parse(GENERATED).unwrap();
        let ranges = group(&p, 60);
        let layouts: Vec<PartLayout> = ranges.iter().map(|r| layout(&p, r)).collect();
        let first = part_source(&p, &ranges[0], &layouts[0], 0, 4, KEY).unwrap();
        assert!(first.contains("calldatacopy(0, 0xa0, 0x20)"), "{first}");
        assert!(first.contains("mstore(0x0, mod(calldataload(0x0), f_q))"), "{first}");
        assert!(first.contains("return(0, 0x20)"));
        assert!(first.contains("let f_q := 0x31") && first.contains("function validate_ec_point"));
        // Bound once to its verifier, then answering only it, with exactly its calldata.
        assert!(first.contains("if iszero(eq(shr(224, calldataload(0)), 0x62696e64))"), "{first}");
        assert!(first.contains("if sload(0) { revert(0, 0) }\n    sstore(0, caller())"), "{first}");
        assert!(first.contains("if iszero(eq(caller(), sload(0))) { revert(0, 0) }"), "{first}");
        assert!(first.contains("if iszero(eq(calldatasize(), 0xc0)) { revert(0, 0) }"), "{first}");
        let last = part_source(&p, &ranges[3], &layouts[3], 3, 4, KEY).unwrap();
        assert!(last.contains(&format!("mstore(0, 0x{KEY})\nreturn(0, 0x20)\n")), "{last}");
        let verifier =
            verifier_source(&p, &[(layouts[0].clone(), [1; 32]), (layouts[3].clone(), [2; 32])], KEY).unwrap();
        assert!(verifier.contains("if iszero(eq(calldatasize(), 0xa0))"));
        assert!(verifier.contains("let r := 0x31\n"), "{verifier}");
        assert!(verifier.contains("for { let o := 0x0 } lt(o, 0x20) { o := add(o, 0x20) } {"), "{verifier}");
        assert!(verifier.contains("for { let o := 0x60 } lt(o, 0xa0) { o := add(o, 0x20) } {"), "{verifier}");
        assert!(verifier.contains("if iszero(lt(calldataload(o), r)) { revert(0, 0) }"), "{verifier}");
        // The table: (verifier offset, part offset, length) per window.
        assert!(verifier.contains("hex\"000000a00000000000000020000001000000000000000220\""), "{verifier}");
        let first_hash = format!("if iszero(eq(extcodehash(part), 0x{})) {{ revert(0, 0) }}", "01".repeat(32));
        let last_hash = format!("if iszero(eq(extcodehash(part), 0x{})) {{ revert(0, 0) }}", "02".repeat(32));
        let success = format!("if iszero(eq(mload(staging), 0x{KEY})) {{ revert(0, 0) }}");
        let answer = format!("mstore(0, 0x{KEY})\n            return(0, 0x20)");
        let calls = [
            "let part := sload(0)",
            &first_hash,
            "windows(entries, original, staging, 0, 1, 0)",
            "staticcall(gas(), part, input, 0xc0, staging, 0x20)",
            "if iszero(eq(returndatasize(), 0x20))",
            "windows(entries, original, staging, 0, 1, 1)",
            "let part := sload(1)",
            &last_hash,
            "windows(entries, original, staging, 1, 1, 0)",
            "staticcall(gas(), part, input, 0x2c0, staging, 0x20)",
            &success,
            &answer,
        ];
        let at: Vec<usize> =
            calls.iter().map(|c| verifier.find(c).unwrap_or_else(|| panic!("{c}: {verifier}"))).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "calls out of order: {verifier}");
        assert!(verifier.contains(&format!("bytes32(0x{})", "02".repeat(32))));
        assert!(verifier.contains("parts[i].call(hex\"62696e64\")"), "{verifier}");
        assert!(success_word("k").is_err(), "a key id that is not 32 bytes is refused");
    }

    #[test]
    fn precompile_calls_get_exactly_their_gas() {
        let source = "success := and(eq(staticcall(gas(), 0x7, 0x0, 0x60, 0x0, 0x40), 1), success)\n\
            success := and(eq(staticcall(gas(), 0x6, 0x0, 0x80, 0x0, 0x40), 1), success)\n\
            success := and(eq(staticcall(gas(), 0x8, 0x100, 0x180, 0x300, 0x20), 1), success)\n\
            success := and(eq(staticcall(gas(), 0x5, 0x0, 0xc0, 0x0, 0x20), 1), success)";
        let bounded = bound_precompile_gas(source).unwrap();
        assert!(bounded.contains("staticcall(6000, 0x7, 0x0, 0x60"), "{bounded}");
        assert!(bounded.contains("staticcall(150, 0x6, 0x0, 0x80"), "{bounded}");
        assert!(bounded.contains("staticcall(113000, 0x8, 0x100, 0x180"), "{bounded}");
        assert!(bounded.contains("staticcall(gas(), 0x5, 0x0, 0xc0"), "modexp keeps gas(): {bounded}");
        assert!(bound_precompile_gas("staticcall(gas(), 0x8, 0x0, 0x100, 0x0, 0x20)").is_err());
    }
}
