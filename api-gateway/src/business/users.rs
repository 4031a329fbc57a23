//! `GET /api/users/{id}`: a user's profile, for that user themself or an
//! administrator (role `admin`); 403 for anyone else, whether or not the id
//! exists, so the endpoint cannot be used to probe for users.
//!
//! auth-service has no "get user by id" RPC, so for another user an
//! administrator sees the id and that user's live sessions; the full profile
//! comes from the caller's own session.

use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::routes::{SessionListItem, UserView};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/users/{id}", get(get_user))
}

/// Who may read user `id`'s profile.
pub(crate) fn may_read(caller: &CurrentUser, id: &str) -> bool {
    caller.user.id == id || caller.has_role("admin")
}

async fn get_user(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !may_read(&caller, &id) {
        return Err(ApiError::forbidden());
    }
    if caller.user.id == id {
        return Ok(Json(json!({ "user": UserView::from(&caller.user) })));
    }
    let sessions = state.auth.list_sessions(&id).await?;
    let sessions: Vec<SessionListItem> = sessions
        .iter()
        .map(|s| SessionListItem::new(s, ""))
        .collect();
    Ok(Json(json!({ "user": { "id": id }, "sessions": sessions })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::proto::{Session, User};

    fn caller(id: &str, roles: &[&str]) -> CurrentUser {
        CurrentUser {
            user: User {
                id: id.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                ..User::default()
            },
            session: Session::default(),
        }
    }

    #[test]
    fn self_or_admin_only() {
        assert!(may_read(&caller("u1", &[]), "u1"));
        assert!(!may_read(&caller("u1", &[]), "u2"));
        assert!(!may_read(&caller("u1", &["user"]), "u2"));
        assert!(may_read(&caller("u1", &["admin"]), "u2"));
    }
}
