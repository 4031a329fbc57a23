//! The front-end token flow, `POST /auth/session`: a single-page app that
//! ran the provider's own sign-in sends the provider's ID or access token;
//! auth-service verifies it and opens a session, whose cookie is set here.

use super::start_session;
use crate::auth_client::ProviderToken;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::routes::{Identity, SessionView, UserView, client_info};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::config::is_valid_provider_id;
use serde::Deserialize;

/// Largest `POST /auth/session` body: ID tokens are a few KiB.
pub(crate) const TOKEN_LOGIN_MAX_BODY: usize = 64 * 1024;

/// Body of `POST /auth/session`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenLogin {
    provider: String,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /auth/session`: the front-end token flow. JSON only (415
/// otherwise), so a cross-site HTML form cannot log a victim in.
#[tracing::instrument(name = "token_login", skip_all)]
pub(crate) async fn token_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    if !is_json(&parts.headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the token as JSON (Content-Type: application/json).",
        ));
    }
    let bytes = axum::body::to_bytes(body, TOKEN_LOGIN_MAX_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is too large.",
            )
        })?;
    let login: TokenLogin = serde_json::from_slice(&bytes).map_err(|_| {
        ApiError::bad_request(
            "invalid_json",
            "Expected {\"provider\": \"...\", \"id_token\" or \"access_token\": \"...\"}.",
        )
    })?;
    let token = match (login.id_token, login.access_token) {
        (Some(t), None) if !t.is_empty() => ProviderToken::Id(t),
        (None, Some(t)) if !t.is_empty() => ProviderToken::Access(t),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "Send exactly one of id_token and access_token.",
            ));
        }
    };
    if !is_valid_provider_id(&login.provider) {
        return Err(ApiError::login_failed().with_internal("unknown provider id shape"));
    }
    let reply = state
        .auth
        .exchange_token(login.provider, token, client_info(&parts.headers, ip))
        .await?;
    let (Some(user), Some(session)) = (&reply.user, &reply.session) else {
        return Err(ApiError::internal(
            "ExchangeToken answered without user or session",
        ));
    };
    let body = Identity {
        user: UserView::from(user),
        session: SessionView::from(session),
    };
    let mut response = Json(body).into_response();
    start_session(&state, &mut response, &reply);
    Ok(response)
}
