//! A per-client token bucket for the login endpoints, so one address cannot
//! hammer the identity provider, auth-service or the token-exchange path
//! (OWASP ASVS 2.2.1, anti-automation).
//!
//! Each client has a bucket of `burst` tokens that refills at
//! `per_minute / 60` tokens a second; a request takes one token or is
//! refused with the time until the next one. The bucket is kept as GCRA's
//! single "theoretical arrival time" (`tat`), the instant at which the
//! bucket will be full again, so a bucket is one `Instant` and a bucket
//! whose `tat` has passed is indistinguishable from no bucket at all.
//!
//! Memory is bounded: at most `max_clients` buckets are tracked. When the
//! table is full, full (idle) buckets are dropped first, which loses
//! nothing; if a spray of source addresses keeps it full of active buckets,
//! the tenth closest to full are dropped, so eviction costs amortised O(1)
//! per new client and the table never grows. An evicted client merely gets
//! a fresh burst, which an attacker controlling that many addresses has
//! anyway.
//!
//! IPv6 clients are keyed by their /64: one host usually owns a whole /64,
//! and per-address buckets would be free to evade.
//!
//! Why not `governor`'s keyed limiter (the field's GCRA crate, which this
//! module otherwise mirrors): it can only spend a token or refuse, while
//! callbacks need to ask "is this client in debt?" without spending
//! ([`RateLimiter::peek`]) and to pay after the fact even past the burst
//! ([`RateLimiter::charge`]): only a callback that completes no login costs
//! a token, and that is known once it has run. Its keyed state (a
//! `DashMap`) also has no hard size bound: `retain_recent` drops only full
//! buckets, so a spray of active addresses grows it until the next sweep,
//! where this table never holds more than `max_clients`.
//!
//! The limiter takes the current `Instant` as an argument, so tests drive
//! time without sleeping. Its `std::sync::Mutex` is held only for a map
//! operation and never across an `.await` (mini-redis `src/db.rs` explains
//! why a std lock is the right one there).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most clients tracked at once by default (about 5 MB of buckets).
pub(crate) const DEFAULT_MAX_CLIENTS: usize = 100_000;

/// A keyed token-bucket limiter.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Time to earn one token.
    interval: Duration,
    /// How far `tat` may run ahead of now: `burst` intervals.
    tolerance: Duration,
    max_clients: usize,
    buckets: Mutex<HashMap<IpAddr, Instant>>,
}

/// What [`RateLimiter::update`] does with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spend {
    Nothing,
    IfAvailable,
    Always,
}

/// A refusal: how long until the client may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header (RFC 9110 10.2.3),
    /// rounded up so a client that obeys it is never refused again.
    pub(crate) fn as_secs_ceil(self) -> u64 {
        let secs = self.0.as_secs();
        if self.0.subsec_nanos() > 0 || secs == 0 {
            secs + 1
        } else {
            secs
        }
    }
}

