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

use crate::auth_client::AuthClient;
use axum::http::{HeaderMap, HeaderValue, Method, Request, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// Whether `headers` ask to switch to the WebSocket protocol: an `Upgrade`
/// of `websocket` and a `Connection` naming `upgrade` (both case-blind).
pub(crate) fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let connection = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    upgrade && connection
}

/// Whether `request` is a WebSocket handshake: a `GET` asking to upgrade.
pub(crate) fn is_handshake<B>(request: &Request<B>) -> bool {
    request.method() == Method::GET && is_websocket_upgrade(request.headers())
}

/// Sets the two hop-by-hop headers of an upgrade, which the proxy's header
/// sanitising removes along with every other hop-by-hop header.
pub(crate) fn add_upgrade_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
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
/// permit is held as long as the tunnel is open.
pub(crate) async fn tunnel(
    client: OnUpgrade,
    upstream: OnUpgrade,
    watch: SessionWatch,
    _permit: OwnedSemaphorePermit,
) {
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

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn an_upgrade_needs_both_headers() {
        let yes = [
            &[("upgrade", "websocket"), ("connection", "Upgrade")][..],
            &[
                ("upgrade", "WebSocket"),
                ("connection", "keep-alive, upgrade"),
            ][..],
            &[
                ("upgrade", "websocket"),
                ("connection", "keep-alive"),
                ("connection", "upgrade"),
            ][..],
        ];
        for sent in yes {
            assert!(is_websocket_upgrade(&headers(sent)), "{sent:?}");
        }
        let no = [
            &[("upgrade", "websocket")][..],
            &[("connection", "upgrade")][..],
            &[("upgrade", "h2c"), ("connection", "upgrade")][..],
            &[("upgrade", "websocket"), ("connection", "upgraded")][..],
            &[][..],
        ];
        for sent in no {
            assert!(!is_websocket_upgrade(&headers(sent)), "{sent:?}");
        }
        let mut map = headers(&[("upgrade", "websocket"), ("connection", "upgrade")]);
        let get = |method: Method, map: &HeaderMap| {
            let mut request = Request::builder().method(method).body(()).unwrap();
            *request.headers_mut() = map.clone();
            is_handshake(&request)
        };
        assert!(get(Method::GET, &map));
        assert!(!get(Method::POST, &map));
        add_upgrade_headers(&mut map);
        assert_eq!(map.get_all(header::CONNECTION).iter().count(), 1);
    }
}
