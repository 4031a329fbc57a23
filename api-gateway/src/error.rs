//! `ApiError`: every failure the gateway answers with, built at the edge.
//!
//! Each leaf module fails with its own error type and knows nothing of HTTP:
//! `AuthCallError` (`auth_client.rs`, the gRPC status already classified),
//! `ProxyError` (`proxy.rs`), `BodyError` (`request_body.rs`), `PathError`
//! (`request_path.rs`), `RouteError` (`policy.rs`), `UnderscoreHeader`
//! (`client_headers.rs`) and `AmbiguousCookie` (`cookies.rs`). Each has one
//! `From` impl here, the one place its variants become an HTTP status, a
//! code and a message (linkerd's `app/core/src/errors.rs` does the same).
//!
//! An error renders as JSON `{"error": "<code>", "message": "<text>"}`. The
//! [`render_errors`] middleware turns it into a readable HTML page when the
//! request is a browser navigation (`Accept: text/html`), and logs the
//! internal cause, which never reaches the client (as in axum's
//! `examples/error-handling`). Messages are fixed texts: they never echo a
//! token, code, cookie or provider secret.

use crate::auth_client::{AuthCall, AuthCallError, AuthFailure};
use crate::client_headers::UnderscoreHeader;
use crate::cookies::AmbiguousCookie;
use crate::original_request::OriginalRequestError;
use crate::policy::RouteError;
use crate::proxy::ProxyError;
use crate::request_body::BodyError;
use crate::request_path::PathError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use common::reason::Reason;
use std::borrow::Cow;

/// A failure answered to the client.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Machine-readable code (`unauthenticated`, `csrf`, ...).
    pub code: &'static str,
    /// Human-readable text, safe to show.
    pub message: Cow<'static, str>,
    /// The cause, for the log only.
    pub internal: Option<String>,
    /// Seconds for a `Retry-After` header (429 and 503 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a fixed message.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message: Cow::Borrowed(message),
            internal: None,
            retry_after: None,
        }
    }

    /// Adds the cause for the log.
    pub(crate) fn with_internal(mut self, cause: impl Into<String>) -> Self {
        self.internal = Some(cause.into());
        self
    }

    /// 401: no valid session.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "You are not logged in, or your session has ended.",
        )
    }

    /// 403: logged in, but this user may not do this.
    pub(crate) fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You are not allowed to access this resource.",
        )
    }

    /// 403: an unsafe request that did not come from our origin.
    pub(crate) fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "Cross-site request refused: this request must come from this site.",
        )
    }

    /// 429: this client made too many login requests; it may try again in
    /// `retry_after_secs` seconds (RFC 6585 4, RFC 9110 10.2.3).
    pub(crate) fn rate_limited(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many login attempts from your address. Please wait a moment and try again.",
        );
        error.retry_after = Some(retry_after_secs);
        error
    }

    /// 404.
    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Nothing here.")
    }

    /// 400 with a specific code and message.
    pub(crate) fn bad_request(code: &'static str, message: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: a login (code flow callback or token exchange) failed.
    pub(crate) fn login_failed() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "login_failed",
            "The login could not be completed. Please try again.",
        )
    }

    /// 401: a login was refused for `reason` (`nonce_mismatch`,
    /// `bad_signature`, ...), which becomes the error code so front-ends
    /// and operators see exactly which check failed.
    pub(crate) fn login_refused(reason: Reason) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            reason.code(),
            "The login could not be completed: the identity provider's answer failed verification.",
        )
    }

    /// 502: auth-service answered, but the identity provider could not be
    /// reached or answered nonsense. Existing sessions are unaffected.
    pub(crate) fn provider_unavailable() -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            Reason::ProviderUnavailable.code(),
            "The identity provider could not be reached. Please try again later; \
             if you are already logged in, nothing changes for you.",
        )
    }

    /// 503: auth-service cannot be reached. Fail closed.
    pub(crate) fn auth_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "auth_unavailable",
            "The authentication service is unavailable. Please try again shortly.",
        )
    }

    /// 502: the upstream could not be reached or broke the exchange.
    pub(crate) fn upstream_error() -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "The upstream service could not be reached.",
        )
    }

    /// 504: the upstream did not answer within `upstream_timeout`.
    pub(crate) fn upstream_timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "The upstream service did not answer in time.",
        )
    }

    /// 500: a bug or an unexpected answer; details go to the log only.
    pub(crate) fn internal(cause: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error.",
        )
        .with_internal(cause)
    }
}

