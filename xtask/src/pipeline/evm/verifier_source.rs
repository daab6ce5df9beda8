//! The range key's verifier as one contract: snark-verifier's generated
//! Solidity read, its precompile calls bounded, and wrapped in the calldata
//! checks it lacks.
//!
//! The generated verifier is one Yul block: a prologue (`success`, the
//! moduli `f_p`/`f_q`, `validate_ec_point`) and statements that read the
//! calldata at literal offsets, either as scalars (`mod(calldataload(X),
//! f_q)`: reduced, not checked) or as point coordinates it validates. The
//! contract written here takes exactly the calldata the statements read,
//! requires every scalar below r (so one calldata encodes each proof), runs
//! the statements unchanged and returns the key id. Calldata read any other
//! way (at a computed offset, by a function, never read, an instance not
//! read as a scalar) is an error, never a contract with a check missing.

use std::ops::Range;

use anyhow::{bail, Context, Result};

/// EIP-170: the largest runtime code a contract may have.
pub const CODE_SIZE_LIMIT: usize = 24_576;

/// The contract's name in its Solidity source.
pub const VERIFIER_NAME: &str = "HeaderRangeVerifier";

pub const PRAGMA: &str = "// SPDX-License-Identifier: MIT\npragma solidity 0.8.19;\n";

