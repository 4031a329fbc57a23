//! A Cloud Identity-like `GET /v1/groups/-/memberships:searchDirectGroups`,
//! for Google Workspace groups: with a token granted the
//! `cloud-identity.groups.readonly` scope, the groups of the member the
//! query names, as `{group}@{e-mail domain}`, but only to that member
//! themself (Google leaves out groups the caller may not view; here a user
//! may view only their own).

use super::{Shared, bearer_token};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

const GROUPS_SCOPE: &str = "https://www.googleapis.com/auth/cloud-identity.groups.readonly";

/// The query parameters we read.
#[derive(Deserialize)]
pub(super) struct Search {
    query: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": status.as_u16(), "message": message } })),
    )
        .into_response()
}

/// The member named by `member_key_id == '...'` in a CEL query.
fn member(query: &str) -> Option<&str> {
    let rest = query.split_once("member_key_id == '")?.1;
    Some(rest.split_once('\'')?.0)
}

/// `GET /v1/groups/-/memberships:searchDirectGroups`.
pub(super) async fn search_direct_groups(
    State(provider): State<Shared>,
    Query(search): Query<Search>,
    headers: axum::http::HeaderMap,
) -> Response {
    let grant = bearer_token(&headers).and_then(|token| provider.grants().access_token(token));
    let Some(grant) = grant else {
        return error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials.",
        );
    };
    if !grant.scope.split(' ').any(|s| s == GROUPS_SCOPE) {
        return error(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
        );
    }
    let Some(member) = search.query.as_deref().and_then(member) else {
        return error(StatusCode::BAD_REQUEST, "query must name member_key_id");
    };
    let user = &grant.user;
    let domain = user
        .email
        .rsplit_once('@')
        .map_or("example.com", |(_, d)| d);
    let memberships: Vec<_> = if member.eq_ignore_ascii_case(&user.email) {
        user.groups
            .iter()
            .map(|g| {
                json!({
                    "group": format!("groups/{g}"),
                    "groupKey": { "id": format!("{g}@{domain}") },
                    "displayName": g,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    Json(json!({ "memberships": memberships })).into_response()
}
