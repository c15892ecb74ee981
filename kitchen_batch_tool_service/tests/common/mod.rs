//! The kitchen service as tests see it: its real binary on free ports, with a throwaway
//! PostgreSQL, reached over real gRPC and HTTP.

#![allow(dead_code, missing_docs)]

use grpc_clients::{OrderClient, initialize_order_client};
use order_service_proto::order_service::v1::{OrderItem, OrderRequest};
use std::time::Duration;
use test_support::{PostgresServer, ServiceProcess, SseClient, free_port, wait_for_port};

/// Generous limit for anything the service does in a test; polls end as soon as it is done.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Kitchen {
    pub postgres: PostgresServer,
    database_url: String,
    pub grpc_port: u16,
    pub http_port: u16,
    env: Vec<(&'static str, String)>,
    process: Option<ServiceProcess>,
}

impl Kitchen {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the service with extra environment variables.
    pub fn start_with(env: &[(&'static str, &str)]) -> Self {
        let postgres = PostgresServer::start().expect("start PostgreSQL");
        let database_url = postgres
            .create_database("kitchen")
            .expect("create database");
        let mut kitchen = Self {
            postgres,
            database_url,
            grpc_port: free_port(),
            http_port: free_port(),
            env: env
                .iter()
                .map(|(key, value)| (*key, value.to_string()))
                .collect(),
            process: None,
        };
        kitchen.spawn();
        kitchen
    }

    fn spawn(&mut self) {
        let mut env = vec![
            ("DATABASE_URL", self.database_url.clone()),
            ("GRPC_ADDR", format!("127.0.0.1:{}", self.grpc_port)),
            ("HTTP_ADDR", format!("127.0.0.1:{}", self.http_port)),
            ("RUST_LOG", "info".to_owned()),
        ];
        env.extend(self.env.iter().cloned());
        let process =
            ServiceProcess::spawn(env!("CARGO_BIN_EXE_kitchen_batch_tool_service"), &[], &env)
                .expect("spawn the kitchen service");
        assert!(
            wait_for_port(self.http_port, WAIT) && wait_for_port(self.grpc_port, WAIT),
            "the kitchen service did not start; its log:\n{}",
            process.stderr().join("\n")
        );
        self.process = Some(process);
    }

    /// Stops the service gracefully (SIGTERM) and starts it again on the same ports and database.
    pub fn restart(&mut self) {
        let mut process = self.process.take().expect("running");
        let code = process.terminate(WAIT);
        assert_eq!(
            code,
            Some(0),
            "the kitchen service did not shut down cleanly"
        );
        self.spawn();
    }

    pub fn process(&self) -> &ServiceProcess {
        self.process.as_ref().expect("running")
    }

    pub fn client(&self) -> OrderClient {
        initialize_order_client(
            &format!("127.0.0.1:{}", self.grpc_port),
            Duration::from_secs(10),
        )
        .expect("client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub async fn events(&self, query: &str, last_event_id: Option<&str>) -> SseClient {
        SseClient::connect(&self.url(&format!("/orders/events{query}")), last_event_id)
            .await
            .expect("open the event stream")
    }

    /// How many times stdout holds `line` exactly.
    pub fn printed_count(&self, line: &str) -> usize {
        self.process()
            .stdout()
            .iter()
            .filter(|printed| *printed == line)
            .count()
    }

    /// Waits until stdout has held `line` `count` times.
    pub fn wait_printed(&self, line: &str, count: usize) -> bool {
        self.process().wait_for_stdout(
            |lines| lines.iter().filter(|printed| *printed == line).count() >= count,
            WAIT,
        )
    }
}

pub fn item(name: &str, station: &str, quantity: i32) -> OrderItem {
    OrderItem {
        item_name: name.into(),
        station_name: station.into(),
        quantity,
    }
}

/// The design document's sample order.
pub fn sample_order() -> OrderRequest {
    OrderRequest {
        order_id: "67adcfdc15da8840bc9673bd".into(),
        otter_order_id: "019c52aa-1232-307c-b56d-1a3af34b458c".into(),
        brand_name: "Desayuna".into(),
        order_items: vec![
            item("Grilled Chicken Sandwich", "Burger Plancha Station", 2),
            item("Classic Burger", "Burger Plancha Station", 1),
            item("Caesar Salad", "Salad Station", 1),
        ],
        timestamp: "2025-02-13T10:56:27.756Z".into(),
        source: "mongodb_changestream".into(),
    }
}

/// A small valid order with the given id.
pub fn numbered_order(order_id: &str) -> OrderRequest {
    OrderRequest {
        order_id: order_id.into(),
        otter_order_id: format!("otter-{order_id}"),
        brand_name: "Test Brand".into(),
        order_items: vec![
            item("Burger", "Grill Station", 1),
            item("Fries", "Fryer Station", 2),
        ],
        timestamp: "2025-02-13T10:56:27.756Z".into(),
        source: "mongodb_changestream".into(),
    }
}

/// The `order_id` inside an event's JSON data.
pub fn order_id_of(data: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(data).expect("event data is JSON");
    value["order_id"].as_str().expect("order_id").to_owned()
}
