//! The connection every client uses: made on first use, bounded, kept alive.

use crate::ClientError;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// A channel to `target` (`host:port` or a full `http://` URI), connecting on first use (so the
/// caller starts while the service is down) within `connect_timeout`, and reconnecting by itself.
pub(crate) fn lazy_channel(
    target: &str,
    connect_timeout: Duration,
) -> Result<Channel, ClientError> {
    let uri = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|source| ClientError::InvalidTarget {
            target: target.to_owned(),
            source,
        })?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}
