//! The storage boundary: users, sessions and login-flow state.
//!
//! The traits speak only domain records, so the two backends (sled,
//! embedded, one node; Redis, shared by several auth-service replicas) slot
//! in without touching the domain or the gRPC layer. Secrets are never
//! stored: sessions are keyed by the SHA-256 of their token and flows by the
//! SHA-256 of their `state`. Both stores keep records as the same JSON
//! ([`encode`], [`decode`]).
//!
//! Durability contract: creating a session and every method that revokes
//! (deletes) one return only after the change is on disk, so an acknowledged
//! login or revocation survives a crash.

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod conformance;
pub mod group_commit;
pub mod redis;
pub mod sled;
#[cfg(test)]
#[allow(clippy::panic)]
mod test_redis;

use crate::domain::IdTokenHint;
use crate::domain::clock::UnixTime;
use crate::revocation_feed::RevocationFeed;
use async_trait::async_trait;
use common::token::SecretHash;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The store failed; the message never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend reported an I/O or database error.
    #[error("store backend error: {0}")]
    Backend(String),
    /// A stored record could not be decoded.
    #[error("corrupt record in {0}")]
    Corrupt(&'static str),
    /// The write happened but could not be confirmed durable, so it must not
    /// be acknowledged (a stuck or failing disk).
    #[error("write not confirmed durable: {0}")]
    NotDurable(#[from] group_commit::CommitError),
    /// The store cannot be reached (or is failing over) right now; the
    /// call may be retried and was not acknowledged.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// The fixed-size key of a provider-scoped name (an identity's subject, a
/// provider session id): SHA-256 of `issuer ‖ 0 ‖ name`, so the issuer and
/// the name can never be read across each other and long names stay short.
fn provider_scoped_key(issuer: &str, name: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::new()
        .chain_update(issuer.as_bytes())
        .chain_update([0])
        .chain_update(name.as_bytes())
        .finalize()
        .into()
}

/// The form an e-mail is indexed and looked up under: lower case, so a
/// lookup ignores case (providers differ in how they spell the same
/// address). `None` for an empty e-mail, which is not indexed.
pub(crate) fn email_index_form(email: &str) -> Option<String> {
    (!email.is_empty()).then(|| email.to_lowercase())
}

/// Whether `user` is one [`UserStore::users_by_email`] should return for
/// `wanted` (already in [`email_index_form`]): the stores check each
/// indexed user again, so an index entry left behind by a race or an old
/// record never yields a user whose e-mail is no longer the one asked for.
fn email_matches(user: &UserRecord, wanted: &str) -> bool {
    email_index_form(&user.email).as_deref() == Some(wanted)
}

/// One page of [`UserStore::list_users`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// Up to the requested number of users, ordered by id.
    pub users: Vec<UserRecord>,
    /// The id to continue after, when more users follow; `None` on the
    /// last page.
    pub next_after: Option<String>,
}

/// A record as its stored JSON bytes.
fn encode<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(value).map_err(|_| StorageError::Corrupt(what))
}

/// A record from its stored JSON bytes; `what` names the table for the error.
fn decode<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|_| StorageError::Corrupt(what))
}

/// A user, keyed by the provider's `(issuer, subject)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Internal opaque id.
    pub id: String,
    /// Provider id the user logs in with.
    pub provider_id: String,
    /// Provider issuer (canonical form from the configuration).
    pub issuer: String,
    /// Provider subject.
    pub subject: String,
    /// Last reported e-mail.
    pub email: String,
    /// Whether the provider vouched for `email`.
    pub email_verified: bool,
    /// Display name.
    pub name: String,
    /// Avatar URL.
    pub picture: String,
    /// First login.
    pub created_at: UnixTime,
    /// Latest login.
    pub last_login_at: UnixTime,
    /// Groups the provider reported at the latest login. Records written
    /// before groups existed read as none.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A session. The token is not here: the record is stored under its hash.
///
/// The user is embedded as of login time, so `ValidateSession` is one read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Public id.
    pub id: String,
    /// SHA-256 of the token; the primary key.
    pub token_hash: [u8; 32],
    /// The user as of login.
    pub user: UserRecord,
    /// Login time.
    pub created_at: UnixTime,
    /// Last use, written at most once a minute.
    pub last_seen_at: UnixTime,
    /// Hard end: `created_at` + absolute lifetime.
    pub absolute_expires_at: UnixTime,
    /// Soft end: `last_seen_at` + idle timeout.
    pub idle_expires_at: UnixTime,
    /// User agent at login.
    pub user_agent: String,
    /// Client IP at login.
    pub client_ip: String,
    /// The provider's session id (`sid`) at login, kept only for a
    /// provider with `backchannel_logout` (what its logout tokens name);
    /// empty otherwise. Records written before it existed read as empty.
    #[serde(default)]
    pub provider_sid: String,
    /// The ID token of the login, kept only for a provider with
    /// `post_logout_redirect_uri` (the `id_token_hint` of RP-initiated
    /// logout); empty otherwise, and then not written at all.
    #[serde(default, skip_serializing_if = "IdTokenHint::is_empty")]
    pub id_token: IdTokenHint,
}

impl SessionRecord {
    /// When the session ends, whichever limit comes first.
    pub fn expires_at(&self) -> UnixTime {
        self.absolute_expires_at.min(self.idle_expires_at)
    }

