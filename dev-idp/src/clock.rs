//! Wall-clock time for the claims this provider signs.
//!
//! The rest of the workspace reads time through an injected `Clock` so its
//! expiry checks are testable; this provider is the *other side* of those
//! checks. Its `iat`/`exp` must be real Unix times, because relying parties
//! compare them with their own clocks (auth-service's test clock starts at the
//! wall clock). Lifetimes that only this process checks (authorization codes)
//! use `tokio::time::Instant` instead, which is monotonic.

/// Seconds since the Unix epoch, as JWT `NumericDate` (RFC 7519 section 2).
#[allow(
    clippy::disallowed_methods,
    reason = "the provider signs real timestamps for relying parties to check"
)]
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
