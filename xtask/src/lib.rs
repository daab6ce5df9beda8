//! `cargo xtask`: the declarative build tool for this workspace's Gevulot
//! images. One module per command; each command's flags are a plain struct
//! with `fn run(self, sh: &Shell)`. Shared pieces (manifests, project
//! layout, hashing, ELF checks, progress, pinned tools) have a module each.

pub mod bench;
pub mod bench_vm;
pub mod build;
pub mod check;
pub mod deploy;
pub mod doctor;
pub mod elf;
pub mod evm;
pub mod exec;
pub mod gevulot;
pub mod hashing;
pub mod host_verify;
pub mod image;
pub mod image_host_paths;
pub mod image_plan;
pub mod insecure_srs;
pub mod inspect;
pub mod keys;
pub mod local_node;
pub mod manifest;
pub mod nanos_cmd;
pub mod nanos_release;
pub mod native;
pub mod new_pair;
pub mod programs;
pub mod progress;
pub mod project;
pub mod release;
pub mod run;
pub mod srs;
pub mod system_packages;
pub mod test;
pub mod tools;
pub mod vm;
