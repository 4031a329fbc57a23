//! `GET /api/admin/users/{id}/sessions`: any user's live sessions, for
//! administrators only (role `admin`; 403 otherwise), whatever the route's
//! own policy says.

use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::routes::SessionListItem;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/admin/users/{id}/sessions", get(list))
}

async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<SessionListItem>>, ApiError> {
    if !caller.has_role("admin") {
        return Err(ApiError::forbidden());
    }
    let sessions = state.auth.list_sessions(&id).await?;
    Ok(Json(
        sessions
            .iter()
            .map(|s| SessionListItem::new(s, &caller.session.id))
            .collect(),
    ))
}
