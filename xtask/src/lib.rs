//! `cargo xtask`: the declarative build tool for this workspace's Gevulot
//! images, in floors. A module uses its own floor or the floors below it,
//! never one above (`tests/module_direction.rs` enforces it):
//!
//! - `cmd/`: one module per command (each command's flags are a plain
//!   struct with `fn run(self, sh: &Shell)`). Only `main.rs` uses them.
//! - `pipeline/`: what the commands do, as plans then execution: static
//!   builds, images, keys, SRS files, a pair's tasks, the host's verdict,
//!   the EVM verifier.
//! - `host/`: the programs and machine we drive: pinned tools, system
//!   packages, QEMU, the local node, Nanos releases, gevulot-cli.
//! - `spec/`: what is declared and recorded: manifests, the workspace,
//!   image plans and their records.
//! - `support/`: hashing, progress, ELF checks, directory locks.

pub mod cmd;
pub mod host;
pub mod pipeline;
pub mod spec;
pub mod support;
