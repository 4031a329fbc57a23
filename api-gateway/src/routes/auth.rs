//! Login and logout: the code flow (`/auth/login/{provider}`,
//! `/auth/callback/{provider}`), the front-end token flow
//! (`POST /auth/session`), `/auth/me`, `/auth/providers`, logout.

use super::{Identity, SessionView, UserView, client_info, done};
use crate::auth_client::{AuthCallError, AuthFailure, ProviderToken};
use crate::client_ip::ClientIp;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{CurrentUser, credential};
use crate::return_to::safe_return_to;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::config::is_valid_provider_id;
use common::proto::{CompleteLoginRequest, LoginResponse, Provider};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Largest `POST /auth/session` body: ID tokens are a few KiB.
pub(crate) const TOKEN_LOGIN_MAX_BODY: usize = 64 * 1024;

/// `GET /auth/providers`.
pub(crate) async fn providers(
    State(state): State<AppState>,
) -> Result<Json<Vec<ProviderView>>, ApiError> {
    let providers = state.auth.list_providers().await?;
    Ok(Json(providers.iter().map(ProviderView::from).collect()))
}

/// A provider in `/auth/providers`.
#[derive(Debug, Serialize)]
pub(crate) struct ProviderView {
    pub id: String,
    pub name: String,
    pub kind: String,
}

impl From<&Provider> for ProviderView {
    fn from(p: &Provider) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            kind: p.kind.clone(),
        }
    }
}

/// Query of `/auth/login/{provider}`.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    return_to: Option<String>,
}

fn bad_query(_: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", "The query string is not valid.")
}

/// `GET /auth/login/{provider}`: begins the code flow and sends the browser
/// to the provider with a flow cookie binding the flow to it.
#[tracing::instrument(name = "login", skip_all, fields(provider = %provider))]
pub(crate) async fn login(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(bad_query)?;
    if !is_valid_provider_id(&provider) {
        return Err(ApiError::not_found());
    }
    let return_to = safe_return_to(query.return_to.as_deref());
    let redirect_uri = format!("{}/auth/callback/{provider}", state.public_origin);
    let begun = state
        .auth
        .begin_login(&provider, redirect_uri, return_to)
        .await?;
    let location = url::Url::parse(&begun.authorization_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .and_then(|u| HeaderValue::from_str(u.as_str()).ok())
        .ok_or_else(|| ApiError::internal("BeginLogin returned an unusable authorization URL"))?;
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    cookies::set(
        response.headers_mut(),
        &state.cookies.flow(&begun.flow_handle),
    );
    Ok(response)
}

/// Query of `/auth/callback/{provider}` (RFC 6749 4.1.2, RFC 9207).
#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback/{provider}`: completes the flow. The flow cookie is
/// cleared whatever happens; a session cookie is set only on success.
#[tracing::instrument(name = "callback", skip_all, fields(provider = %provider))]
pub(crate) async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let outcome = complete(&state, &provider, ip, &headers, query).await;
    let mut response = match outcome {
        Ok(login) => {
            let return_to = safe_return_to(Some(&login.return_to));
            let mut response = StatusCode::SEE_OTHER.into_response();
            match HeaderValue::from_str(&return_to) {
                Ok(v) => response.headers_mut().insert(header::LOCATION, v),
                Err(_) => response
                    .headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/")),
            };
            set_session_cookie(&state, response.headers_mut(), &login);
            response
        }
        Err(e) => e.into_response(),
    };
    cookies::set(response.headers_mut(), &state.cookies.clear_flow());
    response
}

async fn complete(
    state: &AppState,
    provider: &str,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<LoginResponse, ApiError> {
    let Query(query) = query.map_err(bad_query)?;
    if !is_valid_provider_id(provider) {
        return Err(ApiError::not_found());
    }
    if let Some(error) = &query.error {
        let error: String = error.chars().take(64).collect();
        return Err(ApiError::bad_request(
            "provider_error",
            "The identity provider did not complete the login (it was cancelled or refused).",
        )
        .with_internal(format!("provider {provider} returned error={error:?}")));
    }
    let (Some(code), Some(flow_state)) = (query.code, query.state) else {
        return Err(ApiError::bad_request(
            "invalid_callback",
            "The login callback is missing its code or state.",
        ));
    };
    let Some(flow_handle) = state.cookies.read_flow(headers)? else {
        return Err(ApiError::bad_request(
            "flow_cookie_missing",
            "This login was not started in this browser, or it took too long. Please start again.",
        ));
    };
    state
        .auth
        .complete_login(CompleteLoginRequest {
            provider_id: provider.to_owned(),
            code,
            state: flow_state,
            flow_handle,
            iss: query.iss.unwrap_or_default(),
            client: Some(client_info(headers, ip)),
        })
        .await
        .map_err(ApiError::from)
}

/// Sets the session cookie for a new session. Max-Age runs to the session's
/// absolute end, measured from its creation on auth-service's clock (the
/// session is brand new), so clock differences between hosts do not matter.
fn set_session_cookie(state: &AppState, headers: &mut HeaderMap, login: &LoginResponse) {
    let max_age = login
        .session
        .as_ref()
        .and_then(|s| Some((s.created_at?, s.absolute_expires_at?)))
        .map(|(created, end)| end.seconds.saturating_sub(created.seconds))
        .and_then(|secs| u64::try_from(secs).ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::ZERO);
    cookies::set(
        headers,
        &state.cookies.session(&login.session_token, max_age),
    );
}

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
    set_session_cookie(&state, response.headers_mut(), &reply);
    Ok(response)
}

/// `GET /auth/me`.
pub(crate) async fn me(user: CurrentUser) -> Json<Identity> {
    Json(Identity {
        user: UserView::from(&user.user),
        session: SessionView::from(&user.session),
    })
}

fn cleared(state: &AppState, headers: &HeaderMap) -> Response {
    let mut response = done(headers);
    cookies::set(response.headers_mut(), &state.cookies.clear_session());
    response
}

/// `POST /auth/logout`: revokes the presented session. Idempotent: an
/// already-ended session still gets its cookie cleared; but if auth-service
/// cannot confirm the revocation, the answer is 503, never a fake success.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(credential) = credential(&state, &headers)? else {
        return Err(ApiError::unauthenticated());
    };
    if common::token::SessionToken::parse(credential.expose()).is_ok() {
        match state
            .auth
            .revoke_session_by_token(credential.expose())
            .await
        {
            Ok(()) => {}
            // Already ended, or never ours: the cookie is cleared anyway.
            Err(AuthCallError {
                failure: AuthFailure::Unauthenticated(_) | AuthFailure::NotFound,
                ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(cleared(&state, &headers))
}

/// `POST /auth/logout/all`: revokes every session of the current user.
#[tracing::instrument(name = "logout_all", skip_all, fields(user_id = %user.user.id))]
pub(crate) async fn logout_all(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let revoked = state.auth.revoke_user_sessions(&user.user.id).await?;
    tracing::info!(user_id = %user.user.id, revoked, "logged out everywhere");
    Ok(cleared(&state, &headers))
}

/// Unknown `/auth/*` paths.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}