/// A failed auth-service call, mapped once for every call site.
///
/// Unauthenticated 401, PermissionDenied 403, InvalidArgument 400 (401 for
/// ValidateSession and the logins: a bad token is never a 400), NotFound
/// 404, and every sign that auth-service is unreachable or slow 503, so
/// nothing protected is ever served without an answer from auth-service.
/// During a login, a reason on the closed list becomes the error code, and
/// an unreachable identity provider is a 502.
impl From<AuthCallError> for ApiError {
    fn from(e: AuthCallError) -> Self {
        let call = e.call;
        let mapped = match e.failure {
            AuthFailure::ProviderUnavailable if call.is_login() => Self::provider_unavailable(),
            AuthFailure::Unauthenticated(Some(reason))
            | AuthFailure::InvalidArgument(Some(reason))
                if call.is_login() =>
            {
                Self::login_refused(reason)
            }
            AuthFailure::Unauthenticated(_) if call.completes_login() => Self::login_failed(),
            AuthFailure::Unauthenticated(_) => Self::unauthenticated(),
            AuthFailure::PermissionDenied => Self::forbidden(),
            AuthFailure::InvalidArgument(_) if call == AuthCall::ValidateSession => {
                Self::unauthenticated()
            }
            AuthFailure::InvalidArgument(_) if call.completes_login() => Self::login_failed(),
            AuthFailure::InvalidArgument(_) => {
                Self::bad_request("invalid_request", "The request is not valid.")
            }
            AuthFailure::NotFound => Self::not_found(),
            AuthFailure::ProviderUnavailable | AuthFailure::Unavailable => Self::auth_unavailable(),
            AuthFailure::Internal => Self::internal(String::new()),
        };
        // auth-service's message never contains secrets either.
        mapped.with_internal(e.to_string())
    }
}

/// The proxy failed: 502 when the upstream could not be reached or broke the
/// exchange, 504 when it did not answer in time, 413/400 for a request body
/// that could not be read, 500 for a URI we could not build.
impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> Self {
        match e {
            ProxyError::Body(body) => Self::from(body),
            ProxyError::UpstreamUri(_) => Self::internal(e.to_string()),
            ProxyError::Upstream { .. } => Self::upstream_error().with_internal(e.to_string()),
            ProxyError::NotUpgradable => {
                Self::bad_request("not_upgradable", "WebSockets need an HTTP/1.1 connection.")
            }
            ProxyError::TooManyTunnels => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_websockets",
                "Too many WebSockets are open; try again later.",
            )
            .with_internal(e.to_string()),
            ProxyError::Timeout { .. } => Self::upstream_timeout().with_internal(e.to_string()),
        }
    }
}

/// A request body that could not be read: 413 over the cap, 400 otherwise.
impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "The request body is too large.",
            ),
            BodyError::Malformed(_) => {
                Self::bad_request("bad_body", "The request body is malformed or incomplete.")
            }
        }
        .with_internal(error.to_string())
    }
}

/// Two different values of one of our cookies: 400 `ambiguous_cookie` (see
/// [`AmbiguousCookie`] for why not 401).
impl From<AmbiguousCookie> for ApiError {
    fn from(e: AmbiguousCookie) -> Self {
        Self::bad_request(
            "ambiguous_cookie",
            "This request carries two different session cookies for this site (one may have \
             been set by another site under the same domain). Clear this site's cookies, then \
             log in again.",
        )
        .with_internal(e.to_string())
    }
}

/// A header name with `_`: 400 `invalid_header`.
impl From<UnderscoreHeader> for ApiError {
    fn from(e: UnderscoreHeader) -> Self {
        Self::bad_request(
            "invalid_header",
            "Request header names containing '_' are refused: some servers read them as \
             another header.",
        )
        .with_internal(e.to_string())
    }
}

/// A refused request path: 400 `invalid_path` with the rule it broke.
/// A proxy's description of the request it asks `/auth/check` about was
/// refused: 400, the detail in the log (it is for the operator).
impl From<OriginalRequestError> for ApiError {
    fn from(e: OriginalRequestError) -> Self {
        Self::bad_request(
            "invalid_forwarded_request",
            "The proxy's description of the request it is checking (X-Forwarded-Uri, \
             X-Original-URL, X-Forwarded-Method, X-Original-Method) was refused.",
        )
        .with_internal(e.to_string())
    }
}

