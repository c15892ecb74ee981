//! W3C trace context (`traceparent`), so that one order's path through both services is one
//! search: the order service starts a trace per order, sends it in the gRPC call's metadata, and
//! the kitchen continues it. Parsing and formatting are OpenTelemetry's
//! (`TraceContextPropagator`); nothing is exported, the ids are only logged.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

/// The header (and gRPC metadata key) carrying the trace context.
pub const TRACEPARENT: &str = "traceparent";

/// One hop of a trace: the trace's id and this hop's span id.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceContext {
    span: SpanContext,
}

impl TraceContext {
    /// Starts a new trace (random ids, sampled).
    pub fn new_root() -> Self {
        let ids = RandomIdGenerator::default();
        Self::with_ids(ids.new_trace_id(), TraceFlags::SAMPLED)
    }

    fn with_ids(trace_id: TraceId, flags: TraceFlags) -> Self {
        let span_id = RandomIdGenerator::default().new_span_id();
        Self {
            span: SpanContext::new(trace_id, span_id, flags, false, TraceState::default()),
        }
    }

    /// The context a caller sent (`traceparent` in `carrier`), continued as a new hop of the same
    /// trace; `None` when it is absent or malformed.
    pub fn continued_from(carrier: &dyn Extractor) -> Option<Self> {
        let parent = TraceContextPropagator::new().extract(carrier);
        let parent = parent.span().span_context().clone();
        parent
            .is_valid()
            .then(|| Self::with_ids(parent.trace_id(), parent.trace_flags()))
    }

    /// The context a caller sent, else a new trace.
    pub fn continued_or_new(carrier: &dyn Extractor) -> Self {
        Self::continued_from(carrier).unwrap_or_else(Self::new_root)
    }

    /// Writes `traceparent` (and `tracestate`) into `carrier`, naming this hop as the parent.
    pub fn inject(&self, carrier: &mut dyn Injector) {
        let context = Context::new().with_remote_span_context(self.span.clone());
        TraceContextPropagator::new().inject_context(&context, carrier);
    }

    /// The trace's id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        self.span.trace_id().to_string()
    }

    /// This hop's span id: 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        self.span.span_id().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_continued_context_keeps_the_trace_and_starts_a_new_hop() {
        let root = TraceContext::new_root();
        let mut headers = HashMap::new();
        root.inject(&mut headers);
        let sent = &headers[TRACEPARENT];
        assert_eq!(
            sent,
            &format!("00-{}-{}-01", root.trace_id(), root.span_id())
        );
        let next = TraceContext::continued_from(&headers).expect("a valid traceparent");
        assert_eq!(next.trace_id(), root.trace_id());
        assert_ne!(next.span_id(), root.span_id());
        assert_eq!(next.trace_id().len(), 32);
        assert_eq!(next.span_id().len(), 16);
    }

    #[test]
    fn roots_are_distinct_traces() {
        assert_ne!(
            TraceContext::new_root().trace_id(),
            TraceContext::new_root().trace_id()
        );
    }

    #[test]
    fn a_missing_or_malformed_traceparent_starts_a_new_trace() {
        let empty: HashMap<String, String> = HashMap::new();
        assert_eq!(TraceContext::continued_from(&empty), None);
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        ] {
            let headers = HashMap::from([(TRACEPARENT.to_owned(), bad.to_owned())]);
            assert_eq!(TraceContext::continued_from(&headers), None, "{bad}");
            assert_eq!(
                TraceContext::continued_or_new(&headers).trace_id().len(),
                32
            );
        }
        let valid = HashMap::from([(
            TRACEPARENT.to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        )]);
        assert_eq!(
            TraceContext::continued_or_new(&valid).trace_id(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
}
