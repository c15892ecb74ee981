//! Security, end to end on the real binary over real sockets: TLS and mutual TLS on gRPC, the
//! gRPC bearer token, the screen token on HTTP, request size limits, and no secret in the logs.
//! The certificates are made by the test (rcgen); no key is committed.

mod common;

use common::{Kitchen, order_of, start_with};
use grpc_clients::{ClientSecurity, ClientTls, OrderClient, SendError};
use order_service_proto::limits::MAX_VALID_ORDER_BYTES;
use shared_utils::secret::Secret;
use std::time::Duration;
use test_support::{CertFiles, Scraped, TestCa};

const DEADLINE: Duration = Duration::from_secs(10);

/// A client of `kitchen` over TLS, checking the server's certificate against `ca` and the name
/// `domain` (the target is an IP address).
fn tls_client(
    kitchen: &Kitchen,
    ca: &TestCa,
    domain: &str,
    identity: Option<&CertFiles>,
    token: Option<&str>,
) -> OrderClient {
    let tls = ClientTls::from_files(
        Some(&ca.cert_path()),
        identity.map(|files| files.cert.as_path()),
        identity.map(|files| files.key.as_path()),
        Some(domain.to_owned()),
    )
    .expect("read the client's TLS files");
    let security = ClientSecurity {
        tls: Some(tls),
        auth_token: token.map(Secret::new),
    };
    grpc_clients::initialize_secure_order_client(
        &format!("https://127.0.0.1:{}", kitchen.grpc_port),
        DEADLINE,
        &security,
    )
    .expect("client")
}

/// A plain-text client sending `token`, if any.
fn token_client(kitchen: &Kitchen, token: Option<&str>) -> OrderClient {
    let security = ClientSecurity {
        tls: None,
        auth_token: token.map(Secret::new),
    };
    grpc_clients::initialize_secure_order_client(&kitchen.grpc_target(), DEADLINE, &security)
        .expect("client")
}

fn order(id: &str) -> order_service_proto::order_service::v1::OrderRequest {
    order_of(id, "Secure Brand", 1, &[("Burger", "Grill Station", 1)])
}

