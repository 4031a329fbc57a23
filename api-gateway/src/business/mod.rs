//! Built-in business handlers: small example APIs that show authorization
//! decided on the user id and roles, behind the gateway's route policies.
//! A `[[routes]]` entry names one with `target = { handler = "NAME" }`; each
//! serves fixed paths (below), so its route prefix must cover them.

mod admin_sessions;
mod users;
mod whoami;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;

/// The handler names a route may use.
pub(crate) const HANDLERS: &[&str] = &["users", "admin_sessions", "whoami"];

/// The router of the handler called `name`.
pub(crate) fn router(name: &str) -> Option<Router<AppState>> {
    let router = match name {
        // GET /api/users/{id}
        "users" => users::router(),
        // GET /api/admin/users/{id}/sessions
        "admin_sessions" => admin_sessions::router(),
        // GET /api/whoami
        "whoami" => whoami::router(),
        _ => return None,
    };
    Some(router.fallback(|| async { ApiError::not_found() }))
}
