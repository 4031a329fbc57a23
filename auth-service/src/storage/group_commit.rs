//! Group commit: one dedicated thread makes writes durable for every task
//! waiting on them.
//!
//! Why not sled's own `flush_async`: in sled 0.34 concurrent `flush_async`
//! calls can lose a wake-up and never return (spacejam/sled#1308 and #1241,
//! fixed on sled's main branch, never released; #1412 reports deadlocks
//! under heavy concurrent load on 0.34.7 too). Issue 8 saw exactly that:
//! under concurrent logins auth-service stopped answering, every thread
//! asleep on a futex. A hung store is an outage, so durability goes through
//! this module instead:
//!
//! - A writer finishes its write, then takes a *ticket* ([`GroupCommit::durable`]).
//! - The flusher thread takes every ticket issued so far, runs the blocking
//!   flush once (it covers every write that finished before it started),
//!   and publishes "durable through ticket N" with the outcome.
//! - Each waiter returns once a flush that started after its ticket has
//!   finished, with that flush's outcome: a login or revocation is
//!   acknowledged only once its own write is on disk.
//!
//! N concurrent writers cost one fsync, not N (that is what makes
//! a thousand durable logins a second possible on two cores). The flush never
//! runs on the async runtime, and a waiter gives up after a deadline with
//! [`CommitError::TimedOut`] instead of hanging, so a stuck disk becomes an
//! error answer and a failing health check, not a silent outage.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// Why a write could not be confirmed durable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CommitError {
    /// The flush that covered this write failed.
    #[error("flush failed: {0}")]
    Flush(Arc<str>),
    /// No flush covering this write finished in time.
    #[error("no flush finished within {0:?}")]
    TimedOut(Duration),
    /// The flusher thread is gone (the store is shutting down).
    #[error("the flusher has stopped")]
    Stopped,
}

/// The blocking flush the thread runs: `Ok` once everything written before
/// the call is on disk.
pub type FlushFn = Box<dyn FnMut() -> Result<(), String> + Send>;

/// What the flusher has finished so far.
#[derive(Debug, Clone)]
struct Flushed {
    /// Every ticket up to and including this one is covered.
    through: u64,
    /// The outcome of the flush that covered `through`.
    outcome: Result<(), Arc<str>>,
}

/// Tickets handed out, and whether the flusher should stop.
#[derive(Debug, Default)]
struct Requests {
    issued: u64,
    stop: bool,
}

#[derive(Debug)]
struct Shared {
    requests: Mutex<Requests>,
    /// Wakes the flusher when a ticket is issued or on stop.
    wake: Condvar,
    flushed: watch::Sender<Flushed>,
}

/// The handle writers wait on; stops and joins the thread when dropped.
#[derive(Debug)]
pub struct GroupCommit {
    shared: Arc<Shared>,
    deadline: Duration,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the flusher thread `name`; waiters give up after `deadline`.
    pub fn start(name: &str, flush: FlushFn, deadline: Duration) -> std::io::Result<Self> {
        let (flushed, _) = watch::channel(Flushed {
            through: 0,
            outcome: Ok(()),
        });
        let shared = Arc::new(Shared {
            requests: Mutex::default(),
            wake: Condvar::new(),
            flushed,
        });
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn({
            let shared = shared.clone();
            move || flusher(&shared, flush)
        })?;
        Ok(Self {
            shared,
            deadline,
            thread: Some(thread),
        })
    }

