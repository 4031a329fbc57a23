//! The one cookie factory: every cookie the gateway sets or removes is built
//! here, so no code path forgets an attribute (kanidm's `views/cookies.rs`).
//!
//! Both cookies are `HttpOnly` (scripts never see them), `SameSite=Lax`
//! (defence in depth against CSRF; the Origin check is the real defence),
//! `Path=/`, no `Domain` (host-only), and `Secure` whenever the public URL is
//! HTTPS, which is also when their names carry the `__Host-` prefix
//! (RFC 6265bis 4.1.3.2).

use axum::http::{HeaderMap, HeaderValue, header};
use common::config::GatewayConfig;
use cookie::{Cookie, SameSite};
use std::time::Duration;

/// How long a login flow may take, matching auth-service's 10 minutes.
pub const FLOW_MAX_AGE: Duration = Duration::from_secs(600);

/// Builds, reads and removes the gateway's cookies.
#[derive(Debug, Clone)]
pub struct CookieFactory {
    secure: bool,
    session_name: String,
    flow_name: &'static str,
}

impl CookieFactory {
    /// Names and the `Secure` flag from the gateway configuration.
    pub fn new(config: &GatewayConfig) -> Self {
        Self {
            secure: config.is_https(),
            session_name: config.session_cookie_name(),
            flow_name: config.flow_cookie_name(),
        }
    }

    /// The session cookie's name.
    pub fn session_name(&self) -> &str {
        &self.session_name
    }

    /// The flow cookie's name.
    pub fn flow_name(&self) -> &str {
        self.flow_name
    }

    fn build(&self, name: String, value: String, max_age: Duration) -> Cookie<'static> {
        let max_age =
            cookie::time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
        Cookie::build((name, value))
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(max_age)
            .build()
    }

    fn removal(&self, name: String) -> Cookie<'static> {
        let mut cookie = self.build(name, String::new(), Duration::ZERO);
        // Max-Age=0 and an Expires in the past, for old user agents too.
        cookie.make_removal();
        cookie
    }

    /// The session cookie carrying a new session token.
    pub fn session(&self, token: &str, max_age: Duration) -> Cookie<'static> {
        self.build(self.session_name.clone(), token.to_owned(), max_age)
    }

    /// Removes the session cookie.
    pub fn clear_session(&self) -> Cookie<'static> {
        self.removal(self.session_name.clone())
    }

    /// The flow cookie binding a login flow (its handle) to this browser.
    pub fn flow(&self, flow_handle: &str) -> Cookie<'static> {
        self.build(
            self.flow_name.to_owned(),
            flow_handle.to_owned(),
            FLOW_MAX_AGE,
        )
    }

    /// Removes the flow cookie.
    pub fn clear_flow(&self) -> Cookie<'static> {
        self.removal(self.flow_name.to_owned())
    }

    /// The session token from the request's cookies, if any.
    pub fn read_session(&self, headers: &HeaderMap) -> Option<String> {
        read(headers, &self.session_name)
    }

    /// The flow handle from the request's cookies, if any.
    pub fn read_flow(&self, headers: &HeaderMap) -> Option<String> {
        read(headers, self.flow_name)
    }

    /// Whether `name` is one of the gateway's own cookies (never forwarded
    /// to upstreams, never set by them).
    pub fn is_own(&self, name: &str) -> bool {
        name == self.session_name || name == self.flow_name
    }
}

/// The first non-empty cookie called `name` in any `Cookie` header (HTTP/2
/// may split them over several).
fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

/// Appends a `Set-Cookie` header.
pub fn set(headers: &mut HeaderMap, cookie: &Cookie<'_>) {
    // Our cookie values are URL-safe base64 and fixed names, always a valid
    // header value; anything else would be a bug, and is dropped loudly.
    match HeaderValue::from_str(&cookie.to_string()) {
        Ok(value) => {
            headers.append(header::SET_COOKIE, value);
        }
        Err(e) => tracing::error!(cookie = cookie.name(), error = %e, "cannot encode cookie"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factory(public_url: &str) -> CookieFactory {
        let config = GatewayConfig {
            public_url: public_url.parse().unwrap(),
            ..GatewayConfig::default()
        };
        CookieFactory::new(&config)
    }

    #[test]
    fn https_cookies_are_secure_host_prefixed() {
        let f = factory("https://app.example.com");
        let s = f.session("tok", Duration::from_secs(3600)).to_string();
        assert!(s.starts_with("__Host-portcullis=tok"), "{s}");
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(s.contains(attr), "{attr} missing in {s}");
        }
        assert!(!s.contains("Domain"), "{s}");
        let flow = f.flow("h").to_string();
        assert!(flow.starts_with("__Host-portcullis_flow=h"), "{flow}");
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=600",
        ] {
            assert!(flow.contains(attr), "{attr} missing in {flow}");
        }
    }

    #[test]
    fn http_cookies_are_not_secure() {
        let f = factory("http://localhost:8080");
        let s = f.session("tok", Duration::from_secs(60)).to_string();
        assert!(s.starts_with("portcullis=tok"), "{s}");
        assert!(!s.contains("Secure"), "{s}");
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Path=/"));
        assert!(f.flow("h").to_string().starts_with("portcullis_flow=h"));
    }

    #[test]
    fn removal_keeps_attributes_and_expires() {
        for url in ["https://app.example.com", "http://localhost:8080"] {
            let f = factory(url);
            for c in [f.clear_session().to_string(), f.clear_flow().to_string()] {
                assert!(c.contains("Max-Age=0"), "{c}");
                assert!(c.contains("Expires="), "{c}");
                assert!(c.contains("Path=/") && c.contains("HttpOnly"), "{c}");
                assert_eq!(c.contains("Secure"), url.starts_with("https"), "{c}");
            }
        }
    }

    #[test]
    fn reads_cookies_from_split_headers() {
        let f = factory("http://localhost:8080");
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; portcullis_flow=F"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("portcullis=S"));
        assert_eq!(f.read_session(&h).as_deref(), Some("S"));
        assert_eq!(f.read_flow(&h).as_deref(), Some("F"));
        assert!(f.read_session(&HeaderMap::new()).is_none());
    }

    proptest::proptest! {
        /// Any `Cookie` header bytes: reading the flow handle and the
        /// session token never panics, and whatever is read was in a header,
        /// non-empty, and never taken from another cookie's value.
        #[test]
        fn cookie_reading_is_total(
            raw in proptest::collection::vec(
                proptest::prop_oneof![
                    // Headers that mention our cookies, in odd forms.
                    proptest::prelude::Strategy::prop_map(
                        "((__Host-portcullis(_flow)?|portcullis|x) ?= ?[ -~]{0,24}; ?){0,4}",
                        String::into_bytes,
                    ),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128),
                ],
                0..3,
            )
        ) {
            let f = factory("https://app.example.com");
            let mut headers = HeaderMap::new();
            for bytes in &raw {
                if let Ok(v) = HeaderValue::from_bytes(bytes) {
                    headers.append(header::COOKIE, v);
                }
            }
            for (read, name) in [
                (f.read_flow(&headers), "__Host-portcullis_flow"),
                (f.read_session(&headers), "__Host-portcullis"),
            ] {
                if let Some(value) = read {
                    proptest::prop_assert!(!value.is_empty());
                    // Whitespace around `=` and the value is allowed.
                    let found = headers
                        .get_all(header::COOKIE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .any(|v| v.contains(name) && v.contains(value.as_str()));
                    proptest::prop_assert!(found, "{:?} not in {:?}", value, headers);
                }
            }
        }
    }
}
