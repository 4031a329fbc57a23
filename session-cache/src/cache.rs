//! The validation cache and its rules: when a hit may be served, when an
//! answer may be inserted, what a revocation or a lost feed does.
//!
//! A hit is served only while the revocation feed is healthy (`On`, entered
//! on `Synced`); leaving `On` flushes everything, so a cache never outlives
//! the feed that keeps it exact. Revocations leave tombstones (token hash or
//! user id → when the event arrived): an entry whose validation *started*
//! at or before a tombstone of its token or user is never inserted and
//! never served, which closes the race where a revocation overtakes the
//! answer of an older `ValidateSession` call (the Redis client-side caching
//! guide's "invalidation before the reply" case). Failures are never cached.
//! Every entry ends at the earlier of `ttl` after its validation started and
//! the session's own `expires_at`.

use crate::propagation::PropagationDelays;
use crate::tombstones::Tombstones;
use moka::sync::Cache;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// SHA-256 of a session token: the cache key (never the token itself).
pub type TokenHash = [u8; 32];

/// Longest `ttl` allowed: an active session must still reach auth-service
/// at least once a minute, so its idle expiry keeps sliding. The same
/// bound as the gateway's `session_cache.ttl` setting.
pub const MAX_TTL: Duration = common::config::SESSION_CACHE_MAX_TTL;

/// Where the cache stands with its feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// No stream: serve nothing from the cache.
    Off,
    /// A stream is open but has not said `Synced`: serve nothing yet.
    Syncing,
    /// Every revocation reaches the cache: hits are served.
    On,
}

/// A cache setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheConfigError {
    /// `ttl` is zero or above [`MAX_TTL`].
    #[error("session cache ttl must be between 1 ms and {max:?}, got {ttl:?}")]
    Ttl {
        /// The ttl asked for.
        ttl: Duration,
        /// The ceiling.
        max: Duration,
    },
    /// `max_entries` is zero.
    #[error("session cache max_entries must be at least 1")]
    NoEntries,
}

/// The wall clock, for comparing with a session's `expires_at` (a point in
/// wall-clock time set by auth-service). The workspace bans
/// `SystemTime::now` so auth-service reads time through its injected clock;
/// a caller's cache has no such clock, and a paused test clock could not
/// move a wall-clock expiry anyway (tests use expiries in the past instead).
#[allow(clippy::disallowed_methods)]
pub(crate) fn wall_clock_now() -> SystemTime {
    SystemTime::now()
}

/// Tombstones kept per kind: as many as entries, and at least enough for a
/// burst of logouts in a small cache.
fn tombstone_capacity(max_entries: u64) -> usize {
    usize::try_from(max_entries).unwrap_or(usize::MAX).max(1024)
}

/// One cached validation.
#[derive(Debug)]
struct Cached<V> {
    value: V,
    user_id: String,
    started: Instant,
    session_expires_at: SystemTime,
}

/// Proof that a validation started at a known time under a known feed
/// generation; required to insert its answer.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    generation: u64,
    started: Instant,
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Hits served.
    pub hits: AtomicU64,
    /// Lookups that went to auth-service (including while the feed is not `On`).
    pub misses: AtomicU64,
    /// Times the whole cache was dropped.
    pub flushes: AtomicU64,
    /// How long revocations took to arrive from the store.
    pub propagation: PropagationDelays,
}

#[derive(Debug)]
struct Feed {
    state: FeedState,
    /// Bumped on every flush: a ticket from an older generation inserts nothing.
    generation: u64,
}

/// The cache of successful validations, `V` being what a hit returns.
pub struct ValidationCache<V> {
    entries: Cache<TokenHash, Arc<Cached<V>>>,
    revoked_tokens: Tombstones<TokenHash>,
    revoked_users: Tombstones<String>,
    feed: Mutex<Feed>,
    ttl: Duration,
    stats: CacheStats,
}

