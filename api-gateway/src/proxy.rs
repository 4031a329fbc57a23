//! The reverse proxy for `{ upstream = "..." }` routes: reads the request
//! body whole (up to `max_request_body_bytes`, see [`crate::request_body`])
//! and streams the answer back through hyper-util's pooled client, bounded
//! by `upstream_timeout`.
//!
//! What the upstream sees is decided here and nowhere else:
//! * hop-by-hop headers (RFC 9110 7.6.1) are removed both ways;
//! * identity headers a client sent (`X-Auth-*`), forwarding headers
//!   (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`) and path overrides
//!   (`X-Original-URL`, `X-Rewrite-URL`) are always removed, in any
//!   spelling ([`crate::client_headers`]), even from a trusted proxy, then
//!   ours are added: `X-Forwarded-For` is the
//!   one client IP resolved by [`crate::client_ip`] (the TCP peer, or what a
//!   `gateway.trusted_proxies` proxy reported), never a list a client could
//!   have seeded; `-Proto` and `-Host` come from `gateway.public_url`;
//! * the gateway's own cookies and a Portcullis bearer token never leave the
//!   gateway, and an upstream cannot set our cookies.
//!
//! A leaf: it takes the caller's identity as plain values
//! ([`UpstreamIdentity`]) and fails with its own [`ProxyError`], which
//! becomes an HTTP answer at the edge (`error.rs`).

use crate::cookies::CookieFactory;
use crate::credential::bearer;
use crate::request_body::{self, BodyError};
use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Request, Response, Uri, Version};
use common::token::SessionToken;
use cookie::Cookie;
use hyper::upgrade::OnUpgrade;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use url::Url;

/// Marks a response that came from an upstream, so the security-header
/// middleware does not overwrite the upstream's own policies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Proxied;

/// The upstream HTTP(S) client.
#[derive(Clone)]
pub(crate) struct Proxy {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    timeout: Duration,
    /// `max_request_body_bytes`: bodies are read whole up to it first.
    max_body: usize,
    /// One permit per open WebSocket tunnel (`max_websockets`): tunnels
    /// leave the connection limits once upgraded, so they have their own.
    tunnels: Arc<tokio::sync::Semaphore>,
}

/// Both sides of a WebSocket handshake the upstream accepted, each
/// available once its 101 has been sent, and the `max_websockets` permit
/// the tunnel holds while open.
pub(crate) struct Upgraded {
    /// The client's connection.
    pub(crate) client: OnUpgrade,
    /// The upstream's connection.
    pub(crate) upstream: OnUpgrade,
    /// Released when the tunnel ends.
    pub(crate) permit: OwnedSemaphorePermit,
}

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// The request body could not be read whole (nothing was sent).
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The upstream URL and the request path do not make a URI.
    #[error("cannot build upstream URI: {0}")]
    UpstreamUri(#[source] axum::http::uri::InvalidUri),
    /// The upstream could not be reached or broke the exchange.
    #[error("upstream {upstream}: {source:?}")]
    Upstream {
        /// The route's upstream (boxed: keeps the error small).
        upstream: Box<Url>,
        /// What hyper reported.
        source: hyper_util::client::legacy::Error,
    },
    /// A WebSocket handshake without an upgradable connection (HTTP/2, or
    /// not from the gateway's own server).
    #[error("this connection cannot be upgraded to a WebSocket")]
    NotUpgradable,
    /// `max_websockets` tunnels are open already.
    #[error("too many open WebSockets")]
    TooManyTunnels,
    /// The upstream did not answer within `upstream_timeout`.
    #[error("upstream {upstream}: no answer in {after:?}")]
    Timeout {
        /// The route's upstream (boxed: keeps the error small).
        upstream: Box<Url>,
        /// `upstream_timeout`.
        after: Duration,
    },
}

/// The logged-in caller as the upstream learns it, in `X-Auth-*` headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpstreamIdentity<'a> {
    /// `X-Auth-User-Id`.
    pub user_id: &'a str,
    /// `X-Auth-Email`.
    pub email: &'a str,
    /// `X-Auth-Session-Id`.
    pub session_id: &'a str,
    /// `X-Auth-Roles`, comma-separated.
    pub roles: &'a [String],
    /// `X-Auth-Groups`, comma-separated, each name escaped ([`groups_header`]).
    pub groups: &'a [String],
}

