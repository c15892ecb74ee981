//! The health a background service reports, and a view of it for health endpoints.

use std::fmt;
use tokio::sync::watch;

/// What a background service is doing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// Started, not yet doing its work.
    Starting,
    /// Doing its work.
    Healthy,
    /// Failed and waiting to try again.
    Retrying {
        /// Why the last attempt failed.
        reason: String,
        /// Failures in a row so far.
        attempt: u32,
    },
    /// No longer running, and why. A stop caused by an error needs an operator.
    Stopped {
        /// Why the service stopped.
        reason: String,
    },
}

impl ServiceState {
    /// Whether the service is doing its work.
    pub fn is_healthy(&self) -> bool {
        matches!(self, Self::Healthy)
    }

    /// A short lower-case name for the state: `starting`, `healthy`, `retrying` or `stopped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Retrying { .. } => "retrying",
            Self::Stopped { .. } => "stopped",
        }
    }

    /// Why the service is not healthy, if it is not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Retrying { reason, .. } | Self::Stopped { reason } => Some(reason),
            Self::Starting | Self::Healthy => None,
        }
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "{}: {reason}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// The writing side: the service reports its state through it.
#[derive(Debug, Clone)]
pub struct HealthReporter {
    sender: watch::Sender<ServiceState>,
}

/// The reading side: health endpoints and tests read the latest state or wait for a change.
#[derive(Debug, Clone)]
pub struct HealthWatch {
    receiver: watch::Receiver<ServiceState>,
}

impl HealthReporter {
    /// A reporter in the [`ServiceState::Starting`] state, with a watch on it.
    pub fn new() -> (Self, HealthWatch) {
        let (sender, receiver) = watch::channel(ServiceState::Starting);
        (Self { sender }, HealthWatch { receiver })
    }

    /// Reports a new state.
    pub fn set(&self, state: ServiceState) {
        self.sender.send_replace(state);
    }

    /// Reports [`ServiceState::Healthy`] unless that is already the state.
    pub fn healthy(&self) {
        self.sender.send_if_modified(|state| {
            let changed = !state.is_healthy();
            *state = ServiceState::Healthy;
            changed
        });
    }

    /// The state last reported.
    pub fn current(&self) -> ServiceState {
        self.sender.borrow().clone()
    }

    /// A new watch on this reporter's state.
    pub fn watch(&self) -> HealthWatch {
        HealthWatch {
            receiver: self.sender.subscribe(),
        }
    }
}

impl HealthWatch {
    /// The latest state.
    pub fn current(&self) -> ServiceState {
        self.receiver.borrow().clone()
    }

    /// Waits until the state changes. Returns false, at once, when the reporter is gone.
    pub async fn changed(&mut self) -> bool {
        self.receiver.changed().await.is_ok()
    }

    /// Waits until the state satisfies `accept`, and returns it. Returns `None` if the reporter
    /// is gone and the last state does not satisfy it.
    pub async fn wait_for(
        &mut self,
        mut accept: impl FnMut(&ServiceState) -> bool,
    ) -> Option<ServiceState> {
        self.receiver
            .wait_for(|state| accept(state))
            .await
            .ok()
            .map(|state| state.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watch_sees_the_latest_state_and_waits_for_changes() {
        let (reporter, mut watch) = HealthReporter::new();
        assert_eq!(watch.current(), ServiceState::Starting);
        let waiter = tokio::spawn(async move { watch.wait_for(ServiceState::is_healthy).await });
        reporter.set(ServiceState::Retrying {
            reason: "connection refused".into(),
            attempt: 1,
        });
        reporter.healthy();
        assert_eq!(waiter.await.unwrap(), Some(ServiceState::Healthy));
    }

    #[test]
    fn display_names_the_state_and_its_reason() {
        let state = ServiceState::Stopped {
            reason: "history lost".into(),
        };
        assert_eq!(state.to_string(), "stopped: history lost");
        assert_eq!(ServiceState::Healthy.to_string(), "healthy");
    }
}
