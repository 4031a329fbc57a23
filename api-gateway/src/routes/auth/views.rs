//! The read-only `/auth/*` endpoints and their JSON shapes:
//! `GET /auth/providers`, `GET /auth/me`, and the 404 for unknown `/auth/*`
//! paths.

use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::routes::{Identity, SessionView, UserView};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use common::proto::Provider;
use serde::Serialize;

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

/// `GET /auth/me`.
pub(crate) async fn me(user: CurrentUser) -> Json<Identity> {
    Json(Identity {
        user: UserView::from(&user.user),
        session: SessionView::from(&user.session),
    })
}

/// Unknown `/auth/*` paths.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}
