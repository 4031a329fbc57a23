//! WebSockets through proxied routes (RFC 6455).
//!
//! The handshake is an ordinary request to a `{ upstream = ... }` route, so
//! the route's policy applies to it like to any other, and the upstream
//! sees the same headers (identity, forwarding; never our cookies). Two
//! rules are its own:
//!
//! * a browser attaches the session cookie to a handshake from any page,
//!   and the handshake is a `GET` the CSRF layer lets through, so the
//!   `Origin` is checked here as for an unsafe request (cross-site
//!   WebSocket hijacking): our own origin, a `cors_allowed_origins` one, or
//!   a bearer-authenticated client;
//! * once upgraded, the bytes are copied both ways untouched, and the
//!   session the handshake was admitted with is validated again every
//!   `websocket_revalidate_interval` ([`SessionWatch`]): revoked, expired,
//!   or not confirmable (auth-service down), the connection is closed. A
//!   revocation therefore ends an open WebSocket at the latest one
//!   interval later. The close is a TCP close, not a close frame (the
//!   gateway does not parse the stream), which browsers report as code
//!   1006.
//!
//! Open tunnels no longer count against `max_connections` (hyper hands the
//! connection over at the upgrade); `max_websockets` bounds them instead.
//! What the upstream sees of a handshake is [`crate::proxy`]'s, like for
//! every proxied request; this module keeps the tunnel it leaves behind.

use crate::auth_client::AuthClient;
use crate::proxy::{Upgraded, is_websocket_upgrade};
use axum::http::{Method, Request};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// Whether `request` is a WebSocket handshake: a `GET` asking to upgrade.
pub(crate) fn is_handshake<B>(request: &Request<B>) -> bool {
    request.method() == Method::GET && is_websocket_upgrade(request.headers())
}

/// What keeps an open WebSocket tied to its session.
pub(crate) struct SessionWatch {
    /// The session token the handshake was admitted with; `None` on a
    /// public route (nothing to revoke).
    pub(crate) token: Option<String>,
    /// Validates it again.
    pub(crate) auth: AuthClient,
    /// `websocket_revalidate_interval`.
    pub(crate) interval: Duration,
}

impl SessionWatch {
    /// Resolves when the session can no longer be confirmed, with why;
    /// never for a public route's anonymous tunnel.
    async fn ended(&self) -> String {
        let Some(token) = &self.token else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(self.interval).await;
            if let Err(e) = self.auth.validate_session(token).await {
                return e.to_string();
            }
        }
    }
}

/// Copies bytes between the client's and the upstream's upgraded
/// connections until either side closes or `watch` ends the session; the
/// tunnel's `max_websockets` permit is held as long as it is open.
pub(crate) async fn tunnel(upgraded: Upgraded, watch: SessionWatch) {
    let Upgraded {
        client,
        upstream,
        permit: _permit,
    } = upgraded;
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(e) => {
            tracing::debug!(error = %e, "websocket upgrade did not complete");
            return;
        }
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    tokio::select! {
        result = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "websocket ended with an error");
            }
        }
        reason = watch.ended() => {
            tracing::info!(%reason, "closing a websocket: its session is no longer valid");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_handshake_is_a_get_asking_to_upgrade() {
        let request = |method: Method| {
            let mut request = Request::builder().method(method).body(()).unwrap();
            let headers = request.headers_mut();
            headers.insert("upgrade", HeaderValue::from_static("websocket"));
            headers.insert("connection", HeaderValue::from_static("upgrade"));
            request
        };
        assert!(is_handshake(&request(Method::GET)));
        assert!(!is_handshake(&request(Method::POST)));
        let mut plain = request(Method::GET);
        plain.headers_mut().remove("upgrade");
        assert!(!is_handshake(&plain));
    }
}
