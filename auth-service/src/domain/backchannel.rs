//! OpenID Connect Back-Channel Logout 1.0: a provider tells us, server to
//! server, that a user's provider session ended, and the Portcullis
//! sessions it started end at once (through the revocation feed, so every
//! gateway's cache hears it).
//!
//! A logout token names a provider session (`sid`), a user (`sub`), or both.
//! Sessions of a provider with `backchannel_logout` remember the `sid` they
//! were started under, and the store indexes them by it
//! ([`crate::storage::SessionStore::provider_sessions`]); the index ends
//! with its sessions.

use super::Auth;
use super::error::AuthError;
use crate::metrics::RevocationKind;
use crate::providers::logout_token::{Logout, MAX_AGE_SECS};
use common::reason::Reason;
use common::telemetry::trace_context::TraceId;
use std::collections::HashMap;
use std::sync::Mutex;

/// The most logout token ids remembered at once; more live tokens than
/// this within [`MAX_AGE_SECS`] are refused rather than forgotten.
const MAX_REMEMBERED: usize = 100_000;

/// The `jti`s of logout tokens accepted recently, by issuer, so a token is
/// acted on once. Entries are dropped once the token is too old to be
/// accepted anyway (`iat` + [`MAX_AGE_SECS`] + skew). In memory, per
/// replica: a token replayed to another replica within five minutes is
/// acted on again, which can only end sessions its own `sub`/`sid` names.
#[derive(Default)]
pub(crate) struct SeenLogouts(Mutex<HashMap<(String, String), i64>>);

impl SeenLogouts {
    /// Refuses `logout` if its `jti` was acted on before, or if more than
    /// [`MAX_REMEMBERED`] live tokens would have to be remembered (after
    /// dropping those too old to be accepted anyway).
    fn check_unused(&self, logout: &Logout, now: i64, skew: i64) -> Result<(), AuthError> {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains_key(&(logout.issuer.clone(), logout.jti.clone())) {
            return Err(AuthError::rejected(
                Reason::LogoutTokenReplayed,
                "this logout token was used before",
            ));
        }
        if seen.len() >= MAX_REMEMBERED {
            let forget_before = now - MAX_AGE_SECS - skew;
            seen.retain(|_, iat| *iat >= forget_before);
        }
        if seen.len() >= MAX_REMEMBERED {
            return Err(AuthError::rejected(
                Reason::InvalidLogoutToken,
                "too many logout tokens at once; refused rather than risking a replay",
            ));
        }
        Ok(())
    }

    /// Remembers `logout`'s `jti` once its sessions are revoked, so a
    /// token whose revocation failed can be sent again.
    fn record(&self, logout: &Logout) {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.insert(
            (logout.issuer.clone(), logout.jti.clone()),
            logout.issued_at,
        );
    }
}

impl Auth {
    /// Verifies a logout token from `provider_id` and revokes the sessions
    /// it names: those started under its `sid` (of its `sub`, when both are
    /// given), or every session of its `sub`. Returns how many; none is
    /// not an error (the user may have logged out already).
    pub async fn backchannel_logout(
        &self,
        provider_id: &str,
        token: &str,
    ) -> Result<u32, AuthError> {
        let result = self.backchannel_logout_inner(provider_id, token).await;
        match &result {
            Ok(revoked) => tracing::info!(
                target: "audit",
                event = "backchannel_logout",
                provider = %provider_id,
                revoked,
                trace_id = %TraceId::current(),
            ),
            Err(e) => tracing::warn!(
                target: "audit",
                event = "backchannel_logout_refused",
                provider = %provider_id,
                reason = e.reason().map_or("error", Reason::code),
                detail = %e,
                trace_id = %TraceId::current(),
            ),
        }
        result
    }

    async fn backchannel_logout_inner(
        &self,
        provider_id: &str,
        token: &str,
    ) -> Result<u32, AuthError> {
        let provider = self.providers.get(provider_id)?;
        if !provider.config().backchannel_logout {
            return Err(AuthError::InvalidArgument(format!(
                "provider {provider_id} does not accept back-channel logout \
                 (set backchannel_logout = true)"
            )));
        }
        let now = self.clock.now();
        let checks = self.checks(now);
        let logout = provider.verify_logout_token(token, checks).await?;
        self.seen_logouts.check_unused(&logout, now, checks.skew)?;
        let revoked = self.revoke_named_sessions(&logout).await?;
        self.metrics
            .record_revocations(RevocationKind::Backchannel, revoked);
        self.seen_logouts.record(&logout);
        Ok(revoked)
    }

    /// Revokes the sessions `logout` names; durable when it returns.
    async fn revoke_named_sessions(&self, logout: &Logout) -> Result<u32, AuthError> {
        let Some(sid) = &logout.sid else {
            let Some(sub) = &logout.subject else {
                return Ok(0);
            };
            return match self.store.user_by_identity(&logout.issuer, sub).await? {
                Some(user) => Ok(self.store.delete_user_sessions(&user.id).await?),
                None => Ok(0),
            };
        };
        let mut revoked = 0;
        for session in self.store.provider_sessions(&logout.issuer, sid).await? {
            let named = logout
                .subject
                .as_ref()
                .is_none_or(|sub| session.user.subject == *sub);
            if named && self.store.delete_session(&session.id).await?.is_some() {
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}
