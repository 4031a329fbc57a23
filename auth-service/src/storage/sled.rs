//! The embedded store: sled, one database directory, one node.
//!
//! Trees: `sessions` (token hash → session), `session_ids` (id → token hash),
//! `user_sessions` (user id ‖ 0 ‖ session id → token hash, the per-user
//! index), `provider_sessions` (SHA-256 of issuer ‖ 0 ‖ provider sid, then
//! session id → token hash, for sessions with a provider `sid`), `users`
//! (id → user, so a range scan lists users in id order), `users_by_email`
//! (lower-cased e-mail ‖ 0 ‖ user id → nothing, written in one transaction
//! with the user; filled from `users` once when a database from before it
//! is opened), `identities` (issuer ‖ 0 ‖ subject → user id) and `flows`
//! (state hash → flow). Records are JSON. A new session and every
//! revocation are written in one transaction over the four session trees and then wait for [`GroupCommit`], so they are on disk before the RPC
//! is acknowledged. sled's `flush_async` is never called: see
//! [`super::group_commit`] for why.

use super::group_commit::GroupCommit;
use super::{
    FlowRecord, FlowStore, SessionRecord, SessionStore, SessionSweep, StorageError, UserPage,
    UserRecord, UserStore, decode, email_index_form, email_matches, encode, provider_scoped_key,
};
use crate::domain::clock::UnixTime;
use crate::revocation_feed::{Revocation, RevocationFeed, wall_clock_now};
use async_trait::async_trait;
use common::token::SecretHash;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a write waits for its flush before the call fails with
/// [`StorageError::NotDurable`]: far above a healthy fsync (milliseconds),
/// far below the gateway's patience, so a stuck disk is an error answer.
const FLUSH_DEADLINE: Duration = Duration::from_secs(10);

/// The sled-backed store.
#[derive(Clone)]
pub struct SledStore {
    commit: Arc<GroupCommit>,
    sessions: sled::Tree,
    session_ids: sled::Tree,
    user_sessions: sled::Tree,
    provider_sessions: sled::Tree,
    users: sled::Tree,
    /// The e-mail index: [`email_key`] → nothing.
    users_by_email: sled::Tree,
    identities: sled::Tree,
    flows: sled::Tree,
    /// Bookkeeping that is no user data: the watchdog's probe marker.
    meta: sled::Tree,
    /// Revocations, as this process commits them (one process per sled
    /// directory, so that is every revocation).
    feed: Arc<RevocationFeed>,
}

/// The key of the watchdog's probe marker in the `meta` tree.
const PROBE_KEY: &[u8] = b"probe";

/// Present in the `meta` tree once `users_by_email` holds every user.
const EMAIL_INDEX_FILLED: &[u8] = b"users_by_email filled";

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::Backend(e.to_string())
    }
}

fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + b.len() + 1);
    key.extend_from_slice(a.as_bytes());
    key.push(0);
    key.extend_from_slice(b.as_bytes());
    key
}

/// A user's key in the `users_by_email` index, if it has an e-mail.
fn email_key(user: &UserRecord) -> Option<Vec<u8>> {
    email_index_form(&user.email).map(|email| pair_key(&email, &user.id))
}

/// A session's key in the `provider_sessions` index, if it has a provider
/// `sid`: the index prefix for its `(issuer, sid)`, then its id.
fn provider_session_key(session: &SessionRecord) -> Option<Vec<u8>> {
    if session.provider_sid.is_empty() {
        return None;
    }
    let mut key = provider_scoped_key(&session.user.issuer, &session.provider_sid).to_vec();
    key.extend_from_slice(session.id.as_bytes());
    Some(key)
}

