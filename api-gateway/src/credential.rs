//! The session credential of a request: the session cookie, or
//! `Authorization: Bearer <session token>` for non-browser clients. Pure
//! header reading, apart from asking auth-service (that is
//! [`crate::extract`]), so the CSRF check and the proxy (which strips the
//! credential before forwarding) use it without depending on the extractor.

use crate::cookies::{AmbiguousCookie, CookieFactory};
use axum::http::{HeaderMap, header};

/// How the request presents its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialKind {
    /// `Authorization: Bearer`: sent deliberately by the client, so not
    /// subject to CSRF.
    Bearer,
    /// The session cookie, which browsers attach on their own.
    Cookie,
}

/// A session token presented by the client. `Debug` is redacted.
#[derive(Clone)]
pub(crate) struct Credential {
    /// Where it came from.
    pub kind: CredentialKind,
    /// The token text as presented (not checked for shape).
    raw: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("kind", &self.kind)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Credential {
    /// The token text, to pass to auth-service only.
    pub(crate) fn expose(&self) -> &str {
        &self.raw
    }
}

/// The bearer token of an `Authorization` header, if it has that scheme.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    // RFC 9110 11.1: the scheme is case-insensitive.
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The request's session credential: a bearer token wins over the cookie
/// (an API client that sends one means it). Two different session cookies
/// are an error, never a choice ([`AmbiguousCookie`]).
pub(crate) fn credential_from(
    cookies: &CookieFactory,
    headers: &HeaderMap,
) -> Result<Option<Credential>, AmbiguousCookie> {
    if let Some(token) = bearer(headers) {
        return Ok(Some(Credential {
            kind: CredentialKind::Bearer,
            raw: token.to_owned(),
        }));
    }
    Ok(cookies.read_session(headers)?.map(|raw| Credential {
        kind: CredentialKind::Cookie,
        raw,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use common::config::GatewayConfig;
    use proptest::prelude::*;

    /// Header text: arbitrary bytes, or values shaped like the real thing
    /// with the separators that trip parsers.
    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..96),
            "((portcullis|other|portcullis_flow| portcullis)=[A-Za-z0-9_\\-=\";, ]{0,24}; ?){0,4}"
                .prop_map(String::into_bytes),
            "(Bearer|bearer|BEARER|Basic|Bearer ) {0,3}[A-Za-z0-9_\\- \t]{0,48}"
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        /// Any `Cookie` and `Authorization` values: no panic; a bearer token,
        /// when found, is a trimmed, non-empty part of the header; a cookie
        /// credential is a cookie value from the headers.
        #[test]
        fn credential_extraction_is_total(
            cookies in proptest::collection::vec(header_bytes(), 0..3),
            authorization in proptest::option::of(header_bytes()),
        ) {
            let factory = CookieFactory::new(&GatewayConfig::default());
            let mut h = HeaderMap::new();
            for c in &cookies {
                if let Ok(v) = HeaderValue::from_bytes(c) {
                    h.append(header::COOKIE, v);
                }
            }
            let auth_text = authorization
                .as_deref()
                .and_then(|a| HeaderValue::from_bytes(a).ok())
                .inspect(|v| {
                    h.insert(header::AUTHORIZATION, v.clone());
                });
            let found = credential_from(&factory, &h);
            match bearer(&h) {
                Some(token) => {
                    let text = auth_text.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
                    prop_assert!(!token.is_empty());
                    prop_assert_eq!(token, token.trim());
                    prop_assert!(text.trim_end().ends_with(token));
                    let c = found.unwrap().unwrap();
                    prop_assert_eq!(c.kind, CredentialKind::Bearer);
                    prop_assert_eq!(c.expose(), token);
                }
                None => {
                    if let Ok(Some(c)) = found {
                        prop_assert_eq!(c.kind, CredentialKind::Cookie);
                        prop_assert!(!c.expose().is_empty());
                        let all: String = h
                            .get_all(header::COOKIE)
                            .iter()
                            .filter_map(|v| v.to_str().ok())
                            .collect();
                        prop_assert!(all.contains(c.expose()));
                    }
                }
            }
            // Debug never shows the token.
            if let Ok(Some(c)) = credential_from(&factory, &h) {
                let shown = format!("{:?}", c);
                prop_assert!(shown.contains("<redacted>"));
            }
        }
    }

    #[test]
    fn cookie_credential_is_read_by_name() {
        let factory = CookieFactory::new(&GatewayConfig::default());
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("portcullis_flow=f; portcullis=tok; other=x"),
        );
        let c = credential_from(&factory, &h).unwrap().unwrap();
        assert_eq!(c.kind, CredentialKind::Cookie);
        assert_eq!(c.expose(), "tok");
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(
            credential_from(&factory, &h).unwrap().unwrap().expose(),
            "b"
        );
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }
}
