//! Applies the login rate limit ([`crate::rate_limit`]) to a route: one
//! token per request from the resolved client IP ([`crate::client_ip`]),
//! `429 Too Many Requests` with `Retry-After` once the bucket is empty.

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// The middleware for the login endpoints.
pub async fn login(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let ClientIp(ip) = ClientIp::of(&parts, &state.trusted_proxies);
    // Without a peer address (only in-process tests without the accept
    // loop) there is nothing to key on.
    if let Some(ip) = ip
        && let Err(wait) = state.login_limiter.check(ip, Instant::now())
    {
        return ApiError::rate_limited(wait.as_secs_ceil())
            .with_internal(format!("login rate limit for {ip}"))
            .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
