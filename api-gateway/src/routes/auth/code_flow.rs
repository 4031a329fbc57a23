//! The authorization code flow (RFC 6749 4.1, OpenID Connect Core 3.1):
//! `GET /auth/login` picks the provider (the sign-in page, or the only
//! one); `GET /auth/login/{provider}` asks auth-service to begin a flow and sends
//! the browser to the provider with a flow cookie binding the flow to this
//! browser; `GET /auth/callback/{provider}` brings the provider's answer
//! back, has auth-service complete the flow, and on success sets the
//! session cookie and sends the browser to where it started
//! ([`crate::return_to`]).

use super::start_session;
use crate::client_ip::ClientIp;
use crate::cookies;
use crate::error::ApiError;
use crate::pages;
use crate::return_to::safe_return_to;
use crate::routes::client_info;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use common::config::is_valid_provider_id;
use common::proto::{CompleteLoginRequest, LoginResponse};
use serde::Deserialize;

/// Query of `/auth/login` and `/auth/login/{provider}`.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    return_to: Option<String>,
}

fn bad_query(_: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", "The query string is not valid.")
}

/// `GET /auth/login`: where a browser without a session is sent
/// ([`crate::login_redirect`]). With one provider, straight on to it;
/// otherwise the sign-in page, whose buttons carry `return_to`.
pub(crate) async fn login_page(
    State(state): State<AppState>,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(bad_query)?;
    let return_to = safe_return_to(query.return_to.as_deref(), &state.return_hosts);
    let providers = state.auth.list_providers().await?;
    if let [only] = providers.as_slice() {
        let start = pages::provider_login_path(&only.id, &return_to);
        return Ok(Redirect::to(&start).into_response());
    }
    Ok(Html(pages::sign_in_page(
        &state.gateway.branding,
        &providers,
        &return_to,
    ))
    .into_response())
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
    let return_to = safe_return_to(query.return_to.as_deref(), &state.return_hosts);
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
            let return_to = safe_return_to(Some(&login.return_to), &state.return_hosts);
            let mut response = StatusCode::SEE_OTHER.into_response();
            match HeaderValue::from_str(&return_to) {
                Ok(v) => response.headers_mut().insert(header::LOCATION, v),
                Err(_) => response
                    .headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/")),
            };
            start_session(&state, &mut response, &login);
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