impl SledStore {
    /// Opens (or creates) the database in `dir`. Blocking: call it from
    /// `spawn_blocking` or before the runtime serves requests.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let db = sled::Config::new().path(dir).open()?;
        let flush_db = db.clone();
        let commit = GroupCommit::start(
            "sled-flusher",
            Box::new(move || flush_db.flush().map(drop).map_err(|e| e.to_string())),
            FLUSH_DEADLINE,
        )
        .map_err(|e| StorageError::Backend(format!("cannot start the flusher thread: {e}")))?;
        let store = Self {
            commit: Arc::new(commit),
            sessions: db.open_tree("sessions")?,
            session_ids: db.open_tree("session_ids")?,
            user_sessions: db.open_tree("user_sessions")?,
            provider_sessions: db.open_tree("provider_sessions")?,
            users: db.open_tree("users")?,
            users_by_email: db.open_tree("users_by_email")?,
            identities: db.open_tree("identities")?,
            flows: db.open_tree("flows")?,
            meta: db.open_tree("meta")?,
            feed: Arc::new(RevocationFeed::with_random_epoch().map_err(|e| {
                StorageError::Backend(format!("cannot draw the revocation feed's epoch: {e}"))
            })?),
        };
        store.fill_email_index()?;
        Ok(store)
    }

    /// Indexes every user by e-mail, once, for a database written before
    /// the index existed: one pass over `users` at the first open, nothing
    /// after (the marker in `meta`). Undecodable records are left out, as
    /// every read of them fails anyway.
    fn fill_email_index(&self) -> Result<(), StorageError> {
        if self.meta.contains_key(EMAIL_INDEX_FILLED)? {
            return Ok(());
        }
        for entry in self.users.iter() {
            let (_, bytes) = entry?;
            if let Some(key) = decode::<UserRecord>(&bytes, "users")
                .ok()
                .as_ref()
                .and_then(email_key)
            {
                self.users_by_email.insert(key, &[] as &[u8])?;
            }
        }
        self.meta.insert(EMAIL_INDEX_FILLED, &[] as &[u8])?;
        Ok(())
    }

    /// The four session trees, for one transaction over all of them.
    fn session_trees(&self) -> (&sled::Tree, &sled::Tree, &sled::Tree, &sled::Tree) {
        (
            &self.sessions,
            &self.session_ids,
            &self.user_sessions,
            &self.provider_sessions,
        )
    }

    /// Removes one session from all four session trees atomically.
    /// Returns the removed record, if the session still existed.
    fn remove_session_by_hash(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<SessionRecord>, StorageError> {
        let result = self.session_trees().transaction(
            |(sessions, session_ids, user_sessions, provider_sessions)| {
                let Some(bytes) = sessions.remove(token_hash)? else {
                    return Ok(None);
                };
                let record: SessionRecord =
                    decode(&bytes, "sessions").map_err(ConflictableTransactionError::Abort)?;
                session_ids.remove(record.id.as_bytes())?;
                user_sessions.remove(pair_key(&record.user.id, &record.id))?;
                if let Some(key) = provider_session_key(&record) {
                    provider_sessions.remove(key)?;
                }
                Ok(Some(record))
            },
        );
        match result {
            Ok(record) => Ok(record),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }
}

/// Writes and scans, run on the blocking pool ([`SledStore::blocking`]).
impl SledStore {
    /// Runs `work` on tokio's blocking pool. sled's writes and scans can
    /// wait on its I/O buffers or the disk; off the runtime, such a wait
    /// holds a blocking thread, never a worker, so validations keep flowing
    /// and the store watchdog's timeout can still fire. Point reads stay on
    /// the runtime: they are served from sled's cache on the hot path.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&SledStore) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| StorageError::Backend(format!("store task failed: {e}")))?
    }

    fn write_session(&self, session: &SessionRecord) -> Result<(), StorageError> {
        let bytes = encode(session, "sessions")?;
        let by_provider = provider_session_key(session);
        let result: Result<(), TransactionError<()>> = self.session_trees().transaction(
            |(sessions, session_ids, user_sessions, provider_sessions)| {
                sessions.insert(&session.token_hash[..], bytes.as_slice())?;
                session_ids.insert(session.id.as_bytes(), &session.token_hash[..])?;
                user_sessions.insert(
                    pair_key(&session.user.id, &session.id),
                    &session.token_hash[..],
                )?;
                if let Some(key) = &by_provider {
                    provider_sessions.insert(key.as_slice(), &session.token_hash[..])?;
                }
                Ok(())
            },
        );
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(())) => Err(StorageError::Backend("aborted".into())),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// The sessions an index (user or provider session) lists under
    /// `prefix`; entries whose session is gone are skipped.
    fn sessions_indexed(
        &self,
        index: &sled::Tree,
        prefix: &[u8],
    ) -> Result<Vec<SessionRecord>, StorageError> {
        let mut out = Vec::new();
        for entry in index.scan_prefix(prefix) {
            let (_, hash) = entry?;
            if let Some(bytes) = self.sessions.get(hash)? {
                out.push(decode(&bytes, "sessions")?);
            }
        }
        Ok(out)
    }

    fn remove_user_sessions(&self, user_id: &str) -> Result<u32, StorageError> {
        let mut count = 0u32;
        for entry in self.user_sessions.scan_prefix(pair_key(user_id, "")) {
            let (key, hash) = entry?;
            if self.remove_session_by_hash(&hash)?.is_some() {
                count += 1;
            } else {
                // A dangling index entry: drop it too.
                self.user_sessions.remove(key)?;
            }
        }
        Ok(count)
    }

    fn remove_expired_sessions(&self, now: UnixTime) -> Result<SessionSweep, StorageError> {
        let (mut purged, mut live) = (0u32, 0u64);
        for entry in self.sessions.iter() {
            let (hash, bytes) = entry?;
            let is_live = decode::<SessionRecord>(&bytes, "sessions")
                .map(|s| s.is_live(now))
                .unwrap_or(false);
            if is_live {
                live += 1;
            } else if self.remove_session_by_hash(&hash)?.is_some() {
                purged += 1;
            }
        }
        Ok(SessionSweep {
            purged,
            live: Some(live),
        })
    }

    fn remove_expired_flows(&self, now: UnixTime) -> Result<u32, StorageError> {
        let mut count = 0u32;
        for entry in self.flows.iter() {
            let (key, bytes) = entry?;
            let live = decode::<FlowRecord>(&bytes, "flows")
                .map(|f| now < f.expires_at)
                .unwrap_or(false);
            if !live {
                self.flows.remove(key)?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Stores `user` and moves its `users_by_email` entry in one
    /// transaction, so the index never names an e-mail the user no longer
    /// has (a previous record that cannot be decoded has no entry to move).
    fn write_user(&self, user: &UserRecord) -> Result<(), StorageError> {
        let bytes = encode(user, "users")?;
        let new_key = email_key(user);
        let result: Result<(), TransactionError<()>> = (&self.users, &self.users_by_email)
            .transaction(|(users, by_email)| {
                let old = users.insert(user.id.as_bytes(), bytes.as_slice())?;
                let old_key = old
                    .and_then(|b| decode::<UserRecord>(&b, "users").ok())
                    .and_then(|old| email_key(&old));
                if let Some(key) = old_key.filter(|k| Some(k) != new_key.as_ref()) {
                    by_email.remove(key)?;
                }
                if let Some(key) = &new_key {
                    by_email.insert(key.as_slice(), &[] as &[u8])?;
                }
                Ok(())
            });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(())) => Err(StorageError::Backend("aborted".into())),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// A range scan of `users` (ids are the keys, so in id order).
    fn users_after(&self, after: Option<&str>, limit: usize) -> Result<UserPage, StorageError> {
        use std::ops::Bound;
        let start = match after {
            Some(id) => Bound::Excluded(id.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut users = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        for entry in self.users.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (_, bytes) = entry?;
            if users.len() == limit {
                more = true;
                break;
            }
            users.push(decode::<UserRecord>(&bytes, "users")?);
        }
        let next_after = if more {
            users.last().map(|u| u.id.clone())
        } else {
            None
        };
        Ok(UserPage { users, next_after })
    }

    /// The users `users_by_email` lists under `email` (index form).
    fn users_with_email(&self, email: &str) -> Result<Vec<UserRecord>, StorageError> {
        let mut out = Vec::new();
        for entry in self.users_by_email.scan_prefix(pair_key(email, "")) {
            let (key, _) = entry?;
            let id = key
                .rsplit(|b| *b == 0)
                .next()
                .and_then(|id| std::str::from_utf8(id).ok())
                .ok_or(StorageError::Corrupt("users_by_email"))?;
            if let Some(bytes) = self.users.get(id.as_bytes())? {
                let user: UserRecord = decode(&bytes, "users")?;
                if email_matches(&user, email) {
                    out.push(user);
                }
            }
        }
        Ok(out)
    }

    /// Bumps the probe marker and reads it back.
    fn write_probe_marker(&self) -> Result<(), StorageError> {
        let marker = self
            .meta
            .update_and_fetch(PROBE_KEY, |old| {
                let n = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_be_bytes);
                Some(n.wrapping_add(1).to_be_bytes().to_vec())
            })?
            .ok_or(StorageError::Corrupt("meta"))?;
        if self.meta.get(PROBE_KEY)?.as_ref() != Some(&marker) {
            return Err(StorageError::Corrupt("meta"));
        }
        Ok(())
    }
}

#[async_trait]
impl UserStore for SledStore {
    async fn user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StorageError> {
        match self.identities.get(pair_key(issuer, subject))? {
            Some(id) => {
                let id = String::from_utf8(id.to_vec())
                    .map_err(|_| StorageError::Corrupt("identities"))?;
                self.user(&id).await
            }
            None => Ok(None),
        }
    }

    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        candidate_id: &str,
    ) -> Result<String, StorageError> {
        let key = pair_key(issuer, subject);
        let candidate_id = candidate_id.to_owned();
        self.blocking(move |store| {
            match store.identities.compare_and_swap(
                &key,
                None as Option<&[u8]>,
                Some(candidate_id.as_bytes()),
            )? {
                Ok(()) => Ok(candidate_id),
                Err(existing) => match existing.current {
                    Some(id) => String::from_utf8(id.to_vec())
                        .map_err(|_| StorageError::Corrupt("identities")),
                    None => Err(StorageError::Corrupt("identities")),
                },
            }
        })
        .await
    }

    async fn put_user(&self, user: &UserRecord) -> Result<(), StorageError> {
        let user = user.clone();
        self.blocking(move |store| store.write_user(&user)).await
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StorageError> {
        self.users
            .get(id.as_bytes())?
            .map(|bytes| decode(&bytes, "users"))
            .transpose()
    }

    async fn list_users(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<UserPage, StorageError> {
        let after = after.map(str::to_owned);
        let limit = limit.max(1);
        self.blocking(move |store| store.users_after(after.as_deref(), limit))
            .await
    }

    async fn users_by_email(&self, email: &str) -> Result<Vec<UserRecord>, StorageError> {
        let Some(email) = email_index_form(email) else {
            return Ok(Vec::new());
        };
        self.blocking(move |store| store.users_with_email(&email))
            .await
    }
}

#[async_trait]
impl SessionStore for SledStore {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StorageError> {
        let session = session.clone();
        self.blocking(move |store| store.write_session(&session))
            .await?;
        // A login is rare and its cookie is already on its way: make the
        // session durable too, so a crash right after login does not log
        // the user out.
        self.flush().await
    }

    async fn session_by_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StorageError> {
        self.sessions
            .get(token_hash.0)?
            .map(|bytes| decode(&bytes, "sessions"))
            .transpose()
    }

    async fn session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StorageError> {
        match self.session_ids.get(id.as_bytes())? {
            Some(hash) => self
                .sessions
                .get(hash)?
                .map(|bytes| decode(&bytes, "sessions"))
                .transpose(),
            None => Ok(None),
        }
    }

    async fn touch_session(
        &self,
        token_hash: &SecretHash,
        last_seen_at: UnixTime,
        idle_expires_at: UnixTime,
    ) -> Result<(), StorageError> {
        let hash = token_hash.0;
        self.blocking(move |store| {
            // update_and_fetch retries on concurrent change and yields None
            // for a deleted key, so a revoked session is never written back.
            store.sessions.update_and_fetch(hash, |old| {
                let old = old?;
                let mut record: SessionRecord = serde_json::from_slice(old).ok()?;
                record.last_seen_at = last_seen_at;
                record.idle_expires_at = idle_expires_at;
                serde_json::to_vec(&record)
                    .ok()
                    .or_else(|| Some(old.to_vec()))
            })?;
            Ok(())
        })
        .await
    }

    async fn delete_session(&self, id: &str) -> Result<Option<SessionRecord>, StorageError> {
        let id = id.to_owned();
        let removed = self
            .blocking(move |store| match store.session_ids.get(id.as_bytes())? {
                Some(hash) => store.remove_session_by_hash(&hash),
                None => Ok(None),
            })
            .await?;
        // Published before the flush: a watcher evicting early is harmless,
        // and this way the event is out by the time the revoke is acknowledged.
        if let Some(session) = &removed {
            self.feed.publish(
                Revocation::Session {
                    token_hash: session.token_hash,
                    session_id: session.id.clone(),
                    user_id: session.user.id.clone(),
                },
                wall_clock_now(),
            );
        }
        // Flushed even when it was gone already: a concurrent revoke of the
        // same session may still be waiting for its flush, and the caller
        // acknowledges the revocation either way.
        self.flush().await?;
        Ok(removed)
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StorageError> {
        let prefix = pair_key(user_id, "");
        self.blocking(move |store| store.sessions_indexed(&store.user_sessions, &prefix))
            .await
    }

    async fn provider_sessions(
        &self,
        issuer: &str,
        sid: &str,
    ) -> Result<Vec<SessionRecord>, StorageError> {
        let prefix = provider_scoped_key(issuer, sid);
        self.blocking(move |store| store.sessions_indexed(&store.provider_sessions, &prefix))
            .await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u32, StorageError> {
        let owned_id = user_id.to_owned();
        let count = self
            .blocking(move |store| store.remove_user_sessions(&owned_id))
            .await?;
        self.feed.publish(
            Revocation::User {
                user_id: user_id.to_owned(),
            },
            wall_clock_now(),
        );
        // Flushed even when nothing was found, for the same reason as in
        // `delete_session`.
        self.flush().await?;
        Ok(count)
    }

    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<SessionSweep, StorageError> {
        let sweep = self
            .blocking(move |store| store.remove_expired_sessions(now))
            .await?;
        if sweep.purged > 0 {
            self.flush().await?;
        }
        Ok(sweep)
    }

    async fn flush(&self) -> Result<(), StorageError> {
        Ok(self.commit.durable().await?)
    }

    fn revocation_feed(&self) -> Arc<RevocationFeed> {
        self.feed.clone()
    }

    async fn probe(&self) -> Result<(), StorageError> {
        self.blocking(|store| store.write_probe_marker()).await?;
        self.flush().await
    }
}

#[async_trait]
impl FlowStore for SledStore {
    async fn insert_flow(
        &self,
        state_hash: &SecretHash,
        flow: &FlowRecord,
    ) -> Result<(), StorageError> {
        let (key, bytes) = (state_hash.0, encode(flow, "flows")?);
        self.blocking(move |store| {
            store.flows.insert(key, bytes)?;
            Ok(())
        })
        .await
    }

    async fn take_flow(&self, state_hash: &SecretHash) -> Result<Option<FlowRecord>, StorageError> {
        let key = state_hash.0;
        self.blocking(move |store| {
            store
                .flows
                .remove(key)?
                .map(|bytes| decode(&bytes, "flows"))
                .transpose()
        })
        .await
    }

    async fn purge_expired_flows(&self, now: UnixTime) -> Result<u32, StorageError> {
        self.blocking(move |store| store.remove_expired_flows(now))
            .await
    }
}

#[cfg(test)]
mod tests {
    //! What only sled does: sweeping. The rules both stores share are in
    //! [`super::super::conformance`].
    use super::super::conformance::{flow, session};
    use super::*;

    #[tokio::test]
    async fn purge_removes_only_expired_sessions_and_their_index_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        store
            .insert_session(&session("s1", "u1", "t1", 100))
            .await
            .unwrap();
        store
            .insert_session(&session("s2", "u1", "t2", 300))
            .await
            .unwrap();
        assert_eq!(
            store.purge_expired_sessions(200).await.unwrap(),
            SessionSweep {
                purged: 1,
                live: Some(1)
            }
        );
        assert!(store.session_by_id("s1").await.unwrap().is_none());
        assert!(
            store
                .session_by_token(&SecretHash::of("t1"))
                .await
                .unwrap()
                .is_none()
        );
        let left: Vec<_> = store
            .user_sessions("u1")
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(left, vec!["s2"]);
        assert_eq!(store.user_sessions.len(), 1);
        assert_eq!(store.provider_sessions.len(), 1);
    }

    #[tokio::test]
    async fn users_from_before_the_email_index_are_indexed_once_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        // As an older version wrote it: the record only, no index entry
        // and no marker.
        let old = UserRecord {
            email: "Old@Example.com".into(),
            ..super::super::conformance::user("u1")
        };
        store
            .users
            .insert("u1", encode(&old, "users").unwrap())
            .unwrap();
        store.meta.remove(EMAIL_INDEX_FILLED).unwrap();
        assert!(
            store
                .users_by_email("old@example.com")
                .await
                .unwrap()
                .is_empty()
        );
        store.fill_email_index().unwrap();
        assert_eq!(
            store.users_by_email("old@example.com").await.unwrap(),
            vec![old]
        );
        assert!(store.meta.contains_key(EMAIL_INDEX_FILLED).unwrap());
    }

    #[tokio::test]
    async fn expired_flows_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        store
            .insert_flow(&SecretHash::of("b"), &flow(100))
            .await
            .unwrap();
        assert_eq!(store.purge_expired_flows(50).await.unwrap(), 0);
        assert_eq!(store.purge_expired_flows(100).await.unwrap(), 1);
        assert_eq!(store.take_flow(&SecretHash::of("b")).await.unwrap(), None);
    }
}
