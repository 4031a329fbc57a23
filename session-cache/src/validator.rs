//! `ValidateSession` with the cache in front, for a Rust service that calls
//! auth-service directly: a few lines to set up (see
//! `examples/internal_service.rs`).

use crate::cache::{CacheConfigError, Ticket, TokenHash, ValidationCache};
use crate::watch::{WatchSettings, token_hash, watch};
use common::proto::auth_service_client::AuthServiceClient;
use common::proto::{ValidateSessionRequest, ValidateSessionResponse, WatchRevocationsRequest};
use common::service_token::ServiceToken;
use common::telemetry::trace_context::WithTrace;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Every call carries the caller's trace and the service token.
type Client = AuthServiceClient<InterceptedService<Channel, WithTrace<ServiceToken>>>;

/// Validates session tokens, serving repeat validations from a cache that
/// the revocation feed keeps exact.
#[derive(Clone)]
pub struct CachedValidator {
    client: Client,
    cache: Arc<ValidationCache<ValidateSessionResponse>>,
}

impl CachedValidator {
    /// Starts the feed watcher on `channel` (stopped by `shutdown`) and
    /// returns the validator. `ttl` is at most [`crate::MAX_TTL`].
    pub fn start(
        channel: Channel,
        service_token: ServiceToken,
        max_entries: u64,
        ttl: Duration,
        shutdown: CancellationToken,
    ) -> Result<Self, CacheConfigError> {
        let cache = Arc::new(ValidationCache::new(max_entries, ttl)?);
        let client = AuthServiceClient::with_interceptor(channel, WithTrace(service_token));
        let watcher = client.clone();
        tokio::spawn(watch(
            cache.clone(),
            move || {
                let mut client = watcher.clone();
                async move {
                    let response = client
                        .watch_revocations(WatchRevocationsRequest::default())
                        .await?;
                    Ok(response.into_inner())
                }
            },
            WatchSettings::default(),
            shutdown,
        ));
        Ok(Self { client, cache })
    }

    /// The user and session behind `session_token`, or auth-service's
    /// error (`UNAUTHENTICATED` for an unknown, expired or revoked session).
    pub async fn validate(&self, session_token: &str) -> Result<ValidateSessionResponse, Status> {
        let hash = token_hash(session_token);
        if let Some(hit) = self.cache.get(&hash) {
            return Ok(hit);
        }
        let ticket = self.cache.ticket();
        let answer = self
            .client
            .clone()
            .validate_session(ValidateSessionRequest {
                session_token: session_token.to_owned(),
            })
            .await?
            .into_inner();
        self.cache.insert_answer(ticket, hash, &answer);
        Ok(answer)
    }

    /// The cache, for metrics.
    pub fn cache(&self) -> &ValidationCache<ValidateSessionResponse> {
        &self.cache
    }
}

impl ValidationCache<ValidateSessionResponse> {
    /// Caches a successful `ValidateSession` answer to a validation that
    /// began with `ticket` (see [`ValidationCache::insert`]). An answer
    /// without a user or an expiry is not cached: the caller still uses it.
    pub fn insert_answer(
        &self,
        ticket: Ticket,
        token_hash: TokenHash,
        answer: &ValidateSessionResponse,
    ) {
        let user_id = answer.user.as_ref().map(|u| u.id.as_str());
        let expires_at = answer
            .session
            .as_ref()
            .and_then(|s| s.expires_at)
            .and_then(|t| u64::try_from(t.seconds).ok())
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
        if let (Some(user_id), Some(expires_at)) = (user_id, expires_at) {
            self.insert(
                ticket,
                token_hash,
                user_id,
                expires_at.min(far_future()),
                answer.clone(),
            );
        }
    }
}

/// Caps absurd expiry times from the wire at something representable.
fn far_future() -> SystemTime {
    crate::cache::wall_clock_now() + Duration::from_secs(10 * 365 * 24 * 3600)
}
