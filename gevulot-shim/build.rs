//! Compiles proto/vm_service.proto with protox (pure Rust: no protoc needed)
//! into prost messages; with the `node` feature, also the tonic server. The
//! VM side's client is `src/grpc.rs` (synchronous, no tonic).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/vm_service.proto");
    let descriptors = protox::compile(["proto/vm_service.proto"], ["proto"])?;
    let node = std::env::var_os("CARGO_FEATURE_NODE").is_some();
    tonic_build::configure().build_client(false).build_server(node).compile_fds(descriptors)?;
    Ok(())
}
