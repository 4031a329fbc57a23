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
    let branding = &state.gateway.branding;
    Ok(Html(match user {
        Some(user) => {
            let sessions = state.auth.list_sessions(&user.user.id).await?;
            pages::signed_in_page(
                branding,
                &user.user,
                &sessions,
                &user.session.id,
                unix_now(),
            )
        }
        None => pages::sign_in_page(branding, &state.auth.list_providers().await?, "/"),
    }))
}

/// The wall clock in Unix seconds, for "2 minutes ago" on the page. Only
/// words on a page depend on it, never an expiry decision (those are
/// auth-service's, on its injected clock).
#[allow(clippy::disallowed_methods)]
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
