//! The whole pipeline as tests see it: a MongoDB-compatible server (SecantusDB, or the replica
//! set named by `MONGO_TEST_URI`), the real kitchen binary with its own PostgreSQL, and the real
//! order management service binary, all on free ports and talking over real sockets.
//!
//! The kitchen binary is `KITCHEN_BIN` when set (Bazel sets it), else
//! `target/<profile>/kitchen_batch_tool_service` next to this test's own folder
//! (`target/<profile>/deps/..`). `cargo test --workspace` builds it (the kitchen package has
//! integration tests, so Cargo builds its binary); with `cargo test -p order_management_service`
//! alone, build it first with `cargo build -p kitchen_batch_tool_service`.

#![allow(dead_code)]

use mongodb::bson::{Bson, Document, doc};
use mongodb::{Client, Collection, Database};
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use test_support::{
    MongoTestServer, ServiceProcess, SseClient, SseMessage, free_port, unique_name, wait_for_port,
};

/// Generous limit for anything a service does in a test; polls end as soon as it is done.
pub const WAIT: Duration = Duration::from_secs(60);

/// The orders collection's name in every test database.
pub const ORDERS: &str = "orders";
/// The checkpoint collection's name in every test database.
pub const CHECKPOINTS: &str = "order_stream_checkpoints";
/// The dead-letter collection's name in every test database.
pub const DEAD_LETTER: &str = "orders_dead_letter";

/// Polls `check` every 50 ms until it returns `Some`, or panics after `WAIT` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where the kitchen binary is (see the module documentation).
pub fn kitchen_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KITCHEN_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let binary = profile_dir.join("kitchen_batch_tool_service");
    assert!(
        binary.is_file(),
        "the kitchen binary is not at {}: run `cargo build -p kitchen_batch_tool_service` \
         (`cargo test --workspace` builds it), or set KITCHEN_BIN",
        binary.display()
    );
    binary
}

pub use test_support::Kitchen;

/// What these tests check of the kitchen's output.
pub trait KitchenChecks {
    /// Waits until the kitchen printed every order of `order_ids` (it prints after storing),
    /// then asserts it printed each exactly once.
    async fn assert_printed_once(&self, order_ids: &[String]);
    /// The first `count` events of the kitchen's stream, replayed from its store, in order.
    async fn stored_events(&self, count: usize) -> Vec<SseMessage>;
}

impl KitchenChecks for Kitchen {
    async fn assert_printed_once(&self, order_ids: &[String]) {
        eventually("the kitchen to print every order", || async {
            order_ids
                .iter()
                .all(|id| self.printed_count(id) > 0)
                .then_some(())
        })
        .await;
        for id in order_ids {
            assert_eq!(self.printed_count(id), 1, "printed once: {id}");
        }
    }

    async fn stored_events(&self, count: usize) -> Vec<SseMessage> {
        let mut events = SseClient::connect(&self.url("/orders/events?last_event_id=0"), None)
            .await
            .expect("open the kitchen's event stream");
        events.take(count, WAIT).await
    }
}

/// The order management service process, restartable with the same configuration.
pub struct OrderService {
    env: Vec<(&'static str, String)>,
    args: Vec<String>,
    pub http_port: u16,
    process: Option<ServiceProcess>,
    /// The logs of earlier runs.
    pub earlier_logs: Vec<Vec<String>>,
}

impl OrderService {
    /// Starts the service and waits until its listener is watching.
    pub async fn start(mongo_uri: &str, database: &str, grpc_target: &str) -> Self {
        Self::start_with(mongo_uri, database, grpc_target, &[]).await
    }

