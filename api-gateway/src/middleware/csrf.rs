//! CSRF defence (OWASP CSRF Prevention Cheat Sheet, "Verifying Origin with
//! standard headers" and "Fetch Metadata"): a request with an unsafe method
//! that a browser authenticates on its own (the session cookie) must come
//! from our own origin. `SameSite=Lax` on the cookie is defence in depth,
//! not the defence: a same-site sibling (`evil.example.com`) is not
//! cross-site for SameSite.
//!
//! * Bearer-authenticated requests are exempt: a browser never attaches an
//!   `Authorization` header on its own.
//! * Pages of a `cors_allowed_origins` origin are trusted by name: the
//!   operator listed them to make credentialed calls.
//! * Requests without any credential carry no ambient authority; they pass,
//!   except the JSON login endpoint (`POST /auth/session`), which is checked
//!   too (login CSRF), but tolerates requests with neither header: browsers
//!   always send `Origin` on such a POST, and non-browser clients send none.

use crate::cookies::CookieFactory;
use crate::credential::{CredentialKind, credential_from};
use crate::error::ApiError;
use crate::routes::auth::google_sign_in;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The path of the front-end token login.
pub(crate) const TOKEN_LOGIN_PATH: &str = "/auth/session";

/// Who is asking, as far as CSRF is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authority {
    /// No session credential.
    Anonymous,
    /// `Authorization: Bearer`.
    Bearer,
    /// The session cookie.
    Cookie,
    /// The unauthenticated JSON login endpoint.
    Login,
    /// Google's redirect-mode sign-in post, which comes cross-site by
    /// design and is held to Google's double-submit check by its handler
    /// ([`crate::routes::auth::google_sign_in`]).
    DoubleSubmit,
}

