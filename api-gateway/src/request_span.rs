//! The span each request runs in, and whose trace it joins.
//!
//! A browser's `traceparent` is adopted only when the TCP peer is one of
//! `gateway.trusted_proxies` (the same rule as `X-Forwarded-For`): a
//! trusted proxy began the trace; anyone else gets a new one, so a client
//! cannot choose the trace our spans, auth-service's and the upstream's
//! join. The span names the path only: query strings carry authorization
//! codes and `state`, which must never reach a log or a trace.

use crate::client_ip::TrustedProxies;
use axum::extract::{ConnectInfo, Request};
use std::net::SocketAddr;

/// The server span for `request`.
pub(crate) fn for_request(request: &Request, trusted: &TrustedProxies) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    );
    let from_trusted_proxy = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|peer| trusted.contains(peer.0.ip()));
    if from_trusted_proxy {
        common::telemetry::trace_context::adopt_parent(&span, request.headers());
    }
    span
}
