//! The Tokio runtime both services run on, sized to the CPUs this process may actually use.

use std::num::NonZeroUsize;

/// How many worker threads: `configured`, else the CPUs available to this process, as the
/// standard library counts them (its CPU affinity mask and its cgroup's CPU quota, so a container
/// limited to 2 CPUs on a 64-core host gets 2).
pub fn worker_threads(configured: Option<NonZeroUsize>) -> NonZeroUsize {
    configured.unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
}

/// A multi-threaded runtime with [`worker_threads`] workers, logging how many and why.
pub fn build(configured: Option<NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = worker_threads(configured);
    tracing::info!(
        worker_threads = workers.get(),
        source = if configured.is_some() {
            "WORKER_THREADS"
        } else {
            "available CPUs"
        },
        "starting the runtime"
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.get())
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_count_wins_else_the_available_cpus() {
        let three = NonZeroUsize::new(3).unwrap();
        assert_eq!(worker_threads(Some(three)), three);
        assert_eq!(
            worker_threads(None),
            std::thread::available_parallelism().unwrap()
        );
    }
}
