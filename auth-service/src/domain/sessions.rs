//! Sessions: opaque 256-bit bearer tokens, stored only as SHA-256 hashes,
//! with a public id for listing and revoking. A session ends at the earlier
//! of its absolute expiry (login + lifetime) and its idle expiry (last use +
//! idle timeout). Use is recorded at most once a minute per session, so
//! validation is a read on the hot path (OWASP ASVS V3.3).

use super::error::AuthError;
use super::{Auth, ClientMeta, IdTokenHint, truncate};
use crate::metrics::{RevocationKind, Validation};
use crate::storage::{SessionRecord, UserRecord};
use common::telemetry::trace_context::TraceId;
use common::token::{SessionToken, random_text};

/// Activity is written back at most this often (seconds).
pub const TOUCH_INTERVAL: i64 = 60;

/// What a session keeps of the provider's side of the login.
#[derive(Debug, Default)]
pub(crate) struct ProviderSession {
    /// The provider's session id, for back-channel logout (kept only where
    /// configured).
    pub(crate) sid: String,
    /// The ID token, for RP-initiated logout (kept only where configured).
    pub(crate) id_token: IdTokenHint,
}

/// Which session a revocation names.
#[derive(Debug)]
pub enum SessionRef<'a> {
    /// By bearer token (logout).
    Token(&'a str),
    /// By public id (session list).
    Id(&'a str),
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Auth {
    /// Starts a session for `user`: a fresh token every time, so a login
    /// never reuses a token an attacker may have planted (no fixation).
    pub(crate) async fn create_session(
        &self,
        user: UserRecord,
        client: ClientMeta,
        at_provider: ProviderSession,
    ) -> Result<(SessionToken, SessionRecord), AuthError> {
        let now = self.clock.now();
        let token = SessionToken::generate()?;
        let record = SessionRecord {
            id: format!("s_{}", random_text::<16>()?),
            token_hash: token.hash().0,
            user,
            created_at: now,
            last_seen_at: now,
            absolute_expires_at: now.saturating_add(secs(self.settings.session_lifetime)),
            idle_expires_at: now.saturating_add(secs(self.settings.session_idle_timeout)),
            user_agent: truncate(client.user_agent, 256),
            client_ip: truncate(client.ip, 64),
            provider_sid: truncate(at_provider.sid, 255),
            id_token: at_provider.id_token,
        };
        self.store.insert_session(&record).await?;
        Ok((token, record))
    }

    /// The live session for a token: one store read, plus a write at most
    /// once a minute to slide the idle expiry. Each answer is counted by
    /// outcome.
    pub async fn validate_session(&self, token: &str) -> Result<SessionRecord, AuthError> {
        let (outcome, result) = match self.find_live_session(token).await {
            Ok(session) => (Validation::Valid, Ok(session)),
            Err((outcome, e)) => (outcome, Err(e)),
        };
        self.metrics.record_validation(outcome);
        result
    }

    /// [`Auth::validate_session`]'s work; a failure says which outcome it
    /// is.
    async fn find_live_session(
        &self,
        token: &str,
    ) -> Result<SessionRecord, (Validation, AuthError)> {
        let token = SessionToken::parse(token)
            .map_err(|_| (Validation::Malformed, AuthError::InvalidSession))?;
        let hash = token.hash();
        let mut session = self
            .store
            .session_by_token(&hash)
            .await
            .map_err(|e| (Validation::Error, e.into()))?
            .ok_or((Validation::Unknown, AuthError::InvalidSession))?;
        let now = self.clock.now();
        if !session.is_live(now) {
            return Err((Validation::Expired, AuthError::InvalidSession));
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL {
            session.last_seen_at = now;
            session.idle_expires_at = now.saturating_add(secs(self.settings.session_idle_timeout));
            if let Err(e) = self
                .store
                .touch_session(&hash, session.last_seen_at, session.idle_expires_at)
                .await
            {
                // The session is valid; only its idle expiry did not slide.
                tracing::warn!(error = %e, session_id = %session.id, "could not record session activity");
            }
        }
        Ok(session)
    }

    /// Revokes one session; with `owner`, only if it belongs to that user.
    /// Durable when it returns; returns the revoked session.
    pub async fn revoke_session(
        &self,
        target: SessionRef<'_>,
        owner: Option<&str>,
    ) -> Result<SessionRecord, AuthError> {
        let kind = match target {
            SessionRef::Token(_) => RevocationKind::Logout,
            SessionRef::Id(_) => RevocationKind::Session,
        };
        let session = match target {
            SessionRef::Token(token) => {
                let token = SessionToken::parse(token).map_err(|_| AuthError::InvalidSession)?;
                self.store
                    .session_by_token(&token.hash())
                    .await?
                    .ok_or(AuthError::InvalidSession)?
            }
            SessionRef::Id(id) => self
                .store
                .session_by_id(id)
                .await?
                .ok_or(AuthError::NotFound("session"))?,
        };
        if owner.is_some_and(|owner| owner != session.user.id) {
            return Err(AuthError::NotFound("session"));
        }
        self.store.delete_session(&session.id).await?;
        self.metrics.record_revocations(kind, 1);
        tracing::info!(target: "audit", event = "session_revoked", session_id = %session.id, user_id = %session.user.id, trace_id = %TraceId::current());
        Ok(session)
    }

    /// Where the browser goes after logging out of `session` so the user is
    /// logged out at its provider too (RP-Initiated Logout 1.0); `None`
    /// unless the provider has `post_logout_redirect_uri`.
    pub async fn end_session_url(&self, session: &SessionRecord) -> Option<String> {
        let provider = self.providers.get(&session.user.provider_id).ok()?;
        provider
            .end_session_url(&session.id_token)
            .await
            .map(String::from)
    }

    /// Revokes every session of a user. Durable when it returns.
    pub async fn revoke_user_sessions(&self, user_id: &str) -> Result<u32, AuthError> {
        if user_id.is_empty() {
            return Err(AuthError::InvalidArgument("user_id is required".into()));
        }
        let revoked = self.store.delete_user_sessions(user_id).await?;
        self.metrics
            .record_revocations(RevocationKind::User, revoked);
        tracing::info!(target: "audit", event = "user_sessions_revoked", user_id = %user_id, revoked, trace_id = %TraceId::current());
        Ok(revoked)
    }

    /// The live sessions of a user, newest first.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, AuthError> {
        if user_id.is_empty() {
            return Err(AuthError::InvalidArgument("user_id is required".into()));
        }
        let now = self.clock.now();
        let mut sessions: Vec<_> = self
            .store
            .user_sessions(user_id)
            .await?
            .into_iter()
            .filter(|s| s.is_live(now))
            .collect();
        sessions.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(sessions)
    }

    /// Purges expired sessions and login flows; returns how many of each.
    pub async fn sweep(&self) -> Result<(u32, u32), AuthError> {
        let now = self.clock.now();
        let sessions = self.store.purge_expired_sessions(now).await?;
        let flows = self.store.purge_expired_flows(now).await?;
        self.metrics.record_sweep(sessions, flows);
        Ok((sessions.purged, flows))
    }
}
