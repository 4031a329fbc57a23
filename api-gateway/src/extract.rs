//! Who is calling: the session credential of a request (cookie, or
//! `Authorization: Bearer <session token>` for non-browser clients) and the
//! [`CurrentUser`] extractor, which asks auth-service (`ValidateSession`) at
//! most once per request: the answer is cached in the request's extensions,
//! so the policy check, the handler and the proxy share it.

use crate::cookies::{AmbiguousCookie, CookieFactory};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use common::proto::{Session, User};
use common::token::SessionToken;
use std::sync::Arc;

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
pub(crate) fn credential(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Credential>, AmbiguousCookie> {
    credential_from(&state.cookies, headers)
}

/// [`credential`] given the cookie factory alone.
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

/// The logged-in caller: a valid session and its user.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser {
    /// The user, as auth-service returned it.
    pub user: User,
    /// The session.
    pub session: Session,
}

impl CurrentUser {
    /// Whether the user has `role`.
    pub(crate) fn has_role(&self, role: &str) -> bool {
        self.user.roles.iter().any(|r| r == role)
    }
}

/// The cached outcome of the lookup for one request.
#[derive(Clone)]
struct Lookup(Result<Option<Arc<CurrentUser>>, ApiError>);

/// Resolves the caller once per request: `Ok(None)` when there is no
/// credential or auth-service says it is not a valid session; `Err` when
/// auth-service could not answer or the session cookie is ambiguous (the
/// caller must fail closed).
pub(crate) async fn lookup(
    state: &AppState,
    parts: &mut Parts,
) -> Result<Option<Arc<CurrentUser>>, ApiError> {
    if let Some(Lookup(cached)) = parts.extensions.get::<Lookup>() {
        return cached.clone();
    }
    let result = match credential(state, &parts.headers) {
        Err(e) => Err(ApiError::from(e)),
        Ok(None) => Ok(None),
        // Garbage never reaches auth-service: only the shape it issues.
        Ok(Some(c)) if SessionToken::parse(c.expose()).is_err() => Ok(None),
        Ok(Some(c)) => match state.auth.validate_session(c.expose()).await {
            Ok(reply) => match (reply.user, reply.session) {
                (Some(user), Some(session)) => Ok(Some(Arc::new(CurrentUser { user, session }))),
                _ => Err(ApiError::internal(
                    "ValidateSession answered without user or session",
                )),
            },
            Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => Ok(None),
            Err(e) => Err(e),
        },
    };
    parts.extensions.insert(Lookup(result.clone()));
    result
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match lookup(state, parts).await? {
            Some(user) => Ok(CurrentUser::clone(&user)),
            None => Err(ApiError::unauthenticated()),
        }
    }
}

impl OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    /// `None` for anonymous callers; still an error when auth-service is
    /// unreachable, so a page never shows "logged out" by mistake.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        Ok(lookup(state, parts).await?.map(|u| CurrentUser::clone(&u)))
    }
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
