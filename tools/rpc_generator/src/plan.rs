//! What generating a service writes: the files it creates and the files it edits, worked out
//! from the repository's current text before anything is written, so that a refusal changes
//! nothing.

use crate::edits::{EditError, add_list_entry, add_rust_item, add_table_line};
use crate::name::{Owner, ServiceName};
use crate::templates::Names;
use std::collections::BTreeMap;

pub(crate) const CLIENTS: &str = "shared/grpc/clients";
pub(crate) const SERVERS: &str = "shared/grpc/servers";

// Top-level folders that hold no service.
const NOT_AN_OWNER: &[&str] = &["shared", "tools", "docs", "target", "third_party"];

/// The repository as the planner sees it.
pub(crate) trait Repository {
    /// The text of the file at `path` (relative to the root), if there is one.
    fn read(&self, path: &str) -> Option<String>;
    /// Every `<folder>/proto/*.proto` at the top level, as relative paths.
    fn proto_files(&self) -> Vec<String>;
}

/// Why a service cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PlanError {
    #[error("a {service} service exists already: {path}")]
    Exists { service: String, path: String },
    #[error("{owner:?} is not a service's folder (it holds shared code or tooling)")]
    NotAnOwner { owner: String },
    #[error(
        "{path} does not take every .proto of its folder ({missing}); generated services need \
         the proto crate layout that tools/new_rpc_service writes"
    )]
    ProtoCrateLayout { path: String, missing: String },
    #[error("{path} is missing: is this the repository's root?")]
    NotTheRoot { path: String },
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// Whether a planned file is new or an edit of an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Create,
    Update,
}

/// The files to write, by relative path.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) files: BTreeMap<String, (Change, String)>,
}

impl Plan {
    fn create(&mut self, path: String, text: String) {
        self.files.insert(path, (Change::Create, text));
    }

    /// The file's planned text if this plan already changes it, else its text in the repository.
    fn current(&self, repo: &dyn Repository, path: &str) -> Result<String, PlanError> {
        match self.files.get(path) {
            Some((_, text)) => Ok(text.clone()),
            None => repo.read(path).ok_or_else(|| PlanError::NotTheRoot {
                path: path.to_owned(),
            }),
        }
    }

    fn update(
        &mut self,
        repo: &dyn Repository,
        path: &str,
        edit: impl FnOnce(&str) -> Result<String, EditError>,
    ) -> Result<(), PlanError> {
        let before = self.current(repo, path)?;
        let after = edit(&before)?;
        if after != before {
            let change = match self.files.get(path) {
                Some((Change::Create, _)) => Change::Create,
                _ => Change::Update,
            };
            self.files.insert(path.to_owned(), (change, after));
        }
        Ok(())
    }
}

/// The owner's proto crate: found in the repository, or to be created.
struct ProtoCrate {
    name: String,
    bazel_label: String,
    is_new: bool,
}

