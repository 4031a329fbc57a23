//! An X-like API at the issuer's root, as on `api.x.com`, for the X
//! (Twitter) provider path: X issues no ID tokens, so the relying party
//! reads the user from the API v2 `GET /2/users/me`. The code flow itself is the provider's usual
//! `/authorize` and `/token` (PKCE, HTTP Basic for confidential clients), as
//! on X.

use super::{Shared, bearer_token};
use crate::DevUser;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// X user ids are decimal numbers above 2^53 (sent as strings): the
/// development users' ids are this plus their GitHub-like id.
const X_ID_BASE: u64 = 1_900_000_000_000_000_000;

/// The `user.fields` query parameter (comma-separated).
#[derive(serde::Deserialize)]
pub(super) struct Fields {
    #[serde(rename = "user.fields")]
    user_fields: Option<String>,
}

/// X's error body for a refused token.
fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        })),
    )
        .into_response()
}

/// The user as X shows them: `id`, `name` and `username` always, the
/// requested extra fields where we have them. `confirmed_email` needs both
/// the field and the `users.email` scope, and a confirmed address: mallory,
/// whose address is unverified, has none, as a user without one on X.
fn user_json(user: &DevUser, fields: &[&str], scope: &str) -> Value {
    let mut data = json!({
        "id": (X_ID_BASE + user.github_id).to_string(),
        "name": user.name,
        "username": user.login,
    });
    if fields.contains(&"profile_image_url") {
        data["profile_image_url"] = json!(user.picture);
    }
    let email_granted = scope.split(' ').any(|s| s == "users.email");
    if fields.contains(&"confirmed_email") && email_granted && user.email_verified {
        data["confirmed_email"] = json!(user.email);
    }
    json!({ "data": data })
}

/// `GET /2/users/me`.
pub(super) async fn users_me(
    State(provider): State<Shared>,
    Query(fields): Query<Fields>,
    headers: HeaderMap,
) -> Response {
    let grant = bearer_token(&headers).and_then(|token| provider.grants().access_token(token));
    let Some(grant) = grant else {
        return unauthorized();
    };
    let requested = fields.user_fields.unwrap_or_default();
    let requested: Vec<&str> = requested.split(',').map(str::trim).collect();
    Json(user_json(&grant.user, &requested, &grant.scope)).into_response()
}
