//! Cached `ValidateSession` for Portcullis callers (the gateway, internal
//! services): a bounded cache of successful validations that auth-service's
//! `WatchRevocations` feed keeps exact, so a revoked session is refused at
//! once even where its validation was cached.
//!
//! - [`ValidationCache`] holds the rules (`cache.rs`): hits only while the
//!   feed is healthy, tombstones against answers a revocation overtook, no
//!   failures cached, entries capped by `ttl` and the session's own expiry.
//! - [`CachedValidator`] is `ValidateSession` with the cache in front and
//!   its watcher running, for an internal Rust service (`validator.rs`).
//! - [`watch`] keeps a cache in step with one auth-service's feed
//!   (`watch.rs`): flush on every doubt, reconnect with backoff.
//! - [`PropagationDelays`] records how long each revocation took from the
//!   store's commit to this cache (`propagation.rs`).
//!
//! The protocol is documented for clients in other languages in
//! `docs/grpc-api.md`.

mod cache;
mod propagation;
mod tombstones;
mod validator;
mod watch;

pub use cache::{
    CacheConfigError, CacheStats, FeedState, MAX_TTL, Ticket, TokenHash, ValidationCache,
};
pub use propagation::{BUCKETS as PROPAGATION_BUCKETS, DelaySnapshot, PropagationDelays};
pub use validator::CachedValidator;
pub use watch::{WatchSettings, token_hash, watch};
