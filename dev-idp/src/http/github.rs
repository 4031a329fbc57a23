//! A GitHub-like REST API under `/github`, for the OAuth 2.0-only provider
//! path: GitHub issues no ID tokens, so the relying party reads the user
//! (`/user`), the verified e-mail (`/user/emails`), the organisations and
//! teams (`/user/orgs`, `/user/teams`, with the `read:org` scope), and
//! checks that a front-end's token belongs to its app
//! (`POST /applications/{id}/token`).

use super::{Shared, basic_credentials, bearer_token, secrets_match};
use crate::DevUser;
use crate::grants::AccessGrant;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// GitHub's error body shape.
fn github_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
        })),
    )
        .into_response()
}

fn user_json(user: &DevUser) -> Value {
    json!({
        "id": user.github_id,
        "login": user.login,
        "name": user.name,
        "avatar_url": user.picture,
        "email": user.email,
        "type": "User",
    })
}

/// The grant behind the request's token; `None` is GitHub's 401.
fn authenticated(provider: &Shared, headers: &HeaderMap) -> Option<AccessGrant> {
    bearer_token(headers).and_then(|token| provider.grants().access_token(token))
}

fn bad_credentials() -> Response {
    github_error(StatusCode::UNAUTHORIZED, "Bad credentials")
}

/// `GET /github/user`.
pub(super) async fn user(State(provider): State<Shared>, headers: HeaderMap) -> Response {
    match authenticated(&provider, &headers) {
        Some(grant) => Json(user_json(&grant.user)).into_response(),
        None => bad_credentials(),
    }
}

/// `GET /github/user/emails`: the one address, primary, verified or not.
pub(super) async fn emails(State(provider): State<Shared>, headers: HeaderMap) -> Response {
    match authenticated(&provider, &headers) {
        Some(grant) => Json(json!([{
            "email": grant.user.email,
            "primary": true,
            "verified": grant.user.email_verified,
            "visibility": "public",
        }]))
        .into_response(),
        None => bad_credentials(),
    }
}

/// The organisation every development user with groups belongs to, in
/// mixed case as GitHub logins may be; each of the user's groups is a team
/// in it.
pub(crate) const DEV_ORG: &str = "Portcullis-Dev";

/// GitHub's pagination parameters (`per_page` at most 100, default 30;
/// `page` from 1).
#[derive(serde::Deserialize)]
pub(super) struct Page {
    per_page: Option<usize>,
    page: Option<usize>,
}

impl Page {
    fn of(&self, items: Vec<Value>) -> Vec<Value> {
        let size = self.per_page.unwrap_or(30).clamp(1, 100);
        let skip = self
            .page
            .unwrap_or(1)
            .max(1)
            .saturating_sub(1)
            .saturating_mul(size);
        items.into_iter().skip(skip).take(size).collect()
    }
}

fn org_json() -> Value {
    json!({ "login": DEV_ORG, "id": 9001 })
}

/// Whether the grant may read organisation memberships.
fn reads_orgs(grant: &AccessGrant) -> bool {
    grant.scope.split(' ').any(|s| s == "read:org")
}

/// `GET /github/user/orgs`: [`DEV_ORG`] for a user with groups; without
/// the `read:org` scope, none (GitHub then lists public memberships only,
/// and the development org's are private).
pub(super) async fn orgs(
    State(provider): State<Shared>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> Response {
    match authenticated(&provider, &headers) {
        Some(grant) => {
            let member = reads_orgs(&grant) && !grant.user.groups.is_empty();
            let items = if member { vec![org_json()] } else { Vec::new() };
            Json(page.of(items)).into_response()
        }
        None => bad_credentials(),
    }
}

/// `GET /github/user/teams`: one team per group of the user, in
/// [`DEV_ORG`]; 403 without the `read:org` scope.
pub(super) async fn teams(
    State(provider): State<Shared>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> Response {
    match authenticated(&provider, &headers) {
        Some(grant) if reads_orgs(&grant) => {
            let items = grant
                .user
                .groups
                .iter()
                .map(|group| json!({ "slug": group, "name": group, "organization": org_json() }))
                .collect();
            Json(page.of(items)).into_response()
        }
        Some(_) => github_error(
            StatusCode::FORBIDDEN,
            "Resource not accessible: the token lacks the read:org scope",
        ),
        None => bad_credentials(),
    }
}

/// `POST /github/applications/{client_id}/token`: the app authenticates
/// with HTTP Basic `client_id:client_secret`; 200 only if the token in the
/// JSON body was issued to that app, 404 otherwise (GitHub's answer).
pub(super) async fn check_token(
    State(provider): State<Shared>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let authenticated_app = basic_credentials(&headers).is_some_and(|(id, secret)| {
        id == client_id
            && provider
                .client(&client_id)
                .and_then(|c| c.client_secret.as_deref())
                .is_some_and(|expected| secrets_match(expected, &secret))
    });
    if !authenticated_app {
        return bad_credentials();
    }
    let token = body
        .as_ref()
        .ok()
        .and_then(|Json(b)| b.get("access_token"))
        .and_then(Value::as_str);
    let Some(token) = token else {
        return github_error(StatusCode::UNPROCESSABLE_ENTITY, "access_token is required");
    };
    match provider.grants().access_token(token) {
        Some(grant) if grant.client_id == client_id => Json(json!({
            "id": 1,
            "token": token,
            "scopes": grant.scope.split(' ').collect::<Vec<_>>(),
            "app": { "client_id": client_id },
            "user": user_json(&grant.user),
        }))
        .into_response(),
        _ => github_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}
