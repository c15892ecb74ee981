//! A call's metadata as OpenTelemetry's propagator reads it.

use tonic::metadata::{KeyRef, MetadataMap};

/// Reads trace headers (`traceparent`, `tracestate`) from a call's metadata.
pub(crate) struct MetadataExtractor<'a>(pub(crate) &'a MetadataMap);

impl opentelemetry::propagation::Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                KeyRef::Ascii(key) => Some(key.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}
