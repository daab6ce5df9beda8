//! The programs and machine the pipeline drives: pinned test tools, the
//! operating system's packages, QEMU and the vsock helper, the local
//! Gevulot node, Nanos releases, and gevulot-cli.

pub mod gevulot;
pub mod local_node;
pub mod nanos_release;
pub mod system_packages;
pub mod tools;
pub mod vm;
