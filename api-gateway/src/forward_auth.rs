//! The forward-auth decision, shared by `/auth/check` (nginx, Traefik,
//! Caddy: [`crate::routes::check`]) and Envoy's external authorization
//! ([`crate::ext_authz`]): the policy of the `[[routes]]` entry the
//! described request's path falls under, read exactly as the gateway's own
//! routes read paths, applied to its caller ([`crate::access::admit`]). A
//! path under no route, or a check that names no request, needs any valid
//! session (the default policy). A CORS preflight from a
//! `cors_allowed_origins` origin passes without a session.

use crate::access::{Access, admit};
use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::login_redirect::{is_navigation, login_location};
use crate::original_request::OriginalRequest;
use crate::policy::RouteError;
use crate::request_path::CanonicalPath;
use crate::return_to::safe_return_to;
use crate::routes::configured::RouteTable;
use crate::state::AppState;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use common::config::{AllowList, Policy};
use std::sync::Arc;

/// The route label (logs, metrics, audit) of the default policy: not a
/// path, so it cannot collide with a configured prefix.
const DEFAULT_ROUTE: &str = "default";

/// What to tell the proxy.
pub(crate) enum Verdict {
    /// Let the request through, as this caller (`None`: anonymous on a
    /// public route, or a listed CORS preflight).
    Allowed(Option<Arc<CurrentUser>>),
    /// A browser navigation without a session: send it to this login URL
    /// (which brings it back afterwards).
    LogIn(String),
    /// Refuse it with this error: 401 for an API client without a session,
    /// 403, 400 for an unreadable request, 503 when auth-service is down.
    Refused(ApiError),
}

/// The verdict on `original` (the request the proxy asks about; `None`:
/// only the session is asked about), whose headers and credential are
/// `parts`'.
pub(crate) async fn decide(
    state: &AppState,
    table: &RouteTable,
    original: Option<&OriginalRequest>,
    parts: &mut Parts,
) -> Verdict {
    if let Some(original) = original
        && is_listed_preflight(&original.method, &parts.headers, state)
    {
        return Verdict::Allowed(None);
    }
    let default = Policy::Authenticated(AllowList::default());
    let (policy, label) = match original {
        None => (&default, DEFAULT_ROUTE),
        Some(original) => {
            let path = match CanonicalPath::parse(original.target.path()) {
                Ok(path) => path,
                Err(e) => return Verdict::Refused(e.into()),
            };
            match table.resolve(&path) {
                Ok(route) => (&route.policy, route.prefix.as_str()),
                Err(RouteError::NotFound) => (&default, DEFAULT_ROUTE),
                Err(e) => return Verdict::Refused(e.into()),
            }
        }
    };
    match admit(state, policy, label, parts).await {
        Access::Allowed(user) => Verdict::Allowed(user),
        Access::LogInFirst => {
            let method = original.map_or(&parts.method, |o| &o.method);
            if is_navigation(method, &parts.headers) {
                Verdict::LogIn(login_target(state, original))
            } else {
                Verdict::Refused(ApiError::unauthenticated())
            }
        }
        Access::Refused(e) => Verdict::Refused(e),
    }
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
