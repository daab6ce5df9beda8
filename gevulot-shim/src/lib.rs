//! The Gevulot shim protocol (`vm_service` gRPC), as the Nanos-era node
//! speaks it (see docs/gevulot.md and `proto/vm_service.proto`).
//!
//! - [`run`] is the VM side: a synchronous run loop for a program's `main`.
//!   It connects to the node over vsock (CID 2, port 8080), or to a loopback
//!   TCP endpoint named by `GEVULOT_SHIM_ENDPOINT`, waits for the workspace,
//!   takes one task, runs the handler, and submits its result with a BLAKE3
//!   checksum per file (or `Failed`).
//! - [`node`] (feature `node`) plays the node's part on loopback, so the same
//!   binaries can be run and tested on a host.

/// The protocol's messages (prost), and with `node` the tonic server.
#[allow(clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/vm_service.rs"));
}

pub mod grpc;
mod vm;
mod workspace;

#[cfg(feature = "node")]
pub mod node;

pub use vm::{run, run_with, Config, ShimError, Task, TaskOutput, ENDPOINT_ENV, TASK_WAIT_ENV, WORKSPACE_ENV};
pub use workspace::{Workspace, WORKSPACE};

/// BLAKE3 of a file, the checksum Gevulot uses for result files.
pub fn blake3_file(path: &std::path::Path) -> std::io::Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(*hasher.finalize().as_bytes())
}
