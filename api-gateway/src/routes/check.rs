//! `/auth/check`: forward authentication for nginx `auth_request`, Traefik
//! ForwardAuth and Caddy `forward_auth`.
//!
//! The proxy describes the request it is asking about
//! ([`crate::original_request`], trusted proxies only), and the policy of
//! the `[[routes]]` entry its path falls under applies, read exactly as the
//! gateway's own routes read paths. A path under no route, or a check that
//! names no request, needs any valid session (the default policy).
//!
//! Answers: 200 with the identity headers the proxy copies to its
//! upstream (present and empty for an anonymous caller of a public route);
//! 403 when the policy denies the user; 401 for an API client
//! without a session. A browser navigation without a session is told where
//! to log in: nginx's `auth_request` passes on only 2xx, 401 and 403, so by
//! default it gets 401 with a `Location` its recipe turns into a redirect;
//! with `?redirect=true` (Traefik, Caddy: they pass the answer through) it
//! gets the 302 itself. A CORS preflight from a `cors_allowed_origins`
//! origin passes without a session. 400 when the description is refused, 503 when
//! auth-service is down: the proxy refuses the request either way.

use crate::access::{Access, admit};
use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::login_redirect::{is_navigation, login_location};
use crate::original_request::{OriginalRequest, original_request};
use crate::policy::RouteError;
use crate::proxy::{UpstreamIdentity, add_identity_headers};
use crate::request_path::CanonicalPath;
use crate::return_to::safe_return_to;
use crate::routes::configured::RouteTable;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::config::{AllowList, Policy};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// Query of `/auth/check`.
#[derive(Debug, Default, Deserialize)]
struct CheckQuery {
    /// Answer a browser without a session with the 302 itself.
    #[serde(default)]
    redirect: bool,
}

/// Any method: proxies differ in what they send.
pub(crate) async fn check(
    State(state): State<AppState>,
    table: Arc<RouteTable>,
    request: Request,
) -> Response {
    match decide(&state, &table, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn decide(
    state: &AppState,
    table: &RouteTable,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let Query(query) = Query::<CheckQuery>::try_from_uri(&parts.uri)
        .map_err(|_| ApiError::bad_request("invalid_query", "The query string is not valid."))?;
    let from_trusted = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|peer| state.trusted_proxies.contains(peer.0.ip()));
    let original = original_request(&parts.headers, &parts.method, from_trusted)?;
    if let Some(original) = &original
        && is_listed_preflight(&original.method, &parts.headers, state)
    {
        return Ok(allowed(None));
    }
    let default = Policy::Authenticated(AllowList::default());
    let (policy, label) = match &original {
        None => (&default, "the default policy"),
        Some(original) => {
            let path = CanonicalPath::parse(original.target.path())?;
            match table.resolve(&path) {
                Ok(route) => (&route.policy, route.prefix.as_str()),
                Err(RouteError::NotFound) => (&default, "the default policy"),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match admit(state, policy, label, &mut parts).await {
        Access::Allowed(user) => Ok(allowed(user.as_deref())),
        Access::LogInFirst => {
            let method = original.as_ref().map_or(&parts.method, |o| &o.method);
            if !is_navigation(method, &parts.headers) {
                return Err(ApiError::unauthenticated());
            }
            let location = HeaderValue::from_str(&login_target(state, original.as_ref()))
                .map_err(|_| ApiError::internal("the login location is not a header value"))?;
            if query.redirect {
                return Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response());
            }
            // RFC 9110 11.6.1: a 401 names a scheme, as every other of ours.
            let challenge = HeaderValue::from_static("Bearer realm=\"portcullis\"");
            Ok((
                StatusCode::UNAUTHORIZED,
                [
                    (header::LOCATION, location),
                    (header::WWW_AUTHENTICATE, challenge),
                ],
            )
                .into_response())
        }
        Access::Refused(e) => Err(e),
    }
}

/// 200 with the identity headers of `user` (all empty for nobody).
fn allowed(user: Option<&CurrentUser>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let identity = user.map_or(UpstreamIdentity::ANONYMOUS, CurrentUser::identity);
    add_identity_headers(response.headers_mut(), identity);
    response
}

/// Whether the proxied request is a CORS preflight (`OPTIONS` with
/// `Access-Control-Request-Method`) from a `cors_allowed_origins` origin:
/// it carries no credentials, so it passes to the app without a session.
fn is_listed_preflight(method: &Method, headers: &HeaderMap, state: &AppState) -> bool {
    *method == Method::OPTIONS
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|origin| {
                state
                    .gateway
                    .cors_allowed_origins
                    .iter()
                    .any(|listed| listed.eq_ignore_ascii_case(origin))
            })
}

/// Where a browser without a session is sent. On a sibling host (one of
/// `allowed_return_hosts`, not ours) that is the gateway's own login page,
/// coming back to the whole URL; otherwise the login page on the host the
/// browser is on (the proxy serves `/auth/`), coming back to the path.
fn login_target(state: &AppState, original: Option<&OriginalRequest>) -> String {
    let hosts = &state.return_hosts;
    if let Some(url) = original.and_then(|o| o.url.as_deref()) {
        let back = safe_return_to(Some(url), hosts);
        let ours = back
            .strip_prefix(state.public_origin.as_str())
            .is_some_and(|rest| rest.starts_with('/'));
        if back != "/" && !ours {
            let login = format!("{}/auth/login", state.public_origin);
            return login_location(&login, &back, hosts);
        }
    }
    let target = original.map_or("/", |o| o.target.as_str());
    login_location("/auth/login", target, hosts)
}
