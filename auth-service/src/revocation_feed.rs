//! The revocation feed behind `WatchRevocations`: every revocation a store
//! commits, fanned out to every watcher, so callers (the gateway, internal
//! services) may cache successful validations and drop them at once.
//!
//! A store publishes here as it revokes; a watcher subscribes and gets the
//! recent history it missed (when it offers a resume position this feed
//! still holds) and then every later event. Publishing and subscribing take
//! one lock, so no event falls between the replay and the live part and none
//! is delivered twice. When continuity is lost (a watcher too slow for the
//! broadcast buffer, a store that lost its own history), watchers get
//! [`FeedItem::Reset`] and must drop everything they cached: failing safe
//! costs cache misses, never a revoked session served.
//!
//! The epoch names this feed's history: each process draws a random one at
//! start, so after a restart every resume is refused.
//!
//! A feed fed from outside the process (the Redis store tails a stream) is
//! offline while that tail is down: it refuses new watchers, because a
//! `Synced` it cannot keep would let a caller cache what it cannot evict.

use common::token::{RandomError, random_text};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::broadcast;

/// Events kept for resuming watchers (about 100 bytes each).
const HISTORY: usize = 4096;

/// How far a slow watcher may fall behind before it is reset.
const BROADCAST_BUFFER: usize = 4096;

/// What was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One session (logout, revoke by id).
    Session {
        /// SHA-256 of the session token.
        token_hash: [u8; 32],
        /// The session's public id.
        session_id: String,
        /// The session's user.
        user_id: String,
    },
    /// Every session of a user (logout everywhere).
    User {
        /// The user.
        user_id: String,
    },
}

/// A revocation at its position in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where the feed stands after this event; opaque to watchers.
    pub position: String,
    /// What was revoked.
    pub revocation: Revocation,
    /// When the store committed it: watchers measure propagation from here.
    pub revoked_at: SystemTime,
}

/// The wall clock, for stamping revocations an in-process store publishes.
/// A measurement for watchers' propagation metrics, never an expiry
/// decision, so it does not go through the injected `Clock` (whole seconds,
/// and a test clock may stand still).
#[allow(clippy::disallowed_methods)]
pub(crate) fn wall_clock_now() -> SystemTime {
    SystemTime::now()
}

/// What a watcher receives after its subscription's replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// A revocation.
    Event(Arc<Entry>),
    /// Continuity is lost: drop every cached validation.
    Reset,
}

/// A watcher's start: whether it must reset, what it missed, what follows.
#[derive(Debug)]
pub struct Subscription {
    /// The feed's epoch, for the watcher's resume token.
    pub epoch: String,
    /// The resume position was not honoured: the watcher's cache is stale.
    pub reset: bool,
    /// Events after the resume position, oldest first.
    pub replay: Vec<Arc<Entry>>,
    /// The position to report before any new event arrives.
    pub head: Option<String>,
    /// Every item published after this subscription was taken.
    pub live: broadcast::Receiver<FeedItem>,
}

/// The recent history and the position counter, under one lock.
#[derive(Debug)]
struct History {
    entries: VecDeque<Arc<Entry>>,
    next_sequence: u64,
    /// Nothing has been dropped since the epoch began, so a watcher that
    /// subscribed before the first event (position "") can still resume.
    from_start: bool,
    /// Every revocation committed from now on will be published here.
    online: bool,
}

/// The feed cannot promise to deliver every revocation right now (its
/// source is disconnected); watchers must not cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the revocation feed is offline")]
pub struct FeedOffline;

/// The feed: one per store, shared by every `WatchRevocations` stream.
#[derive(Debug)]
pub struct RevocationFeed {
    epoch: String,
    history: Mutex<History>,
    sender: broadcast::Sender<FeedItem>,
}

impl RevocationFeed {
    /// A feed with a random epoch: no earlier position can resume on it.
    pub fn with_random_epoch() -> Result<Self, RandomError> {
        Ok(Self::new(random_text::<16>()?))
    }

