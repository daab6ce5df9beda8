//! What the commands do, planned as data and then executed: the static
//! build, the programs as tools, images (native and through ops), verifier
//! keys and SRS files, a pair's workflow as tasks, the host's verdict, and
//! the EVM verifier.

pub mod build;
pub mod evm;
pub mod generated_files;
pub mod header_chain;
pub mod heavy_tier;
pub mod host_verify;
pub mod image;
pub mod image_host_paths;
pub mod insecure_srs;
pub mod native;
pub mod pair_tasks;
pub mod programs;
pub mod srs;
pub mod test_suite;