    /// Waits until everything this task wrote before the call is durable.
    pub async fn durable(&self) -> Result<(), CommitError> {
        let ticket = {
            let mut requests = self
                .shared
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if requests.stop {
                return Err(CommitError::Stopped);
            }
            requests.issued += 1;
            requests.issued
        };
        self.shared.wake.notify_one();
        // `wait_for` looks at the current value first, so a flush that
        // finished between the ticket and here is not missed.
        let mut flushed = self.shared.flushed.subscribe();
        let waited =
            tokio::time::timeout(self.deadline, flushed.wait_for(|f| f.through >= ticket)).await;
        match waited {
            Err(_) => Err(CommitError::TimedOut(self.deadline)),
            Ok(Err(_)) => Err(CommitError::Stopped),
            Ok(Ok(flushed)) => flushed.outcome.clone().map_err(CommitError::Flush),
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.shared.wake.notify_one();
        // The thread flushes what is pending and exits at once; joining
        // releases its hold on the database before the store is reopened.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The flusher thread: flush once for every batch of tickets, until told to
/// stop with none pending.
fn flusher(shared: &Shared, mut flush: FlushFn) {
    let mut done = 0u64;
    loop {
        let target = {
            let mut requests = shared
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            while requests.issued == done && !requests.stop {
                requests = shared
                    .wake
                    .wait(requests)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if requests.issued == done {
                return;
            }
            requests.issued
        };
        // Every ticket up to `target` was issued after its write finished,
        // and this flush starts after reading `target`: it covers them all.
        let outcome = flush().map_err(Arc::from);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "store flush failed");
        }
        done = target;
        shared.flushed.send_replace(Flushed {
            through: target,
            outcome,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn counting(count: Arc<AtomicU32>, pause: Duration) -> FlushFn {
        Box::new(move || {
            std::thread::sleep(pause);
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    #[tokio::test]
    async fn a_waiter_returns_after_a_flush_that_started_after_its_ticket() {
        let writes = Arc::new(Mutex::new(0u32));
        let on_disk = Arc::new(Mutex::new(0u32));
        let flush: FlushFn = Box::new({
            let (writes, on_disk) = (writes.clone(), on_disk.clone());
            move || {
                *on_disk.lock().unwrap() = *writes.lock().unwrap();
                Ok(())
            }
        });
        let commit = GroupCommit::start("test-flusher", flush, Duration::from_secs(5)).unwrap();
        for n in 1..=20 {
            *writes.lock().unwrap() = n;
            commit.durable().await.unwrap();
            assert_eq!(*on_disk.lock().unwrap(), n, "acknowledged before its flush");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_share_flushes() {
        let count = Arc::new(AtomicU32::new(0));
        let commit = Arc::new(
            GroupCommit::start(
                "test-flusher",
                counting(count.clone(), Duration::from_millis(20)),
                Duration::from_secs(5),
            )
            .unwrap(),
        );
        let waiters: Vec<_> = (0..64)
            .map(|_| {
                let commit = commit.clone();
                tokio::spawn(async move { commit.durable().await })
            })
            .collect();
        for waiter in waiters {
            waiter.await.unwrap().unwrap();
        }
        let flushes = count.load(Ordering::SeqCst);
        assert!(
            (1..64).contains(&flushes),
            "64 waiters took {flushes} flushes"
        );
    }

    #[tokio::test]
    async fn a_failed_flush_fails_its_waiters_and_the_next_one_recovers() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flush: FlushFn = Box::new({
            let fail = fail.clone();
            move || {
                if fail.load(Ordering::SeqCst) {
                    Err("disk full".into())
                } else {
                    Ok(())
                }
            }
        });
        let commit = GroupCommit::start("test-flusher", flush, Duration::from_secs(5)).unwrap();
        assert_eq!(
            commit.durable().await,
            Err(CommitError::Flush(Arc::from("disk full")))
        );
        fail.store(false, Ordering::SeqCst);
        assert_eq!(commit.durable().await, Ok(()));
    }

    #[tokio::test]
    async fn a_stuck_flush_times_out_instead_of_hanging() {
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let flush: FlushFn = Box::new(move || {
            let _ = stuck.recv();
            Ok(())
        });
        let commit = GroupCommit::start("test-flusher", flush, Duration::from_millis(200)).unwrap();
        assert_eq!(
            commit.durable().await,
            Err(CommitError::TimedOut(Duration::from_millis(200)))
        );
        // Unstick it so that dropping the handle can join the thread.
        release.send(()).unwrap();
    }

    #[tokio::test]
    async fn dropping_the_handle_flushes_what_is_pending_and_stops() {
        let count = Arc::new(AtomicU32::new(0));
        let commit = GroupCommit::start(
            "test-flusher",
            counting(count.clone(), Duration::ZERO),
            Duration::from_secs(5),
        )
        .unwrap();
        commit.durable().await.unwrap();
        drop(commit);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}