impl UpstreamIdentity<'static> {
    /// Nobody: every header present and empty. `/auth/check` answers an
    /// anonymous caller of a public route with it, because some proxies
    /// fill a header the answer lacks with junk of their own (Caddy 2.6's
    /// `copy_headers` passes its unexpanded placeholder,
    /// `{http.reverse_proxy.header.X-Auth-User-Id}`, to the app).
    pub(crate) const ANONYMOUS: Self = Self {
        user_id: "",
        email: "",
        session_id: "",
        roles: &[],
        groups: &[],
    };
}

/// What the proxy needs to know about the request besides its headers.
pub(crate) struct ForwardContext<'a> {
    /// Our cookies, to strip.
    pub cookies: &'a CookieFactory,
    /// The logged-in caller, if any.
    pub user: Option<UpstreamIdentity<'a>>,
    /// The client's address, resolved through the trusted proxies.
    pub client_ip: Option<IpAddr>,
    /// Our public URL (for `X-Forwarded-Proto` / `-Host`).
    pub public_url: &'a Url,
}

impl Proxy {
    /// A pooled client for http and https upstreams (rustls with the ring
    /// provider and the webpki root store).
    pub(crate) fn new(
        timeout: Duration,
        max_body: usize,
        max_websockets: usize,
    ) -> Result<Self, String> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map_err(|e| e.to_string())?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Self {
            client,
            timeout,
            max_body,
            tunnels: Arc::new(tokio::sync::Semaphore::new(max_websockets)),
        })
    }

    /// Forwards `request` to `upstream` (its path appended to the upstream
    /// URL's path) and streams the answer back.
    pub(crate) async fn forward(
        &self,
        upstream: &Url,
        request: Request<Body>,
        ctx: ForwardContext<'_>,
    ) -> Result<Response<Body>, ProxyError> {
        let (mut parts, body) = request.into_parts();
        // Whole before the upstream sees a byte: see `request_body`.
        let body = Body::from(request_body::read_whole(body, self.max_body).await?);
        prepare(&mut parts, upstream, &ctx)?;
        let response = self
            .send(upstream, Request::from_parts(parts, body))
            .await?;
        let (mut parts, body) = response.into_parts();
        sanitize_response_headers(&mut parts.headers, ctx.cookies);
        parts.extensions.insert(Proxied);
        Ok(Response::from_parts(parts, Body::new(body)))
    }

    /// Forwards a WebSocket handshake (`GET` with `Upgrade: websocket`, no
    /// body) to `upstream` with the same headers as any proxied request
    /// plus the upgrade. When the upstream switches protocols, the 101 goes
    /// back to the client with the two connections to join once upgraded
    /// (the caller's [`crate::websocket::tunnel`]); any other answer goes
    /// back as it is, alone.
    pub(crate) async fn forward_websocket(
        &self,
        upstream: &Url,
        request: Request<Body>,
        ctx: ForwardContext<'_>,
    ) -> Result<(Response<Body>, Option<Upgraded>), ProxyError> {
        let (mut parts, _) = request.into_parts();
        let client = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(ProxyError::NotUpgradable)?;
        let permit = self
            .tunnels
            .clone()
            .try_acquire_owned()
            .map_err(|_| ProxyError::TooManyTunnels)?;
        prepare(&mut parts, upstream, &ctx)?;
        add_upgrade_headers(&mut parts.headers);
        let mut response = self
            .send(upstream, Request::from_parts(parts, Body::empty()))
            .await?;
        let switched = response.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS
            && is_websocket_upgrade(response.headers());
        let upstream_side = switched.then(|| hyper::upgrade::on(&mut response));
        let (mut parts, body) = response.into_parts();
        sanitize_response_headers(&mut parts.headers, ctx.cookies);
        parts.extensions.insert(Proxied);
        let Some(upstream) = upstream_side else {
            return Ok((Response::from_parts(parts, Body::new(body)), None));
        };
        add_upgrade_headers(&mut parts.headers);
        let upgraded = Upgraded {
            client,
            upstream,
            permit,
        };
        Ok((Response::from_parts(parts, Body::empty()), Some(upgraded)))
    }

    /// Sends `request`, bounded by `upstream_timeout`.
    async fn send(
        &self,
        upstream: &Url,
        request: Request<Body>,
    ) -> Result<Response<hyper::body::Incoming>, ProxyError> {
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(source)) => Err(ProxyError::Upstream {
                upstream: Box::new(upstream.clone()),
                source,
            }),
            Err(_) => Err(ProxyError::Timeout {
                upstream: Box::new(upstream.clone()),
                after: self.timeout,
            }),
        }
    }
}

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