    /// Starts the service with extra environment variables and waits until it is watching.
    pub async fn start_with(
        mongo_uri: &str,
        database: &str,
        grpc_target: &str,
        extra_env: &[(&'static str, &str)],
    ) -> Self {
        let service = Self::launch_with(mongo_uri, database, grpc_target, extra_env).await;
        service
            .wait_health("the listener to watch", |status, body| {
                status == 200 && body["listener"]["state"] == "watching"
            })
            .await;
        service
    }

    /// Starts the service and waits only until it answers HTTP.
    pub async fn launch(mongo_uri: &str, database: &str, grpc_target: &str) -> Self {
        Self::launch_with(mongo_uri, database, grpc_target, &[]).await
    }

    async fn launch_with(
        mongo_uri: &str,
        database: &str,
        grpc_target: &str,
        extra_env: &[(&'static str, &str)],
    ) -> Self {
        let http_port = free_port();
        let mut env = vec![
            ("MONGO_URI", mongo_uri.to_owned()),
            ("MONGO_DB", database.to_owned()),
            ("MONGO_ORDERS_COLLECTION", ORDERS.to_owned()),
            ("GRPC_TARGET", grpc_target.to_owned()),
            ("GRPC_DEADLINE_MS", "5000".to_owned()),
            ("HTTP_ADDR", format!("127.0.0.1:{http_port}")),
            // Store the position often while quiet, so tests see it move.
            ("QUIET_CHECKPOINT_INTERVAL_MS", "200".to_owned()),
            ("RUST_LOG", "info".to_owned()),
            ("NO_COLOR", "1".to_owned()),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(key, value)| (*key, (*value).to_owned())),
        );
        let mut service = Self {
            env,
            args: Vec::new(),
            http_port,
            process: None,
            earlier_logs: Vec::new(),
        };
        service.spawn_unready();
        service
    }

    /// Starts the process again after [`OrderService::kill`], with `args` from now on, and waits
    /// until it is watching.
    pub async fn spawn_with_args(&mut self, args: &[&str]) {
        self.args = args.iter().map(|arg| (*arg).to_owned()).collect();
        self.spawn().await;
    }

    /// Starts the process again after [`OrderService::kill`] and waits until it is watching.
    pub async fn spawn(&mut self) {
        self.spawn_unready();
        self.wait_health("the listener to watch", |status, body| {
            status == 200 && body["listener"]["state"] == "watching"
        })
        .await;
    }

    /// Starts the process and waits only until it answers HTTP.
    pub fn spawn_unready(&mut self) {
        assert!(
            self.process.is_none(),
            "the order service is already running"
        );
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let process = ServiceProcess::spawn(
            env!("CARGO_BIN_EXE_order_management_service"),
            &args,
            &self.env,
        )
        .expect("spawn the order management service");
        self.process = Some(process);
        assert!(
            wait_for_port(self.http_port, WAIT),
            "the order service did not start; its log:\n{}",
            self.log().join("\n")
        );
    }

    /// Sets `key` to `value` for the next start.
    pub fn set_env(&mut self, key: &'static str, value: &str) {
        self.env.retain(|(name, _)| *name != key);
        self.env.push((key, value.to_owned()));
    }

    /// Every line logged, over all the runs.
    pub fn all_logs(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.earlier_logs.concat();
        lines.extend(self.log());
        lines
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let mut process = self.process.take().expect("the order service is running");
        process.kill();
        self.earlier_logs.push(process.stderr());
    }

    pub fn process_mut(&mut self) -> &mut ServiceProcess {
        self.process.as_mut().expect("the order service is running")
    }

    /// The current run's log.
    pub fn log(&self) -> Vec<String> {
        self.process
            .as_ref()
            .map(ServiceProcess::stderr)
            .unwrap_or_default()
    }

    /// How many `Order sent successfully` lines for `order_id` are in `log`.
    pub fn sent_count(log: &[String], order_id: &str) -> usize {
        let field = format!("order_id={order_id}");
        log.iter()
            .filter(|line| line.contains("Order sent successfully") && line.contains(&field))
            .count()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// `GET /health`: the status code and the JSON body.
    pub async fn health(&self) -> (u16, Value) {
        let response = reqwest::get(self.url("/health"))
            .await
            .expect("GET /health");
        let status = response.status().as_u16();
        let body = response.text().await.expect("read /health");
        (
            status,
            serde_json::from_str(&body).expect("/health answers JSON"),
        )
    }

    /// Polls `/health` until `accept` holds, and returns the body.
    pub async fn wait_health(&self, what: &str, accept: impl Fn(u16, &Value) -> bool) -> Value {
        let description = format!("/health to show {what}");
        eventually(&description, || async {
            let response = reqwest::get(self.url("/health")).await.ok()?;
            let status = response.status().as_u16();
            let body: Value = serde_json::from_str(&response.text().await.ok()?).ok()?;
            accept(status, &body).then_some(body)
        })
        .await
    }
}

/// One test's world: a database of its own on the MongoDB-compatible server, the kitchen, and
/// the order service watching the database's `orders` collection.
pub struct Stack {
    pub mongo: MongoTestServer,
    pub client: Client,
    pub database: Database,
    /// The order service's MongoDB app name: `failCommand` fail points aimed at it leave every
    /// other client (this test's, other tests') alone.
    pub app_name: String,
    pub kitchen: Option<Kitchen>,
    pub service: OrderService,
    _fail_point_lock: Option<tokio::sync::MutexGuard<'static, ()>>,
}

impl Stack {
    /// Everything, with the kitchen running.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// Everything but the kitchen (the service's gRPC target is a closed port).
    pub async fn without_kitchen() -> Self {
        Self::start_with(false).await
    }

    /// Everything, with a `failCommand` fail point (`data`, aimed at the order service's
    /// connections) on before the service starts; the service is not awaited as watching. The
    /// stack holds the fail-point lock (see [`Stack::exclusive_fail_points`]) for its lifetime.
    pub async fn start_failing(mode: Bson, data: Document) -> Self {
        Self::start_with_options(true, Some((mode, data)), &[]).await
    }

    /// Everything, with extra environment variables for both services.
    pub async fn start_with_env(env: &[(&'static str, &str)]) -> Self {
        Self::start_with_options(true, None, env).await
    }

    async fn start_with(with_kitchen: bool) -> Self {
        Self::start_with_options(with_kitchen, None, &[]).await
    }

    async fn start_with_options(
        with_kitchen: bool,
        fail_point: Option<(Bson, Document)>,
        env: &[(&'static str, &str)],
    ) -> Self {
        let service_env: Vec<(&'static str, String)> = env
            .iter()
            .map(|(key, value)| (*key, (*value).to_owned()))
            .collect();
        Self::start_with_envs(with_kitchen, fail_point, env, |_| service_env).await
    }

    /// Everything, with `kitchen_env` for the kitchen and, for the order service, the
    /// variables `service_env` makes knowing the kitchen (its ports), e.g. an `https://` target.
    pub async fn start_secured(
        kitchen_env: &[(&'static str, &str)],
        service_env: impl FnOnce(&Kitchen) -> Vec<(&'static str, String)>,
    ) -> Self {
        Self::start_with_envs(true, None, kitchen_env, |kitchen| {
            service_env(kitchen.expect("the stack has a kitchen"))
        })
        .await
    }

    async fn start_with_envs(
        with_kitchen: bool,
        fail_point: Option<(Bson, Document)>,
        env: &[(&'static str, &str)],
        service_env: impl FnOnce(Option<&Kitchen>) -> Vec<(&'static str, String)>,
    ) -> Self {
        let mongo = MongoTestServer::start()
            .unwrap_or_else(|error| panic!("cannot start the MongoDB-compatible server: {error}"));
        let client = Client::with_uri_str(mongo.uri())
            .await
            .expect("MongoDB client");
        let database = client.database(&unique_name("oms"));
        // The collection exists before the service watches it.
        database
            .create_collection(ORDERS)
            .await
            .expect("create the orders collection");
        let kitchen = with_kitchen.then(|| Kitchen::start_with(kitchen_binary(), env));
        let grpc_target = kitchen.as_ref().map_or_else(
            || format!("127.0.0.1:{}", free_port()),
            Kitchen::grpc_target,
        );
        let app_name = unique_name("oms");
        let fail_point_lock = match &fail_point {
            Some(_) => fail_point_lock(&mongo).await,
            None => None,
        };
        if let Some((mode, mut data)) = fail_point.clone() {
            data.insert("appName", &app_name);
            client
                .database("admin")
                .run_command(
                    doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data },
                )
                .await
                .expect("configureFailPoint (the server must allow test commands)");
        }
        let uri = mongo.uri_with_app_name(&app_name);
        let service_env = service_env(kitchen.as_ref());
        let service_env: Vec<(&'static str, &str)> = service_env
            .iter()
            .map(|(key, value)| (*key, value.as_str()))
            .collect();
        let service = if fail_point.is_some() {
            OrderService::launch(&uri, database.name(), &grpc_target).await
        } else {
            OrderService::start_with(&uri, database.name(), &grpc_target, &service_env).await
        };
        Self {
            mongo,
            client,
            database,
            app_name,
            kitchen,
            service,
            _fail_point_lock: fail_point_lock,
        }
    }

    pub fn kitchen(&self) -> &Kitchen {
        self.kitchen.as_ref().expect("the stack has a kitchen")
    }

    pub fn kitchen_mut(&mut self) -> &mut Kitchen {
        self.kitchen.as_mut().expect("the stack has a kitchen")
    }

    pub fn orders(&self) -> Collection<Document> {
        self.database.collection(ORDERS)
    }

    /// Inserts `document` and returns its `_id`.
    /// The stored checkpoint of the service.
    pub async fn checkpoint(&self) -> Option<Document> {
        self.database
            .collection::<Document>(CHECKPOINTS)
            .find_one(doc! { "_id": "order_management_service" })
            .await
            .expect("read the checkpoint")
    }

    pub async fn insert(&self, document: Document) -> Bson {
        self.orders()
            .insert_one(document)
            .await
            .expect("insert an order")
            .inserted_id
    }

    /// Inserts `count` valid orders one by one and returns their ids (24-hex), in order.
    pub async fn insert_numbered(&self, from: usize, count: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(count);
        for n in from..from + count {
            let id = self.insert(numbered_order(n)).await;
            ids.push(id.as_object_id().expect("an ObjectId").to_hex());
        }
        ids
    }

    /// A lock to hold while a test uses fail points on a server shared with other tests
    /// (`MONGO_TEST_URI`): the server has one `failCommand` fail point, so two tests setting it at
    /// once would overwrite each other. `None` on a server of the test's own.
    pub async fn exclusive_fail_points(&self) -> Option<tokio::sync::MutexGuard<'static, ()>> {
        fail_point_lock(&self.mongo).await
    }

    /// Turns on a `failCommand` fail point for the order service's connections only.
    pub async fn fail_commands(&self, mode: Bson, data: Document) {
        let mut data = data;
        data.insert("appName", &self.app_name);
        self.client
            .database("admin")
            .run_command(doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data })
            .await
            .expect("configureFailPoint (the server must allow test commands)");
    }

    /// Turns the `failCommand` fail point off.
    pub async fn fail_commands_off(&self) {
        self.client
            .database("admin")
            .run_command(doc! { "configureFailPoint": "failCommand", "mode": "off" })
            .await
            .expect("configureFailPoint off");
    }
}

async fn fail_point_lock(mongo: &MongoTestServer) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    static FAIL_POINT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    if mongo.is_external() {
        Some(FAIL_POINT.lock().await)
    } else {
        None
    }
}

/// A small valid order numbered `n`.
pub fn numbered_order(n: usize) -> Document {
    doc! {
        "OtterOrderId": format!("otter-{n}"),
        "BrandName": "Test Brand",
        "StationOrders": [
            { "OwnStationName": "Grill Station", "OrderItems": [ { "Name": "Burger", "Quantity": 1 } ] },
        ],
    }
}

/// The design document's test order.
pub fn design_test_order() -> Document {
    doc! {
        "OtterOrderId": "test-order-123",
        "BrandName": "Test Restaurant",
        "StationOrders": [
            {
                "OwnStationName": "Grill Station",
                "OrderItems": [
                    { "Name": "Burger", "Quantity": 2 },
                    { "Name": "Hot Dog", "Quantity": 1 },
                ],
            },
            {
                "OwnStationName": "Fryer Station",
                "OrderItems": [ { "Name": "French Fries", "Quantity": 3 } ],
            },
        ],
    }
}

/// Asserts that `delivered` holds every order of `expected` exactly once. In any order: orders
/// in flight together may be stored in either order (the README's "Order of delivery").
pub fn assert_each_once(delivered: &[String], expected: &[String]) {
    let sorted = |ids: &[String]| {
        let mut ids = ids.to_vec();
        ids.sort();
        ids
    };
    assert_eq!(
        sorted(delivered),
        sorted(expected),
        "every order exactly once"
    );
}

/// The order ids of SSE events.
pub fn event_order_ids(events: &[SseMessage]) -> Vec<String> {
    events.iter().map(event_order_id).collect()
}

/// The `order_id` of an SSE event's JSON data.
pub fn event_order_id(message: &SseMessage) -> String {
    let data: Value = serde_json::from_str(&message.data).expect("event data is JSON");
    data["order_id"].as_str().expect("order_id").to_owned()
}
