//! The current user's sessions: list them, revoke one by its public id
//! (`DELETE` for API clients, a `POST .../revoke` form for the login page,
//! since HTML forms cannot send `DELETE`).

use super::{SessionListItem, done};
use crate::cookies;
use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// `GET /auth/sessions`.
pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<SessionListItem>>, ApiError> {
    let sessions = state.auth.list_sessions(&user.user.id).await?;
    Ok(Json(
        sessions
            .iter()
            .map(|s| SessionListItem::new(s, &user.session.id))
            .collect(),
    ))
}

/// Revokes one of the caller's own sessions (auth-service checks the owner:
/// another user's session id is a 404 and nothing is revoked). Revoking the
/// current session also clears its cookie.
async fn revoke(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    mut response: Response,
) -> Result<Response, ApiError> {
    state.auth.revoke_session_by_id(id, &user.user.id).await?;
    if id == user.session.id {
        cookies::set(response.headers_mut(), &state.cookies.clear_session());
    }
    Ok(response)
}

/// `DELETE /auth/sessions/{id}`: 204.
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    revoke(&state, &user, &id, StatusCode::NO_CONTENT.into_response()).await
}

/// `POST /auth/sessions/{id}/revoke`: the form version, 303 back to `/`
/// for browsers.
pub(crate) async fn revoke_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    revoke(&state, &user, &id, done(&headers)).await
}