/// Sets the two hop-by-hop headers of an upgrade, which the proxy's header
/// sanitising removes along with every other hop-by-hop header.
fn add_upgrade_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// Turns a client's request head into the upstream's: its URI, HTTP/1.1,
/// and the headers the module docs list.
fn prepare(
    parts: &mut axum::http::request::Parts,
    upstream: &Url,
    ctx: &ForwardContext<'_>,
) -> Result<(), ProxyError> {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    parts.uri = upstream_uri(upstream, path_and_query)?;
    parts.version = Version::HTTP_11;
    sanitize_request_headers(&mut parts.headers, ctx.cookies);
    add_forwarding_headers(&mut parts.headers, ctx.client_ip, ctx.public_url);
    // The upstream continues our trace (request_span.rs), never one an
    // untrusted client claimed; untouched when traces are off.
    common::telemetry::trace_context::inject_into_headers(&mut parts.headers);
    if let Some(user) = ctx.user {
        add_identity_headers(&mut parts.headers, user);
    }
    Ok(())
}

/// `upstream` + the request's path and query.
fn upstream_uri(upstream: &Url, path_and_query: &str) -> Result<Uri, ProxyError> {
    let authority = &upstream[url::Position::BeforeHost..url::Position::AfterPort];
    let base_path = upstream.path().trim_end_matches('/');
    format!(
        "{}://{authority}{base_path}{path_and_query}",
        upstream.scheme()
    )
    .parse()
    .map_err(ProxyError::UpstreamUri)
}

/// Hop-by-hop headers (RFC 9110 7.6.1), plus any the `Connection` header
/// names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

/// Removes what the client must not be able to tell the upstream, and what
/// the upstream must never see.
pub(crate) fn sanitize_request_headers(headers: &mut HeaderMap, cookies: &CookieFactory) {
    remove_hop_by_hop(headers);
    // Identity, forwarding and path-override headers, in any spelling.
    crate::client_headers::strip(headers);
    // The client's Host names us; hyper sets the upstream's.
    headers.remove(header::HOST);
    remove_session_credentials(headers, cookies);
}

/// Removes the session credential, which the upstream must never see: a
/// session token in `Authorization: Bearer`, and our cookies from `Cookie`
/// (the others stay).
pub(crate) fn remove_session_credentials(headers: &mut HeaderMap, cookies: &CookieFactory) {
    if bearer(headers).is_some_and(|t| SessionToken::parse(t).is_ok()) {
        headers.remove(header::AUTHORIZATION);
    }
    let kept = forwarded_cookies(headers, cookies);
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
}

/// The `name=value` pairs of every `Cookie` header that the upstream may
/// see: all but ours. Parsed by the `cookie` crate, as `cookies.rs` reads
/// them, so the proxy and the session lookup agree on where one cookie
/// ends. A piece that is not a cookie pair (RFC 6265 4.2.1: no `=`, or an
/// empty name) is dropped: it cannot be attributed to a name, so it is not
/// passed on to an upstream that might parse it more leniently.
fn forwarded_cookies(headers: &HeaderMap, cookies: &CookieFactory) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|cookie| !cookies.is_own(cookie.name()))
        // As sent: `value()` keeps quotes and percent-escapes.
        .map(|cookie| format!("{}={}", cookie.name(), cookie.value()))
        .collect()
}

/// Our own forwarding headers, from what we saw ourselves.
fn add_forwarding_headers(headers: &mut HeaderMap, client_ip: Option<IpAddr>, public_url: &Url) {
    if let Some(ip) = client_ip
        && let Ok(v) = HeaderValue::from_str(&ip.to_string())
    {
        headers.insert("x-forwarded-for", v);
    }
    if let Ok(v) = HeaderValue::from_str(public_url.scheme()) {
        headers.insert("x-forwarded-proto", v);
    }
    let host = &public_url[url::Position::BeforeHost..url::Position::AfterPort];
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert("x-forwarded-host", v);
    }
}

/// What `X-Auth-Groups` percent-encodes in a group name (RFC 3986 2.1),
/// besides every non-ASCII byte: controls, so the value is a valid header;
/// `,`, so a name cannot split into two groups; space, so an upstream that
/// trims list items cannot read ` admins` as `admins`; and `%` itself, so
/// decoding is unambiguous. Names of letters, digits, `-`, `_`, `.`, `/`
/// and `:` pass unchanged.
const GROUP_ESCAPES: &AsciiSet = &CONTROLS.add(b' ').add(b',').add(b'%');

