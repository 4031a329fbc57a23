//! Stress and crash-under-load tests: many concurrent clients against the
//! store and the real binaries, each bounded in count and time and guarded by
//! a [`portcullis_tests::watchdog::Watchdog`] that dumps every thread's stack
//! if it hangs.
//!
//! A test binary of its own (STYLE.md asks for one per crate) because these
//! tests load both cores: cargo runs test binaries one after another, so
//! they never share the machine with the e2e suite, and within this binary
//! [`run_alone`] runs them one at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client;
mod crash;
mod logins;
mod store;

use portcullis_tests::watchdog::Watchdog;
use std::future::Future;
use std::time::Duration;

/// Runs one stress test: alone (two never load the machine at once; a
/// poisoned lock only means another test failed), under a [`Watchdog`] of
/// `limit`, on a two-worker runtime like the services' on the 2-core
/// machine.
pub fn run_alone(what: &str, limit: Duration, test: impl Future<Output = ()>) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _watchdog = Watchdog::arm(what, limit);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}