impl From<PathError> for ApiError {
    fn from(e: PathError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_path", e.message())
    }
}

/// A canonical path without a single route: 404 when none covers it, 400
/// `invalid_path` when servers would disagree on which one does.
impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::NotFound => Self::not_found(),
            RouteError::Ambiguous => Self::bad_request(
                "invalid_path",
                "The request path falls under different routes depending on letter case or ';' \
                 parameters.",
            ),
            RouteError::PathParameters => Self::bad_request(
                "invalid_path",
                "';' path parameters are not allowed on this route.",
            ),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    /// The JSON body, `{"error": "<code>", "message": "<text>"}`, for
    /// answers built elsewhere than [`IntoResponse`] (Envoy's ext_authz).
    pub(crate) fn json_body(&self) -> String {
        serde_json::to_string(&ErrorBody {
            error: self.code,
            message: &self.message,
        })
        .unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: self.code,
            message: &self.message,
        });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 9110 11.6.1: a 401 names a scheme; ours is the session
            // token as a bearer credential (or the cookie).
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"portcullis\""),
            );
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// Whether the client is a browser navigating (it wants HTML, not JSON).
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// Logs every [`ApiError`] (with its internal cause) and renders it as an
/// HTML page for browser navigations.
pub(crate) async fn render_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let html = wants_html(request.headers());
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<ApiError>() else {
        return response;
    };
    let internal = error.internal.as_deref().unwrap_or("");
    if error.status.is_server_error() {
        tracing::error!(
            status = error.status.as_u16(),
            code = error.code,
            cause = internal,
            "request failed"
        );
    } else {
        tracing::info!(
            status = error.status.as_u16(),
            code = error.code,
            cause = internal,
            "request refused"
        );
    }
    if !html {
        return response;
    }
    let mut page = (
        error.status,
        Html(crate::pages::error_page(
            &state.gateway.branding,
            error.status,
            error.code,
            &error.message,
        )),
    )
        .into_response();
    // Keep headers the handler set on purpose (Set-Cookie clearing the flow
    // cookie, WWW-Authenticate), drop the JSON body's own.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            page.headers_mut().append(name.clone(), value.clone());
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    /// The REASON metadata key auth-service sends.
    const REASON_METADATA: &str = "portcullis-reason";

    impl ApiError {
        /// The answer to `call` failing with `status`.
        fn from_status(call: AuthCall, status: &tonic::Status) -> Self {
            Self::from(AuthCallError::from_status(call, status))
        }
    }

    #[test]
    fn status_mapping_table() {
        use AuthCall::*;
        let cases = [
            (ListSessions, Code::Unauthenticated, 401, "unauthenticated"),
            (ListSessions, Code::PermissionDenied, 403, "forbidden"),
            (BeginLogin, Code::InvalidArgument, 400, "invalid_request"),
            (
                ValidateSession,
                Code::InvalidArgument,
                401,
                "unauthenticated",
            ),
            (
                ValidateSession,
                Code::Unauthenticated,
                401,
                "unauthenticated",
            ),
            (CompleteLogin, Code::Unauthenticated, 401, "login_failed"),
            (CompleteLogin, Code::InvalidArgument, 401, "login_failed"),
            (ExchangeToken, Code::InvalidArgument, 401, "login_failed"),
            (RevokeSession, Code::NotFound, 404, "not_found"),
            (ValidateSession, Code::Unavailable, 503, "auth_unavailable"),
            (
                ValidateSession,
                Code::DeadlineExceeded,
                503,
                "auth_unavailable",
            ),
            (ValidateSession, Code::Cancelled, 503, "auth_unavailable"),
            (ValidateSession, Code::Unknown, 503, "auth_unavailable"),
            (ListProviders, Code::Internal, 500, "internal"),
            (ListProviders, Code::Unimplemented, 500, "internal"),
            (BeginLogin, Code::Unauthenticated, 401, "unauthenticated"),
        ];
        for (call, code, http, name) in cases {
            let e = ApiError::from_status(call, &tonic::Status::new(code, "x"));
            assert_eq!(e.status.as_u16(), http, "{call:?} {code:?}");
            assert_eq!(e.code, name, "{call:?} {code:?}");
        }
    }

    #[test]
    fn login_reasons_become_error_codes_and_unknown_ones_do_not() {
        let with_reason = |code: Code, reason: &'static str| {
            let mut status = tonic::Status::new(code, "x");
            status.metadata_mut().insert(
                REASON_METADATA,
                tonic::metadata::MetadataValue::from_static(reason),
            );
            status
        };
        use AuthCall::*;
        let cases = [
            (
                CompleteLogin,
                Code::Unauthenticated,
                "nonce_mismatch",
                401,
                "nonce_mismatch",
            ),
            (
                ExchangeToken,
                Code::Unauthenticated,
                "bad_signature",
                401,
                "bad_signature",
            ),
            (
                BeginLogin,
                Code::Unauthenticated,
                "discovery_issuer_mismatch",
                401,
                "discovery_issuer_mismatch",
            ),
            (
                CompleteLogin,
                Code::Unauthenticated,
                "<script>",
                401,
                "login_failed",
            ),
            (
                CompleteLogin,
                Code::Unavailable,
                "provider_unavailable",
                502,
                "provider_unavailable",
            ),
            (
                BeginLogin,
                Code::Unavailable,
                "provider_unavailable",
                502,
                "provider_unavailable",
            ),
            // Not a login: a session check never answers a login reason.
            (
                ValidateSession,
                Code::Unauthenticated,
                "invalid_session",
                401,
                "unauthenticated",
            ),
            (
                ValidateSession,
                Code::Unavailable,
                "provider_unavailable",
                503,
                "auth_unavailable",
            ),
        ];
        for (call, code, reason, http, name) in cases {
            let e = ApiError::from_status(call, &with_reason(code, reason));
            assert_eq!(e.status.as_u16(), http, "{call:?} {code:?} {reason}");
            assert_eq!(e.code, name, "{call:?} {code:?} {reason}");
        }
    }

    #[test]
    fn body_errors_map_to_413_and_400() {
        let cases = [
            (
                BodyError::TooLarge { limit: 5 },
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
            ),
            (
                BodyError::Malformed("invalid chunk size".into()),
                StatusCode::BAD_REQUEST,
                "bad_body",
            ),
        ];
        for (error, status, code) in cases {
            let shown = error.to_string();
            let e = ApiError::from(error);
            assert_eq!((e.status, e.code), (status, code), "{shown}");
            assert_eq!(e.internal.as_deref(), Some(shown.as_str()));
        }
    }

    #[tokio::test]
    async fn proxy_errors_map_to_502_504_and_the_body_codes() {
        let upstream: url::Url = "http://127.0.0.1:1".parse().unwrap();
        // A real connection failure, for a real `hyper_util` error.
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<axum::body::Body>();
        let source = client
            .get("http://127.0.0.1:1/".parse().unwrap())
            .await
            .unwrap_err();
        let cases = [
            (
                ProxyError::Upstream {
                    upstream: Box::new(upstream.clone()),
                    source,
                },
                StatusCode::BAD_GATEWAY,
                "upstream_error",
            ),
            (
                ProxyError::Timeout {
                    upstream: Box::new(upstream.clone()),
                    after: std::time::Duration::from_secs(3),
                },
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
            ),
            (
                ProxyError::Body(BodyError::TooLarge { limit: 1 }),
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
            ),
            (
                ProxyError::Body(BodyError::Malformed("x".into())),
                StatusCode::BAD_REQUEST,
                "bad_body",
            ),
            (
                ProxyError::UpstreamUri("http://a b".parse::<axum::http::Uri>().unwrap_err()),
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
            ),
        ];
        for (error, status, code) in cases {
            let shown = error.to_string();
            let e = ApiError::from(error);
            assert_eq!((e.status, e.code), (status, code), "{shown}");
            assert!(e.internal.is_some(), "{shown}");
        }
        let timeout = ApiError::from(ProxyError::Timeout {
            upstream: Box::new(upstream),
            after: std::time::Duration::from_secs(3),
        });
        assert_eq!(
            timeout.internal.as_deref(),
            Some("upstream http://127.0.0.1:1/: no answer in 3s")
        );
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let response = ApiError::rate_limited(7).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "7");
        assert_eq!(
            response.extensions().get::<ApiError>().unwrap().code,
            "rate_limited"
        );
    }

    #[test]
    fn status_message_stays_internal() {
        let e = ApiError::from_status(
            AuthCall::ValidateSession,
            &tonic::Status::unauthenticated("secret-detail"),
        );
        assert!(!e.message.contains("secret-detail"));
        assert!(e.internal.unwrap_or_default().contains("secret-detail"));
    }
}
