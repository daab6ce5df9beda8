//! Compiles proto/vm_service.proto with protox (pure Rust: no protoc needed)
//! and generates the tonic client and server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/vm_service.proto");
    let descriptors = protox::compile(["proto/vm_service.proto"], ["proto"])?;
    tonic_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
