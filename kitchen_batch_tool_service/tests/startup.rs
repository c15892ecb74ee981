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

/// The runtime's workers follow the CPUs the process may use (here its affinity, set with
/// `taskset`; a cgroup's CPU quota counts the same way), unless `WORKER_THREADS` says otherwise.
#[test]
fn worker_threads_follow_the_cpus_available_unless_configured() {
    let unreachable = format!("postgres://postgres@127.0.0.1:{}/kitchen", free_port());
    let started_with = |program: &str, args: &[&str], workers: Option<&str>| {
        let mut env = vec![
            ("DATABASE_URL", unreachable.clone()),
            ("DATABASE_CONNECT_TIMEOUT_SECS", "1".to_owned()),
            ("RUST_LOG", "info".to_owned()),
            ("NO_COLOR", "1".to_owned()),
        ];
        if let Some(workers) = workers {
            env.push(("WORKER_THREADS", workers.to_owned()));
        }
        let mut process = ServiceProcess::spawn(program, args, &env).expect("spawn");
        process.wait_exit(WAIT).expect("exits: no database");
        process.wait_for_stderr(|lines| lines.iter().any(|l| l.starts_with("error:")), WAIT);
        let log = process.stderr();
        log.iter()
            .find(|line| line.contains("starting the runtime"))
            .unwrap_or_else(|| panic!("no runtime line in {log:?}"))
            .clone()
    };
    let one_cpu = started_with("taskset", &["-c", "0", BINARY], None);
    assert!(one_cpu.contains("worker_threads=1 "), "{one_cpu}");
    let configured = started_with("taskset", &["-c", "0", BINARY], Some("3"));
    assert!(configured.contains("worker_threads=3 "), "{configured}");
    assert!(configured.contains("WORKER_THREADS"), "{configured}");
}

#[test]
fn a_bad_setting_names_the_setting_and_fails() {
    let (code, stderr) = run_to_exit(&[("GRPC_ADDR", "not-an-address".into())]);
    assert_eq!(code, Some(2));
    assert!(stderr[0].starts_with("error:"), "{stderr:?}");
    assert!(stderr[0].contains("--grpc-addr"), "{stderr:?}");
}

/// A gRPC health client connected to `kitchen`.
async fn health_client(kitchen: &test_support::Kitchen) -> HealthClient<tonic::transport::Channel> {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", kitchen.grpc_port))
            .unwrap()
            .connect()
            .await
            .unwrap();
    HealthClient::new(channel)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grpc_health_service_reports_the_order_service_serving() {
    let kitchen = start();
    let mut health = health_client(&kitchen).await;
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

/// SIGTERM: gRPC health turns NOT_SERVING before the servers stop, a connected
/// screen's stream ends with a retry hint (so its EventSource reconnects rather than give up),
/// and the process exits 0 within its bound.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_turns_health_away_ends_streams_with_a_retry_hint_and_exits_zero() {
    let mut kitchen = common::start_with(&[("SHUTDOWN_TIMEOUT_SECS", "3")]);
    let mut watch = health_client(&kitchen)
        .await
        .watch(HealthCheckRequest {
            service: "order_service.v1.OrderService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let serving = tokio::time::timeout(WAIT, async {
        while let Ok(Some(update)) = watch.message().await {
            if update.status() == ServingStatus::Serving {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(serving, Ok(true), "serving before the signal");
    kitchen
        .client()
        .send_order(common::numbered_order("before"))
        .await
        .unwrap();
    let screen = kitchen.events("", None).await;

    let started = std::time::Instant::now();
    assert!(kitchen.process().signal("TERM"));
    let next = tokio::time::timeout(WAIT, watch.message())
        .await
        .expect("an update");
    let status = next
        .unwrap()
        .expect("an update before the stream ends")
        .status();
    assert_eq!(status, ServingStatus::NotServing);

    let end = screen.end(WAIT).await.expect("the stream ends");
    assert!(
        end.retries >= 2 && end.retry.is_some(),
        "a retry hint at the start and one at the end: {end:?}"
    );
    let log = kitchen.process().stderr();
    assert!(
        log.iter().any(|line| line.contains("shutting down")),
        "{log:?}"
    );
    let code = kitchen.terminate(WAIT);
    assert_eq!(code, Some(0), "a clean exit");
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(8),
        "SIGTERM took {took:?} with a 3 s bound"
    );
}
