//! The one cookie factory: every cookie the gateway sets or removes is built
//! here, so no code path forgets an attribute (kanidm's `views/cookies.rs`).
//!
//! Both cookies are `HttpOnly` (scripts never see them), `SameSite=Lax`
//! (defence in depth against CSRF; the Origin check is the real defence),
//! `Path=/`, no `Domain` (host-only), and `Secure` whenever the public URL is
//! HTTPS, which is also when their names carry the `__Host-` prefix
//! (RFC 6265bis 4.1.3.2). With `gateway.cookie_domain`, the session cookie
//! (only) carries `Domain` so sibling hosts receive it, and its default
//! name the `__Secure-` prefix instead (`__Host-` forbids a domain); the
//! flow cookie stays host-only, as only the gateway reads it.

use axum::http::{HeaderMap, HeaderValue, header};
use common::config::GatewayConfig;
use cookie::{Cookie, SameSite};
use std::time::Duration;

/// How long a login flow may take, matching auth-service's 10 minutes.
pub(crate) const FLOW_MAX_AGE: Duration = Duration::from_secs(600);

/// Builds, reads and removes the gateway's cookies.
#[derive(Debug, Clone)]
pub(crate) struct CookieFactory {
    secure: bool,
    session_name: String,
    /// `cookie_domain`: set on the session cookie only.
    session_domain: Option<String>,
    flow_name: &'static str,
}

impl CookieFactory {
    /// Names and the `Secure` flag from the gateway configuration.
    pub(crate) fn new(config: &GatewayConfig) -> Self {
        Self {
            secure: config.is_https(),
            session_name: config.session_cookie_name(),
            session_domain: config.cookie_domain.clone(),
            flow_name: config.flow_cookie_name(),
        }
    }

    /// The session cookie's name (tests).
    #[cfg(test)]
    pub(crate) fn session_name(&self) -> &str {
        &self.session_name
    }

    /// The flow cookie's name (tests).
    #[cfg(test)]
    pub(crate) fn flow_name(&self) -> &str {
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

    /// `cookie` for the session's scope: every host under `cookie_domain`
    /// when one is set (a removal must name the same domain to match).
    fn session_scoped(&self, mut cookie: Cookie<'static>) -> Cookie<'static> {
        if let Some(domain) = &self.session_domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }

    /// The session cookie carrying a new session token.
    pub(crate) fn session(&self, token: &str, max_age: Duration) -> Cookie<'static> {
        self.session_scoped(self.build(self.session_name.clone(), token.to_owned(), max_age))
    }

    /// Removes the session cookie.
    pub(crate) fn clear_session(&self) -> Cookie<'static> {
        self.session_scoped(self.removal(self.session_name.clone()))
    }

    /// The flow cookie binding a login flow (its handle) to this browser.
    pub(crate) fn flow(&self, flow_handle: &str) -> Cookie<'static> {
        self.build(
            self.flow_name.to_owned(),
            flow_handle.to_owned(),
            FLOW_MAX_AGE,
        )
    }

    /// Removes the flow cookie.
    pub(crate) fn clear_flow(&self) -> Cookie<'static> {
        self.removal(self.flow_name.to_owned())
    }

    /// The session token from the request's cookies, if any; an error if
    /// the request carries two different ones (see [`AmbiguousCookie`]).
    pub(crate) fn read_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<String>, AmbiguousCookie> {
        read(headers, &self.session_name).map_err(|()| AmbiguousCookie {
            cookie: OwnCookie::Session,
        })
    }

    /// The flow handle from the request's cookies, if any; an error if the
    /// request carries two different ones.
    pub(crate) fn read_flow(&self, headers: &HeaderMap) -> Result<Option<String>, AmbiguousCookie> {
        read(headers, self.flow_name).map_err(|()| AmbiguousCookie {
            cookie: OwnCookie::Flow,
        })
    }

    /// Removes Google's `g_csrf_token` double-submit cookie once a
    /// redirect-mode sign-in has spent it
    /// ([`crate::routes::auth::google_sign_in`]).
    pub(crate) fn clear_google_csrf(&self) -> Cookie<'static> {
        self.removal(GOOGLE_CSRF_COOKIE.to_owned())
    }

    /// Whether `name` is one of the gateway's own cookies (never forwarded
    /// to upstreams, never set by them).
    pub(crate) fn is_own(&self, name: &str) -> bool {
        name == self.session_name || name == self.flow_name
    }
}

/// Which of the gateway's cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnCookie {
    /// The session cookie.
    Session,
    /// The login flow cookie.
    Flow,
}

/// The request carries one of our cookies twice, with different values.
///
/// A browser sends every cookie whose domain and path match, with no
/// attribute that says where each came from, and orders them by path
/// length, not by trust (RFC 6265 §5.4). A sibling subdomain (or, over
/// plain HTTP, anyone on the network) can set a cookie of the same name
/// for the parent domain or a longer path ("cookie tossing"); reading the
/// first one would let the attacker choose the session or flow the gateway
/// acts on (logging the victim into the attacker's account). The `__Host-`
/// prefix stops this in browsers on HTTPS; on plain HTTP, and as defence in
/// depth, the gateway refuses to choose: such a request is answered with
/// 400 `ambiguous_cookie`, not 401, because logging in again cannot fix
/// it (the tossed cookie stays and is sent again), so a 401 would send the
/// user round a login loop while a 400 says what is wrong. Empty values
/// (removals) and exact duplicates are not ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("two different {cookie:?} cookies in one request")]
pub(crate) struct AmbiguousCookie {
    /// Which cookie was doubled.
    pub cookie: OwnCookie,
}

