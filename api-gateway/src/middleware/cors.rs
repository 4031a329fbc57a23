//! CORS for single-page apps on `gateway.cors_allowed_origins` (tower-http's
//! layer): preflights are answered before any session check, and answers to
//! a listed origin name it, with `Access-Control-Allow-Credentials: true`,
//! so its scripts may call with the user's cookie. Any other origin gets no
//! CORS headers, so the browser keeps its answers from the page. Never a
//! wildcard or a reflected origin; the CSRF check trusts the same list
//! ([`super::csrf`]).

use axum::http::{HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The layer for `origins` (already checked and normalised by the
/// configuration); `None` when there are none.
pub(crate) fn layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            // The origin is trusted: whatever headers its scripts send.
            .allow_headers(AllowHeaders::mirror_request())
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
