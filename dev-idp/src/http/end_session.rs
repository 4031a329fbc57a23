//! RP-Initiated Logout 1.0: `GET /logout` with `id_token_hint`, `client_id`
//! and `post_logout_redirect_uri`. The user's provider sessions end here
//! (a later back-channel logout names none of them), and the browser goes
//! back to the relying party. The hint must be an ID token this provider
//! issued to that client; the way back must be on a loopback host, as
//! everything the dev-idp talks to is.

use super::Shared;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

/// The query of `GET /logout`.
#[derive(Deserialize)]
pub(super) struct EndSession {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<Url>,
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_request", "error_description": message })),
    )
        .into_response()
}

/// The claims of a hint, signature unchecked: the dev-idp trusts what its
/// own relying parties send it, and only reads `sub` and `aud`.
fn hint_claims(hint: &str) -> Option<Value> {
    jsonwebtoken::dangerous::insecure_decode::<Value>(hint)
        .ok()
        .map(|data| data.claims)
}

/// `GET /logout`.
pub(super) async fn end_session(
    State(provider): State<Shared>,
    Query(query): Query<EndSession>,
) -> Response {
    let Some(client_id) = query.client_id.filter(|c| provider.client(c).is_some()) else {
        return bad_request("unknown or missing client_id");
    };
    if let Some(hint) = &query.id_token_hint {
        let Some(claims) = hint_claims(hint) else {
            return bad_request("id_token_hint is not an ID token");
        };
        if claims["aud"].as_str() != Some(client_id.as_str()) {
            return bad_request("id_token_hint was issued to another client");
        }
        if let Some(sub) = claims["sub"].as_str() {
            let ended = provider.end_sessions_of_subject(sub);
            tracing::info!(sub, ended, "provider sessions ended (RP-initiated logout)");
        }
    }
    match query.post_logout_redirect_uri {
        Some(back) if super::backchannel::is_loopback(&back) => {
            Redirect::to(back.as_str()).into_response()
        }
        Some(_) => bad_request("post_logout_redirect_uri must be on a loopback host"),
        None => (
            StatusCode::OK,
            "You are logged out of the development provider.",
        )
            .into_response(),
    }
}