/// The decision table. `origin` and `fetch_site` are the raw `Origin` and
/// `Sec-Fetch-Site` header values; `ours` is our origin
/// (`https://app.example.com`); `cors` are `cors_allowed_origins`, whose
/// pages may make credentialed calls, from another site too.
pub(crate) fn allowed(
    method: &Method,
    authority: Authority,
    origin: Option<&str>,
    fetch_site: Option<&str>,
    ours: &str,
    cors: &[String],
) -> bool {
    let safe = matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if safe
        || matches!(
            authority,
            Authority::Anonymous | Authority::Bearer | Authority::DoubleSubmit
        )
    {
        return true;
    }
    // A listed CORS origin is trusted by name, whatever site it is on.
    if let Some(origin) = origin
        && cors
            .iter()
            .any(|listed| origin.trim_end_matches('/').eq_ignore_ascii_case(listed))
    {
        return true;
    }
    // Fetch metadata first: a browser that says cross-site or same-site
    // means it, whatever Origin says.
    if let Some(site) = fetch_site
        && (site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site"))
    {
        return false;
    }
    // Our pages send `Referrer-Policy: no-referrer`, under which Chromium
    // sends `Origin: null` on the page's own same-origin form posts (found
    // by the real-browser test). `Sec-Fetch-Site` cannot be set by page
    // scripts, and an opaque-origin (sandboxed) document gets `cross-site`,
    // so `null` with `same-origin` is our own page.
    if origin == Some("null") && fetch_site.is_some_and(|s| s.eq_ignore_ascii_case("same-origin")) {
        return true;
    }
    if let Some(origin) = origin {
        // Any other `null` (sandboxed frames, some redirects) is never ours.
        return origin.trim_end_matches('/').eq_ignore_ascii_case(ours);
    }
    match fetch_site {
        Some(site) => site.eq_ignore_ascii_case("same-origin"),
        None => authority == Authority::Login,
    }
}

/// Which [`Authority`] a request to `path` with `headers` has.
fn authority_of(cookies: &CookieFactory, headers: &HeaderMap, path: &str) -> Authority {
    if path == google_sign_in::PATH {
        return Authority::DoubleSubmit;
    }
    match credential_from(cookies, headers) {
        Ok(Some(c)) if c.kind == CredentialKind::Bearer => Authority::Bearer,
        Ok(Some(_)) => Authority::Cookie,
        // Two session cookies: the request is refused later; until then it
        // is held to the strictest rule, that of a cookie.
        Err(_) => Authority::Cookie,
        Ok(None) if path == TOKEN_LOGIN_PATH => Authority::Login,
        Ok(None) => Authority::Anonymous,
    }
}

/// A header's value as text; `None` when absent or not visible ASCII.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// [`allowed`] for a `method` request to `path` with `headers`.
fn passes(state: &AppState, method: &Method, headers: &HeaderMap, path: &str) -> bool {
    allowed(
        method,
        authority_of(&state.cookies, headers, path),
        header(headers, header::ORIGIN.as_str()),
        header(headers, "sec-fetch-site"),
        &state.public_origin,
        &state.gateway.cors_allowed_origins,
    )
}

/// Whether a request that acts on the user's behalf although its method
/// is safe (a WebSocket handshake, see [`crate::websocket`]) passes the
/// check an unsafe method would have to.
pub(crate) fn passes_as_unsafe(state: &AppState, headers: &HeaderMap, path: &str) -> bool {
    passes(state, &Method::POST, headers, path)
}

/// The middleware: 403 `csrf` when [`allowed`] says no.
pub(crate) async fn enforce(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if passes(
        &state,
        request.method(),
        request.headers(),
        request.uri().path(),
    ) {
        next.run(request).await
    } else {
        ApiError::csrf()
            .with_internal(format!(
                "{} {} refused",
                request.method(),
                request.uri().path()
            ))
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "https://app.example.com";
    const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_authority_is_the_credential_a_request_carries() {
        let cookies = CookieFactory::new(&common::config::GatewayConfig::default());
        let name = cookies.session_name().to_owned();
        let cookie = format!("{name}={TOKEN}");
        let bearer = format!("Bearer {TOKEN}");
        let two = format!("{name}={TOKEN}; {name}=BBBB");
        type Sent<'a> = &'a [(&'static str, &'a str)];
        let cases: &[(Sent, &str, Authority)] = &[
            (&[("authorization", &bearer)], "/x", Authority::Bearer),
            (
                &[("authorization", &bearer)],
                TOKEN_LOGIN_PATH,
                Authority::Bearer,
            ),
            (&[("cookie", &cookie)], "/x", Authority::Cookie),
            (&[("cookie", &cookie)], TOKEN_LOGIN_PATH, Authority::Cookie),
            (&[("cookie", &two)], "/x", Authority::Cookie),
            (&[], TOKEN_LOGIN_PATH, Authority::Login),
            (&[], "/auth/sessionx", Authority::Anonymous),
            (&[], "/x", Authority::Anonymous),
            // Google's redirect-mode post, with or without a session.
            (
                &[("cookie", &cookie)],
                google_sign_in::PATH,
                Authority::DoubleSubmit,
            ),
            (&[], google_sign_in::PATH, Authority::DoubleSubmit),
        ];
        for (sent, path, want) in cases {
            assert_eq!(
                authority_of(&cookies, &headers(sent), path),
                *want,
                "{sent:?} {path}"
            );
        }
    }

    #[test]
    fn header_values_are_read_as_text_only() {
        let mut map = headers(&[("origin", "https://a.example")]);
        assert_eq!(header(&map, "origin"), Some("https://a.example"));
        assert_eq!(header(&map, "sec-fetch-site"), None);
        map.insert(
            "sec-fetch-site",
            axum::http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        assert_eq!(header(&map, "sec-fetch-site"), None);
    }
    const SPA: &str = "https://spa.example.net";

    #[test]
    fn decision_table() {
        use Authority::*;
        let post = Method::POST;
        type Case<'a> = (
            &'a Method,
            Authority,
            Option<&'a str>,
            Option<&'a str>,
            bool,
        );
        let cases: &[Case] = &[
            // Safe methods always pass.
            (
                &Method::GET,
                Cookie,
                Some("https://evil.com"),
                Some("cross-site"),
                true,
            ),
            (&Method::HEAD, Cookie, None, None, true),
            // Cookie-authenticated unsafe requests.
            (&post, Cookie, Some(OURS), None, true),
            (&post, Cookie, Some("https://APP.example.com"), None, true),
            (&post, Cookie, None, Some("same-origin"), true),
            (&post, Cookie, Some(OURS), Some("same-origin"), true),
            (&post, Cookie, Some("https://evil.com"), None, false),
            (
                &post,
                Cookie,
                Some("https://evil.com"),
                Some("same-origin"),
                false,
            ),
            (&post, Cookie, Some("http://app.example.com"), None, false),
            (
                &post,
                Cookie,
                Some("https://app.example.com:8443"),
                None,
                false,
            ),
            (&post, Cookie, Some("null"), None, false),
            (&post, Cookie, Some("null"), Some("same-origin"), true),
            (&post, Cookie, Some("null"), Some("cross-site"), false),
            (&post, Cookie, Some("null"), Some("same-site"), false),
            (&post, Cookie, None, Some("cross-site"), false),
            (&post, Cookie, None, Some("same-site"), false),
            (&post, Cookie, Some(OURS), Some("cross-site"), false),
            (&post, Cookie, None, Some("none"), false),
            (&post, Cookie, None, None, false),
            (&Method::DELETE, Cookie, None, None, false),
            (&Method::PUT, Cookie, Some("https://evil.com"), None, false),
            (&Method::PATCH, Cookie, None, Some("cross-site"), false),
            // Bearer is exempt; no credential has no authority.
            (
                &post,
                Bearer,
                Some("https://evil.com"),
                Some("cross-site"),
                true,
            ),
            (
                &post,
                Anonymous,
                Some("https://evil.com"),
                Some("cross-site"),
                true,
            ),
            // Google's redirect-mode post comes from Google's page.
            (
                &post,
                DoubleSubmit,
                Some("https://accounts.google.com"),
                Some("cross-site"),
                true,
            ),
            // The JSON login endpoint.
            (&post, Login, Some(OURS), None, true),
            (&post, Login, None, None, true),
            (&post, Login, Some("https://evil.com"), None, false),
            (&post, Login, None, Some("cross-site"), false),
            // A listed CORS origin, from its own site or a sibling.
            (&post, Cookie, Some(SPA), Some("cross-site"), true),
            (
                &post,
                Cookie,
                Some("https://SPA.example.net/"),
                Some("same-site"),
                true,
            ),
            (&Method::DELETE, Cookie, Some(SPA), None, true),
            (&post, Login, Some(SPA), Some("cross-site"), true),
            (
                &post,
                Cookie,
                Some("https://spa.example.net:8443"),
                None,
                false,
            ),
            (
                &post,
                Cookie,
                Some("https://evil.spa.example.net"),
                None,
                false,
            ),
        ];
        let cors = [SPA.to_owned()];
        for (method, authority, origin, site, expected) in cases {
            assert_eq!(
                allowed(method, *authority, *origin, *site, OURS, &cors),
                *expected,
                "{method} {authority:?} origin={origin:?} site={site:?}"
            );
        }
    }
}
