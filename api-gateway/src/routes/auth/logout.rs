//! Ending sessions from the browser or an API client: `POST /auth/logout`
//! (the presented session) and `POST /auth/logout/all` (every session of
//! the current user). Both clear the session cookie. Revoking one session
//! by id is `routes/sessions.rs`.

use crate::auth_client::{AuthCallError, AuthFailure};
use crate::cookies;
use crate::error::{ApiError, wants_html};
use crate::extract::{CurrentUser, credential};
use crate::routes::done;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

fn cleared(state: &AppState, headers: &HeaderMap) -> Response {
    let mut response = done(headers);
    cookies::set(response.headers_mut(), &state.cookies.clear_session());
    response
}

/// `POST /auth/logout`: revokes the presented session. Idempotent: an
/// already-ended session still gets its cookie cleared; but if auth-service
/// cannot confirm the revocation, the answer is 503, never a fake success.
/// A browser whose session came from a provider with
/// `post_logout_redirect_uri` is then sent to the provider's
/// `end_session_endpoint` (RP-Initiated Logout 1.0), to be logged out there
/// too; API clients get 204 as always.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(credential) = credential(&state, &headers)? else {
        return Err(ApiError::unauthenticated());
    };
    let mut end_session_url = None;
    if common::token::SessionToken::parse(credential.expose()).is_ok() {
        match state
            .auth
            .revoke_session_by_token(credential.expose())
            .await
        {
            Ok(url) => end_session_url = url,
            // Already ended, or never ours: the cookie is cleared anyway.
            Err(AuthCallError {
                failure: AuthFailure::Unauthenticated(_) | AuthFailure::NotFound,
                ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // auth-service builds the URL with the `url` crate, so it is always a
    // valid header value; were it not, the local logout still stands.
    let location = end_session_url
        .filter(|_| wants_html(&headers))
        .and_then(|url| HeaderValue::from_str(&url).ok());
    match location {
        Some(location) => {
            let mut response =
                (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
            cookies::set(response.headers_mut(), &state.cookies.clear_session());
            Ok(response)
        }
        None => Ok(cleared(&state, &headers)),
    }
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
