//! The JWKS cache of one provider (OpenID Connect Core 10.1.1).
//!
//! Keys come only from the configured provider's `jwks_uri`; nothing in a
//! token (`jku`, `x5u`, `jwk`) can point us elsewhere. The set is cached for
//! the provider's `Cache-Control: max-age` (clamped to 1 minute..1 day).
//! When a token names a `kid` we do not know, the set is refetched once, so
//! key rotation works without a restart; such refetches are coalesced (one
//! fetch in flight) and rate-limited (the same unknown `kid` at most once per
//! [`UNKNOWN_KID_RETRY`], and at most [`REFETCH_BUDGET`] forced refetches per
//! [`REFETCH_WINDOW`]) so random `kid`s cannot make us hammer the provider.
//! If a refresh fails, cached keys stay in use for up to [`MAX_STALE`].

use super::http::ProviderHttp;
use crate::domain::error::AuthError;
use crate::metrics::Endpoint;
use common::reason::Reason;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

/// Default key-set lifetime when the provider sends no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Bounds on the provider's `max-age`.
const MIN_MAX_AGE: Duration = Duration::from_secs(60);
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long keys stay usable past their lifetime while refreshes fail.
pub const MAX_STALE: Duration = Duration::from_secs(24 * 3600);
/// How soon the same unknown `kid` may force another refetch.
pub const UNKNOWN_KID_RETRY: Duration = Duration::from_secs(300);
/// Forced refetches allowed per window, whatever the `kid`.
pub const REFETCH_BUDGET: usize = 10;
/// The window of [`REFETCH_BUDGET`].
pub const REFETCH_WINDOW: Duration = Duration::from_secs(300);

struct KeySet {
    keys: Vec<Jwk>,
    fetched_at: Instant,
    max_age: Duration,
    /// When the last fetch attempt failed (to avoid retrying on every call).
    failed_at: Option<Instant>,
}

impl KeySet {
    fn is_fresh(&self) -> bool {
        self.fetched_at.elapsed() < self.max_age
    }

    fn is_usable_stale(&self) -> bool {
        self.fetched_at.elapsed() < self.max_age + MAX_STALE
    }

    fn failed_recently(&self) -> bool {
        self.failed_at
            .is_some_and(|t| t.elapsed() < Duration::from_secs(30))
    }
}

#[derive(Default)]
struct RefetchLimits {
    by_kid: HashMap<String, Instant>,
    recent: VecDeque<Instant>,
}

/// The cached key set of one provider.
pub struct JwksCache {
    uri: String,
    http: ProviderHttp,
    keys: RwLock<Option<Arc<KeySet>>>,
    /// Held while fetching: concurrent callers wait and reuse the result.
    fetch_lock: Mutex<RefetchLimits>,
}

impl JwksCache {
    /// A cache for the key set at `uri` (fetched lazily).
    pub fn new(uri: String, http: ProviderHttp) -> Self {
        Self {
            uri,
            http,
            keys: RwLock::new(None),
            fetch_lock: Mutex::new(RefetchLimits::default()),
        }
    }

    /// The key to verify a token signed with `alg` and carrying `kid`.
    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, AuthError> {
        let set = self.current().await?;
        match select(&set.keys, kid, alg) {
            Selected::Key(key) => return key,
            Selected::Ambiguous => return Err(ambiguous()),
            Selected::Missing => {}
        }
        // Unknown kid (or no usable key): maybe the provider rotated.
        let Some(kid) = kid else {
            return Err(AuthError::rejected(
                Reason::UnknownKey,
                "the token names no key and the provider's key set has no matching key",
            ));
        };
        let set = self.refetch_for_unknown_kid(kid, &set).await?;
        match select(&set.keys, Some(kid), alg) {
            Selected::Key(key) => key,
            Selected::Ambiguous => Err(ambiguous()),
            Selected::Missing => Err(AuthError::rejected(
                Reason::UnknownKey,
                "the token's key id is not in the provider's key set",
            )),
        }
    }

    /// The cached set, refreshed first if it is past its lifetime. While
    /// refreshes fail, a stale set is retried at most every 30 seconds.
    async fn current(&self) -> Result<Arc<KeySet>, AuthError> {
        if let Some(set) = self.keys.read().await.clone()
            && (set.is_fresh() || (set.failed_recently() && set.is_usable_stale()))
        {
            return Ok(set);
        }
        let _fetching = self.fetch_lock.lock().await;
        // Someone else may have refreshed while we waited.
        if let Some(set) = self.keys.read().await.clone()
            && set.is_fresh()
        {
            return Ok(set);
        }
        self.fetch().await
    }

