//! Start-up failures give one clear error and a non-zero exit; a healthy start serves gRPC
//! health.

mod common;

use common::{BINARY, WAIT, start};
use test_support::{ServiceProcess, free_port};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn run_to_exit(env: &[(&str, String)]) -> (Option<i32>, Vec<String>) {
    let mut process = ServiceProcess::spawn(BINARY, &[], env).expect("spawn");
    let code = process
        .wait_exit(WAIT)
        .expect("the service should exit by itself");
    // The output threads may still be draining the pipes.
    process.wait_for_stderr(|lines| !lines.is_empty(), WAIT);
    (code, process.stderr())
}

#[test]
fn an_unreachable_database_is_one_error_line_and_exit_code_one() {
    let closed_port = free_port();
    let (code, stderr) = run_to_exit(&[
        (
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{closed_port}/kitchen"),
        ),
        ("DATABASE_CONNECT_TIMEOUT_SECS", "1".into()),
        ("RUST_LOG", "off".into()),
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(
        stderr[0].starts_with("error: cannot connect to PostgreSQL at 127.0.0.1:"),
        "{stderr:?}"
    );
}

#[test]
fn a_bad_setting_names_the_setting_and_fails() {
    let (code, stderr) = run_to_exit(&[("GRPC_ADDR", "not-an-address".into())]);
    assert_eq!(code, Some(2));
    assert!(stderr[0].starts_with("error:"), "{stderr:?}");
    assert!(stderr[0].contains("--grpc-addr"), "{stderr:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grpc_health_service_reports_the_order_service_serving() {
    let kitchen = start();
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", kitchen.grpc_port))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut health = HealthClient::new(channel);
    // Serving once the database has answered the probe and the tailer its first read.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let response = health
            .check(HealthCheckRequest {
                service: "order_service.v1.OrderService".into(),
            })
            .await
            .unwrap()
            .into_inner();
        if response.status() == ServingStatus::Serving {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {:?}",
            response.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
