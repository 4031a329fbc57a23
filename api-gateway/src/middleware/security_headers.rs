//! Security headers on every answer (OWASP HTTP Headers Cheat Sheet):
//! `nosniff`, no referrer, no framing, `Cache-Control: no-store` on every
//! `/auth/*` answer and on our pages, a strict CSP on our HTML, HSTS when we
//! terminate TLS. Upstream answers keep their own policies where they set
//! them; we only fill in what is missing.

use crate::proxy::Proxied;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The CSP of the gateway's own HTML: no scripts at all, inline styles for
/// the login page, forms may only post to us, never framed.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// HSTS, one year, subdomains included (RFC 6797).
pub(crate) const HSTS: &str = "max-age=31536000; includeSubDomains";

fn set_default(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The middleware.
pub(crate) async fn apply(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let proxied = response.extensions().get::<Proxied>().is_some();
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    set_default(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(headers, header::REFERRER_POLICY, "no-referrer");
    set_default(headers, header::X_FRAME_OPTIONS, "DENY");
    if !proxied {
        // Everything the gateway itself answers is personal or one-off.
        if path == "/" || path == "/auth" || path.starts_with("/auth/") {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        // A page that needs more (only the Google sign-in page, which runs
        // Google's script) sets its own policy.
        if html {
            set_default(headers, header::CONTENT_SECURITY_POLICY, CSP);
        }
    }
    if state.gateway.serves_tls() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}