/// `GET path` on the kitchen with `headers`: the status and the body.
async fn get(kitchen: &Kitchen, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(kitchen.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("an HTTP answer")
}

/// Whether the kitchen has the order (its screen API answers 200 for it, 404 otherwise).
async fn stored(kitchen: &Kitchen, order_id: &str, headers: &[(&str, &str)]) -> bool {
    let response = get(kitchen, &format!("/api/orders/{order_id}"), headers).await;
    match response.status().as_u16() {
        200 => true,
        404 => false,
        other => panic!("GET /api/orders/{order_id}: {other}"),
    }
}

async fn orders_received(kitchen: &Kitchen) -> f64 {
    Scraped::fetch(&kitchen.url("/metrics"))
        .await
        .expect("scrape")
        .value("kitchen_orders_received_total", &[])
        .unwrap_or(0.0)
}

fn tls_env(server: &CertFiles) -> Vec<(&'static str, String)> {
    vec![
        ("GRPC_TLS_CERT", server.cert.display().to_string()),
        ("GRPC_TLS_KEY", server.key.display().to_string()),
    ]
}

fn as_env<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_accepts_orders_and_refuses_a_wrong_ca_a_wrong_name_and_plain_text() {
    let ca = TestCa::new("kitchen");
    let server = ca.server_cert("kitchen-server", &["localhost"]);
    let kitchen = start_with(&as_env(&tls_env(&server)));

    let answer = tls_client(&kitchen, &ca, "localhost", None, None)
        .send_order(order("tls-ok"))
        .await
        .expect("an order over TLS is accepted");
    assert!(answer.success, "{answer:?}");
    assert!(stored(&kitchen, "tls-ok", &[]).await);

    let other_ca = TestCa::new("other");
    let refused: [(&str, OrderClient); 3] = [
        (
            "a CA the server's certificate does not chain to",
            tls_client(&kitchen, &other_ca, "localhost", None, None),
        ),
        (
            "a server name the certificate does not carry",
            tls_client(&kitchen, &ca, "kitchen.invalid", None, None),
        ),
        ("plain text", token_client(&kitchen, None)),
    ];
    for (n, (what, client)) in refused.into_iter().enumerate() {
        let id = format!("tls-refused-{n}");
        let error = client
            .send_order(order(&id))
            .await
            .expect_err(&format!("refused with {what}"));
        // Never a rejection, which would dead-letter the order: the sender retries.
        assert!(
            !matches!(error, SendError::Rejected(_)),
            "{what}: {error:?}"
        );
        assert!(!stored(&kitchen, &id, &[]).await, "{what}");
    }
    assert_eq!(orders_received(&kitchen).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_clients_without_a_certificate_or_with_one_from_another_ca() {
    let ca = TestCa::new("kitchen");
    let server = ca.server_cert("kitchen-server", &["localhost"]);
    let clients = TestCa::new("clients");
    let mut env = tls_env(&server);
    env.push((
        "GRPC_TLS_CLIENT_CA",
        clients.cert_path().display().to_string(),
    ));
    let kitchen = start_with(&as_env(&env));

    let good = clients.client_cert("order-service");
    tls_client(&kitchen, &ca, "localhost", Some(&good), None)
        .send_order(order("mtls-ok"))
        .await
        .expect("a client with a certificate from the client CA is accepted");
    assert!(stored(&kitchen, "mtls-ok", &[]).await);

    let stranger_ca = TestCa::new("stranger");
    let stranger = stranger_ca.client_cert("order-service");
    for (id, identity) in [("mtls-none", None), ("mtls-stranger", Some(&stranger))] {
        let error = tls_client(&kitchen, &ca, "localhost", identity, None)
            .send_order(order(id))
            .await
            .expect_err(id);
        assert!(!matches!(error, SendError::Rejected(_)), "{id}: {error:?}");
        assert!(!stored(&kitchen, id, &[]).await, "{id}");
    }
    assert_eq!(orders_received(&kitchen).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_grpc_token_is_unauthenticated_and_nothing_is_stored() {
    let token_file = tempfile::NamedTempFile::new().expect("a token file");
    std::fs::write(token_file.path(), "grpc-token-from-file\n").expect("write the token");
    let path = token_file.path().display().to_string();
    let kitchen = start_with(&[("GRPC_AUTH_TOKEN_FILE", path.as_str())]);

    for (id, token) in [
        ("token-missing", None),
        ("token-wrong", Some("grpc-token-from-fil")),
        ("token-longer", Some("grpc-token-from-file-and-more")),
    ] {
        let error = token_client(&kitchen, token)
            .send_order(order(id))
            .await
            .expect_err(id);
        assert!(
            matches!(error, SendError::Unauthenticated(_)),
            "{id}: {error:?}"
        );
        assert!(error.is_transient(), "never a rejection: {error:?}");
        assert!(!stored(&kitchen, id, &[]).await, "{id}");
    }
    assert_eq!(
        orders_received(&kitchen).await,
        0.0,
        "no call reached the handler"
    );
    assert!(
        kitchen.stdout().iter().all(|line| !line.contains("token-")),
        "nothing printed"
    );

    token_client(&kitchen, Some("grpc-token-from-file"))
        .send_order(order("token-right"))
        .await
        .expect("the right token is accepted");
    assert!(stored(&kitchen, "token-right", &[]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_token_guards_the_page_the_stream_and_the_api_but_not_the_probes() {
    let kitchen = start_with(&[("SCREEN_TOKEN", "screen-token-1")]);
    let bearer = [("authorization", "Bearer screen-token-1")];

    for path in [
        "/",
        "/day",
        "/screen/js/main.js",
        "/api/tickets",
        "/orders/events",
    ] {
        let response = get(&kitchen, path, &[]).await;
        assert_eq!(response.status(), 401, "{path} without the token");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value =
            serde_json::from_str(&response.text().await.unwrap()).expect("a JSON error");
        assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
        let wrong = get(
            &kitchen,
            path,
            &[("authorization", "Bearer screen-token-2")],
        )
        .await;
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        let wrong = get(&kitchen, &format!("{path}?token=screen-token"), &[]).await;
        assert_eq!(wrong.status(), 401, "{path} with a wrong ?token=");
    }
    let post = reqwest::Client::new()
        .post(kitchen.url("/api/batches/bump"))
        .body(r#"{"station": "Grill Station", "item": "Burger"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401, "a bump without the token");

    for path in ["/", "/api/tickets"] {
        assert_eq!(get(&kitchen, path, &bearer).await.status(), 200, "{path}");
    }
    let events = get(&kitchen, "/orders/events", &bearer).await;
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    drop(events);

    // The page opened with ?token= sets the cookie that the page's own calls then carry.
    let page = get(&kitchen, "/?token=screen-token-1", &[]).await;
    assert_eq!(page.status(), 200);
    let set_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(
        !set_cookie.contains("screen-token-1"),
        "the cookie is not the token: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let with_cookie = [("cookie", cookie.as_str())];
    for path in ["/screen/js/main.js", "/api/tickets", "/day"] {
        assert_eq!(
            get(&kitchen, path, &with_cookie).await.status(),
            200,
            "{path}"
        );
    }
    let events = get(&kitchen, "/orders/events?last_event_id=0", &with_cookie).await;
    assert_eq!(events.status(), 200, "the stream with the cookie");
    drop(events);
    let forged = [("cookie", "kitchen_screen_token=0000")];
    assert_eq!(get(&kitchen, "/api/tickets", &forged).await.status(), 401);

    for path in ["/ping", "/health", "/metrics"] {
        assert_eq!(
            get(&kitchen, path, &[]).await.status(),
            200,
            "{path} is open"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_and_grpc_messages_over_their_limits_are_refused() {
    let max_message = MAX_VALID_ORDER_BYTES.to_string();
    let kitchen = start_with(&[
        ("HTTP_MAX_BODY_BYTES", "2048"),
        ("GRPC_MAX_MESSAGE_BYTES", max_message.as_str()),
    ]);
    let big_body = format!(r#"{{"station": "{}", "item": "Burger"}}"#, "x".repeat(4096));
    let response = reqwest::Client::new()
        .post(kitchen.url("/api/batches/bump"))
        .body(big_body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // The largest valid order passes the limit (the store refuses its item count, not its size);
    // a message over it is refused before it is decoded.
    let mut huge = order("too-big");
    huge.order_items = (0..700)
        .map(|_| test_support::fixtures::item(&"n".repeat(256), &"s".repeat(256), 1))
        .collect();
    let error = token_client(&kitchen, None)
        .send_order(huge)
        .await
        .expect_err("too large");
    let SendError::Rejected(message) = &error else {
        panic!("a rejection: {error:?}");
    };
    assert!(message.contains("message length too large"), "{message}");
    assert_eq!(orders_received(&kitchen).await, 0.0);
    token_client(&kitchen, None)
        .send_order(order("small"))
        .await
        .expect("a normal order passes");
}

/// The secrets are set, the service logs at debug level, and is exercised with wrong and right
/// tokens: neither secret appears in what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_even_at_debug_level() {
    const GRPC_TOKEN: &str = "GRPC-SECRET-MARKER-7f3a";
    const SCREEN_TOKEN: &str = "SCREEN-SECRET-MARKER-91c2";
    let mut kitchen = start_with(&[
        ("RUST_LOG", "debug"),
        ("GRPC_AUTH_TOKEN", GRPC_TOKEN),
        ("SCREEN_TOKEN", SCREEN_TOKEN),
    ]);
    let error = token_client(&kitchen, Some("GRPC-SECRET-MARKER-wrong"))
        .send_order(order("log-wrong"))
        .await
        .expect_err("a wrong token");
    assert!(matches!(error, SendError::Unauthenticated(_)), "{error:?}");
    token_client(&kitchen, Some(GRPC_TOKEN))
        .send_order(order("log-right"))
        .await
        .expect("the right token");
    assert_eq!(
        get(
            &kitchen,
            "/api/tickets?token=SCREEN-SECRET-MARKER-wrong",
            &[]
        )
        .await
        .status(),
        401
    );
    let page = get(&kitchen, &format!("/?token={SCREEN_TOKEN}"), &[]).await;
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie_value = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .unwrap();
    let bearer = format!("Bearer {SCREEN_TOKEN}");
    assert_eq!(
        get(&kitchen, "/api/tickets", &[("authorization", &bearer)])
            .await
            .status(),
        200
    );
    assert!(kitchen.wait_printed(&["log-right"]));
    let help = std::process::Command::new(common::BINARY)
        .arg("--help")
        .env("GRPC_AUTH_TOKEN", GRPC_TOKEN)
        .env("SCREEN_TOKEN", SCREEN_TOKEN)
        .output()
        .expect("--help");
    assert_eq!(kitchen.terminate(common::WAIT), Some(0));

    let stderr = kitchen.stderr();
    assert!(
        stderr.iter().any(|line| line.contains("DEBUG")),
        "the log is at debug level"
    );
    assert!(
        stderr
            .iter()
            .any(|line| line.contains("missing or wrong bearer token")),
        "the refusal is logged"
    );
    let mut written = kitchen.stdout();
    written.extend(stderr);
    written.push(String::from_utf8_lossy(&help.stdout).into_owned());
    written.push(String::from_utf8_lossy(&help.stderr).into_owned());
    for secret in [GRPC_TOKEN, SCREEN_TOKEN, &cookie_value, "SECRET-MARKER"] {
        let leaks: Vec<&String> = written
            .iter()
            .filter(|line| line.contains(secret))
            .collect();
        assert!(leaks.is_empty(), "{secret} written: {leaks:#?}");
    }
}
