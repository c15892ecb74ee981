//! A call's metadata as OpenTelemetry's propagator writes it.

use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

/// Writes trace headers (`traceparent`, `tracestate`) into a call's metadata.
pub(crate) struct MetadataInjector<'a>(pub(crate) &'a mut MetadataMap);

impl opentelemetry::propagation::Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            return; // An empty `tracestate`.
        }
        // The propagator writes only its own well-formed ASCII headers.
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}