/// The one non-empty value of the cookie called `name` in all `Cookie`
/// headers (HTTP/2 may split them over several): `Ok(None)` if there is
/// none, `Err` if there are two different ones.
fn read(headers: &HeaderMap, name: &str) -> Result<Option<String>, ()> {
    let mut found: Option<String> = None;
    for cookie in headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == name && !c.value().is_empty())
    {
        match &found {
            Some(value) if value != cookie.value() => return Err(()),
            Some(_) => {}
            None => found = Some(cookie.value().to_owned()),
        }
    }
    Ok(found)
}

/// The cookie Google Identity Services sets on our origin before its
/// redirect-mode post (the double-submit half of `g_csrf_token`).
pub(crate) const GOOGLE_CSRF_COOKIE: &str = "g_csrf_token";

/// The one value of Google's `g_csrf_token` cookie; `None` when absent,
/// empty, or sent twice with different values (one may have been tossed by
/// a sibling host).
pub(crate) fn read_google_csrf(headers: &HeaderMap) -> Option<String> {
    read(headers, GOOGLE_CSRF_COOKIE).ok().flatten()
}

/// Appends a `Set-Cookie` header.
pub(crate) fn set(headers: &mut HeaderMap, cookie: &Cookie<'_>) {
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
    fn a_cookie_domain_scopes_the_session_cookie_only() {
        let config = GatewayConfig {
            public_url: "https://auth.example.com".parse().unwrap(),
            cookie_domain: Some("example.com".into()),
            ..GatewayConfig::default()
        };
        let f = CookieFactory::new(&config);
        let s = f.session("tok", Duration::from_secs(60)).to_string();
        assert!(s.starts_with("__Secure-portcullis=tok"), "{s}");
        assert!(s.contains("Domain=example.com"), "{s}");
        assert!(s.contains("Secure"), "{s}");
        let cleared = f.clear_session().to_string();
        assert!(cleared.starts_with("__Secure-portcullis=;"), "{cleared}");
        assert!(cleared.contains("Domain=example.com"), "{cleared}");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        let flow = f.flow("h").to_string();
        assert!(flow.starts_with("__Host-portcullis_flow=h"), "{flow}");
        assert!(!flow.contains("Domain"), "{flow}");
        assert!(!f.clear_flow().to_string().contains("Domain"));
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
        assert_eq!(f.read_session(&h).unwrap().as_deref(), Some("S"));
        assert_eq!(f.read_flow(&h).unwrap().as_deref(), Some("F"));
        assert!(f.read_session(&HeaderMap::new()).unwrap().is_none());
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
                if let Ok(Some(value)) = read {
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

    #[test]
    fn two_different_session_cookies_are_ambiguous_for_both_names() {
        for url in ["https://app.example.com", "http://localhost:8080"] {
            let f = factory(url);
            let name = f.session_name().to_owned();
            let flow = f.flow_name().to_owned();
            let headers = |values: &[&str]| {
                let mut h = HeaderMap::new();
                for v in values {
                    h.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
                }
                h
            };
            // Tossed from a sibling subdomain: first or second, same header
            // or split ones, the gateway does not choose.
            for h in [
                headers(&[&format!("{name}=ATTACKER; {name}=VICTIM")]),
                headers(&[&format!("{name}=VICTIM"), &format!("{name}=ATTACKER")]),
                headers(&[&format!("a=1; {name}=VICTIM; b=2; {name} = ATTACKER")]),
            ] {
                assert_eq!(
                    f.read_session(&h),
                    Err(AmbiguousCookie {
                        cookie: OwnCookie::Session
                    }),
                    "{h:?}"
                );
            }
            let h = headers(&[&format!("{flow}=A; {flow}=B")]);
            assert_eq!(
                f.read_flow(&h),
                Err(AmbiguousCookie {
                    cookie: OwnCookie::Flow
                })
            );
            // The same value twice, or an empty one (a removal), is not a
            // choice.
            for h in [
                headers(&[&format!("{name}=S; {name}=S")]),
                headers(&[&format!("{name}=; {name}=S")]),
                headers(&[&format!("{name}=S"), &format!("{name}=")]),
            ] {
                assert_eq!(f.read_session(&h).unwrap().as_deref(), Some("S"), "{h:?}");
            }
            // Other names do not count.
            let h = headers(&[&format!("{name}x=A; {name}=S; x{name}=B")]);
            assert_eq!(f.read_session(&h).unwrap().as_deref(), Some("S"));
        }
    }

    proptest::proptest! {
        /// Any mix of session-cookie values over any number of `Cookie`
        /// headers: a value is read only if it is the only distinct
        /// non-empty one; two distinct ones are always an error.
        #[test]
        fn the_session_is_never_chosen_between_two(
            values in proptest::collection::vec("[A-Za-z0-9_-]{0,3}", 0..5),
            split in proptest::prelude::any::<bool>(),
        ) {
            let f = factory("http://localhost:8080");
            let pairs: Vec<String> = values.iter().map(|v| format!("portcullis={v}")).collect();
            let mut h = HeaderMap::new();
            if split {
                for p in &pairs {
                    h.append(header::COOKIE, HeaderValue::from_str(p).unwrap());
                }
            } else if !pairs.is_empty() {
                h.insert(header::COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
            }
            let mut distinct: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
            distinct.sort();
            distinct.dedup();
            match (f.read_session(&h), distinct.as_slice()) {
                (Ok(None), []) => {}
                (Ok(Some(v)), [only]) => proptest::prop_assert_eq!(&v, *only),
                (Err(_), [_, _, ..]) => {}
                (got, want) => proptest::prop_assert!(false, "{:?} for {:?}", got, want),
            }
        }
    }
}
