//! What the kitchen reports about itself: one state per component (the database, the writer,
//! the tailer), served at `GET /health` and as the gRPC health of the order service.

use serde::Serialize;
use shared_patterns::{HealthReporter, HealthWatch, ServiceState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One component's state, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    name: &'static str,
    reporter: HealthReporter,
    /// When it last reported a failure.
    last_failure: Arc<Mutex<Option<Instant>>>,
}

impl Component {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            reporter: HealthReporter::new().0,
            last_failure: Arc::default(),
        }
    }

    pub(crate) fn healthy(&self) {
        self.reporter.healthy();
    }

    pub(crate) fn failing(&self, reason: String) {
        *self.last_failure.lock().expect("health lock") = Some(Instant::now());
        self.reporter
            .set(ServiceState::Retrying { reason, attempt: 0 });
    }

    /// How long ago it last reported a failure, if it is failing now.
    fn failing_for(&self) -> Option<Duration> {
        let failing = matches!(self.watch().current(), ServiceState::Retrying { .. });
        let last_failure = *self.last_failure.lock().expect("health lock");
        last_failure.filter(|_| failing).map(|at| at.elapsed())
    }

    pub(crate) fn stopped(&self, reason: String) {
        self.reporter.set(ServiceState::Stopped { reason });
    }

    /// A guard that reports the component stopped if it is dropped while a task unwinds from a
    /// panic: hold it for the task's life.
    pub(crate) fn stopped_on_panic(&self, what: &'static str) -> StoppedOnPanic {
        StoppedOnPanic {
            component: self.clone(),
            what,
        }
    }

    pub(crate) fn watch(&self) -> HealthWatch {
        self.reporter.watch()
    }
}

/// See [`Component::stopped_on_panic`].
pub(crate) struct StoppedOnPanic {
    component: Component,
    what: &'static str,
}

impl Drop for StoppedOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.component
                .stopped(format!("{} panicked; restart the service", self.what));
        }
    }
}

/// Every component of the kitchen.
#[derive(Debug, Clone)]
pub(crate) struct KitchenHealth {
    pub(crate) database: Component,
    pub(crate) writer: Component,
    pub(crate) tailer: Component,
    /// The process itself: healthy once its servers run, stopped from the shutdown request on,
    /// so that health turns away new work while the in-flight work finishes.
    pub(crate) service: Component,
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
            service: Component::new("service"),
        }
    }

    fn components(&self) -> [&Component; 4] {
        [&self.database, &self.writer, &self.tailer, &self.service]
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

/// A writer that failed stays reported failing this long, unless a batch succeeds meanwhile;
/// then a write probe decides. Under steady traffic a persistent failure (disk full, a read-only
/// database) therefore never shows as serving, and without traffic it clears once writes work.
const WRITER_FAILURE_HOLD: Duration = Duration::from_secs(10);

/// Checks the database every `interval` until `shutdown`: a database that stops answering turns
/// the kitchen unhealthy within `interval` plus the store's time limit. While the writer reports
/// failing, it also checks, after [`WRITER_FAILURE_HOLD`], that the database accepts writes.
pub(crate) async fn probe_database(
    store: crate::store::OrderStore,
    health: KitchenHealth,
    instance: String,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        match store.probe().await {
            Ok(()) => health.database.healthy(),
            Err(error) => {
                tracing::warn!(%error, "the database probe failed");
                health.database.failing(format!("probe failed: {error}"));
            }
        }
        if health
            .writer
            .failing_for()
            .is_some_and(|failing_for| failing_for >= WRITER_FAILURE_HOLD)
        {
            match store.write_probe(&instance).await {
                Ok(()) => health.writer.healthy(),
                Err(error) => {
                    tracing::warn!(%error, "the database does not accept writes");
                    health
                        .writer
                        .failing(format!("the database does not accept writes: {error}"));
                }
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
    fn a_failure_is_timed_until_the_component_recovers() {
        let component = Component::new("writer");
        assert_eq!(component.failing_for(), None);
        component.failing("disk full".into());
        assert!(component.failing_for().is_some());
        component.healthy();
        assert_eq!(component.failing_for(), None);
    }

    #[test]
    fn the_kitchen_serves_only_when_every_component_is_healthy() {
        let health = KitchenHealth::new();
        assert!(!health.serving(), "starting is not serving");
        health.database.healthy();
        health.writer.healthy();
        health.tailer.healthy();
        assert!(!health.serving(), "not before its servers run");
        health.service.healthy();
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
        health.tailer.healthy();
        health.service.stopped("shutting down".into());
        assert!(!health.serving(), "not once it is stopping");
    }
}
