//! `GET /`: the start page. Asks auth-service for what the page shows (the
//! caller's sessions, or the providers to sign in with) and hands it to the
//! pure renderer in [`crate::pages`].

use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::pages;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Html;

/// `GET /`: who is logged in and their sessions, or the provider buttons.
pub(crate) async fn index(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Html<String>, ApiError> {
    Ok(Html(match user {
        Some(user) => {
            let sessions = state.auth.list_sessions(&user.user.id).await?;
            pages::signed_in_page(&user.user, &sessions, &user.session.id)
        }
        None => pages::sign_in_page(&state.auth.list_providers().await?, "/"),
    }))
}
