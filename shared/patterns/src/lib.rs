//! The background-service base both services build long-running tasks on.
//!
//! A [`BackgroundService`] runs until its [`CancellationToken`] is cancelled, reports its state
//! through a [`HealthReporter`], and waits between retries with a [`Backoff`].

pub mod background_service;
pub mod backoff;
pub mod health;

pub use background_service::{BackgroundService, ServiceHandle, spawn_background_service};
pub use backoff::Backoff;
pub use health::{HealthReporter, HealthWatch, ServiceState};
pub use tokio_util::sync::CancellationToken;
