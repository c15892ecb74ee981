//! A Python client (`tools/python/send_order.py`, through the stubs generated from the order
//! proto) sends orders to the real kitchen over gRPC: the contract works from other languages.
//!
//! The stubs come from Bazel's `//order_management_service/proto:order_service_py` when the test
//! runs there (`PYTHON_ORDER_STUBS`, with Debian's grpcio in the Bazel root), and from
//! `tools/dev/python-stubs` under Cargo.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("the crate sits in the repository")
        .to_owned()
}

/// The PYTHONPATH that holds the order stubs and the grpc runtime.
fn python_path(scratch: &Path) -> String {
    if let Ok(stubs) = std::env::var("PYTHON_ORDER_STUBS") {
        // Bazel: the stub files' paths, space-separated, all in one folder.
        let first = stubs.split_whitespace().next().expect("a stub file");
        let folder = Path::new(first)
            .parent()
            .expect("a stub file's folder")
            .to_owned();
        return std::fs::canonicalize(folder)
            .expect("the stubs' folder")
            .to_string_lossy()
            .into_owned();
    }
    let output = Command::new(repository().join("tools/dev/python-stubs"))
        .arg(scratch)
        .output()
        .expect("tools/dev/python-stubs runs");
    assert!(
        output.status.success(),
        "tools/dev/python-stubs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .last()
        .expect("the PYTHONPATH line")
        .to_owned()
}

/// Runs the Python client with `args`; its exit code and its JSON answer.
fn send_from_python(python_path: &str, target: &str, args: &[&str]) -> (i32, Value) {
    let client = match std::env::var_os("PYTHON_ORDER_CLIENT") {
        Some(path) => PathBuf::from(path),
        None => repository().join("tools/python/send_order.py"),
    };
    let output = Command::new("python3")
        .arg(client)
        .args(["--target", target])
        .args(args)
        .env("PYTHONPATH", python_path)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!(
            "the client printed no JSON ({error}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().expect("an exit code"), answer)
}

#[test]
fn an_order_sent_from_python_is_stored_and_printed_and_a_malformed_one_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let python_path = python_path(scratch.path());
    let kitchen = common::start();
    let target = kitchen.grpc_target();

    let (code, answer) = send_from_python(
        &python_path,
        &target,
        &[
            "--order-id",
            "py-order-1",
            "--brand",
            "Desayuna",
            "--item",
            "Breakfast Burrito,Grill Station,2",
        ],
    );
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["order_id"], "py-order-1");
    assert!(kitchen.wait_printed(&["py-order-1"]), "never printed");

    let (code, answer) = send_from_python(
        &python_path,
        &target,
        &["--order-id", "", "--item", "Toast,Grill Station,1"],
    );
    assert_eq!(code, 2, "{answer}");
    assert_eq!(answer["code"], "INVALID_ARGUMENT", "{answer}");
    assert!(
        answer["details"]
            .as_str()
            .unwrap_or("")
            .contains("order_id"),
        "{answer}"
    );
}
