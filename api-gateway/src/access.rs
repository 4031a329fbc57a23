//! Whether the caller may make a request under a route's policy: the one
//! decision the gateway's configured routes and `/auth/check` share.
//!
//! The caller is resolved once ([`crate::extract::lookup`]); a public route
//! still answers, anonymously, when auth-service is down; anything else
//! fails closed.

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::extract::{CurrentUser, credential, lookup};
use crate::policy::{Decision, evaluate};
use crate::state::AppState;
use axum::http::header;
use axum::http::request::Parts;
use common::config::Policy;
use common::telemetry::trace_context::TraceId;
use std::sync::Arc;

/// The outcome of [`admit`].
pub(crate) enum Access {
    /// Go ahead, as this caller (`None`: anonymous on a public route).
    Allowed(Option<Arc<CurrentUser>>),
    /// The policy needs a login and there is none.
    LogInFirst,
    /// Refused (403), or the caller could not be resolved.
    Refused(ApiError),
}

/// Applies `policy` (of the route `label`: its prefix, or `default`; for
/// logs, metrics and the audit trail) to the caller of
/// `parts`.
pub(crate) async fn admit(
    state: &AppState,
    policy: &Policy,
    label: &str,
    parts: &mut Parts,
) -> Access {
    // Two session cookies are refused on public routes too: serving them
    // anonymously below is for auth-service outages only.
    if let Err(e) = credential(state, &parts.headers) {
        return Access::Refused(e.into());
    }
    let user = match lookup(state, parts).await {
        Ok(user) => user,
        Err(e) if matches!(policy, Policy::Public) => {
            tracing::warn!(error = %e, "auth-service unavailable; serving a public route anonymously");
            None
        }
        Err(e) => return Access::Refused(e),
    };
    match evaluate(policy, user.as_ref().map(|u| &u.user)) {
        Decision::Allow => Access::Allowed(user),
        Decision::Unauthenticated => {
            state.metrics.record_denial(label, "unauthenticated");
            Access::LogInFirst
        }
        Decision::Forbidden => {
            let user_id = user.as_ref().map(|u| u.user.id.as_str()).unwrap_or("");
            state.metrics.record_denial(label, "forbidden");
            // The audit trail of refusals, beside auth-service's of logins
            // and revocations (ids only, never a token).
            let ClientIp(client_ip) =
                ClientIp::of(&parts.extensions, &parts.headers, &state.trusted_proxies);
            let user_agent = parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info!(
                target: "audit",
                event = "access_denied",
                route = label,
                method = %parts.method,
                user_id,
                client_ip = client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                user_agent,
                trace_id = %TraceId::current(),
                "a route policy refused the user"
            );
            Access::Refused(
                ApiError::forbidden()
                    .with_internal(format!("policy of {label} denied user {user_id}")),
            )
        }
    }
}
