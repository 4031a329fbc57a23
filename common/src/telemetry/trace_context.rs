//! W3C Trace Context (`traceparent`, `tracestate`) across process
//! boundaries: read from an incoming request the caller decided to trust,
//! written into the gRPC calls and proxied requests we make.
//!
//! When traces are off every function here is a no-op (the current span
//! has no OpenTelemetry context), so callers need not check.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::fmt;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::service::Interceptor;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The headers W3C Trace Context defines.
pub const HEADERS: [&str; 2] = ["traceparent", "tracestate"];

struct HeaderReader<'a>(&'a http::HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderWriter<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` says nothing; leave it out.
        if value.is_empty() {
            return;
        }
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct MetadataWriter<'a>(&'a mut MetadataMap);

impl Injector for MetadataWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` says nothing; leave it out.
        if value.is_empty() {
            return;
        }
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Makes `headers`' trace (if they carry a well-formed one) the parent of
/// `span`. Call it only for a caller whose trace you trust: anyone else
/// would choose the trace our spans join.
pub fn adopt_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderReader(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when traces are off (no OpenTelemetry layer): nothing
        // to join then.
        let _ = span.set_parent(parent);
    }
}

/// The current span's context, or `None` when traces are off.
fn current() -> Option<Context> {
    let context = tracing::Span::current().context();
    context.span().span_context().is_valid().then_some(context)
}

/// Writes the current span's trace into `headers`, replacing whatever
/// trace headers were there: a request we forward continues our trace, not
/// one its sender claimed. Leaves `headers` alone when traces are off.
pub fn inject_into_headers(headers: &mut http::HeaderMap) {
    if let Some(context) = current() {
        for name in HEADERS {
            headers.remove(name);
        }
        TraceContextPropagator::new().inject_context(&context, &mut HeaderWriter(headers));
    }
}

/// Writes the current span's trace into a gRPC call's metadata.
pub fn inject_into_metadata(metadata: &mut MetadataMap) {
    if let Some(context) = current() {
        TraceContextPropagator::new().inject_context(&context, &mut MetadataWriter(metadata));
    }
}

/// Wraps a tonic interceptor so that every call also carries the caller's
/// trace (one interceptor per client is what tonic's generated clients
/// take).
#[derive(Debug, Clone, Default)]
pub struct WithTrace<I>(pub I);

impl<I: Interceptor> Interceptor for WithTrace<I> {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_into_metadata(request.metadata_mut());
        self.0.call(request)
    }
}

/// The current trace id for a log line: 32 hex digits, or `none` when
/// traces are off, so an audit line can be found in the tracing backend.
pub struct TraceId(Option<opentelemetry::trace::TraceId>);

impl TraceId {
    /// The trace of the current span.
    pub fn current() -> Self {
        Self(current().map(|c| c.span().span_context().trace_id()))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, "{id}"),
            None => f.write_str("none"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::prelude::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Runs `body` under a subscriber with an OpenTelemetry layer (no
    /// exporter: ids are made, nothing is sent).
    fn with_traces(body: impl FnOnce()) {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, body);
    }

    fn incoming(traceparent: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", traceparent.parse().unwrap());
        headers
    }

    #[test]
    fn an_adopted_parent_is_carried_on_with_a_new_span_id() {
        with_traces(|| {
            let span = tracing::info_span!("request");
            adopt_parent(&span, &incoming(PARENT));
            let _entered = span.enter();
            assert_eq!(
                TraceId::current().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
            let mut out = incoming("00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01");
            out.insert("tracestate", "evil=1".parse().unwrap());
            inject_into_headers(&mut out);
            let sent = out.get("traceparent").unwrap().to_str().unwrap();
            assert!(
                sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{sent}"
            );
            assert!(
                !sent.contains("00f067aa0ba902b7"),
                "a span of our own: {sent}"
            );
            assert!(
                out.get("tracestate").is_none(),
                "the sender's state is not passed on"
            );
            let mut metadata = MetadataMap::new();
            inject_into_metadata(&mut metadata);
            assert_eq!(metadata.get("traceparent").unwrap().to_str().unwrap(), sent);
        });
    }

    #[test]
    fn a_span_without_an_adopted_parent_starts_its_own_trace() {
        with_traces(|| {
            let span = tracing::info_span!("request");
            adopt_parent(&span, &incoming("00-garbage"));
            let _entered = span.enter();
            let id = TraceId::current().to_string();
            assert_eq!(id.len(), 32, "{id}");
            assert_ne!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
        });
    }

    #[test]
    fn without_traces_nothing_is_written_or_replaced() {
        let span = tracing::info_span!("request");
        adopt_parent(&span, &incoming(PARENT));
        let _entered = span.enter();
        assert_eq!(TraceId::current().to_string(), "none");
        let mut out = incoming(PARENT);
        inject_into_headers(&mut out);
        assert_eq!(out.get("traceparent").unwrap(), PARENT);
        let request = WithTrace(Ok).call(tonic::Request::new(())).unwrap();
        assert!(request.metadata().get("traceparent").is_none());
    }
}
