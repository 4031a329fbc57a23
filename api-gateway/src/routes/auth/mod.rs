//! The `/auth/*` endpoints that log in and out, one file per flow:
//!
//! * `code_flow.rs`: the browser's authorization code flow,
//!   `GET /auth/login/{provider}` then `GET /auth/callback/{provider}`;
//! * `token_login.rs`: the front-end token flow, `POST /auth/session`;
//! * `google_sign_in.rs`: the "Sign in with Google" page and its
//!   redirect-mode `POST /auth/google-sign-in`;
//! * `logout.rs`: ending sessions, `POST /auth/logout` and
//!   `POST /auth/logout/all`;
//! * `backchannel.rs`: the provider ending them,
//!   `POST /auth/backchannel-logout/{provider}`;
//! * `views.rs`: what reads without changing anything, `/auth/providers`,
//!   `/auth/me`, and unknown `/auth/*` paths.
//!
//! What the two login flows share lives here: starting the session (its
//! cookie, and the [`LoginCompleted`] mark the login rate limiter reads).
//! Where a browser may be sent back to after a login is
//! [`crate::return_to`].

pub(crate) mod backchannel;
pub(crate) mod code_flow;
pub(crate) mod google_sign_in;
pub(crate) mod logout;
pub(crate) mod token_login;
pub(crate) mod views;

use crate::cookies;
use crate::middleware::rate_limit::LoginCompleted;
use crate::state::AppState;
use axum::response::Response;
use common::proto::LoginResponse;
use std::time::Duration;

/// Ends a successful login: sets the session cookie on `response` and marks
/// it [`LoginCompleted`]. Max-Age runs to the session's absolute end,
/// measured from its creation on auth-service's clock (the session is brand
/// new), so clock differences between hosts do not matter.
fn start_session(state: &AppState, response: &mut Response, login: &LoginResponse) {
    let max_age = login
        .session
        .as_ref()
        .and_then(|s| Some((s.created_at?, s.absolute_expires_at?)))
        .map(|(created, end)| end.seconds.saturating_sub(created.seconds))
        .and_then(|secs| u64::try_from(secs).ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::ZERO);
    cookies::set(
        response.headers_mut(),
        &state.cookies.session(&login.session_token, max_age),
    );
    response.extensions_mut().insert(LoginCompleted);
}
