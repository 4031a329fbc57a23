//! Liveness, readiness and metrics.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 when auth-service answers, 503 otherwise.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.auth.ready().await {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "auth-service unavailable\n",
        )
            .into_response()
    }
}

/// `GET /metrics` on the public listener (with `public_metrics`).
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.response()
}