/// The `X-Auth-Groups` value: the names, escaped, joined with `,`.
fn groups_header(groups: &[String]) -> String {
    groups
        .iter()
        .map(|g| utf8_percent_encode(g, GROUP_ESCAPES).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `X-Auth-User-Id`, `X-Auth-Email`, `X-Auth-Session-Id`, `X-Auth-Roles`,
/// `X-Auth-Groups`, each replacing any already there; a value that cannot
/// be a header value is sent empty.
pub(crate) fn add_identity_headers(headers: &mut HeaderMap, user: UpstreamIdentity<'_>) {
    let roles = user.roles.join(",");
    let groups = groups_header(user.groups);
    for (name, value) in [
        ("x-auth-user-id", user.user_id),
        ("x-auth-email", user.email),
        ("x-auth-session-id", user.session_id),
        ("x-auth-roles", roles.as_str()),
        ("x-auth-groups", groups.as_str()),
    ] {
        let value = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| {
            tracing::warn!(
                header = name,
                "identity value is not a valid header value; sent empty"
            );
            HeaderValue::from_static("")
        });
        headers.insert(name, value);
    }
}

/// Removes hop-by-hop headers and any attempt to set our cookies.
fn sanitize_response_headers(headers: &mut HeaderMap, cookies: &CookieFactory) {
    remove_hop_by_hop(headers);
    let set_cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in set_cookies {
        let name = value
            .to_str()
            .ok()
            .and_then(|v| v.split('=').next())
            .map(str::trim)
            .unwrap_or("");
        if cookies.is_own(name) {
            tracing::warn!("upstream tried to set the gateway's own cookie; dropped");
        } else {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::config::GatewayConfig;
    use percent_encoding::percent_decode_str;

    #[test]
    fn a_websocket_upgrade_needs_both_headers() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, HeaderValue::from_static(value));
            }
            map
        };
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
        let mut map = headers(&[("upgrade", "websocket"), ("connection", "keep-alive")]);
        add_upgrade_headers(&mut map);
        assert_eq!(map.get_all(header::CONNECTION).iter().count(), 1);
        assert!(is_websocket_upgrade(&map));
    }

    fn cookies() -> CookieFactory {
        CookieFactory::new(&GatewayConfig::default())
    }

    fn token() -> String {
        SessionToken::generate().unwrap().expose().to_owned()
    }

    #[test]
    fn request_headers_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert("x-auth-user-id", HeaderValue::from_static("admin"));
        h.insert("X-Auth-Roles", HeaderValue::from_static("admin"));
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil"));
        h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4"));
        h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("hop"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        h.insert("host", HeaderValue::from_static("gateway"));
        h.append(
            header::COOKIE,
            HeaderValue::from_str("theme=dark; portcullis=SECRET; portcullis_flow=F").unwrap(),
        );
        h.append(header::COOKIE, HeaderValue::from_static("lang=en"));
        h.insert("x-custom", HeaderValue::from_static("kept"));
        sanitize_request_headers(&mut h, &cookies());
        for gone in [
            "x-auth-user-id",
            "x-auth-roles",
            "x-forwarded-for",
            "x-forwarded-host",
            "forwarded",
            "x-real-ip",
            "connection",
            "x-secret",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "te",
            "proxy-authorization",
            "host",
        ] {
            assert!(h.get(gone).is_none(), "{gone} survived");
        }
        assert_eq!(h.get("x-custom").unwrap(), "kept");
        assert_eq!(h.get(header::COOKIE).unwrap(), "theme=dark; lang=en");
    }

    #[test]
    fn identity_headers_are_stripped_in_every_spelling() {
        let mut h = HeaderMap::new();
        for name in [
            "x_auth_user_id",
            "X_Auth_Roles",
            "x-auth_email",
            "x_forwarded_for",
            "x_real_ip",
            "x-original-url",
            "x_rewrite_url",
        ] {
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("forged"),
            );
        }
        h.insert("x_custom", HeaderValue::from_static("kept"));
        sanitize_request_headers(&mut h, &cookies());
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, vec!["x_custom"]);
    }

    #[test]
    fn several_cookies_lose_ours_and_the_malformed_piece() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static(
                "a=1;  portcullis=SECRET ;garbage; =nameless; b=\"q v\"; ; c=x%20y",
            ),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("portcullis_flow=F;d=; e=2=3"),
        );
        sanitize_request_headers(&mut h, &cookies());
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(
            h.get(header::COOKIE).unwrap(),
            "a=1; b=\"q v\"; c=x%20y; d=; e=2=3"
        );
    }

    #[test]
    fn only_our_cookie_means_no_cookie_header() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("portcullis=S"));
        sanitize_request_headers(&mut h, &cookies());
        assert!(h.get(header::COOKIE).is_none());
    }

    #[test]
    fn session_bearer_is_removed_but_other_authorization_kept() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", token())).unwrap(),
        );
        sanitize_request_headers(&mut h, &cookies());
        assert!(h.get(header::AUTHORIZATION).is_none());
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwdw=="),
        );
        sanitize_request_headers(&mut h, &cookies());
        assert!(h.get(header::AUTHORIZATION).is_some());
    }

    #[test]
    fn identity_and_forwarding_headers_are_ours() {
        let mut h = HeaderMap::new();
        h.insert("x-auth-user-id", HeaderValue::from_static("forged"));
        sanitize_request_headers(&mut h, &cookies());
        h.insert("x-auth-groups", HeaderValue::from_static("forged"));
        sanitize_request_headers(&mut h, &cookies());
        assert!(h.get("x-auth-groups").is_none());
        let roles = ["admin".to_owned(), "ops".to_owned()];
        let groups = ["staff".to_owned(), "my-org/my-team".to_owned()];
        let user = UpstreamIdentity {
            user_id: "u1",
            email: "a@example.com",
            session_id: "s1",
            roles: &roles,
            groups: &groups,
        };
        add_identity_headers(&mut h, user);
        let public: Url = "https://app.example.com".parse().unwrap();
        add_forwarding_headers(&mut h, Some("10.0.0.1".parse().unwrap()), &public);
        assert_eq!(h.get("x-auth-user-id").unwrap(), "u1");
        assert_eq!(h.get_all("x-auth-user-id").iter().count(), 1);
        assert_eq!(h.get("x-auth-email").unwrap(), "a@example.com");
        assert_eq!(h.get("x-auth-session-id").unwrap(), "s1");
        assert_eq!(h.get("x-auth-roles").unwrap(), "admin,ops");
        assert_eq!(h.get("x-auth-groups").unwrap(), "staff,my-org/my-team");
        assert_eq!(h.get("x-forwarded-for").unwrap(), "10.0.0.1");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
        assert_eq!(h.get("x-forwarded-host").unwrap(), "app.example.com");
    }

    #[test]
    fn group_names_cannot_split_merge_or_break_the_header() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(groups_header(&[]), "");
        assert_eq!(
            groups_header(&names(&["a.b_c-d", "org/team", "urn:x:y"])),
            "a.b_c-d,org/team,urn:x:y"
        );
        // A comma would make two groups, a space would be trimmed by list
        // parsers, `%` would make decoding ambiguous, controls and
        // non-ASCII would make the header invalid or unreadable.
        let tricky = names(&[
            "staff,admins",
            " admins",
            "100%",
            "a\r\nX-Evil: 1",
            "Ünïcode",
        ]);
        let value = groups_header(&tricky);
        assert_eq!(
            value,
            "staff%2Cadmins,%20admins,100%25,a%0D%0AX-Evil:%201,%C3%9Cn%C3%AFcode"
        );
        assert!(HeaderValue::from_str(&value).is_ok());
        let decoded: Vec<String> = value
            .split(',')
            .map(|g| percent_decode_str(g).decode_utf8().unwrap().into_owned())
            .collect();
        assert_eq!(decoded, tricky, "every name decodes back to itself");
    }

    #[test]
    fn upstream_cannot_set_our_cookies() {
        let mut h = HeaderMap::new();
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("portcullis=evil; Path=/"),
        );
        h.append(header::SET_COOKIE, HeaderValue::from_static("theme=dark"));
        h.insert("connection", HeaderValue::from_static("close"));
        sanitize_response_headers(&mut h, &cookies());
        let values: Vec<_> = h.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(values, vec!["theme=dark"]);
        assert!(h.get("connection").is_none());
    }

    #[test]
    fn upstream_uri_joins_paths() {
        let u: Url = "http://127.0.0.1:9000".parse().unwrap();
        assert_eq!(
            upstream_uri(&u, "/api/x?a=1").unwrap(),
            "http://127.0.0.1:9000/api/x?a=1"
        );
        let u: Url = "http://[::1]:9000/base/".parse().unwrap();
        assert_eq!(
            upstream_uri(&u, "/api/x").unwrap(),
            "http://[::1]:9000/base/api/x"
        );
    }
}
