//! `GET /api/whoami`: the caller's user and session.

use crate::extract::CurrentUser;
use crate::routes::{Identity, SessionView, UserView};
use crate::state::AppState;
use axum::routing::get;
use axum::{Json, Router};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/whoami", get(whoami))
}

async fn whoami(user: CurrentUser) -> Json<Identity> {
    Json(Identity {
        user: UserView::from(&user.user),
        session: SessionView::from(&user.session),
    })
}
