//! `cargo xtask`: the declarative build tool for this workspace's Gevulot
//! images. Two floors: `cmd/` holds one module per command (each command's
//! flags are a plain struct with `fn run(self, sh: &Shell)`); the modules
//! beside it are the libraries the commands use (manifests, project
//! layout, builds, images, keys, SRS files, VMs, hashing, progress, pinned
//! tools). A library never uses a command (`tests/module_direction.rs`).

pub mod build;
pub mod cmd;
pub mod dir_lock;
pub mod elf;
pub mod evm;
pub mod gevulot;
pub mod hashing;
pub mod host_verify;
pub mod image;
pub mod image_host_paths;
pub mod image_plan;
pub mod insecure_srs;
pub mod keys;
pub mod local_node;
pub mod manifest;
pub mod nanos_release;
pub mod native;
pub mod pair_tasks;
pub mod programs;
pub mod progress;
pub mod project;
pub mod srs;
pub mod system_packages;
pub mod tools;
pub mod vm;
