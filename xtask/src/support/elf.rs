//! Checks that a binary is a fully static x86-64 ELF: no program
//! interpreter (`PT_INTERP`) and no shared-library dependencies
//! (`DT_NEEDED`). Static-pie is fine: it has a dynamic section, but needs
//! nothing. Nanos runs one static process; ops would otherwise run the
//! binary on the host to collect libraries.

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};

#[derive(Debug, PartialEq, Eq)]
pub enum NotStatic {
    NotElf(String),
    WrongMachine(u16),
    Interpreter(String),
    Needed(Vec<String>),
}

impl std::fmt::Display for NotStatic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotStatic::NotElf(e) => write!(f, "not a 64-bit ELF file ({e})"),
            NotStatic::WrongMachine(m) => write!(f, "built for ELF machine {m}, not x86-64"),
            NotStatic::Interpreter(i) => write!(f, "dynamically linked: it asks for the program interpreter {i}"),
            NotStatic::Needed(libs) => write!(f, "dynamically linked: it needs {}", libs.join(", ")),
        }
    }
}

pub fn check_static(data: &[u8]) -> Result<(), NotStatic> {
    let header = elf::FileHeader64::<object::Endianness>::parse(data).map_err(|e| NotStatic::NotElf(e.to_string()))?;
    let endian = header.endian().map_err(|e| NotStatic::NotElf(e.to_string()))?;
    if header.e_machine(endian) != elf::EM_X86_64 {
        return Err(NotStatic::WrongMachine(header.e_machine(endian)));
    }
    let segments = header.program_headers(endian, data).map_err(|e| NotStatic::NotElf(e.to_string()))?;
    for segment in segments {
        if segment.p_type(endian) == elf::PT_INTERP {
            let path = segment
                .data(endian, data)
                .ok()
                .map(|d| String::from_utf8_lossy(d).trim_end_matches('\0').to_string())
                .unwrap_or_else(|| "?".into());
            return Err(NotStatic::Interpreter(path));
        }
    }
    let mut needed = Vec::new();
    for segment in segments {
        let Ok(Some(entries)) = segment.dynamic(endian, data) else { continue };
        // Names live in the dynamic string table; find it to name the libraries.
        let strtab_addr = entries.iter().find(|d| d.d_tag(endian) == elf::DT_STRTAB as u64).map(|d| d.d_val(endian));
        for entry in entries {
            if entry.d_tag(endian) == elf::DT_NEEDED as u64 {
                let name = strtab_addr
                    .and_then(|addr| string_at(header, endian, data, addr + entry.d_val(endian)))
                    .unwrap_or_else(|| format!("library #{}", needed.len() + 1));
                needed.push(name);
            }
        }
    }
    if needed.is_empty() {
        Ok(())
    } else {
        Err(NotStatic::Needed(needed))
    }
}

/// The NUL-terminated string at virtual address `addr`.
fn string_at(
    header: &elf::FileHeader64<object::Endianness>,
    endian: object::Endianness,
    data: &[u8],
    addr: u64,
) -> Option<String> {
    for segment in header.program_headers(endian, data).ok()? {
        let start = segment.p_vaddr(endian);
        let size = segment.p_filesz(endian);
        if segment.p_type(endian) == elf::PT_LOAD && addr >= start && addr < start + size {
            let offset = (segment.p_offset(endian) + (addr - start)) as usize;
            let tail = data.get(offset..)?;
            let end = tail.iter().position(|b| *b == 0)?;
            return Some(String::from_utf8_lossy(&tail[..end]).into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_dynamic_binaries_are_refused() {
        // The test binary itself is a glibc, dynamically linked executable.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        match check_static(&me) {
            Err(NotStatic::Interpreter(path)) => assert!(path.contains("ld-linux"), "{path}"),
            other => panic!("expected an interpreter, got {other:?}"),
        }
    }

    #[test]
    fn garbage_is_not_elf() {
        assert!(matches!(check_static(b"#!/bin/sh\necho hi\n"), Err(NotStatic::NotElf(_))));
    }
}
