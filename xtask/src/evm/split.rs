//! Splitting snark-verifier's verifier into contracts that each fit the
//! EVM's 24,576-byte code limit (EIP-170).
//!
//! The generated verifier is one straight-line Yul block: after a prologue
//! (`success`, the moduli `f_p`/`f_q`, `validate_ec_point`) every top-level
//! statement passes values on only through memory at literal addresses and
//! through `success`. So the statements can be cut into parts, each a
//! contract that receives the verifier's calldata followed by memory
//! `[0, hi)` as the parts before it left it (`hi`: past the highest byte the
//! part touches), runs its statements, reverts if `success` is false, and
//! returns memory `[0, hi)`. The verifier contract checks the calldata
//! length, calls the parts in order with `staticcall`, and keeps the memory
//! they return; the last part ends as the original does. The parts'
//! addresses are given to the verifier's constructor, which refuses any
//! whose code hash is not the one compiled here, so the deployed verifier's
//! behaviour is fixed by its own code.
//!
//! Anything this does not recognise (a top-level `let` beyond the
//! prologue's, a memory access at a computed address, an opcode outside the
//! list below) is an error, never a silently wrong split.

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
    pub scalar_words: Vec<std::ops::Range<usize>>,
    /// The scalar field's modulus (`f_q`), as written in the prelude.
    pub scalar_modulus: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub text: String,
    /// One past the highest memory byte the statement touches.
    pub memory_end: usize,
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
    "revert",
    "return",
];

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
                memory_end: touched.memory_end,
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
    Ok(Program { prelude, functions, statements, calldata_bytes, instance_offsets, scalar_words, scalar_modulus })
}

/// Sorted word offsets merged into runs of adjacent words.
fn word_runs(offsets: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
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
    memory_end: usize,
    calldata_offsets: Vec<usize>,
    scalar_offsets: Vec<usize>,
    reads_point: bool,
}