impl RateLimiter {
    /// `per_minute` sustained, `burst` at once, at most `max_clients`
    /// buckets. Zero values are raised to one (configuration rejects them).
    pub(crate) fn new(per_minute: u32, burst: u32, max_clients: usize) -> Self {
        let interval = Duration::from_secs(60) / per_minute.max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(burst.max(1)),
            max_clients: max_clients.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `ip` at `now`, or says how long to wait.
    pub(crate) fn check(&self, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        self.update(ip, now, Spend::IfAvailable)
    }

    /// Whether `ip` is within its limit at `now` (its bucket is not in
    /// debt, though it may be empty), without taking a token: the second
    /// half of something already paid for may proceed, but not once the
    /// client has overspent.
    pub(crate) fn peek(&self, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        self.update(ip, now, Spend::Nothing)
    }

    /// Takes a token for `ip` at `now` even if the bucket is empty (the
    /// bucket goes into debt, which later requests wait out): for requests
    /// admitted by [`Self::peek`] whose cost is known only afterwards.
    pub(crate) fn charge(&self, ip: IpAddr, now: Instant) {
        // `Spend::Always` never refuses.
        let _ = self.update(ip, now, Spend::Always);
    }

    fn update(&self, ip: IpAddr, now: Instant, spend: Spend) -> Result<(), RetryAfter> {
        let key = bucket_key(ip);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let tat = buckets.get(&key).copied().unwrap_or(now).max(now);
        let new_tat = tat + self.interval;
        let allowed_until = now + self.tolerance;
        let refused = match spend {
            Spend::Nothing => tat > allowed_until,
            Spend::IfAvailable | Spend::Always => new_tat > allowed_until,
        };
        if spend == Spend::Always || (spend == Spend::IfAvailable && !refused) {
            if !buckets.contains_key(&key) && buckets.len() >= self.max_clients {
                self.evict(&mut buckets, now);
            }
            buckets.insert(key, new_tat);
        }
        if refused && spend != Spend::Always {
            let ready = if spend == Spend::Nothing {
                tat
            } else {
                new_tat
            };
            return Err(RetryAfter(ready - allowed_until));
        }
        Ok(())
    }

    /// How many clients are tracked (tests: the memory bound).
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Makes room for at least one new bucket.
    fn evict(&self, buckets: &mut HashMap<IpAddr, Instant>, now: Instant) {
        buckets.retain(|_, tat| *tat > now);
        let target = self.max_clients - self.max_clients.div_ceil(10);
        if buckets.len() <= target {
            return;
        }
        // Keep the `target` buckets furthest from full: they are the
        // clients that have spent the most recently.
        let mut tats: Vec<Instant> = buckets.values().copied().collect();
        let drop = tats.len() - target;
        let (_, cutoff, _) = tats.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let mut dropped = 0;
        buckets.retain(|_, tat| {
            if *tat <= cutoff && dropped < drop {
                dropped += 1;
                false
            } else {
                true
            }
        });
    }
}

/// IPv4 addresses as they are; IPv6 addresses by their /64.
pub(crate) fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn burst_then_refused_with_retry_after() {
        let limiter = RateLimiter::new(30, 10, 100);
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(limiter.check(ip("192.0.2.1"), t0), Ok(()), "request {i}");
        }
        let refused = limiter.check(ip("192.0.2.1"), t0).unwrap_err();
        // 30 a minute: one token every 2 s.
        assert_eq!(refused.0, Duration::from_secs(2));
        assert_eq!(refused.as_secs_ceil(), 2);
        // Refusals do not spend: still 2 s from the same instant.
        assert_eq!(
            limiter.check(ip("192.0.2.1"), t0).unwrap_err().0,
            Duration::from_secs(2)
        );
        // Others are unaffected.
        assert_eq!(limiter.check(ip("192.0.2.2"), t0), Ok(()));
    }

    #[test]
    fn refills_over_time() {
        let limiter = RateLimiter::new(60, 2, 100);
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        assert!(limiter.check(a, t0).is_ok());
        assert!(limiter.check(a, t0).is_ok());
        let wait = limiter.check(a, t0).unwrap_err();
        assert_eq!(wait.0, Duration::from_secs(1));
        let half = t0 + Duration::from_millis(500);
        let wait = limiter.check(a, half).unwrap_err();
        assert_eq!(wait.0, Duration::from_millis(500));
        assert_eq!(wait.as_secs_ceil(), 1);
        assert!(limiter.check(a, t0 + Duration::from_secs(1)).is_ok());
        assert!(limiter.check(a, t0 + Duration::from_secs(1)).is_err());
        // Long idle: a full burst again, never more.
        let later = t0 + Duration::from_secs(3600);
        assert!(limiter.check(a, later).is_ok());
        assert!(limiter.check(a, later).is_ok());
        assert!(limiter.check(a, later).is_err());
    }

    #[test]
    fn peek_spends_nothing_and_charge_can_go_into_debt() {
        let limiter = RateLimiter::new(60, 2, 100);
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.peek(a, t0).is_ok());
        }
        assert_eq!(limiter.tracked(), 0, "peek created a bucket");
        limiter.charge(a, t0);
        limiter.charge(a, t0);
        // Empty but not in debt: a peek passes, a check does not.
        assert!(limiter.peek(a, t0).is_ok());
        assert!(limiter.check(a, t0).is_err());
        limiter.charge(a, t0);
        // Two tokens, three spent: one second of debt, then one to earn.
        assert_eq!(limiter.peek(a, t0).unwrap_err().0, Duration::from_secs(1));
        assert!(limiter.check(a, t0 + Duration::from_secs(1)).is_err());
        assert!(limiter.peek(a, t0 + Duration::from_secs(1)).is_ok());
        assert!(limiter.check(a, t0 + Duration::from_secs(2)).is_ok());
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).as_secs_ceil(), 1);
        assert_eq!(RetryAfter(Duration::ZERO).as_secs_ceil(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(2001)).as_secs_ceil(), 3);
    }

    #[test]
    fn ipv6_is_counted_per_64() {
        let limiter = RateLimiter::new(30, 1, 100);
        let t0 = Instant::now();
        assert!(limiter.check(ip("2001:db8:1:2::1"), t0).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9"), t0).is_err());
        assert!(limiter.check(ip("2001:db8:1:3::1"), t0).is_ok());
        // IPv4-mapped addresses are their IPv4 selves.
        assert!(limiter.check(ip("192.0.2.1"), t0).is_ok());
        assert!(limiter.check(ip("::ffff:192.0.2.1"), t0).is_err());
    }

    #[test]
    fn a_spray_of_addresses_stays_bounded() {
        let limiter = RateLimiter::new(30, 10, 1000);
        let t0 = Instant::now();
        for i in 0..50_000u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limiter.check(addr, t0).is_ok());
            assert!(limiter.tracked() <= 1000);
        }
        // A busy client that keeps spending survives eviction of the
        // sprayed one-off buckets while it is the furthest from full.
        let busy = ip("198.51.100.1");
        for _ in 0..10 {
            assert!(limiter.check(busy, t0).is_ok());
        }
        for i in 0..5_000u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            assert!(limiter.check(addr, t0).is_ok());
        }
        assert!(limiter.check(busy, t0).is_err(), "busy client was reset");
    }

    #[test]
    fn idle_buckets_are_dropped_first() {
        let limiter = RateLimiter::new(60, 1, 10);
        let t0 = Instant::now();
        for i in 0..10u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limiter.check(addr, t0).is_ok());
        }
        assert_eq!(limiter.tracked(), 10);
        // A second later every bucket is full again: all can go.
        assert!(
            limiter
                .check(ip("192.0.2.1"), t0 + Duration::from_secs(1))
                .is_ok()
        );
        assert_eq!(limiter.tracked(), 1);
    }
}
