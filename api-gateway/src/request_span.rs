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
    if joins_callers_trace(request, trusted) {
        common::telemetry::trace_context::adopt_parent(&span, request.headers());
    }
    span
}

/// Whether `request`'s own `traceparent` may be joined: only when its TCP
/// peer is a trusted proxy (never for a request without a recorded peer).
fn joins_callers_trace(request: &Request, trusted: &TrustedProxies) -> bool {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|peer| trusted.contains(peer.0.ip()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn from(peer: Option<&str>) -> Request {
        let mut request = Request::builder()
            .uri("/x")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .body(axum::body::Body::empty())
            .unwrap();
        if let Some(peer) = peer {
            request
                .extensions_mut()
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        }
        request
    }

    #[test]
    fn only_a_trusted_proxy_chooses_the_trace() {
        let trusted = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(joins_callers_trace(&from(Some("10.1.2.3:4000")), &trusted));
        assert!(!joins_callers_trace(
            &from(Some("192.0.2.7:4000")),
            &trusted
        ));
        assert!(!joins_callers_trace(&from(None), &trusted));
        let nobody = TrustedProxies::new(Vec::new());
        assert!(!joins_callers_trace(&from(Some("10.1.2.3:4000")), &nobody));
    }
}
