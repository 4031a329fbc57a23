//! Who is calling: the session credential of a request (cookie, or
//! `Authorization: Bearer <session token>` for non-browser clients) and the
//! [`CurrentUser`] extractor, which asks auth-service (`ValidateSession`) at
//! most once per request: the answer is cached in the request's extensions,
//! so the policy check, the handler and the proxy share it.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::ConnectInfo;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use common::proto::{Session, User};
use common::token::SessionToken;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// How the request presents its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `Authorization: Bearer`: sent deliberately by the client, so not
    /// subject to CSRF.
    Bearer,
    /// The session cookie, which browsers attach on their own.
    Cookie,
}

/// A session token presented by the client. `Debug` is redacted.
#[derive(Clone)]
pub struct Credential {
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
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// A cookie credential with a dummy token, for unit tests.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self {
            kind: CredentialKind::Cookie,
            raw: "test".to_owned(),
        }
    }
}

/// The bearer token of an `Authorization` header, if it has that scheme.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    // RFC 9110 11.1: the scheme is case-insensitive.
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The request's session credential: a bearer token wins over the cookie
/// (an API client that sends one means it).
pub fn credential(state: &AppState, headers: &HeaderMap) -> Option<Credential> {
    if let Some(token) = bearer(headers) {
        return Some(Credential {
            kind: CredentialKind::Bearer,
            raw: token.to_owned(),
        });
    }
    state.cookies.read_session(headers).map(|raw| Credential {
        kind: CredentialKind::Cookie,
        raw,
    })
}

/// The client's IP address as the gateway's socket saw it (no
/// `X-Forwarded-For` is trusted yet).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_canonical()),
        ))
    }
}

/// The logged-in caller: a valid session and its user.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The user, as auth-service returned it.
    pub user: User,
    /// The session.
    pub session: Session,
    /// The credential that proved it.
    pub credential: Credential,
}

impl CurrentUser {
    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.user.roles.iter().any(|r| r == role)
    }
}

/// The cached outcome of the lookup for one request.
#[derive(Clone)]
struct Lookup(Result<Option<Arc<CurrentUser>>, ApiError>);

/// Resolves the caller once per request: `Ok(None)` when there is no
/// credential or auth-service says it is not a valid session; `Err` when
/// auth-service could not answer (the caller must fail closed).
pub async fn lookup(
    state: &AppState,
    parts: &mut Parts,
) -> Result<Option<Arc<CurrentUser>>, ApiError> {
    if let Some(Lookup(cached)) = parts.extensions.get::<Lookup>() {
        return cached.clone();
    }
    let result = match credential(state, &parts.headers) {
        None => Ok(None),
        // Garbage never reaches auth-service: only the shape it issues.
        Some(c) if SessionToken::parse(c.expose()).is_err() => Ok(None),
        Some(c) => match state.auth.validate_session(c.expose()).await {
            Ok(reply) => match (reply.user, reply.session) {
                (Some(user), Some(session)) => Ok(Some(Arc::new(CurrentUser {
                    user,
                    session,
                    credential: c,
                }))),
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