/// Plans the `service` RPC, owned (sent) by `owner`.
pub(crate) fn plan(
    repo: &dyn Repository,
    service: &ServiceName,
    owner: &Owner,
) -> Result<Plan, PlanError> {
    if NOT_AN_OWNER.contains(&owner.folder()) || owner.folder().starts_with("bazel") {
        return Err(PlanError::NotAnOwner {
            owner: owner.folder().to_owned(),
        });
    }
    refuse_existing(repo, service)?;
    let proto_crate = find_proto_crate(repo, owner)?;
    let names = Names {
        service: service.clone(),
        owner: owner.clone(),
        proto_crate: proto_crate.name.clone(),
    };
    let mut plan = Plan::default();
    let proto_folder = owner.proto_folder();
    plan.create(
        format!("{proto_folder}/{}.proto", service.service_snake()),
        names.proto(),
    );
    if proto_crate.is_new {
        plan.create(
            format!("{proto_folder}/Cargo.toml"),
            names.proto_crate_manifest(),
        );
        plan.create(
            format!("{proto_folder}/build.rs"),
            names.proto_crate_build_script(),
        );
        plan.create(
            format!("{proto_folder}/src/lib.rs"),
            names.proto_crate_lib(),
        );
        plan.create(
            format!("{proto_folder}/BUILD.bazel"),
            names.proto_crate_bazel(),
        );
        plan.update(repo, "Cargo.toml", |text| {
            let text = add_list_entry("Cargo.toml", text, "members = [", &proto_folder)?;
            add_table_line(
                "Cargo.toml",
                &text,
                "workspace.dependencies",
                &format!("{} = {{ path = \"{proto_folder}\" }}", proto_crate.name),
            )
        })?;
        plan.update(repo, "MODULE.bazel", |text| {
            add_list_entry(
                "MODULE.bazel",
                text,
                "manifests = [",
                &format!("//{proto_folder}:Cargo.toml"),
            )
        })?;
    } else {
        let lib = format!("{proto_folder}/src/lib.rs");
        let module = names.proto_module();
        plan.update(repo, &lib, |text| {
            let mut text = text.trim_end().to_owned();
            text.push('\n');
            text.push_str(&module);
            Ok(text)
        })?;
    }

    let snake = service.snake();
    let pascal = service.pascal();
    plan.create(format!("{CLIENTS}/{snake}_client.rs"), names.client());
    plan.create(format!("{SERVERS}/{snake}_server.rs"), names.server());
    plan.create(
        format!("{SERVERS}/tests/{snake}_round_trip.rs"),
        names.round_trip_test(),
    );
    let client_exports = format!(
        "pub use {snake}_client::{{\n    {pascal}Client, initialize_{snake}_client, initialize_secure_{snake}_client,\n}};"
    );
    let server_exports = format!(
        "pub use {snake}_server::{{\n    {pascal}Handler, {pascal}Server, {snake}_server_router, start_{snake}_server,\n}};"
    );
    for (folder, module, exports) in [
        (CLIENTS, format!("{snake}_client"), client_exports),
        (SERVERS, format!("{snake}_server"), server_exports),
    ] {
        plan.update(repo, &format!("{folder}/lib.rs"), |text| {
            let text = add_rust_item(text, "pub mod ", &format!("pub mod {module};"));
            Ok(add_rust_item(&text, "pub use ", &exports))
        })?;
        let manifest = format!("{folder}/Cargo.toml");
        plan.update(repo, &manifest, |text| {
            add_table_line(
                &manifest,
                text,
                "dependencies",
                &format!("{}.workspace = true", proto_crate.name),
            )
        })?;
        let build = format!("{folder}/BUILD.bazel");
        plan.update(repo, &build, |text| {
            add_list_entry(&build, text, "PROTOS = [", &proto_crate.bazel_label)
        })?;
    }
    Ok(plan)
}

fn refuse_existing(repo: &dyn Repository, service: &ServiceName) -> Result<(), PlanError> {
    let exists = |path: String| PlanError::Exists {
        service: service.snake().to_owned(),
        path,
    };
    let proto_name = format!("/{}.proto", service.service_snake());
    if let Some(path) = repo
        .proto_files()
        .into_iter()
        .find(|p| p.ends_with(&proto_name))
    {
        return Err(exists(path));
    }
    let snake = service.snake();
    for path in [
        format!("{CLIENTS}/{snake}_client.rs"),
        format!("{SERVERS}/{snake}_server.rs"),
        format!("{SERVERS}/tests/{snake}_round_trip.rs"),
    ] {
        if repo.read(&path).is_some() {
            return Err(exists(path));
        }
    }
    Ok(())
}

fn find_proto_crate(repo: &dyn Repository, owner: &Owner) -> Result<ProtoCrate, PlanError> {
    let folder = owner.proto_folder();
    let Some(manifest) = repo.read(&format!("{folder}/Cargo.toml")) else {
        return Ok(ProtoCrate {
            name: owner.new_proto_crate(),
            bazel_label: format!("//{folder}:rust"),
            is_new: true,
        });
    };
    let layout = |path: String, missing: &str| PlanError::ProtoCrateLayout {
        path,
        missing: missing.to_owned(),
    };
    let name = quoted_value_after(&manifest, "[package]", "name")
        .ok_or_else(|| layout(format!("{folder}/Cargo.toml"), "no package name"))?;
    let build_path = format!("{folder}/BUILD.bazel");
    let build = repo.read(&build_path).unwrap_or_default();
    let target = quoted_value_after(&build, "workspace_rust_library(", "name")
        .ok_or_else(|| layout(build_path.clone(), "no workspace_rust_library"))?;
    if !build.contains("glob([\"*.proto\"])") {
        return Err(layout(build_path, "no glob([\"*.proto\"])"));
    }
    let script_path = format!("{folder}/build.rs");
    if !repo
        .read(&script_path)
        .unwrap_or_default()
        .contains("read_dir")
    {
        return Err(layout(script_path, "it compiles a fixed list of protos"));
    }
    Ok(ProtoCrate {
        name,
        bazel_label: format!("//{folder}:{target}"),
        is_new: false,
    })
}

