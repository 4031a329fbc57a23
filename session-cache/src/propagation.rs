//! How long revocations take to reach this cache: from the moment the store
//! committed one (the event's `revoked_at`) to the moment its event arrived
//! here, read on this machine's wall clock. The two clocks may differ (on
//! one machine they are the same clock; across machines, NTP keeps them
//! within milliseconds); a delay that comes out negative is counted as zero.
//!
//! Fixed buckets of atomics: recording takes no lock, and an exporter reads
//! the figures whenever it is scraped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Upper bounds of the buckets, in seconds; one more bucket holds the rest.
pub const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The delays seen so far.
#[derive(Debug, Default)]
pub struct PropagationDelays {
    /// Per bucket (not cumulative); the last one is above every bound.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

/// A reading of [`PropagationDelays`].
#[derive(Debug, Clone, PartialEq)]
pub struct DelaySnapshot {
    /// `(upper bound in seconds, count in that bucket alone)`, the last
    /// bound being infinity.
    pub buckets: Vec<(f64, u64)>,
    /// How many delays were recorded.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
}

impl PropagationDelays {
    /// Records the delay of a revocation committed at `revoked_at` and
    /// received at `received_at`.
    pub fn observe(&self, revoked_at: SystemTime, received_at: SystemTime) {
        let delay = received_at
            .duration_since(revoked_at)
            .unwrap_or(Duration::ZERO);
        let seconds = delay.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn snapshot(&self) -> DelaySnapshot {
        let buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        DelaySnapshot {
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn delays_land_in_their_buckets_and_a_clock_behind_counts_as_zero() {
        let delays = PropagationDelays::default();
        let committed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        delays.observe(committed, committed + Duration::from_micros(700));
        delays.observe(committed, committed + Duration::from_millis(30));
        delays.observe(committed, committed + Duration::from_secs(10));
        // The receiver's clock is behind the store's.
        delays.observe(committed + Duration::from_millis(5), committed);
        let snapshot = delays.snapshot();
        assert_eq!(snapshot.count, 4);
        assert_eq!(snapshot.buckets.len(), BUCKETS.len() + 1);
        assert_eq!(
            snapshot.buckets[0],
            (0.001, 2),
            "700 µs and the negative delay"
        );
        assert_eq!(snapshot.buckets[5], (0.05, 1), "30 ms");
        assert_eq!(snapshot.buckets[11], (f64::INFINITY, 1), "10 s");
        assert!(
            (snapshot.sum_seconds - 10.0307).abs() < 1e-9,
            "{}",
            snapshot.sum_seconds
        );
    }

    #[test]
    fn a_delay_on_a_bound_belongs_to_that_bucket() {
        let delays = PropagationDelays::default();
        let t = SystemTime::UNIX_EPOCH;
        delays.observe(t, t + Duration::from_millis(100));
        assert_eq!(delays.snapshot().buckets[6], (0.1, 1));
    }
}