/// Every call in `code` and the memory and calldata it reaches.
fn accesses(code: &str) -> Result<Touched> {
    let mut touched = Touched::default();
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
        if bytes.get(i) != Some(&b'(') {
            continue;
        }
        let args = arguments(&code[i..]).with_context(|| format!("unbalanced call to {name}"))?;
        let literal = |k: usize| -> Result<usize> {
            args.get(k).and_then(|a| literal_value(a)).with_context(|| {
                format!("{name} at a computed address ({:?}); the verifier cannot be split", args.get(k))
            })
        };
        let end = |at: usize, len: usize| at.checked_add(len).context("address overflows");
        touched.reads_point |= name == "validate_ec_point";
        if name == "mod" && args.get(1) == Some(&"f_q") {
            if let Some(inner) = args[0].strip_prefix("calldataload") {
                let offset = arguments(inner).and_then(|a| a.first().and_then(|o| literal_value(o)));
                touched.scalar_offsets.push(offset.context("calldataload at a computed address")?);
            }
        }
        let reach = match name {
            "mload" | "mstore" => end(literal(0)?, 32)?,
            "mstore8" => end(literal(0)?, 1)?,
            "keccak256" => end(literal(0)?, literal(1)?)?,
            // staticcall(gas, address, in, in_len, out, out_len)
            "staticcall" => end(literal(2)?, literal(3)?)?.max(end(literal(4)?, literal(5)?)?),
            "calldataload" => {
                touched.calldata_offsets.push(literal(0)?);
                0
            }
            _ if PURE.contains(&name) => 0,
            _ => bail!("the generated verifier uses `{name}`, which the splitter does not know"),
        };
        touched.memory_end = touched.memory_end.max(reach);
    }
    Ok(touched)
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
pub fn group(program: &Program, max_source_bytes: usize) -> Vec<std::ops::Range<usize>> {
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

/// One past the highest memory byte any statement in `range` touches.
pub fn memory_end(program: &Program, range: &std::ops::Range<usize>) -> usize {
    program.statements[range.clone()].iter().map(|s| s.memory_end).max().unwrap_or(0).next_multiple_of(32)
}

pub const PRAGMA: &str = "// SPDX-License-Identifier: MIT\npragma solidity 0.8.19;\n";

/// The Solidity of part `index` (of `count`) covering `range`.
pub fn part_source(
    program: &Program,
    range: &std::ops::Range<usize>,
    index: usize,
    count: usize,
    key_id: &str,
) -> String {
    let calldata = program.calldata_bytes;
    let hi = memory_end(program, range);
    let last = index + 1 == count;
    let mut body = String::new();
    for line in program.prelude.iter().chain(&program.functions) {
        body.push_str(line);
    }
    body.push_str(&format!("calldatacopy(0, {calldata:#x}, {hi:#x})\n"));
    for statement in &program.statements[range.clone()] {
        body.push_str(&statement.text);
    }
    body.push_str("if iszero(success) { revert(0, 0) }\n");
    body.push_str(&if last { "return(0, 0)\n".to_string() } else { format!("return(0, {hi:#x})\n") });
    format!(
        "{PRAGMA}
// Part {n} of {count} of the header-chain verifier for key {key_id}.
// Called by that verifier only: calldata is the verifier's calldata
// ({calldata} bytes), then memory [0, {hi:#x}) as the parts before left it.
contract {name} {{
    fallback(bytes calldata) external returns (bytes memory) {{
        assembly {{
{body}        }}
    }}
}}
",
        n = index + 1,
        name = part_name(index),
    )
}

pub fn part_name(index: usize) -> String {
    format!("HeaderChainVerifierPart{:02}", index + 1)
}

pub const VERIFIER_NAME: &str = "HeaderChainVerifier";

/// The verifier contract: checks the calldata length, runs the parts in
/// order, passing memory along. `parts` are (memory end, runtime code hash).
pub fn verifier_source(program: &Program, parts: &[(usize, [u8; 32])], key_id: &str) -> String {
    let calldata = program.calldata_bytes;
    let count = parts.len();
    let hashes = parts.iter().map(|(_, h)| format!("            bytes32(0x{})", hex::encode(h))).collect::<Vec<_>>();
    let mut calls = String::new();
    for (i, (hi, _)) in parts.iter().enumerate() {
        if i + 1 == count {
            calls.push_str(&format!(
                "            if iszero(staticcall(gas(), sload({i}), 0, {total:#x}, 0, 0)) {{ revert(0, 0) }}\n",
                total = calldata + hi
            ));
        } else {
            calls.push_str(&format!(
                "            if iszero(staticcall(gas(), sload({i}), 0, {total:#x}, {calldata:#x}, {hi:#x})) {{ revert(0, 0) }}\n            if iszero(eq(returndatasize(), {hi:#x})) {{ revert(0, 0) }}\n",
                total = calldata + hi
            ));
        }
    }
    // snark-verifier reduces the scalars it reads (instances and the proof's
    // evaluations) modulo r; require them canonical, so that exactly one
    // calldata encodes each statement and each proof (points are already
    // checked canonical by validate_ec_point).
    let mut canonical = format!("            let r := {}\n", program.scalar_modulus);
    for run in &program.scalar_words {
        canonical.push_str(&format!(
            "            for {{ let o := {:#x} }} lt(o, {:#x}) {{ o := add(o, 0x20) }} {{\n                if iszero(lt(calldataload(o), r)) {{ revert(0, 0) }}\n            }}\n",
            run.start, run.end
        ));
    }
    format!(
        "{PRAGMA}
// The header-chain verifier for key {key_id}, in {count} parts (EIP-170).
// Calldata: the 6 public instances (32 bytes each, big-endian), then the
// proof: {calldata} bytes exactly; each instance, and each scalar of the
// proof, below the scalar field's modulus. Returns nothing when the proof
// verifies; reverts otherwise.
contract {VERIFIER_NAME} {{
    // The parts' runtime code hashes, fixed when this contract was compiled.
    constructor(address[] memory parts) {{
        bytes32[{count}] memory expected = [
{hashes}
        ];
        require(parts.length == {count}, \"expected {count} part addresses\");
        for (uint256 i = 0; i < {count}; i++) {{
            require(parts[i].codehash == expected[i], \"a part's code is not the one this verifier was compiled with\");
            address part = parts[i];
            assembly {{
                sstore(i, part)
            }}
        }}
    }}

    fallback(bytes calldata) external returns (bytes memory) {{
        assembly {{
            if iszero(eq(calldatasize(), {calldata:#x})) {{ revert(0, 0) }}
{canonical}            calldatacopy(0, 0, {calldata:#x})
{calls}            return(0, 0)
        }}
    }}
}}
",
        hashes = hashes.join(",\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
                success := and(validate_ec_point(x, x), success)
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
        let ends: Vec<usize> = p.statements.iter().map(|s| s.memory_end).collect();
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
        let unread_instance = GENERATED.replace("mod(calldataload(0x0), f_q)", "calldataload(0x0)");
        assert!(parse(&unread_instance).unwrap_err().to_string().contains("every public instance as a scalar"));
    }

    #[test]
    fn parts_pass_memory_on_and_the_verifier_calls_them_in_order() {
        let p = parse(GENERATED).unwrap();
        let ranges = group(&p, 60);
        let first = part_source(&p, &ranges[0], 0, 4, "k");
        assert!(first.contains("calldatacopy(0, 0xa0, 0xc0)"), "{first}");
        assert!(first.contains("return(0, 0xc0)"));
        assert!(first.contains("let f_q := 0x31") && first.contains("function validate_ec_point"));
        let last = part_source(&p, &ranges[3], 3, 4, "k");
        assert!(last.contains("return(0, 0)\n") && !last.contains("return(0, 0x"));
        let verifier = verifier_source(&p, &[(0xc0, [1; 32]), (0x320, [2; 32])], "k");
        assert!(verifier.contains("if iszero(eq(calldatasize(), 0xa0))"));
        assert!(verifier.contains("let r := 0x31\n"), "{verifier}");
        assert!(verifier.contains("for { let o := 0x0 } lt(o, 0x20) { o := add(o, 0x20) } {"), "{verifier}");
        assert!(verifier.contains("for { let o := 0x60 } lt(o, 0xa0) { o := add(o, 0x20) } {"), "{verifier}");
        assert!(verifier.contains("if iszero(lt(calldataload(o), r)) { revert(0, 0) }"), "{verifier}");
        assert!(verifier.contains("staticcall(gas(), sload(0), 0, 0x160, 0xa0, 0xc0)"), "{verifier}");
        assert!(verifier.contains("staticcall(gas(), sload(1), 0, 0x3c0, 0, 0)"), "{verifier}");
        assert!(verifier.contains(&format!("bytes32(0x{})", "02".repeat(32))));
    }
}
