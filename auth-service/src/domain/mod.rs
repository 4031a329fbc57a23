//! The identity domain: login flows, users, sessions, time and errors. Knows
//! nothing of tonic or sled; the gRPC layer and the stores adapt to it.

pub mod backchannel;
pub mod clock;
pub mod error;
pub mod login;
pub mod sessions;
pub mod users;

use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::storage::Store;
use clock::Clock;
use common::config::AuthServiceConfig;
use std::sync::Arc;

/// What the client of a login looks like; informational session metadata.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    /// User-Agent header, truncated.
    pub user_agent: String,
    /// Client IP, truncated.
    pub ip: String,
}

/// The domain: every operation of auth-service, over an injected store,
/// provider set and clock.
pub struct Auth {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) providers: Providers,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: AuthServiceConfig,
    /// Logout tokens already acted on (replay defence).
    pub(crate) seen_logouts: backchannel::SeenLogouts,
    /// Where logins, validations and revocations are counted.
    pub(crate) metrics: Arc<Metrics>,
}

impl Auth {
    /// Assembles the domain.
    pub fn new(
        store: Arc<dyn Store>,
        providers: Providers,
        clock: Arc<dyn Clock>,
        settings: AuthServiceConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            providers,
            clock,
            settings,
            seen_logouts: backchannel::SeenLogouts::default(),
            metrics,
        }
    }

    /// Makes every write so far durable (shutdown).
    pub async fn flush(&self) -> Result<(), error::AuthError> {
        Ok(self.store.flush().await?)
    }

    /// Every revocation the store commits, for `WatchRevocations`.
    pub fn revocation_feed(&self) -> Arc<crate::revocation_feed::RevocationFeed> {
        self.store.revocation_feed()
    }

    /// The metrics registry this domain records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The configured providers.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }
}

/// An ID token kept as the `id_token_hint` of RP-Initiated Logout 1.0. Its
/// `Debug` is redacted so no log line can carry it.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct IdTokenHint(pub String);

impl IdTokenHint {
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for IdTokenHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "none"
        } else {
            "<redacted>"
        })
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, so provider-
/// or client-supplied strings cannot bloat the store.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
