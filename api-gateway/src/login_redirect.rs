//! Sending a browser without a session to log in: a navigation to a page
//! that needs a login goes to the login page with `return_to`, so the user
//! lands back where they were going; API calls keep their 401 JSON.
//!
//! Shared by the gateway's own routes and `/auth/check` (which tells the
//! proxy in front where to send the browser).

use crate::error::wants_html;
use crate::return_to::{ReturnHosts, safe_return_to};
use axum::http::{HeaderMap, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What stays literal in a query value: RFC 3986 unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether a request is a browser navigating to a page (then a missing
/// login is a redirect to the login page): a `GET` or `HEAD` asking for
/// HTML, and, when the browser says how it fetches (`Sec-Fetch-Mode`), a
/// navigation rather than a script's `fetch`, which wants the 401 to act on.
pub(crate) fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && wants_html(headers)
        && headers
            .get("sec-fetch-mode")
            .is_none_or(|mode| mode == "navigate")
}

/// The login page, bringing the browser back to `target` afterwards: a
/// path and query on this host, or an absolute URL on one of `hosts`. A
/// `target` that is neither becomes `/`. `login_page` is relative
/// (`/auth/login`: behind a proxy it stays on the host the browser is on)
/// or the gateway's own when the browser is on a sibling host.
pub(crate) fn login_location(login_page: &str, target: &str, hosts: &ReturnHosts) -> String {
    with_return_to(login_page, &safe_return_to(Some(target), hosts))
}

/// `path` with `return_to` in its query (none for `/`, the default).
/// `return_to` must already be safe ([`safe_return_to`]).
pub(crate) fn with_return_to(path: &str, return_to: &str) -> String {
    if return_to == "/" {
        return path.to_owned();
    }
    format!(
        "{path}?return_to={}",
        utf8_percent_encode(return_to, QUERY_VALUE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_a_browser_navigation_is_sent_to_log_in() {
        let page = headers(&[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
        assert!(is_navigation(&Method::GET, &page));
        assert!(is_navigation(&Method::HEAD, &page));
        assert!(!is_navigation(&Method::POST, &page));
        assert!(!is_navigation(&Method::DELETE, &page));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("accept", "application/json")])
        ));
        assert!(!is_navigation(&Method::GET, &HeaderMap::new()));
        let navigate = headers(&[("accept", "text/html"), ("sec-fetch-mode", "navigate")]);
        assert!(is_navigation(&Method::GET, &navigate));
        let fetch = headers(&[("accept", "text/html"), ("sec-fetch-mode", "cors")]);
        assert!(!is_navigation(&Method::GET, &fetch));
    }

    #[test]
    fn the_login_location_carries_a_safe_return_path() {
        let none = ReturnHosts::default();
        let login = |target| login_location("/auth/login", target, &none);
        assert_eq!(
            login("/app/a%20b?x=1&y=/z"),
            "/auth/login?return_to=%2Fapp%2Fa%2520b%3Fx%3D1%26y%3D%2Fz"
        );
        assert_eq!(login("/"), "/auth/login");
        assert_eq!(login("//evil.example/x"), "/auth/login");
        assert_eq!(login("https://app.example.com/x"), "/auth/login");
        assert_eq!(login("/a-b_c.d~e"), "/auth/login?return_to=%2Fa-b_c.d~e");
        assert_eq!(
            with_return_to("/auth/login/dev", "/x"),
            "/auth/login/dev?return_to=%2Fx"
        );
    }
}