    async fn refetch_for_unknown_kid(
        &self,
        kid: &str,
        seen: &Arc<KeySet>,
    ) -> Result<Arc<KeySet>, AuthError> {
        let mut limits = self.fetch_lock.lock().await;
        // Coalescing: another caller refetched while we waited for the lock.
        if let Some(set) = self.keys.read().await.clone()
            && !Arc::ptr_eq(&set, seen)
        {
            return Ok(set);
        }
        let now = Instant::now();
        if limits
            .by_kid
            .get(kid)
            .is_some_and(|t| now.duration_since(*t) < UNKNOWN_KID_RETRY)
        {
            return Ok(seen.clone());
        }
        while limits
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= REFETCH_WINDOW)
        {
            limits.recent.pop_front();
        }
        if limits.recent.len() >= REFETCH_BUDGET {
            tracing::warn!(uri = %self.uri, "JWKS refetch budget exhausted; unknown kid refused");
            return Ok(seen.clone());
        }
        limits
            .by_kid
            .retain(|_, t| now.duration_since(*t) < UNKNOWN_KID_RETRY);
        limits.by_kid.insert(kid.to_owned(), now);
        limits.recent.push_back(now);
        match self.fetch().await {
            Ok(set) => Ok(set),
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refetch failed; keeping cached keys");
                Ok(seen.clone())
            }
        }
    }

    /// Fetches the key set; on failure keeps (and returns) a not-too-stale
    /// cached set.
    async fn fetch(&self) -> Result<Arc<KeySet>, AuthError> {
        let fetched = self
            .http
            .fetch_json::<JwkSet>(self.http.get(&self.uri), Endpoint::Jwks, "JWKS")
            .await;
        self.http.metrics().record_jwks_refresh(fetched.is_ok());
        let mut slot = self.keys.write().await;
        match fetched {
            Ok((set, max_age)) => {
                let max_age = max_age
                    .map(Duration::from_secs)
                    .unwrap_or(DEFAULT_MAX_AGE)
                    .clamp(MIN_MAX_AGE, MAX_MAX_AGE);
                let set = Arc::new(KeySet {
                    keys: set.keys,
                    fetched_at: Instant::now(),
                    max_age,
                    failed_at: None,
                });
                *slot = Some(set.clone());
                Ok(set)
            }
            Err(e) => match slot.as_ref() {
                Some(old) if old.is_usable_stale() => {
                    tracing::warn!(error = %e, "JWKS refresh failed; using cached keys");
                    let kept = Arc::new(KeySet {
                        keys: old.keys.clone(),
                        fetched_at: old.fetched_at,
                        max_age: old.max_age,
                        failed_at: Some(Instant::now()),
                    });
                    *slot = Some(kept.clone());
                    Ok(kept)
                }
                _ => Err(e),
            },
        }
    }
}

enum Selected {
    Key(Result<DecodingKey, AuthError>),
    Missing,
    Ambiguous,
}

fn ambiguous() -> AuthError {
    AuthError::rejected(
        Reason::KidRequired,
        "the token names no key and the provider publishes several",
    )
}

/// Picks the verification key: by `kid` when the token has one; without a
/// `kid`, only when exactly one usable key exists (RP certification
/// `rp-id_token-kid-absent-single-jwks` / `-multiple-jwks`).
fn select(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Selected {
    let usable = |k: &&Jwk| is_usable_for(k, alg);
    let chosen: Vec<&Jwk> = match kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .filter(usable)
            .collect(),
        None => keys.iter().filter(usable).collect(),
    };
    match chosen.as_slice() {
        [] => Selected::Missing,
        [one] => Selected::Key(DecodingKey::from_jwk(one).map_err(|_| {
            AuthError::ProviderUnavailable("the provider published an unusable key".into())
        })),
        _ => Selected::Ambiguous,
    }
}

/// A key may verify `alg` only if it is a signing key of the matching type,
/// and its own `alg`, if any, is `alg` (no algorithm confusion).
fn is_usable_for(key: &Jwk, alg: Algorithm) -> bool {
    if matches!(key.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return false;
    }
    if let Some(key_alg) = key.common.key_algorithm
        && Algorithm::from_str(&key_alg.to_string()).ok() != Some(alg)
    {
        return false;
    }
    use Algorithm::*;
    match &key.algorithm {
        AlgorithmParameters::RSA(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        AlgorithmParameters::EllipticCurve(_) => matches!(alg, ES256 | ES384),
        AlgorithmParameters::OctetKeyPair(_) => matches!(alg, EdDSA),
        // Symmetric keys never verify provider tokens.
        AlgorithmParameters::OctetKey(_) => false,
    }
}