    /// Whether the session is still alive at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        now < self.expires_at()
    }
}

/// An authorization-code flow in progress, stored under the hash of `state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// The provider the flow started with.
    pub provider_id: String,
    /// SHA-256 of the flow handle held in the browser's flow cookie.
    pub handle_hash: [u8; 32],
    /// OIDC nonce sent in the authorization request.
    pub nonce: String,
    /// PKCE code verifier.
    pub pkce_verifier: String,
    /// Redirect URI sent in the authorization request.
    pub redirect_uri: String,
    /// Where the browser goes after login.
    pub return_to: String,
    /// When the flow ends.
    pub expires_at: UnixTime,
}

/// Users and their provider identities.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// The user linked to a provider identity.
    async fn user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StorageError>;

    /// Links `(issuer, subject)` to `candidate_id` unless it is already
    /// linked; returns the id that is linked now. Atomic, so two concurrent
    /// first logins of one person yield one user.
    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        candidate_id: &str,
    ) -> Result<String, StorageError>;

    /// Creates or replaces a user record.
    async fn put_user(&self, user: &UserRecord) -> Result<(), StorageError>;

    /// A user by internal id.
    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StorageError>;

    /// Up to `limit` users (at least one), ordered by id, starting after
    /// the id `after` (exclusive; `None` for the start): a stable cursor,
    /// so paging never repeats or skips a user that exists throughout.
    async fn list_users(&self, after: Option<&str>, limit: usize)
    -> Result<UserPage, StorageError>;

    /// The users whose e-mail equals `email` without regard to case,
    /// ordered by id, via an e-mail index that [`Self::put_user`] keeps
    /// (an e-mail change moves the user). Empty for an empty `email`.
    async fn users_by_email(&self, email: &str) -> Result<Vec<UserRecord>, StorageError>;
}

/// Sessions, with a per-user index.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session and indexes it by id, by user and (when it has
    /// one) by provider session; durable when it returns.
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StorageError>;

    /// The session stored under a token hash: the `ValidateSession` hot path,
    /// exactly one read.
    async fn session_by_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StorageError>;

    /// A session by public id.
    async fn session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StorageError>;

    /// Records activity: sets `last_seen_at` and `idle_expires_at`. Does
    /// nothing if the session was revoked meanwhile (never resurrects).
    async fn touch_session(
        &self,
        token_hash: &SecretHash,
        last_seen_at: UnixTime,
        idle_expires_at: UnixTime,
    ) -> Result<(), StorageError>;

    /// Deletes a session by public id and waits until that is durable.
    /// Returns the deleted record, or `None` if there was none.
    async fn delete_session(&self, id: &str) -> Result<Option<SessionRecord>, StorageError>;

    /// Every session of a user, live or not, via the per-user index.
    async fn user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StorageError>;

    /// Every session started under the provider session `sid` at
    /// `issuer` (what a back-channel logout token names), live or not, via
    /// the provider-session index that [`Self::insert_session`] writes for
    /// a session with a `provider_sid`. The index ends with its sessions,
    /// so it never outgrows them.
    async fn provider_sessions(
        &self,
        issuer: &str,
        sid: &str,
    ) -> Result<Vec<SessionRecord>, StorageError>;

    /// Deletes every session of a user and waits until that is durable.
    /// Returns how many were deleted.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u32, StorageError>;

    /// Deletes sessions that ended before `now`; says how many, and how
    /// many live ones are left when the store counted them on the way.
    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<SessionSweep, StorageError>;

    /// Waits until everything written so far is durable (used at shutdown).
    async fn flush(&self) -> Result<(), StorageError>;

    /// Writes a marker, reads it back and waits until it is durable: the
    /// whole write path a login takes, for the store watchdog.
    async fn probe(&self) -> Result<(), StorageError>;

    /// The feed of every revocation this store commits (the
    /// `WatchRevocations` stream); `delete_session` and
    /// `delete_user_sessions` publish to it before they return.
    fn revocation_feed(&self) -> Arc<RevocationFeed>;
}

/// Authorization-code flow state.
#[async_trait]
pub trait FlowStore: Send + Sync + 'static {
    /// Stores a new flow under the hash of its `state`.
    async fn insert_flow(
        &self,
        state_hash: &SecretHash,
        flow: &FlowRecord,
    ) -> Result<(), StorageError>;

    /// Removes and returns the flow for `state`: atomic, so a `state` can be
    /// used once only, even by two concurrent callbacks.
    async fn take_flow(&self, state_hash: &SecretHash) -> Result<Option<FlowRecord>, StorageError>;

    /// Deletes flows that ended before `now`; returns how many.
    async fn purge_expired_flows(&self, now: UnixTime) -> Result<u32, StorageError>;
}

/// What one sweep of the sessions found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSweep {
    /// Expired sessions deleted.
    pub purged: u32,
    /// Live sessions left, when the store counted them: sled walks every
    /// session to find the expired ones, so the count is free; Redis ends
    /// sessions by TTL, walks none and says `None`.
    pub live: Option<u64>,
}

/// One backend implementing all three stores.
pub trait Store: UserStore + SessionStore + FlowStore {}
impl<T: UserStore + SessionStore + FlowStore> Store for T {}
