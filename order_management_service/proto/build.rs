//! Generates the prost messages and the tonic client and server from `order_service.proto`.
//!
//! A Cargo build uses the protoc shipped inside the `protoc-bin-vendored` crate, so no protoc is
//! needed on the system; a `PROTOC` set in the environment wins.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=order_service.proto");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let protoc = match std::env::var_os("PROTOC") {
        Some(path) => PathBuf::from(path),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure().compile_with_config(config, &["order_service.proto"], &["."])?;
    Ok(())
}
