//! Keeps a [`ValidationCache`] in step with one auth-service's
//! `WatchRevocations` stream: opens it, applies its events, and on any
//! doubt (an error, a closed stream, a silence longer than three heartbeat
//! intervals, a malformed event) flushes the cache and reconnects with
//! backoff. The cache serves hits only between a `Synced` and the next
//! doubt.

use crate::cache::{TokenHash, ValidationCache, wall_clock_now};
use common::proto::RevocationEvent;
use common::proto::revocation_event::Event;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

/// The cache key of a session token.
pub fn token_hash(session_token: &str) -> TokenHash {
    Sha256::digest(session_token.as_bytes()).into()
}

/// How the watcher waits and retries.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// The silence that ends a stream before its first heartbeat says how
    /// often to expect one (three times the server's default 1 s).
    pub initial_deadline: Duration,
    /// First pause before reconnecting; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest pause between reconnects.
    pub max_backoff: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            initial_deadline: Duration::from_secs(3),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Silence tolerated, in heartbeat intervals.
const MISSED_HEARTBEATS: u32 = 3;

/// Why a stream was given up.
#[derive(Debug, thiserror::Error)]
enum StreamEnd {
    #[error("the stream failed: {0}")]
    Failed(#[from] Status),
    #[error("auth-service closed the stream")]
    Closed,
    #[error("no event or heartbeat for {0:?}")]
    Silent(Duration),
    #[error("malformed event: {0}")]
    Malformed(&'static str),
}

/// Runs until `shutdown`: `open` starts a `WatchRevocations` stream (on any
/// healthy endpoint; no resume token is needed, since the cache is flushed
/// whenever a stream ends), and every event is applied to `cache`.
pub async fn watch<V, F, Fut>(
    cache: Arc<ValidationCache<V>>,
    mut open: F,
    settings: WatchSettings,
    shutdown: CancellationToken,
) where
    V: Clone + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Streaming<RevocationEvent>, Status>>,
{
    let mut backoff = settings.min_backoff;
    loop {
        let end = tokio::select! {
            () = shutdown.cancelled() => break,
            opened = open() => match opened {
                Ok(stream) => {
                    cache.stream_opened();
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        end = follow(&cache, stream, &settings, &mut backoff) => end,
                    }
                }
                Err(status) => StreamEnd::Failed(status),
            },
        };
        cache.stream_lost();
        tracing::warn!(reason = %end, retry_in = ?backoff, "revocation feed lost; session cache off");
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(settings.max_backoff);
    }
    cache.stream_lost();
}

/// Applies one stream's events until it ends; a `Synced` resets `backoff`.
async fn follow<V: Clone + Send + Sync + 'static>(
    cache: &ValidationCache<V>,
    mut stream: Streaming<RevocationEvent>,
    settings: &WatchSettings,
    backoff: &mut Duration,
) -> StreamEnd {
    let mut deadline = settings.initial_deadline;
    loop {
        let message = match tokio::time::timeout(deadline, stream.message()).await {
            Err(_) => return StreamEnd::Silent(deadline),
            Ok(Err(status)) => return StreamEnd::Failed(status),
            Ok(Ok(None)) => return StreamEnd::Closed,
            Ok(Ok(Some(message))) => message,
        };
        if matches!(message.event, Some(Event::Session(_) | Event::User(_)))
            && let Some(revoked_at) = message
                .revoked_at
                .and_then(|t| SystemTime::try_from(t).ok())
        {
            cache
                .stats()
                .propagation
                .observe(revoked_at, wall_clock_now());
        }
        match message.event {
            Some(Event::Synced(_)) => {
                cache.synced();
                *backoff = settings.min_backoff;
                tracing::info!("revocation feed synced; session cache on");
            }
            Some(Event::Session(revoked)) => match <TokenHash>::try_from(revoked.token_hash) {
                Ok(hash) => cache.session_revoked(hash),
                Err(_) => return StreamEnd::Malformed("token_hash is not 32 bytes"),
            },
            Some(Event::User(revoked)) => cache.user_revoked(&revoked.user_id),
            Some(Event::Heartbeat(beat)) => {
                let interval = Duration::from_millis(beat.interval_ms.into())
                    .clamp(Duration::from_millis(10), Duration::from_secs(60));
                deadline = interval * MISSED_HEARTBEATS;
            }
            Some(Event::Reset(_)) => cache.reset(),
            None => return StreamEnd::Malformed("no event"),
        }
    }
}
