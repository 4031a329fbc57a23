//! Counts every answered request by route and status. The route label is
//! the matched path template (`/auth/sessions/{id}`) or, for configured
//! routes, their prefix ([`RouteLabel`]), so label cardinality stays bounded.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// The route label a handler sets on its response when no path template
/// matched (configured routes).
#[derive(Debug, Clone)]
pub(crate) struct RouteLabel(pub String);

/// The middleware.
pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let response = next.run(request).await;
    let label = response
        .extensions()
        .get::<RouteLabel>()
        .map(|l| l.0.clone())
        .or(matched)
        .unwrap_or_else(|| "unmatched".to_owned());
    state
        .metrics
        .record_request(&label, response.status().as_u16());
    response
}
