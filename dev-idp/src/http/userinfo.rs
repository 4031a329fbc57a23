//! Endpoints that answer questions about an access token: the OpenID
//! Connect userinfo endpoint (Core section 5.3) and a Google-like
//! `tokeninfo`, which tells the caller which client the token was issued to
//! so a token minted for another app cannot log anyone in.

use super::{OAuthError, Shared, bearer_token, no_store};
use crate::clock::unix_now;
use axum::Json;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

const BEARER_CHALLENGE: &str = r#"Bearer realm="dev-idp", error="invalid_token""#;

/// `GET` or `POST /userinfo` with `Authorization: Bearer`.
pub(super) async fn userinfo(State(provider): State<Shared>, headers: HeaderMap) -> Response {
    let Some(grant) = bearer_token(&headers).and_then(|t| provider.grants().access_token(t)) else {
        return OAuthError::unauthorized(
            "invalid_token",
            "missing, unknown or expired access token",
            BEARER_CHALLENGE,
        )
        .into_response();
    };
    let user = grant.user;
    let sub = provider.faults().userinfo_sub.unwrap_or(user.sub);
    let mut info = json!({
        "sub": sub,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name,
        "picture": user.picture,
    });
    if !user.groups.is_empty() {
        info["groups"] = json!(user.groups);
    }
    (no_store(), Json(info)).into_response()
}

#[derive(Deserialize)]
pub(super) struct TokenInfoParams {
    access_token: Option<String>,
}

/// `GET /tokeninfo?access_token=...`, as Google allows (the token ends up in
/// access logs, which is why auth-service uses POST).
pub(super) async fn tokeninfo_query(
    State(provider): State<Shared>,
    params: Result<Query<TokenInfoParams>, QueryRejection>,
) -> Response {
    let token = params.ok().and_then(|Query(p)| p.access_token);
    tokeninfo(&provider, token.as_deref())
}

/// `POST /tokeninfo` with form `access_token=...`.
pub(super) async fn tokeninfo_form(
    State(provider): State<Shared>,
    params: Result<Form<TokenInfoParams>, FormRejection>,
) -> Response {
    let token = params.ok().and_then(|Form(p)| p.access_token);
    tokeninfo(&provider, token.as_deref())
}

/// Google's shape: numbers and booleans as strings.
fn tokeninfo(provider: &Shared, token: Option<&str>) -> Response {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return OAuthError::bad_request("invalid_request", "access_token is missing")
            .into_response();
    };
    let Some(grant) = provider.grants().access_token(token) else {
        return OAuthError::bad_request("invalid_token", "Invalid Value").into_response();
    };
    let expires_in = (grant.expires_at - unix_now()).max(0);
    (
        no_store(),
        Json(json!({
            "azp": grant.client_id,
            "aud": grant.client_id,
            "sub": grant.user.sub,
            "scope": grant.scope,
            "exp": grant.expires_at.to_string(),
            "expires_in": expires_in.to_string(),
            "email": grant.user.email,
            "email_verified": grant.user.email_verified.to_string(),
            "access_type": "online",
        })),
    )
        .into_response()
}