impl<V: Clone + Send + Sync + 'static> ValidationCache<V> {
    /// A cache of at most `max_entries` validations, each served for at
    /// most `ttl` (≤ [`MAX_TTL`]). It starts `Off`.
    pub fn new(max_entries: u64, ttl: Duration) -> Result<Self, CacheConfigError> {
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(CacheConfigError::Ttl { ttl, max: MAX_TTL });
        }
        if max_entries == 0 {
            return Err(CacheConfigError::NoEntries);
        }
        // A tombstone must outlive every entry it could veto: an entry lives
        // at most `ttl` from the start of its validation.
        let tombstone_life = ttl + Duration::from_secs(1);
        Ok(Self {
            entries: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
            revoked_tokens: Tombstones::new(tombstone_life, tombstone_capacity(max_entries)),
            revoked_users: Tombstones::new(tombstone_life, tombstone_capacity(max_entries)),
            feed: Mutex::new(Feed {
                state: FeedState::Off,
                generation: 0,
            }),
            ttl,
            stats: CacheStats::default(),
        })
    }

    /// The cached answer for `token_hash`, if one may be served now.
    pub fn get(&self, token_hash: &TokenHash) -> Option<V> {
        let hit = self.lookup(token_hash);
        let counter = if hit.is_some() {
            &self.stats.hits
        } else {
            &self.stats.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    fn lookup(&self, token_hash: &TokenHash) -> Option<V> {
        if self.state() != FeedState::On {
            return None;
        }
        let entry = self.entries.get(token_hash)?;
        let fresh = entry.started.elapsed() < self.ttl
            && wall_clock_now() < entry.session_expires_at
            && !self.revoked_since(token_hash, &entry.user_id, entry.started);
        if fresh {
            Some(entry.value.clone())
        } else {
            self.entries.invalidate(token_hash);
            None
        }
    }

    /// Call before asking auth-service; pass the ticket to [`Self::insert`].
    pub fn ticket(&self) -> Ticket {
        Ticket {
            generation: self.lock().generation,
            started: Instant::now(),
        }
    }

    /// Caches a successful validation, unless the feed was lost or a
    /// revocation of this token or user arrived since `ticket` was taken.
    pub fn insert(
        &self,
        ticket: Ticket,
        token_hash: TokenHash,
        user_id: &str,
        session_expires_at: SystemTime,
        value: V,
    ) {
        let feed = self.lock();
        if feed.state != FeedState::On || feed.generation != ticket.generation {
            return;
        }
        if self.revoked_since(&token_hash, user_id, ticket.started) {
            return;
        }
        // Inserted under the feed lock, so a flush cannot fall between the
        // checks above and the insert.
        self.entries.insert(
            token_hash,
            Arc::new(Cached {
                value,
                user_id: user_id.to_owned(),
                started: ticket.started,
                session_expires_at,
            }),
        );
    }

    /// Whether a revocation of the token or user arrived at or after `started`.
    fn revoked_since(&self, token_hash: &TokenHash, user_id: &str, started: Instant) -> bool {
        self.revoked_tokens.revoked_since(token_hash, started)
            || self.revoked_users.revoked_since(user_id, started)
    }

    /// A session was revoked.
    pub fn session_revoked(&self, token_hash: TokenHash) {
        let recorded = self.revoked_tokens.record(token_hash);
        self.entries.invalidate(&token_hash);
        if recorded.is_err() {
            self.flush_keeping_state();
        }
    }

    /// Every session of a user was revoked. Their entries are vetoed by the
    /// tombstone at once and reclaimed as they are next looked up or expire.
    pub fn user_revoked(&self, user_id: &str) {
        if self.revoked_users.record(user_id.to_owned()).is_err() {
            self.flush_keeping_state();
        }
    }

    /// More revocations than tombstones can hold: drop everything they
    /// would have vetoed, including answers in flight.
    fn flush_keeping_state(&self) {
        let state = self.state();
        self.transition(state);
    }

    /// A stream opened: flush and wait for `Synced`.
    pub fn stream_opened(&self) {
        self.transition(FeedState::Syncing);
    }

    /// `Synced`: serve hits from now on (only from `Syncing`).
    pub fn synced(&self) {
        let mut feed = self.lock();
        if feed.state == FeedState::Syncing {
            feed.state = FeedState::On;
        }
    }

    /// `Reset` on an open stream: flush, then wait for `Synced` again.
    pub fn reset(&self) {
        self.transition(FeedState::Syncing);
    }

    /// The stream failed, stalled or closed: flush and serve nothing.
    pub fn stream_lost(&self) {
        self.transition(FeedState::Off);
    }

    fn transition(&self, to: FeedState) {
        let mut feed = self.lock();
        feed.generation += 1;
        feed.state = to;
        self.entries.invalidate_all();
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// Where the cache stands with its feed.
    pub fn state(&self) -> FeedState {
        self.lock().state
    }

    /// Entries held (approximate: expired ones are reclaimed lazily).
    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Hit, miss and flush counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The feed lock. Every change under it is a single assignment, so a
    /// poisoned lock is still consistent.
    fn lock(&self) -> std::sync::MutexGuard<'_, Feed> {
        self.feed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn on_cache() -> ValidationCache<&'static str> {
        let cache = ValidationCache::new(100, Duration::from_secs(30)).unwrap();
        cache.stream_opened();
        cache.synced();
        cache
    }

    fn later() -> SystemTime {
        wall_clock_now() + HOUR
    }

    fn fill(cache: &ValidationCache<&'static str>, key: u8, user: &str) {
        let ticket = cache.ticket();
        cache.insert(ticket, [key; 32], user, later(), "v");
    }

    #[test]
    fn settings_are_bounded() {
        assert!(matches!(
            ValidationCache::<()>::new(1, Duration::from_secs(61)),
            Err(CacheConfigError::Ttl { .. })
        ));
        assert!(ValidationCache::<()>::new(1, Duration::ZERO).is_err());
        assert_eq!(
            ValidationCache::<()>::new(0, Duration::from_secs(1)).err(),
            Some(CacheConfigError::NoEntries)
        );
        assert!(ValidationCache::<()>::new(1, MAX_TTL).is_ok());
    }

    #[test]
    fn hits_only_while_on() {
        let cache = ValidationCache::new(100, Duration::from_secs(30)).unwrap();
        // Off: nothing inserted, nothing served.
        fill(&cache, 1, "u");
        assert_eq!(cache.get(&[1; 32]), None);
        cache.stream_opened();
        fill(&cache, 1, "u");
        assert_eq!(cache.get(&[1; 32]), None, "syncing serves nothing");
        cache.synced();
        fill(&cache, 1, "u");
        assert_eq!(cache.get(&[1; 32]), Some("v"));
        assert_eq!(cache.stats().hits.load(Ordering::Relaxed), 1);
        assert_eq!(cache.stats().misses.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn synced_without_an_open_stream_does_nothing() {
        let cache = ValidationCache::<&str>::new(100, Duration::from_secs(30)).unwrap();
        cache.synced();
        assert_eq!(cache.state(), FeedState::Off);
    }

    #[test]
    fn leaving_on_flushes_and_old_tickets_insert_nothing() {
        type Cache = ValidationCache<&'static str>;
        let leaves: [fn(&Cache); 3] = [Cache::stream_lost, Cache::reset, Cache::stream_opened];
        for leave in leaves {
            let cache = on_cache();
            fill(&cache, 1, "u");
            let in_flight = cache.ticket();
            leave(&cache);
            cache.stream_opened();
            cache.synced();
            assert_eq!(cache.get(&[1; 32]), None, "flushed");
            cache.insert(in_flight, [2; 32], "u", later(), "v");
            assert_eq!(cache.get(&[2; 32]), None, "a ticket from before the flush");
            assert!(cache.stats().flushes.load(Ordering::Relaxed) >= 2);
        }
    }

    #[test]
    fn session_revocation_evicts_and_vetoes_in_flight_answers() {
        let cache = on_cache();
        fill(&cache, 1, "u");
        let in_flight = cache.ticket();
        cache.session_revoked([1; 32]);
        assert_eq!(cache.get(&[1; 32]), None);
        // The answer to a call that started before the revocation arrived.
        cache.insert(in_flight, [1; 32], "u", later(), "stale");
        assert_eq!(cache.get(&[1; 32]), None);
        // Another token of the same user is untouched.
        fill(&cache, 2, "u");
        assert_eq!(cache.get(&[2; 32]), Some("v"));
    }

    #[test]
    fn user_revocation_evicts_every_session_of_the_user_only() {
        let cache = on_cache();
        fill(&cache, 1, "u");
        fill(&cache, 2, "u");
        fill(&cache, 3, "other");
        let in_flight = cache.ticket();
        cache.user_revoked("u");
        assert_eq!(cache.get(&[1; 32]), None);
        assert_eq!(cache.get(&[2; 32]), None);
        assert_eq!(cache.get(&[3; 32]), Some("v"));
        cache.insert(in_flight, [4; 32], "u", later(), "stale");
        assert_eq!(cache.get(&[4; 32]), None);
    }

    #[test]
    fn a_validation_started_after_the_revocation_may_be_cached() {
        let cache = on_cache();
        cache.user_revoked("u");
        // Time moves on (a new login of the same user, validated afterwards).
        std::thread::sleep(Duration::from_millis(2));
        fill(&cache, 5, "u");
        assert_eq!(cache.get(&[5; 32]), Some("v"));
    }

    #[test]
    fn too_many_revocations_flush_instead_of_forgetting_one() {
        let cache = ValidationCache::new(1, Duration::from_secs(30)).unwrap();
        cache.stream_opened();
        cache.synced();
        fill(&cache, 1, "victim");
        let in_flight = cache.ticket();
        for i in 0..2000 {
            cache.user_revoked(&format!("u{i}"));
        }
        assert_eq!(cache.state(), FeedState::On, "still serving");
        cache.insert(in_flight, [1; 32], "victim", later(), "v");
        assert_eq!(
            cache.get(&[1; 32]),
            None,
            "the in-flight answer was dropped"
        );
    }

    #[test]
    fn entries_end_with_the_session() {
        let cache = on_cache();
        let ticket = cache.ticket();
        cache.insert(
            ticket,
            [1; 32],
            "u",
            wall_clock_now() - Duration::from_secs(1),
            "v",
        );
        assert_eq!(cache.get(&[1; 32]), None);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_end_after_the_ttl() {
        let cache = on_cache();
        fill(&cache, 1, "u");
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(cache.get(&[1; 32]), Some("v"));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.get(&[1; 32]), None);
    }
}
