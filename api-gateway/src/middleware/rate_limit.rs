//! Applies the login rate limit ([`crate::rate_limit`]) to the login
//! endpoints, keyed by the resolved client IP ([`crate::client_ip`]), with
//! `429 Too Many Requests` and `Retry-After` once the bucket is empty.
//!
//! A login is paid for once, when it begins: `GET /auth/login/{provider}`
//! and `POST /auth/session` take a token up front. A callback is refused
//! only when the client is already over its limit (its bucket in debt),
//! and takes a token only when it does not complete a login: a completing
//! callback needs a flow that a charged `/auth/login` began (flows are
//! single use), while failed callbacks (guessed codes, replayed or forged
//! state) each cost a token like any other attempt.

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::time::Instant;

/// The middleware for endpoints that begin a login.
pub(crate) async fn login(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let ip = client_ip(&state, &request);
    // Without a peer address (only in-process tests without the accept
    // loop) there is nothing to key on.
    if let Some(ip) = ip
        && let Err(wait) = state.login_limiter.check(ip, Instant::now())
    {
        return refuse(ip, wait.as_secs_ceil());
    }
    next.run(request).await
}

/// The middleware for `GET /auth/callback/{provider}`.
pub(crate) async fn callback(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(ip) = client_ip(&state, &request) else {
        return next.run(request).await;
    };
    if let Err(wait) = state.login_limiter.peek(ip, Instant::now()) {
        return refuse(ip, wait.as_secs_ceil());
    }
    let response = next.run(request).await;
    // The callback answers 303 only when it set a session.
    if response.status() != StatusCode::SEE_OTHER {
        state.login_limiter.charge(ip, Instant::now());
    }
    response
}

fn client_ip(state: &AppState, request: &Request) -> Option<IpAddr> {
    ClientIp::of(
        request.extensions(),
        request.headers(),
        &state.trusted_proxies,
    )
    .0
}

fn refuse(ip: IpAddr, retry_after_secs: u64) -> Response {
    ApiError::rate_limited(retry_after_secs)
        .with_internal(format!("login rate limit for {ip}"))
        .into_response()
}
