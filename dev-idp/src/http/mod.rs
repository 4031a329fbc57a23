//! The HTTP surface: one axum router for every endpoint, the slow-provider
//! and response faults, and the request pieces several endpoints share (bearer tokens,
//! HTTP Basic, RFC 6749 error bodies).

mod authorize;
mod backchannel;
mod cloud_identity;
mod discovery;
mod end_session;
mod github;
mod google_sign_in;
pub(crate) mod pages;
mod response_faults;
mod token;
mod twitter;
mod userinfo;

use crate::faults::Endpoint;
use crate::provider::Provider;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
pub(crate) use pages::BANNER;
use serde_json::json;
use std::sync::Arc;

pub(crate) type Shared = Arc<Provider>;

/// Every endpoint, under the issuer's path.
pub(crate) fn router(provider: Shared) -> Router {
    let base_path = provider.base_path.clone();
    let endpoints = endpoints(provider);
    if base_path.is_empty() {
        endpoints
    } else {
        Router::new().nest(&base_path, endpoints)
    }
}

fn endpoints(provider: Shared) -> Router {
    // The huge- and malformed-response faults, for the endpoint a route is.
    let faulty = |endpoint: Endpoint| {
        middleware::from_fn_with_state((provider.clone(), endpoint), response_faults::apply)
    };
    Router::new()
        .route("/", get(pages::home))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::configuration).layer(faulty(Endpoint::Discovery)),
        )
        .route("/jwks", get(discovery::jwks).layer(faulty(Endpoint::Jwks)))
        .route("/authorize", get(authorize::authorize))
        .route("/token", post(token::token).layer(faulty(Endpoint::Token)))
        .route(
            "/userinfo",
            get(userinfo::userinfo)
                .post(userinfo::userinfo)
                .layer(faulty(Endpoint::Userinfo)),
        )
        .route(
            "/tokeninfo",
            get(userinfo::tokeninfo_query)
                .post(userinfo::tokeninfo_form)
                .layer(faulty(Endpoint::Tokeninfo)),
        )
        .route(
            "/github/user",
            get(github::user).layer(faulty(Endpoint::GithubUser)),
        )
        .route(
            "/github/user/emails",
            get(github::emails).layer(faulty(Endpoint::GithubEmails)),
        )
        .route("/2/users/me", get(twitter::users_me))
        .route("/gsi/client", get(google_sign_in::client_script))
        .route("/gsi/credential", post(google_sign_in::credential))
        .route("/gsi/select", get(google_sign_in::select))
        .route("/dev/backchannel-logout", post(backchannel::send))
        .route("/logout", get(end_session::end_session))
        .route(
            "/v1/groups/-/memberships:searchDirectGroups",
            get(cloud_identity::search_direct_groups),
        )
        .route("/github/user/orgs", get(github::orgs))
        .route("/github/user/teams", get(github::teams))
        .route(
            "/github/applications/{client_id}/token",
            post(github::check_token).layer(faulty(Endpoint::GithubTokenCheck)),
        )
        .layer(middleware::from_fn_with_state(provider.clone(), slow_down))
        .with_state(provider)
}

/// The `delay` fault: every endpoint waits before answering.
async fn slow_down(State(provider): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(delay) = provider.faults().delay {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}

/// The token from `Authorization: Bearer <t>` (RFC 6750 section 2.1) or
/// GitHub's older `Authorization: token <t>`.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (known && !token.is_empty()).then_some(token)
}

/// `(user, password)` from `Authorization: Basic ...` (RFC 7617), as sent.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Secrets are compared in constant time so response timing does not leak
/// how much of a guess was right.
pub(crate) fn secrets_match(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// An OAuth 2.0 error response (RFC 6749 section 5.2; RFC 6750 section 3.1
/// for bearer-token errors).
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: String,
    description: &'static str,
    www_authenticate: Option<&'static str>,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: impl Into<String>,
        description: &'static str,
    ) -> Self {
        OAuthError {
            status,
            error: error.into(),
            description,
            www_authenticate: None,
        }
    }

    pub(crate) fn bad_request(error: &'static str, description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    /// The RFC 6749 error code, for logs.
    pub(crate) fn error_code(&self) -> &str {
        &self.error
    }

    /// 401 with a `WWW-Authenticate` challenge.
    pub(crate) fn unauthorized(
        error: &'static str,
        description: &'static str,
        challenge: &'static str,
    ) -> Self {
        OAuthError {
            www_authenticate: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, error, description)
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, no_store(), axum::Json(body)).into_response();
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// Responses carrying tokens or user data must not be cached (RFC 6749
/// section 5.1).
pub(crate) fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}
