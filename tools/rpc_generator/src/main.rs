//! `new_rpc_service`: adds an RPC service to the monorepo in its one pattern.
//!
//! ```text
//! tools/new_rpc_service inventory --owner inventory_service
//! ```
//! writes the proto in the owner's `proto/` folder (and that folder's crate, if it is new), the
//! client `shared/grpc/clients/inventory_client.rs`, the server
//! `shared/grpc/servers/inventory_server.rs`, a round-trip test, and registers them in the Cargo
//! manifests, BUILD files and MODULE.bazel. It refuses a bad name or an existing service before
//! writing anything.

mod apply;
mod edits;
mod name;
mod plan;
mod templates;

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;

/// Adds an RPC service: proto, client, server, build files and a round-trip test.
#[derive(Debug, Parser)]
#[command(name = "new_rpc_service")]
struct Args {
    /// The service's name in snake_case, without `_service` (for example `inventory`).
    name: String,
    /// The top-level folder of the service that sends the RPC and owns its proto (for example
    /// `order_management_service`); it may not exist yet.
    #[arg(long)]
    owner: String,
    /// The repository's root.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Print what would be written, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not run `cargo fmt` and `cargo metadata` (which formats the registrations and records
    /// a new crate in Cargo.lock) after writing.
    #[arg(long)]
    no_cargo: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let service = name::ServiceName::parse(&args.name)?;
    let owner = name::Owner::parse(&args.owner)?;
    let repo = apply::FsRepository::new(&args.root);
    let plan = plan::plan(&repo, &service, &owner)?;
    for (path, (change, _)) in &plan.files {
        let verb = match change {
            plan::Change::Create => "create",
            plan::Change::Update => "update",
        };
        println!("{verb} {path}");
    }
    if args.dry_run {
        return Ok(());
    }
    apply::write(&args.root, &plan)?;
    if !args.no_cargo {
        apply::settle_with_cargo(&args.root)
            .context("the files are written; run `cargo fmt --all` and `cargo metadata` by hand")?;
    }
    println!(
        "{service}: generated. Next: `cargo test -p grpc_servers --test {service}_round_trip`, \
         then implement {}Handler in the receiving service (see docs/adding-rpc-services.md).",
        service.pascal()
    );
    Ok(())
}
