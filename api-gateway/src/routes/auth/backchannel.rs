//! OpenID Connect Back-Channel Logout 1.0 receiver,
//! `POST /auth/backchannel-logout/{provider}`: the provider posts a signed
//! logout token (form field `logout_token`) server to server; auth-service
//! verifies it and revokes the sessions it names, and every gateway's
//! cache hears of it through the revocation feed.
//!
//! Answers (section 2.8): 200 once the sessions are revoked (or none was
//! live), 400 with a JSON `error` for any invalid token, 503 when
//! auth-service cannot confirm the revocation (the provider may retry).
//! Never cached.

use crate::auth_client::{AuthCallError, AuthFailure};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::config::is_valid_provider_id;
use serde::Deserialize;

/// Largest body: a logout token is a few KiB (auth-service refuses tokens
/// over 16 KiB before any parsing).
pub(crate) const MAX_BODY: usize = 32 * 1024;

/// The form the provider posts.
#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    logout_token: String,
}

/// A 400 in the shape of section 2.8 (`error`, `error_description`).
fn refused(error: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description });
    no_store((StatusCode::BAD_REQUEST, Json(body)).into_response())
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /auth/backchannel-logout/{provider}`.
#[tracing::instrument(name = "backchannel_logout", skip_all, fields(provider = %provider))]
pub(crate) async fn backchannel_logout(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    if !is_valid_provider_id(&provider) {
        return refused("invalid_request", "unknown provider");
    }
    let Ok(Form(form)) = form else {
        return refused(
            "invalid_request",
            "expected an application/x-www-form-urlencoded body with logout_token",
        );
    };
    match state
        .auth
        .backchannel_logout(&provider, &form.logout_token)
        .await
    {
        Ok(revoked) => {
            tracing::info!(revoked, "back-channel logout");
            no_store(StatusCode::OK.into_response())
        }
        Err(AuthCallError {
            failure: AuthFailure::Unauthenticated(reason) | AuthFailure::InvalidArgument(reason),
            ..
        }) => {
            let code = reason.map_or("invalid_request", |r| r.code());
            tracing::warn!(reason = code, "back-channel logout refused");
            refused(code, "the logout token was not accepted")
        }
        Err(e) => no_store(ApiError::from(e).into_response()),
    }
}