    /// A feed whose history is named `epoch`.
    pub fn new(epoch: String) -> Self {
        let (sender, _) = broadcast::channel(BROADCAST_BUFFER);
        Self {
            epoch,
            history: Mutex::new(History {
                entries: VecDeque::new(),
                next_sequence: 0,
                from_start: true,
                online: true,
            }),
            sender,
        }
    }

    /// The feed's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Publishes a revocation, committed at `revoked_at`, at the next
    /// position of this feed.
    pub fn publish(&self, revocation: Revocation, revoked_at: SystemTime) {
        let mut history = self.lock();
        history.next_sequence += 1;
        let position = history.next_sequence.to_string();
        Self::append(
            &mut history,
            &self.sender,
            Entry {
                position,
                revocation,
                revoked_at,
            },
        );
    }

    /// Drops the history and tells every watcher to reset (a store that
    /// lost continuity itself, such as a reconnect to a failed-over server).
    pub fn reset(&self) {
        let mut history = self.lock();
        history.entries.clear();
        history.from_start = false;
        // No watcher is a send error: nothing to tell.
        let _ = self.sender.send(FeedItem::Reset);
    }

    /// Tells every watcher to reset and refuses new ones until
    /// [`Self::go_online`]: the source of events was lost, so events may be
    /// missed until it is back.
    pub fn go_offline(&self) {
        self.reset();
        self.lock().online = false;
    }

    /// Accepts watchers again: the source is back and every revocation
    /// committed from now on will be published.
    pub fn go_online(&self) {
        self.lock().online = true;
    }

    /// Starts a watcher. With `resume` (epoch, position) from an earlier
    /// stream, the events since are replayed when this feed still holds
    /// them; otherwise the subscription starts with `reset`.
    pub fn subscribe(&self, resume: Option<(&str, &str)>) -> Result<Subscription, FeedOffline> {
        let history = self.lock();
        if !history.online {
            return Err(FeedOffline);
        }
        let live = self.sender.subscribe();
        let head = history.entries.back().map(|e| e.position.clone());
        let (reset, replay) = match resume {
            None => (false, Vec::new()),
            Some((epoch, _)) if epoch != self.epoch => (true, Vec::new()),
            // Subscribed before the first event: everything is missed, if
            // everything is still here.
            Some((_, "")) if history.from_start => {
                (false, history.entries.iter().cloned().collect())
            }
            Some((_, "")) => (true, Vec::new()),
            Some((_, position)) => {
                match history.entries.iter().position(|e| e.position == position) {
                    Some(i) => (false, history.entries.iter().skip(i + 1).cloned().collect()),
                    // Not in the history: too old, or from before a reset.
                    None => (true, Vec::new()),
                }
            }
        };
        Ok(Subscription {
            epoch: self.epoch.clone(),
            reset,
            replay,
            head,
            live,
        })
    }

    fn append(history: &mut History, sender: &broadcast::Sender<FeedItem>, entry: Entry) {
        let entry = Arc::new(entry);
        if history.entries.len() == HISTORY {
            history.entries.pop_front();
            history.from_start = false;
        }
        history.entries.push_back(entry.clone());
        // No watcher is a send error: nothing to tell.
        let _ = sender.send(FeedItem::Event(entry));
    }

