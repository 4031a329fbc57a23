//! `/auth/check`: forward authentication for nginx `auth_request`, Traefik
//! ForwardAuth and Caddy `forward_auth`.
//!
//! The proxy describes the request it is asking about
//! ([`crate::original_request`], trusted proxies only), the shared decision
//! ([`crate::forward_auth`]) applies the route policy to it, and this
//! module answers in HTTP:
//! 200 with the identity headers the proxy copies to its upstream (present
//! and empty for an anonymous caller of a public route); 403 when the
//! policy denies the user; 401 for an API client without a session. A
//! browser navigation without a session is told where to log in: nginx's
//! `auth_request` passes on only 2xx, 401 and 403, so by default it gets 401
//! with a `Location` its recipe turns into a redirect; with `?redirect=true`
//! (Traefik, Caddy: they pass the answer through) it gets the 302 itself.
//! 400 when the description is refused, 503 when auth-service is down: the
//! proxy refuses the request either way.

use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::forward_auth::{Verdict, decide};
use crate::original_request::original_request;
use crate::proxy::{UpstreamIdentity, add_identity_headers};
use crate::routes::configured::RouteTable;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
    match answer(&state, &table, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn answer(
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
    match decide(state, table, original.as_ref(), &mut parts).await {
        Verdict::Allowed(user) => Ok(allowed(user.as_deref())),
        Verdict::LogIn(location) => {
            let location = HeaderValue::from_str(&location)
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
        Verdict::Refused(e) => Err(e),
    }
}

/// 200 with the identity headers of `user` (all empty for nobody).
fn allowed(user: Option<&CurrentUser>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let identity = user.map_or(UpstreamIdentity::ANONYMOUS, CurrentUser::identity);
    add_identity_headers(response.headers_mut(), identity);
    response
}
