//! Rust code generated from `order_service.proto`, at the module path of its protobuf package.
//!
//! Cargo and Bazel both expose the generated code as `order_service_proto::order_service::v1`.
//! [`limits`] holds what the kitchen accepts, which the order service checks before sending.

pub mod limits;

/// The `order_service` protobuf package.
pub mod order_service {
    /// Version 1 of the order contract (`package order_service.v1`).
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("order_service.v1");
    }
}
