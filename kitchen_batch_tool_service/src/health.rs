//! What the kitchen reports about itself: one state per component (the database, the writer,
//! the tailer), served at `GET /health` and as the gRPC health of the order service.

use serde::Serialize;
use shared_patterns::{HealthReporter, HealthWatch, ServiceState};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One component's state, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    name: &'static str,
    reporter: HealthReporter,
}

impl Component {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            reporter: HealthReporter::new().0,
        }
    }

    pub(crate) fn healthy(&self) {
        self.reporter.healthy();
    }

    pub(crate) fn failing(&self, reason: String) {
        self.reporter
            .set(ServiceState::Retrying { reason, attempt: 0 });
    }

    pub(crate) fn stopped(&self, reason: String) {
        self.reporter.set(ServiceState::Stopped { reason });
    }

    fn watch(&self) -> HealthWatch {
        self.reporter.watch()
    }
}

/// Every component of the kitchen.
#[derive(Debug, Clone)]
pub(crate) struct KitchenHealth {
    pub(crate) database: Component,
    pub(crate) writer: Component,
    pub(crate) tailer: Component,
}

/// `GET /health`'s body.
#[derive(Debug, Serialize)]
pub(crate) struct HealthReport {
    pub(crate) status: &'static str,
    pub(crate) components: Vec<ComponentReport>,
    /// The tailer's position: the last event id published to screens.
    pub(crate) position: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct ComponentReport {
    pub(crate) name: &'static str,
    pub(crate) state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

impl KitchenHealth {
    pub(crate) fn new() -> Self {
        Self {
            database: Component::new("database"),
            writer: Component::new("writer"),
            tailer: Component::new("tailer"),
        }
    }

    fn components(&self) -> [&Component; 3] {
        [&self.database, &self.writer, &self.tailer]
    }

    /// Whether every component is healthy: the kitchen can store and show orders.
    pub(crate) fn serving(&self) -> bool {
        self.components()
            .iter()
            .all(|component| component.watch().current().is_healthy())
    }

    pub(crate) fn report(&self, position: i64) -> HealthReport {
        HealthReport {
            status: if self.serving() { "ok" } else { "unavailable" },
            components: self
                .components()
                .iter()
                .map(|component| {
                    let state = component.watch().current();
                    ComponentReport {
                        name: component.name,
                        state: state.name(),
                        reason: state.reason().map(str::to_owned),
                    }
                })
                .collect(),
            position,
        }
    }

    /// Keeps `serving` equal to [`Self::serving`] until `shutdown`.
    pub(crate) async fn publish_serving(
        self,
        serving: watch::Sender<bool>,
        shutdown: CancellationToken,
    ) {
        let mut watches: Vec<HealthWatch> = self
            .components()
            .iter()
            .map(|component| component.watch())
            .collect();
        loop {
            serving.send_if_modified(|current| {
                let now = self.serving();
                let changed = *current != now;
                *current = now;
                changed
            });
            let changes = watches.iter_mut().map(|watch| Box::pin(watch.changed()));
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = futures::future::select_all(changes) => {}
            }
        }
    }
}

/// Checks the database every `interval` until `shutdown`: a database that stops answering turns
/// the kitchen unhealthy within `interval` plus the store's time limit.
pub(crate) async fn probe_database(
    store: crate::store::OrderStore,
    database: Component,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        match store.probe().await {
            Ok(()) => database.healthy(),
            Err(error) => {
                tracing::warn!(%error, "the database probe failed");
                database.failing(format!("probe failed: {error}"));
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kitchen_serves_only_when_every_component_is_healthy() {
        let health = KitchenHealth::new();
        assert!(!health.serving(), "starting is not serving");
        health.database.healthy();
        health.writer.healthy();
        health.tailer.healthy();
        assert!(health.serving());
        health
            .tailer
            .failing("reading the event log failed: timeout".into());
        assert!(!health.serving());
        let report = health.report(42);
        assert_eq!(report.status, "unavailable");
        let tailer = &report.components[2];
        assert_eq!((tailer.name, tailer.state), ("tailer", "retrying"));
        assert!(tailer.reason.as_deref().unwrap().contains("timeout"));
        assert_eq!(report.position, 42);
    }
}