/// The quoted value of the first `key = "value"` line after the line holding `anchor`.
fn quoted_value_after(text: &str, anchor: &str, key: &str) -> Option<String> {
    let start = text.find(anchor)?;
    text[start..].lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_end_matches(',').trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository held in memory: the files the planner reads.
    #[derive(Default)]
    struct Files(BTreeMap<String, String>);

    impl Repository for Files {
        fn read(&self, path: &str) -> Option<String> {
            self.0.get(path).cloned()
        }
        fn proto_files(&self) -> Vec<String> {
            self.0
                .keys()
                .filter(|p| {
                    p.ends_with(".proto") && p.matches('/').count() == 2 && p.contains("/proto/")
                })
                .cloned()
                .collect()
        }
    }

    fn repository() -> Files {
        let mut files = Files::default();
        let mut add = |path: &str, text: &str| {
            files.0.insert(path.to_owned(), text.to_owned());
        };
        add(
            "Cargo.toml",
            "[workspace]\nmembers = [\n    \"order_management_service/proto\",\n]\n\n[workspace.dependencies]\n# Project crates.\norder_service_proto = { path = \"order_management_service/proto\" }\n\n# Third-party crates.\nanyhow = \"1\"\n",
        );
        add(
            "MODULE.bazel",
            "crate.from_cargo(\n    manifests = [\n        \"//:Cargo.toml\",\n    ],\n)\n",
        );
        add(
            "order_management_service/proto/order_service.proto",
            "syntax = \"proto3\";\n",
        );
        add(
            "order_management_service/proto/Cargo.toml",
            "[package]\nname = \"order_service_proto\"\n",
        );
        add(
            "order_management_service/proto/BUILD.bazel",
            "proto_library(\n    name = \"order_service_proto\",\n    srcs = glob([\"*.proto\"]),\n)\n\nworkspace_rust_library(\n    name = \"order_service_rust\",\n)\n",
        );
        add(
            "order_management_service/proto/build.rs",
            "fn main() { std::fs::read_dir(\".\"); }\n",
        );
        add(
            "order_management_service/proto/src/lib.rs",
            "//! Docs.\n\npub mod order_service {}\n",
        );
        for folder in [CLIENTS, SERVERS] {
            add(
                &format!("{folder}/lib.rs"),
                "//! Docs.\n\npub mod order_x;\n\npub use order_x::A;\n",
            );
            add(
                &format!("{folder}/Cargo.toml"),
                "[dependencies]\norder_service_proto.workspace = true\n\n[lints]\nworkspace = true\n",
            );
            add(
                &format!("{folder}/BUILD.bazel"),
                "PROTOS = [\n    \"//order_management_service/proto:order_service_rust\",\n]\n",
            );
        }
        files
    }

    fn paths(plan: &Plan, change: Change) -> Vec<&str> {
        plan.files
            .iter()
            .filter(|(_, (c, _))| *c == change)
            .map(|(path, _)| path.as_str())
            .collect()
    }

    fn text<'a>(plan: &'a Plan, path: &str) -> &'a str {
        &plan.files[path].1
    }

    #[test]
    fn a_new_owner_gets_a_proto_crate_registered_in_both_builds() {
        let repo = repository();
        let plan = plan(
            &repo,
            &ServiceName::parse("inventory").unwrap(),
            &Owner::parse("inventory_service").unwrap(),
        )
        .unwrap();
        assert_eq!(
            paths(&plan, Change::Create),
            [
                "inventory_service/proto/BUILD.bazel",
                "inventory_service/proto/Cargo.toml",
                "inventory_service/proto/build.rs",
                "inventory_service/proto/inventory_service.proto",
                "inventory_service/proto/src/lib.rs",
                "shared/grpc/clients/inventory_client.rs",
                "shared/grpc/servers/inventory_server.rs",
                "shared/grpc/servers/tests/inventory_round_trip.rs",
            ]
        );
        assert_eq!(
            paths(&plan, Change::Update),
            [
                "Cargo.toml",
                "MODULE.bazel",
                "shared/grpc/clients/BUILD.bazel",
                "shared/grpc/clients/Cargo.toml",
                "shared/grpc/clients/lib.rs",
                "shared/grpc/servers/BUILD.bazel",
                "shared/grpc/servers/Cargo.toml",
                "shared/grpc/servers/lib.rs",
            ]
        );
        let root = text(&plan, "Cargo.toml");
        assert!(root.contains(
            "    \"order_management_service/proto\",\n    \"inventory_service/proto\",\n]"
        ));
        assert!(
            root.contains("inventory_service_proto = { path = \"inventory_service/proto\" }\n")
        );
        assert!(text(&plan, "MODULE.bazel").contains("\"//inventory_service/proto:Cargo.toml\","));
        assert!(
            text(&plan, "shared/grpc/clients/Cargo.toml")
                .contains("inventory_service_proto.workspace = true\n")
        );
        assert!(
            text(&plan, "shared/grpc/servers/BUILD.bazel")
                .contains("    \"//inventory_service/proto:rust\",\n]")
        );
        let clients = text(&plan, "shared/grpc/clients/lib.rs");
        assert!(clients.contains("pub mod inventory_client;"));
        assert!(clients.contains(
            "InventoryClient, initialize_inventory_client, initialize_secure_inventory_client,"
        ));
        assert!(text(&plan, "shared/grpc/servers/lib.rs").contains("start_inventory_server"));
    }

    #[test]
    fn an_owner_with_a_proto_crate_gains_a_proto_and_a_module_only() {
        let repo = repository();
        let plan = plan(
            &repo,
            &ServiceName::parse("payment").unwrap(),
            &Owner::parse("order_management_service").unwrap(),
        )
        .unwrap();
        assert!(
            plan.files
                .contains_key("order_management_service/proto/payment_service.proto")
        );
        assert!(!plan.files.contains_key("Cargo.toml"));
        assert!(!plan.files.contains_key("MODULE.bazel"));
        let lib = text(&plan, "order_management_service/proto/src/lib.rs");
        assert!(lib.starts_with(
            "//! Docs.\n\npub mod order_service {}\n\n/// The `payment_service` protobuf package."
        ));
        // The crate is already a dependency of the client and server crates.
        assert!(!plan.files.contains_key("shared/grpc/clients/Cargo.toml"));
        assert!(!plan.files.contains_key("shared/grpc/servers/BUILD.bazel"));
        assert!(
            text(&plan, "shared/grpc/clients/payment_client.rs")
                .contains("use order_service_proto::payment_service::v1::")
        );
    }

    #[test]
    fn an_existing_service_is_refused_wherever_its_proto_lives() {
        let repo = repository();
        let error = plan(
            &repo,
            &ServiceName::parse("order").unwrap(),
            &Owner::parse("kitchen_batch_tool_service").unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            error,
            PlanError::Exists {
                service: "order".into(),
                path: "order_management_service/proto/order_service.proto".into()
            }
        );
    }

    #[test]
    fn an_existing_client_file_is_refused() {
        let mut repo = repository();
        repo.0
            .insert(format!("{CLIENTS}/inventory_client.rs"), String::new());
        let error = plan(
            &repo,
            &ServiceName::parse("inventory").unwrap(),
            &Owner::parse("inventory_service").unwrap(),
        )
        .unwrap_err();
        assert!(
            matches!(error, PlanError::Exists { ref path, .. } if path == "shared/grpc/clients/inventory_client.rs")
        );
    }

    #[test]
    fn shared_and_tooling_folders_are_not_owners() {
        let repo = repository();
        for owner in ["shared", "tools", "bazel_out"] {
            let error = plan(
                &repo,
                &ServiceName::parse("inventory").unwrap(),
                &Owner::parse(owner).unwrap(),
            )
            .unwrap_err();
            assert!(matches!(error, PlanError::NotAnOwner { .. }), "{owner}");
        }
    }

    #[test]
    fn a_proto_crate_with_a_fixed_list_of_protos_is_refused() {
        let mut repo = repository();
        repo.0.insert(
            "order_management_service/proto/build.rs".into(),
            "fn main() { compile(&[\"order_service.proto\"]); }\n".into(),
        );
        let error = plan(
            &repo,
            &ServiceName::parse("payment").unwrap(),
            &Owner::parse("order_management_service").unwrap(),
        )
        .unwrap_err();
        assert!(matches!(error, PlanError::ProtoCrateLayout { .. }));
    }

    #[test]
    fn outside_the_repository_root_nothing_is_planned() {
        let error = plan(
            &Files::default(),
            &ServiceName::parse("inventory").unwrap(),
            &Owner::parse("inventory_service").unwrap(),
        )
        .unwrap_err();
        assert!(matches!(error, PlanError::NotTheRoot { .. }));
    }
}
