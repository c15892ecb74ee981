//! Generates the prost messages and the tonic clients and servers of every `.proto` in this
//! folder (`order_service.proto` and any contract `tools/new_rpc_service` adds), so adding a
//! contract needs no change here.
//!
//! A Cargo build uses the protoc shipped inside the `protoc-bin-vendored` crate, so no protoc is
//! needed on the system; a `PROTOC` set in the environment (Bazel sets its own) wins.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=.");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let protoc = match std::env::var_os("PROTOC") {
        Some(path) => PathBuf::from(path),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let mut protos: Vec<PathBuf> = std::fs::read_dir(".")?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    protos.retain(|path| {
        path.extension()
            .is_some_and(|extension| extension == "proto")
    });
    protos.sort();
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure().compile_with_config(config, &protos, &[PathBuf::from(".")])?;
    Ok(())
}