/// The parsed verifier body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// `let success := true`, `let f_p := …`, `let f_q := …`.
    pub prelude: Vec<String>,
    /// Yul function definitions.
    pub functions: Vec<String>,
    /// The top-level statements, in order, as generated.
    pub statements: Vec<String>,
    /// Exactly the calldata the verifier reads: instances, then the proof.
    pub calldata_bytes: usize,
    /// Calldata offsets of the public instances.
    pub instance_offsets: Vec<usize>,
    /// The calldata read as scalars: runs of 32-byte words, in order; the
    /// instances are the first run.
    pub scalar_words: Vec<Range<usize>>,
    /// The scalar field's modulus (`f_q`), as written in the prelude.
    pub scalar_modulus: String,
}

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
    let mut reads = Reads::default();
    let mut ended = false;
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
            if trimmed.contains("calldataload") {
                bail!(
                    "a function of the generated verifier reads calldata ({trimmed:.60}); its words cannot be checked"
                );
            }
            functions.push(text);
        } else if trimmed.starts_with("let data := mload(0x40)") || trimmed.starts_with("if iszero(eq(data, 0x80))") {
            // Solidity's memory-layout check: the fallback below starts with fresh memory.
        } else if ["let success :=", "let f_p :=", "let f_q :="].iter().any(|p| trimmed.starts_with(p)) {
            prelude.push(text);
        } else if trimmed == "if iszero(success) { revert(0, 0) }" || trimmed == "return(0, 0)" {
            // The original ending; the contract ends with its own.
        } else {
            reads.add(trimmed)?;
            statements.push(text);
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
    let Reads { mut offsets, mut scalar_offsets, point_offsets } = reads;
    let calldata_bytes = offsets.iter().map(|o| o + 32).max().unwrap_or(0);
    // Calldata holds the instances, then the proof, which starts with a
    // commitment (a point checked by validate_ec_point): the instances are
    // the words read before the first point.
    let first_point =
        point_offsets.iter().copied().min().context("the generated verifier reads no point from the proof")?;
    offsets.sort_unstable();
    offsets.dedup();
    let instance_offsets: Vec<usize> = offsets.iter().copied().filter(|offset| *offset < first_point).collect();
    if instance_offsets.is_empty()
        || instance_offsets.iter().enumerate().any(|(i, o)| *o != 32 * i)
        || instance_offsets.len() * 32 != first_point
    {
        bail!("the generated verifier's public instances are not the words before the proof ({instance_offsets:?}, proof at {first_point:#x})");
    }
    scalar_offsets.sort_unstable();
    scalar_offsets.dedup();
    if !instance_offsets.iter().all(|o| scalar_offsets.binary_search(o).is_ok()) {
        bail!("the generated verifier does not read every public instance as a scalar");
    }
    // Every calldata word is read: an unread word could be anything, and
    // the same proof would have many encodings.
    if let Some(unread) = (0..calldata_bytes).step_by(32).find(|o| offsets.binary_search(o).is_err()) {
        bail!("the generated verifier never reads the calldata word at {unread:#x}");
    }
    let scalar_words = word_runs(&scalar_offsets);
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

/// The calldata the statements read, and how.
#[derive(Default)]
struct Reads {
    offsets: Vec<usize>,
    scalar_offsets: Vec<usize>,
    /// Coordinates passed to `validate_ec_point`.
    point_offsets: Vec<usize>,
}

impl Reads {
    /// Every calldata word `statement` reads must be a scalar
    /// (`mod(calldataload(X), f_q)`, which the contract requires below r)
    /// or a coordinate bound by `let NAME := calldataload(X)` and passed to
    /// `validate_ec_point` in the same statement; any other read is refused.
    fn add(&mut self, statement: &str) -> Result<()> {
        let mut read = Vec::new();
        let mut scalars = Vec::new();
        let mut validated: Vec<&str> = Vec::new();
        each_call(statement, |name, args| {
            match name {
                "validate_ec_point" => validated.extend(args.iter().copied()),
                "mod" if args.get(1) == Some(&"f_q") => {
                    if let Some(inner) = args[0].strip_prefix("calldataload") {
                        let offset = arguments(inner).and_then(|a| a.first().and_then(|o| literal_value(o)));
                        scalars.push(offset.context("calldataload at a computed offset")?);
                    }
                }
                "calldataload" => {
                    let offset = args.first().and_then(|a| literal_value(a));
                    read.push(
                        offset.with_context(|| format!("calldataload at a computed offset ({:?})", args.first()))?,
                    );
                }
                "calldatacopy" => bail!("the generated verifier copies calldata; its words cannot be checked"),
                _ => {}
            }
            Ok(())
        })?;
        let points = point_coordinates(statement);
        for offset in &read {
            if scalars.contains(offset) {
                continue;
            }
            let bound = points.iter().find(|(_, at)| at == offset).map(|(name, _)| *name);
            if !bound.is_some_and(|name| validated.contains(&name)) {
                bail!("the generated verifier reads calldata at {offset:#x} neither as a scalar nor as a point it validates");
            }
            self.point_offsets.push(*offset);
        }
        self.offsets.extend(read);
        self.scalar_offsets.extend(scalars);
        Ok(())
    }
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
        let Some(call) = value.trim_start().strip_prefix("calldataload") else { continue };
        if name.bytes().all(is_ident) {
            if let Some(offset) = arguments(call.trim_start()).and_then(|a| a.first().and_then(|o| literal_value(o))) {
                found.push((name, offset));
            }
        }
    }
    found
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

/// The word the verifier returns when a proof verifies: the key id, as 32
/// bytes. Callers require exactly this answer.
pub fn success_word(key_id: &str) -> Result<String> {
    let bytes = hex::decode(key_id).ok().filter(|b| b.len() == 32);
    let bytes = bytes.with_context(|| format!("key id {key_id:?} is not 32 bytes of hex"))?;
    Ok(format!("0x{}", hex::encode(bytes)))
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

/// The verifier as one contract: the calldata's length and scalars checked,
/// the generated statements at their own addresses, the key id returned on
/// success.
pub fn contract_source(program: &Program, key_id: &str) -> Result<String> {
    let calldata = program.calldata_bytes;
    let success = success_word(key_id)?;
    let canonical = canonical_scalars(program);
    let mut body = String::new();
    for line in program.prelude.iter().chain(&program.functions).chain(&program.statements) {
        body.push_str(line);
    }
    Ok(format!(
        "{PRAGMA}
// The header-range verifier for key {key_id}, one contract.
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
    fn the_calldata_is_found_instances_then_scalars_and_points() {
        let p = parse(GENERATED).unwrap();
        assert_eq!((p.prelude.len(), p.functions.len(), p.statements.len()), (3, 1, 4));
        assert_eq!(p.calldata_bytes, 0xa0);
        assert_eq!((p.instance_offsets.clone(), p.scalar_modulus.as_str()), (vec![0], "0x31"));
        assert_eq!(p.scalar_words, vec![0..0x20, 0x60..0xa0]);
    }

    #[test]
    fn calldata_read_in_a_way_the_contract_cannot_check_is_refused() {
        let refused = |from: &str, to: &str, says: &str| {
            let e = parse(&GENERATED.replace(from, to)).unwrap_err().to_string();
            assert!(e.contains(says), "{to}: {e}");
        };
        refused("mod(calldataload(0x60), f_q)", "mod(calldataload(add(0x60, 0)), f_q)", "computed offset");
        refused("let x := calldataload(0x20)", "let x := calldataload(add(0x20, 0))", "computed offset");
        // An instance read raw, a coordinate never validated, a word never read.
        refused("mod(calldataload(0x0), f_q)", "calldataload(0x0)", "at 0x0 neither as a scalar nor as a point");
        refused("validate_ec_point(x, y)", "validate_ec_point(x, x)", "at 0x40 neither as a scalar nor as a point");
        refused(
            "mod(calldataload(0x60), f_q)",
            "mod(calldataload(0x80), f_q)",
            "never reads the calldata word at 0x60",
        );
        // Calldata reached where the offsets cannot be seen.
        refused(
            "valid := lt(x, 0x30)",
            "valid := lt(x, calldataload(0x30))",
            "a function of the generated verifier reads calldata",
        );
        refused("mstore(0x100, keccak256(0xa0, 64))", "calldatacopy(0x0, 0x0, 0x20)", "copies calldata");
        // Spacing does not hide a call.
        refused("let x := calldataload(0x20)", "let x := calldataload (add(0x20, 0))", "computed offset");
    }

    #[test]
    fn one_contract_checks_the_calldata_and_returns_the_key_id() {
        let p = parse(GENERATED).unwrap();
        let source = contract_source(&p, KEY).unwrap();
        let at = |what: &str| source.find(what).unwrap_or_else(|| panic!("{what} missing: {source}"));
        let guard = at("if iszero(eq(calldatasize(), 0xa0)) { revert(0, 0) }");
        let instances = at("for { let o := 0x0 } lt(o, 0x20) { o := add(o, 0x20) } {");
        let evaluations = at("for { let o := 0x60 } lt(o, 0xa0) { o := add(o, 0x20) } {");
        let first = at(p.statements[0].trim());
        let success = at("if iszero(success) { revert(0, 0) }");
        let answer = at(&format!("mstore(0, 0x{KEY})\n            return(0, 0x20)"));
        assert!(guard < instances && instances < evaluations && evaluations < first, "{source}");
        assert!(first < success && success < answer, "{source}");
        assert_eq!(source.matches("if iszero(lt(calldataload(o), r)) { revert(0, 0) }").count(), 2, "{source}");
        assert!(source.contains("let r := 0x31\n") && source.contains("function validate_ec_point"), "{source}");
        for statement in &p.statements {
            assert!(source.contains(statement.as_str()), "missing {statement}");
        }
        assert!(!source.contains("return(0, 0)\n"), "the generated empty return is replaced: {source}");
        assert!(!source.contains("let data := mload(0x40)"), "{source}");
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
