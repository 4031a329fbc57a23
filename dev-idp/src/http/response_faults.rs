//! The huge- and malformed-response faults, applied around an endpoint's
//! handler: the handler runs as usual (so codes are redeemed and fetches
//! counted), then its answer is padded or replaced.

use super::Shared;
use crate::faults::{Endpoint, HugeResponse, Malformed, MalformedResponse};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Middleware state: the provider and which endpoint this route is.
pub(super) type Target = (Shared, Endpoint);

/// Applies the response faults aimed at this route's endpoint.
pub(super) async fn apply(
    State((provider, endpoint)): State<Target>,
    request: Request,
    next: Next,
) -> Response {
    let faults = provider.faults();
    let malformed = faults.malformed_response.filter(|m| m.endpoint == endpoint);
    let huge = faults.huge_response.filter(|h| h.endpoint == endpoint);
    let response = next.run(request).await;
    if let Some(malformed) = malformed {
        return malformed_response(malformed);
    }
    match huge {
        Some(huge) => huge_response(response, huge).await,
        None => response,
    }
}

/// 200 with a body the endpoint's client cannot use.
fn malformed_response(fault: MalformedResponse) -> Response {
    match fault.body {
        Malformed::NotJson => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            "<html><head><title>502 Bad Gateway</title></head>\
             <body><h1>Bad Gateway</h1><p>injected fault: not JSON</p></body></html>",
        )
            .into_response(),
        Malformed::WrongShape => {
            (StatusCode::OK, axum::Json(wrong_shape(fault.endpoint))).into_response()
        }
    }
}

/// Well-formed JSON whose members have the wrong types for `endpoint`.
fn wrong_shape(endpoint: Endpoint) -> Value {
    match endpoint {
        Endpoint::Discovery => json!({ "issuer": ["nope"], "jwks_uri": 42 }),
        Endpoint::Jwks => json!({ "keys": "nope" }),
        Endpoint::Token => json!({
            "access_token": 42,
            "token_type": "Bearer",
            "id_token": ["nope"],
        }),
        Endpoint::Userinfo => json!({ "sub": 42, "email": ["nope"] }),
        Endpoint::Tokeninfo => json!({ "aud": 42, "sub": ["nope"], "exp": true }),
        Endpoint::GithubUser => json!({ "id": "nope", "login": 42 }),
        // An object where the list of addresses belongs.
        Endpoint::GithubEmails => json!({ "email": "nope", "primary": "yes" }),
        Endpoint::GithubTokenCheck => json!({ "app": "nope", "token": 42 }),
    }
}

/// The handler's own answer (status and headers kept) with its body padded
/// to `fault.bytes`, sent with or without a `Content-Length`.
async fn huge_response(response: Response, fault: HugeResponse) -> Response {
    let (mut parts, body) = response.into_parts();
    // The handlers' bodies are small in-memory JSON; reading cannot fail.
    let original = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let padded = Bytes::from(pad(&original, fault.bytes));
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = if fault.content_length {
        // An exact size: hyper sends `Content-Length`.
        Body::from(padded)
    } else {
        // A stream of unknown size: hyper sends `Transfer-Encoding: chunked`.
        Body::from_stream(Body::from(padded).into_data_stream())
    };
    Response::from_parts(parts, body)
}

/// `original` grown to at least `bytes` bytes, still the same JSON value
/// plus at most a `"padding"` member.
fn pad(original: &[u8], bytes: usize) -> Vec<u8> {
    let missing = bytes.saturating_sub(original.len());
    if let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(original) {
        object.insert("padding".to_owned(), Value::String("x".repeat(missing)));
        if let Ok(padded) = serde_json::to_vec(&object) {
            return padded;
        }
    }
    // JSON allows any amount of trailing whitespace.
    let mut padded = original.to_vec();
    padded.resize(original.len() + missing, b' ');
    padded
}
