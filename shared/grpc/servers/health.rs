//! The standard gRPC health service, reporting one service as its owner says.

use tokio::sync::watch;
use tonic::server::NamedService;
use tonic_health::pb::health_server::{Health, HealthServer};

/// A gRPC health service reporting `S` `SERVING` while `serving` holds true, `NOT_SERVING`
/// otherwise, and `NOT_SERVING` for good once the sender is dropped (the owner is stopping).
pub(crate) fn health_service_following<S: NamedService>(
    mut serving: watch::Receiver<bool>,
) -> HealthServer<impl Health> {
    let (reporter, service) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        loop {
            let now_serving = *serving.borrow_and_update();
            if now_serving {
                reporter.set_serving::<S>().await;
            } else {
                reporter.set_not_serving::<S>().await;
            }
            if serving.changed().await.is_err() {
                reporter.set_not_serving::<S>().await;
                return;
            }
        }
    });
    service
}
