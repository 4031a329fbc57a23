//! When each token or user was last revoked, for as long as a cached entry
//! could still predate it.
//!
//! Bounded on purpose, and not a general cache: a tombstone evicted early
//! would let a revoked entry be served, so instead of evicting, a full set
//! tells the caller, which flushes the whole validation cache (failing safe
//! costs misses, never a revoked session served).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The set is full: the caller must flush every entry it vetoes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

#[derive(Debug)]
struct Inner<K> {
    latest: HashMap<K, Instant>,
    /// Insertion order, for pruning the expired ones front to back.
    order: VecDeque<(Instant, K)>,
}

/// Revocation times by key, kept for `life`, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct Tombstones<K> {
    inner: Mutex<Inner<K>>,
    life: Duration,
    capacity: usize,
}

impl<K: Hash + Eq + Clone> Tombstones<K> {
    pub(crate) fn new(life: Duration, capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                latest: HashMap::new(),
                order: VecDeque::new(),
            }),
            life,
            capacity,
        }
    }

    /// Records a revocation of `key` now. On overflow the set is emptied:
    /// the caller's flush makes every tombstone moot.
    pub(crate) fn record(&self, key: K) -> Result<(), Overflow> {
        let now = Instant::now();
        let mut inner = self.lock();
        Self::prune(&mut inner, now, self.life);
        if inner.latest.len() >= self.capacity && !inner.latest.contains_key(&key) {
            inner.latest.clear();
            inner.order.clear();
            return Err(Overflow);
        }
        inner.latest.insert(key.clone(), now);
        inner.order.push_back((now, key));
        Ok(())
    }

    /// Whether `key` was revoked at or after `since`.
    pub(crate) fn revoked_since<Q>(&self, key: &Q, since: Instant) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().latest.get(key).is_some_and(|at| *at >= since)
    }

    fn prune(inner: &mut Inner<K>, now: Instant, life: Duration) {
        while let Some((at, _)) = inner.order.front() {
            if now.duration_since(*at) < life {
                break;
            }
            if let Some((at, key)) = inner.order.pop_front() {
                // Only if no later revocation of the same key replaced it.
                if inner.latest.get(&key) == Some(&at) {
                    inner.latest.remove(&key);
                }
            }
        }
    }

    /// Every change under the lock is a whole insert or removal, so a
    /// poisoned lock is still consistent.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tombstones_veto_what_started_before_them_and_expire() {
        let t = Tombstones::new(Duration::from_secs(10), 8);
        let before = Instant::now();
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(t.record("u".to_owned()), Ok(()));
        assert!(t.revoked_since("u", before));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!t.revoked_since("u", Instant::now()), "started later");
        assert!(!t.revoked_since("other", before));
        tokio::time::advance(Duration::from_secs(10)).await;
        // Pruned on the next record.
        assert_eq!(t.record("x".to_owned()), Ok(()));
        assert!(!t.revoked_since("u", before));
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_revocation_of_the_same_key_is_kept_when_the_first_expires() {
        let t = Tombstones::new(Duration::from_secs(10), 8);
        t.record(1u8).ok();
        tokio::time::advance(Duration::from_secs(6)).await;
        let second = Instant::now();
        t.record(1u8).ok();
        tokio::time::advance(Duration::from_secs(6)).await;
        t.record(2u8).ok();
        assert!(t.revoked_since(&1u8, second));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_set_overflows_instead_of_forgetting() {
        let t = Tombstones::new(Duration::from_secs(10), 2);
        let before = Instant::now();
        assert_eq!(t.record(1u8), Ok(()));
        assert_eq!(t.record(2u8), Ok(()));
        assert_eq!(t.record(2u8), Ok(()), "an existing key takes no room");
        assert_eq!(t.record(3u8), Err(Overflow));
        assert!(
            !t.revoked_since(&1u8, before),
            "emptied for the caller's flush"
        );
    }
}
