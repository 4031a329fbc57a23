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
//! state) each cost a token like any other attempt. A callback completed a
//! login when its handler marked the response with
//! [`LoginCompleted`], not when it merely looks like a success.

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::rate_limit::RateLimiter;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::time::Instant;

/// A response extension set by the handlers that complete a login (a new
/// session, its cookie set: `routes/auth/mod.rs`). Read here rather than
/// guessing success from a status code. Defined by the middleware that
/// reads it, as `RouteLabel` is, so handlers depend on middleware and never
/// the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoginCompleted;

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
    charge_unless_completed(&state.login_limiter, ip, &response);
    response
}

/// Charges `ip` for a callback unless its handler marked the response
/// [`LoginCompleted`] (it set a session).
fn charge_unless_completed(limiter: &RateLimiter, ip: IpAddr, response: &Response) {
    if response.extensions().get::<LoginCompleted>().is_none() {
        limiter.charge(ip, Instant::now());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn a_callback_is_free_only_when_marked_as_a_completed_login() {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let limiter = RateLimiter::new(1, 1, 16);
        // A redirect that completed no login (whatever its status) costs a
        // token: past the burst, the next callback is refused.
        let redirect = StatusCode::SEE_OTHER.into_response();
        for _ in 0..3 {
            charge_unless_completed(&limiter, ip, &redirect);
        }
        assert!(limiter.peek(ip, Instant::now()).is_err());

        let other: IpAddr = "198.51.100.8".parse().unwrap();
        let mut completed = StatusCode::SEE_OTHER.into_response();
        completed.extensions_mut().insert(LoginCompleted);
        for _ in 0..3 {
            charge_unless_completed(&limiter, other, &completed);
        }
        assert!(limiter.peek(other, Instant::now()).is_ok());
    }
}
