//! Compiles the .proto files with protox (pure Rust), so no `protoc` has to be installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/ticket_distribution.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
