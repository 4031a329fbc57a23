//! The span every gRPC call runs in: named for the RPC, and a child of the
//! caller's trace when the call carries W3C `traceparent` metadata (the
//! gateway and the session-cache validator send it), so one login is one
//! trace across the gateway and auth-service.
//!
//! The caller's trace is adopted before caller authentication runs; a
//! refused caller can at most file its own refusal under a trace id of its
//! choosing. The span holds the method path only: never metadata, which
//! carries the service token.

use tonic::codegen::http;

/// The server span for a call to `path` (the method) with `headers`.
pub(crate) fn for_call(path: &str, headers: &http::HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        "rpc",
        otel.name = %path,
        otel.kind = "server",
        rpc.system = "grpc",
    );
    common::telemetry::trace_context::adopt_parent(&span, headers);
    span
}
