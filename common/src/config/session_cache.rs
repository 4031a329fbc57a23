//! The `[gateway.session_cache]` table: the gateway's cache of successful
//! session validations, kept exact by auth-service's `WatchRevocations`
//! feed (the `session-cache` crate holds the rules).

use super::ConfigError;
use serde::Deserialize;
use std::time::Duration;

/// Longest cache `ttl`: an active session must still reach auth-service at
/// least once a minute, so its idle expiry keeps sliding.
pub const SESSION_CACHE_MAX_TTL: Duration = Duration::from_secs(60);

/// Settings of the gateway's validation cache.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SessionCacheConfig {
    /// Whether successful validations are cached. Default `true`: a hit is
    /// served only while the revocation feed is healthy, so a revoked
    /// session is refused at once either way, and a hit costs no call to
    /// auth-service (nor to its store).
    pub enabled: bool,
    /// Most validations held (one per live session token). Default
    /// `100000`.
    pub max_entries: u64,
    /// Longest a validation is served from the cache, at most `60s`. Default
    /// `30s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub ttl: Duration,
}

impl Default for SessionCacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 100_000,
            ttl: Duration::from_secs(30),
        }
    }
}

impl SessionCacheConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.ttl.is_zero() || self.ttl > SESSION_CACHE_MAX_TTL {
            return Err(ConfigError::invalid(
                "gateway.session_cache.ttl",
                format!(
                    "must be more than 0 and at most {}s (an active session must reach auth-service at least once a minute to keep its idle expiry sliding)",
                    SESSION_CACHE_MAX_TTL.as_secs()
                ),
            ));
        }
        if self.max_entries == 0 {
            return Err(ConfigError::invalid(
                "gateway.session_cache.max_entries",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_bounded_and_entries_positive() {
        assert!(SessionCacheConfig::default().check().is_ok());
        let ttl = |secs| SessionCacheConfig {
            ttl: Duration::from_secs(secs),
            ..SessionCacheConfig::default()
        };
        assert!(ttl(60).check().is_ok());
        for bad in [0, 61] {
            let e = ttl(bad).check().unwrap_err().to_string();
            assert!(e.contains("gateway.session_cache.ttl"), "{e}");
        }
        let none = SessionCacheConfig {
            max_entries: 0,
            ..SessionCacheConfig::default()
        };
        assert!(
            none.check()
                .unwrap_err()
                .to_string()
                .contains("gateway.session_cache.max_entries")
        );
    }
}
