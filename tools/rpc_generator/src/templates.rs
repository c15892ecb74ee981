//! The generated files' text: the templates in `templates/`, with the service's names filled in.

use crate::name::{Owner, ServiceName};

/// The names a template is filled with.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) service: ServiceName,
    pub(crate) owner: Owner,
    /// The Rust crate generated from the owner's protos.
    pub(crate) proto_crate: String,
}

impl Names {
    fn fill(&self, template: &str) -> String {
        // The longer placeholders first is not needed: none is a part of another.
        template
            .replace("__Name__", &self.service.pascal())
            .replace("__snake__", self.service.snake())
            .replace("__svc__", &self.service.service_snake())
            .replace("__pkg__", &self.service.proto_package())
            .replace("__crate__", &self.proto_crate)
            .replace("__owner__", self.owner.folder())
            .replace("__words__", &self.service.words())
    }

    pub(crate) fn proto(&self) -> String {
        self.fill(include_str!("../templates/service.proto.tmpl"))
    }

    /// The module a proto crate's `lib.rs` gains for the service's package.
    pub(crate) fn proto_module(&self) -> String {
        self.fill(include_str!("../templates/proto_module.rs.tmpl"))
    }

    pub(crate) fn proto_crate_lib(&self) -> String {
        self.fill(include_str!("../templates/proto_lib.rs.tmpl")) + &self.proto_module()
    }

    pub(crate) fn proto_crate_manifest(&self) -> String {
        self.fill(include_str!("../templates/proto_Cargo.toml.tmpl"))
    }

    pub(crate) fn proto_crate_build_script(&self) -> String {
        self.fill(include_str!("../templates/proto_build.rs.tmpl"))
    }

    pub(crate) fn proto_crate_bazel(&self) -> String {
        self.fill(include_str!("../templates/proto_BUILD.bazel.tmpl"))
    }

    pub(crate) fn client(&self) -> String {
        self.fill(include_str!("../templates/client.rs.tmpl"))
    }

    pub(crate) fn server(&self) -> String {
        self.fill(include_str!("../templates/server.rs.tmpl"))
    }

    pub(crate) fn round_trip_test(&self) -> String {
        self.fill(include_str!("../templates/round_trip_test.rs.tmpl"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            service: ServiceName::parse("stock_level").unwrap(),
            owner: Owner::parse("inventory_service").unwrap(),
            proto_crate: "inventory_service_proto".into(),
        }
    }

    fn every_file(names: &Names) -> Vec<String> {
        vec![
            names.proto(),
            names.proto_crate_lib(),
            names.proto_crate_manifest(),
            names.proto_crate_build_script(),
            names.proto_crate_bazel(),
            names.client(),
            names.server(),
            names.round_trip_test(),
        ]
    }

    #[test]
    fn no_placeholder_is_left_unfilled() {
        for text in every_file(&names()) {
            for placeholder in [
                "__Name__",
                "__snake__",
                "__svc__",
                "__pkg__",
                "__crate__",
                "__owner__",
                "__words__",
            ] {
                assert!(
                    !text.contains(placeholder),
                    "{placeholder} left in:\n{text}"
                );
            }
        }
    }

    #[test]
    fn the_pattern_s_names_are_in_the_files() {
        let names = names();
        let proto = names.proto();
        assert!(proto.contains("package stock_level_service.v1;"));
        assert!(proto.contains("service StockLevelService {"));
        assert!(
            proto.contains("rpc SendStockLevel(StockLevelRequest) returns (StockLevelResponse);")
        );
        let client = names.client();
        assert!(client.contains("pub struct StockLevelClient {"));
        assert!(client.contains("pub fn initialize_stock_level_client("));
        assert!(client.contains(
            "use inventory_service_proto::stock_level_service::v1::stock_level_service_client::StockLevelServiceClient;"
        ));
        let server = names.server();
        assert!(server.contains("pub trait StockLevelHandler: Send + Sync + 'static {"));
        assert!(server.contains("pub struct StockLevelServer<H> {"));
        assert!(server.contains("pub async fn start_stock_level_server<H: StockLevelHandler>("));
        assert!(server.contains("pub fn stock_level_server_router<H: StockLevelHandler>("));
        assert!(
            names
                .round_trip_test()
                .contains("service: \"stock_level_service.v1.StockLevelService\".into(),")
        );
        assert!(
            names
                .proto_crate_manifest()
                .contains("name = \"inventory_service_proto\"")
        );
        assert!(
            names
                .proto_crate_lib()
                .contains("tonic::include_proto!(\"stock_level_service.v1\");")
        );
    }
}
