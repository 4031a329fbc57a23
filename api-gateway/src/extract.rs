//! Who is calling: the [`CurrentUser`] extractor, which asks auth-service
//! (`ValidateSession`) about the request's session credential
//! ([`crate::credential`]) at most once per request: the answer is cached
//! in the request's extensions, so the policy check, the handler and the
//! proxy share it.
//!
//! The extractors take the part of the state they need through `FromRef`
//! (the auth-service client, the cookie factory), not the whole `AppState`,
//! as axum's `FromRef` documentation suggests.

use crate::auth_client::{AuthCallError, AuthClient, AuthFailure};
use crate::cookies::{AmbiguousCookie, CookieFactory};
use crate::credential::{Credential, credential_from};
use crate::error::ApiError;
use crate::proxy::UpstreamIdentity;
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use common::proto::{Session, User};
use common::token::SessionToken;
use std::sync::Arc;

/// The request's session credential, given any state that holds the
/// cookie factory: see [`credential_from`].
pub(crate) fn credential<S>(
    state: &S,
    headers: &HeaderMap,
) -> Result<Option<Credential>, AmbiguousCookie>
where
    Arc<CookieFactory>: FromRef<S>,
{
    credential_from(&Arc::<CookieFactory>::from_ref(state), headers)
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

    /// The identity the proxy and `/auth/check` pass on in `X-Auth-*`
    /// headers.
    pub(crate) fn identity(&self) -> UpstreamIdentity<'_> {
        UpstreamIdentity {
            user_id: &self.user.id,
            email: &self.user.email,
            session_id: &self.session.id,
            roles: &self.user.roles,
            groups: &self.user.groups,
        }
    }
}

/// The cached outcome of the lookup for one request.
#[derive(Clone)]
struct Lookup(Result<Option<Arc<CurrentUser>>, ApiError>);

/// Resolves the caller once per request: `Ok(None)` when there is no
/// credential or auth-service says it is not a valid session; `Err` when
/// auth-service could not answer or the session cookie is ambiguous (the
/// caller must fail closed).
pub(crate) async fn lookup<S>(
    state: &S,
    parts: &mut Parts,
) -> Result<Option<Arc<CurrentUser>>, ApiError>
where
    AuthClient: FromRef<S>,
    Arc<CookieFactory>: FromRef<S>,
{
    if let Some(Lookup(cached)) = parts.extensions.get::<Lookup>() {
        return cached.clone();
    }
    let result = match credential(state, &parts.headers) {
        Err(e) => Err(ApiError::from(e)),
        Ok(None) => Ok(None),
        // Garbage never reaches auth-service: only the shape it issues.
        Ok(Some(c)) if SessionToken::parse(c.expose()).is_err() => Ok(None),
        Ok(Some(c)) => match AuthClient::from_ref(state)
            .validate_session(c.expose())
            .await
        {
            Ok(reply) => match (reply.user, reply.session) {
                (Some(user), Some(session)) => Ok(Some(Arc::new(CurrentUser { user, session }))),
                _ => Err(ApiError::internal(
                    "ValidateSession answered without user or session",
                )),
            },
            // Refused (unknown, expired or revoked, or not a token
            // auth-service accepts): anonymous. Anything else fails closed.
            Err(AuthCallError {
                failure: AuthFailure::Unauthenticated(_) | AuthFailure::InvalidArgument(_),
                ..
            }) => Ok(None),
            Err(e) => Err(ApiError::from(e)),
        },
    };
    parts.extensions.insert(Lookup(result.clone()));
    result
}

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    AuthClient: FromRef<S>,
    Arc<CookieFactory>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match lookup(state, parts).await? {
            Some(user) => Ok(CurrentUser::clone(&user)),
            None => Err(ApiError::unauthenticated()),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    AuthClient: FromRef<S>,
    Arc<CookieFactory>: FromRef<S>,
{
    type Rejection = ApiError;

    /// `None` for anonymous callers; still an error when auth-service is
    /// unreachable, so a page never shows "logged out" by mistake.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        Ok(lookup(state, parts).await?.map(|u| CurrentUser::clone(&u)))
    }
}
