//! The pipeline secured: MongoDB insert -> the order service -> mutual TLS and a bearer token ->
//! the kitchen stores it; a wrong token is retried as an authentication problem and never
//! dead-letters an order; no secret reaches either service's log.

use crate::support::{
    DEAD_LETTER, KitchenChecks, Stack, assert_each_once, event_order_ids, eventually,
};
use mongodb::bson::{Document, doc};
use test_support::{Scraped, TestCa};

const GRPC_TOKEN: &str = "PIPELINE-GRPC-SECRET-5d1e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inserted_order_reaches_the_kitchen_over_mutual_tls_with_a_token_and_no_secret_is_logged()
 {
    let ca = TestCa::new("kitchen");
    let server = ca.server_cert("kitchen-server", &["localhost"]);
    let client = ca.client_cert("order-service");
    let (cert, key, ca_path) = (
        server.cert.display().to_string(),
        server.key.display().to_string(),
        ca.cert_path().display().to_string(),
    );
    let token_file = ca.dir().join("grpc-token");
    std::fs::write(&token_file, format!("{GRPC_TOKEN}\n")).unwrap();
    let token_file = token_file.display().to_string();
    let mut stack = Stack::start_secured(
        &[
            ("GRPC_TLS_CERT", cert.as_str()),
            ("GRPC_TLS_KEY", key.as_str()),
            ("GRPC_TLS_CLIENT_CA", ca_path.as_str()),
            ("GRPC_AUTH_TOKEN", GRPC_TOKEN),
            ("RUST_LOG", "debug"),
        ],
        |kitchen| {
            vec![
                (
                    "GRPC_TARGET",
                    format!("https://127.0.0.1:{}", kitchen.grpc_port),
                ),
                ("GRPC_TLS_DOMAIN", "localhost".to_owned()),
                ("GRPC_TLS_CA", ca_path.clone()),
                ("GRPC_TLS_CLIENT_CERT", client.cert.display().to_string()),
                ("GRPC_TLS_CLIENT_KEY", client.key.display().to_string()),
                ("GRPC_AUTH_TOKEN_FILE", token_file.clone()),
                ("RUST_LOG", "debug".to_owned()),
            ]
        },
    )
    .await;
    let ids = stack.insert_numbered(0, 3).await;
    let events = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&events), &ids);
    stack.kitchen().assert_printed_once(&ids).await;
    eventually("the service to log every acknowledgement", || async {
        let log = stack.service.log();
        ids.iter()
            .all(|id| crate::support::OrderService::sent_count(&log, id) == 1)
            .then_some(())
    })
    .await;

    assert_eq!(
        stack.service.process_mut().terminate(crate::support::WAIT),
        Some(0)
    );
    let kitchen_log = stack.kitchen().process().stderr();
    let service_log = stack.service.all_logs();
    assert!(
        service_log.iter().any(|line| line.contains("DEBUG")),
        "the order service logs at debug level"
    );
    assert!(
        service_log
            .iter()
            .any(|line| line.contains("tls=true") && line.contains("mutual_tls=true")),
        "the client says it uses mutual TLS"
    );
    for line in kitchen_log.iter().chain(&service_log) {
        assert!(!line.contains(GRPC_TOKEN), "the token is logged: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_grpc_token_is_retried_as_an_auth_problem_and_never_dead_lettered() {
    let mut stack = Stack::start_secured(&[("GRPC_AUTH_TOKEN", GRPC_TOKEN)], |_| {
        vec![("GRPC_AUTH_TOKEN", "PIPELINE-GRPC-SECRET-wrong".to_owned())]
    })
    .await;
    let ids = stack.insert_numbered(0, 3).await;
    let health = stack
        .service
        .wait_health(
            "delivery retrying on an authentication failure",
            |status, body| {
                status == 503
                    && body["listener"]["state"] == "retrying"
                    && body["listener"]["attempt"].as_u64().is_some_and(|n| n >= 3)
                    && body["listener"]["reason"]
                        .as_str()
                        .is_some_and(|reason| reason.contains("UNAUTHENTICATED"))
            },
        )
        .await;
    assert!(
        health["listener"]["reason"]
            .as_str()
            .unwrap()
            .contains("GRPC_AUTH_TOKEN"),
        "{health}"
    );
    assert!(
        stack.service.log().iter().any(|line| line.contains("WARN")
            && line.contains("order not delivered, retrying")
            && line.contains("UNAUTHENTICATED")),
        "the retry is logged as an authentication problem"
    );
    let dead_letters = stack
        .database
        .collection::<Document>(DEAD_LETTER)
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(dead_letters, 0, "nothing dead-lettered");
    let kitchen = Scraped::fetch(&stack.kitchen().url("/metrics"))
        .await
        .unwrap();
    assert_eq!(
        kitchen.value("kitchen_orders_received_total", &[]),
        Some(0.0),
        "no call reached the kitchen's handler"
    );
    assert_eq!(stack.kitchen().printed_orders(), 0);

    // With the token corrected, every order arrives, once.
    stack.service.kill();
    stack.service.set_env("GRPC_AUTH_TOKEN", GRPC_TOKEN);
    stack.service.spawn().await;
    let events = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&events), &ids);
    stack.kitchen().assert_printed_once(&ids).await;
    for line in stack
        .kitchen()
        .process()
        .stderr()
        .iter()
        .chain(&stack.service.all_logs())
    {
        assert!(!line.contains("SECRET"), "a token is logged: {line}");
    }
}