    /// The history lock. A panic while holding it cannot leave the history
    /// half-written (every change is one push or clear), so a poisoned lock
    /// is still usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn user(id: &str) -> Revocation {
        Revocation::User {
            user_id: id.to_owned(),
        }
    }

    fn next_event(sub: &mut Subscription) -> Entry {
        match sub.live.try_recv().unwrap() {
            FeedItem::Event(e) => (*e).clone(),
            FeedItem::Reset => panic!("unexpected reset"),
        }
    }

    #[test]
    fn a_fresh_watcher_gets_every_later_event_once() {
        let feed = RevocationFeed::new("e".into());
        feed.publish(user("before"), SystemTime::UNIX_EPOCH);
        let mut sub = feed.subscribe(None).unwrap();
        assert!(!sub.reset);
        assert!(sub.replay.is_empty());
        assert_eq!(sub.head.as_deref(), Some("1"));
        feed.publish(user("a"), SystemTime::UNIX_EPOCH);
        feed.publish(user("b"), SystemTime::UNIX_EPOCH);
        assert_eq!(next_event(&mut sub).revocation, user("a"));
        let b = next_event(&mut sub);
        assert_eq!((b.position.as_str(), b.revocation), ("3", user("b")));
        assert!(sub.live.try_recv().is_err());
    }

    #[test]
    fn a_resume_replays_exactly_what_was_missed() {
        let feed = RevocationFeed::new("e".into());
        for id in ["a", "b", "c"] {
            feed.publish(user(id), SystemTime::UNIX_EPOCH);
        }
        let sub = feed.subscribe(Some(("e", "1"))).unwrap();
        assert!(!sub.reset);
        let replayed: Vec<_> = sub.replay.iter().map(|e| e.revocation.clone()).collect();
        assert_eq!(replayed, vec![user("b"), user("c")]);
        let at_head = feed.subscribe(Some(("e", "3"))).unwrap();
        assert!(!at_head.reset && at_head.replay.is_empty());
    }

    #[test]
    fn an_unknown_epoch_or_position_resets() {
        let feed = RevocationFeed::new("e".into());
        feed.publish(user("a"), SystemTime::UNIX_EPOCH);
        assert!(feed.subscribe(Some(("other", "1"))).unwrap().reset);
        assert!(feed.subscribe(Some(("e", "99"))).unwrap().reset);
        // An empty history holds no position either.
        assert!(
            RevocationFeed::new("e".into())
                .subscribe(Some(("e", "1")))
                .unwrap()
                .reset
        );
    }

    #[test]
    fn a_watcher_from_before_the_first_event_resumes_while_history_is_whole() {
        let feed = RevocationFeed::new("e".into());
        let empty = feed.subscribe(Some(("e", ""))).unwrap();
        assert!(!empty.reset && empty.replay.is_empty());
        feed.publish(user("a"), SystemTime::UNIX_EPOCH);
        let sub = feed.subscribe(Some(("e", ""))).unwrap();
        assert!(!sub.reset);
        assert_eq!(sub.replay.len(), 1);
        feed.reset();
        assert!(feed.subscribe(Some(("e", ""))).unwrap().reset);
    }

    #[test]
    fn history_is_bounded_and_old_positions_reset() {
        let feed = RevocationFeed::new("e".into());
        for i in 0..HISTORY + 10 {
            feed.publish(user(&i.to_string()), SystemTime::UNIX_EPOCH);
        }
        assert!(feed.subscribe(Some(("e", "5"))).unwrap().reset);
        let recent = feed
            .subscribe(Some(("e", &(HISTORY + 5).to_string())))
            .unwrap();
        assert!(!recent.reset);
        assert_eq!(recent.replay.len(), 5);
    }

    #[test]
    fn reset_reaches_watchers_and_forgets_history() {
        let feed = RevocationFeed::new("e".into());
        feed.publish(user("a"), SystemTime::UNIX_EPOCH);
        let mut sub = feed.subscribe(None).unwrap();
        feed.reset();
        assert_eq!(sub.live.try_recv().unwrap(), FeedItem::Reset);
        assert!(feed.subscribe(Some(("e", "1"))).unwrap().reset);
    }

    #[test]
    fn an_offline_feed_resets_its_watchers_and_refuses_new_ones() {
        let feed = RevocationFeed::new("e".into());
        let mut sub = feed.subscribe(None).unwrap();
        feed.go_offline();
        assert_eq!(sub.live.try_recv().unwrap(), FeedItem::Reset);
        assert_eq!(feed.subscribe(None).err(), Some(FeedOffline));
        feed.go_online();
        assert!(feed.subscribe(None).is_ok());
    }

    #[test]
    fn random_epochs_differ() {
        assert_ne!(
            RevocationFeed::with_random_epoch().unwrap().epoch(),
            RevocationFeed::with_random_epoch().unwrap().epoch()
        );
    }
}
