//! The commands: one module per `cargo xtask` subcommand, each a plain flag
//! struct with `fn run(self, sh: &Shell)`. Only `main.rs` uses them (and a
//! command its own parts: `bench` → `bench_vm`); they use the floors
//! below (`pipeline`, `host`, `spec`, `support`), never the reverse (`xtask/tests/module_direction.rs`).

pub mod bench;
pub mod bench_vm;
pub mod build;
pub mod check;
pub mod deploy;
pub mod doctor;
pub mod evm_deploy;
pub mod evm_submit;
pub mod evm_verifier;
pub mod exec;
pub mod image;
pub mod inspect;
pub mod keys;
pub mod nanos;
pub mod new_pair;
pub mod release;
pub mod run;
pub mod srs;
pub mod test;
