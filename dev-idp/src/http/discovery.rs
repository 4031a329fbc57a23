//! Provider metadata (OpenID Connect Discovery 1.0 section 3, RFC 8414) and
//! the JWK Set (RFC 7517), the two documents a relying party fetches before
//! it can verify anything.

use super::Shared;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(super) async fn configuration(State(provider): State<Shared>) -> Json<Value> {
    let issuer = &provider.issuer;
    let advertised = provider
        .faults()
        .discovery_issuer
        .unwrap_or_else(|| issuer.clone());
    Json(json!({
        "issuer": advertised,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        // RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.
        "end_session_endpoint": format!("{issuer}/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // Not standard: Google's access-token introspection, which
        // auth-service uses for the front-end access-token flow.
        "tokeninfo_endpoint": format!("{issuer}/tokeninfo"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "nonce",
            "email", "email_verified", "name", "picture", "groups", "sid",
        ],
        // RFC 9207: redirects back carry `iss`, so clients can detect mix-up.
        "authorization_response_iss_parameter_supported": true,
    }))
}

pub(super) async fn jwks(State(provider): State<Shared>) -> Response {
    provider.count_jwks_fetch();
    let faults = provider.faults();
    if let Some(status) = faults.jwks_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "JWKS unavailable (injected fault)").into_response();
    }
    let keys = provider.jwks(!faults.jwks_omit_kid);
    (
        // Relying parties cache the set; rotation tests rely on them
        // refetching on an unknown `kid` rather than on expiry.
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=300"),
        )],
        Json(keys),
    )
        .into_response()
}
