//! Long-running tasks that run until cancelled and report their health.

use crate::health::{HealthReporter, HealthWatch, ServiceState};
use std::future::Future;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A long-running task: a change-stream listener, a queue consumer, a periodic job.
///
/// `run` owns the service's whole life: it does its work until `cancel` is cancelled (then it
/// returns `Ok(())`), reports what it is doing through `health`, and retries transient failures
/// itself. It returns an error only for a failure it cannot recover from.
pub trait BackgroundService: Send + 'static {
    /// The unrecoverable failure `run` may end with.
    type Error: std::error::Error + Send + Sync + 'static;

    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// Runs until cancelled or until an unrecoverable failure.
    fn run(
        self,
        health: HealthReporter,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// A running background service: its health, and a way to stop it and wait for it.
#[derive(Debug)]
pub struct ServiceHandle<E> {
    health: HealthWatch,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), E>>,
}

/// Spawns `service` on the Tokio runtime. It stops when `cancel` (or a parent of it) is cancelled;
/// its final state (stopped, and why) is reported through the handle's health.
pub fn spawn_background_service<S: BackgroundService>(
    service: S,
    cancel: CancellationToken,
) -> ServiceHandle<S::Error> {
    let (reporter, health) = HealthReporter::new();
    let name = service.name();
    let task_cancel = cancel.clone();
    let task = tokio::spawn(async move {
        tracing::info!(service = name, "background service started");
        let result = service.run(reporter.clone(), task_cancel).await;
        match &result {
            Ok(()) => {
                tracing::info!(service = name, "background service stopped");
                reporter.set(ServiceState::Stopped {
                    reason: "shut down".into(),
                });
            }
            Err(error) => {
                tracing::error!(service = name, error = %error, "background service failed");
                reporter.set(ServiceState::Stopped {
                    reason: error.to_string(),
                });
            }
        }
        result
    });
    ServiceHandle {
        health,
        cancel,
        task,
    }
}

impl<E> ServiceHandle<E> {
    /// A watch on the service's health.
    pub fn health(&self) -> HealthWatch {
        self.health.clone()
    }

    /// Asks the service to stop, without waiting.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the service to end and returns its result.
    pub async fn join(self) -> Result<(), JoinError<E>> {
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(JoinError::Failed(error)),
            Err(join_error) => Err(JoinError::Panicked(join_error.to_string())),
        }
    }
}

/// Why a background service ended other than by being cancelled.
#[derive(Debug, thiserror::Error)]
pub enum JoinError<E> {
    /// The service returned an unrecoverable error.
    #[error("background service failed: {0}")]
    Failed(E),
    /// The service's task panicked.
    #[error("background service panicked: {0}")]
    Panicked(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Ticker;

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    impl BackgroundService for Ticker {
        type Error = Never;
        fn name(&self) -> &'static str {
            "ticker"
        }
        async fn run(
            self,
            health: HealthReporter,
            cancel: CancellationToken,
        ) -> Result<(), Self::Error> {
            health.healthy();
            cancel.cancelled().await;
            Ok(())
        }
    }

    struct Broken;

    #[derive(Debug, thiserror::Error)]
    #[error("history lost")]
    struct HistoryLost;

    impl BackgroundService for Broken {
        type Error = HistoryLost;
        fn name(&self) -> &'static str {
            "broken"
        }
        async fn run(self, _: HealthReporter, _: CancellationToken) -> Result<(), Self::Error> {
            Err(HistoryLost)
        }
    }

    #[tokio::test]
    async fn runs_until_cancelled_and_reports_stopped() {
        let handle = spawn_background_service(Ticker, CancellationToken::new());
        let mut health = handle.health();
        let healthy = tokio::time::timeout(
            Duration::from_secs(5),
            health.wait_for(ServiceState::is_healthy),
        );
        assert_eq!(healthy.await.unwrap(), Some(ServiceState::Healthy));
        handle.cancel();
        handle.join().await.unwrap();
        assert_eq!(health.current().name(), "stopped");
    }

    #[tokio::test]
    async fn an_unrecoverable_error_stops_the_service_with_its_reason() {
        let handle = spawn_background_service(Broken, CancellationToken::new());
        let health = handle.health();
        let result = handle.join().await;
        assert!(matches!(result, Err(JoinError::Failed(HistoryLost))));
        assert_eq!(
            health.current(),
            ServiceState::Stopped {
                reason: "history lost".into()
            }
        );
    }
}
