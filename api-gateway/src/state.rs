//! The state every handler shares: configuration, the cookie factory, the
//! auth-service client, the upstream client, the metrics, the trusted
//! proxies, the login rate limiter and where logins may return to. Passed in, never global, so two
//! gateways can run in one test process.
//!
//! Extractors do not name [`AppState`]: they ask for their part of it
//! through the `FromRef` impls below, so they depend on that part alone.

use crate::auth_client::AuthClient;
use crate::client_ip::TrustedProxies;
use crate::cookies::CookieFactory;
use crate::metrics::Metrics;
use crate::proxy::Proxy;
use crate::rate_limit::RateLimiter;
use crate::return_to::ReturnHosts;
use axum::extract::FromRef;
use common::config::GatewayConfig;
use std::ops::Deref;
use std::sync::Arc;

/// Cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
pub(crate) struct Inner {
    /// The `[gateway]` section.
    pub gateway: GatewayConfig,
    /// Builds and reads our cookies.
    pub cookies: Arc<CookieFactory>,
    /// The auth-service client.
    pub auth: AuthClient,
    /// The upstream HTTP client.
    pub proxy: Proxy,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// `gateway.public_url` as an origin (`https://app.example.com`), for
    /// the CSRF check.
    pub public_origin: String,
    /// `gateway.trusted_proxies`, for resolving the client IP.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Per-client-IP bucket shared by the login endpoints.
    pub login_limiter: RateLimiter,
    /// `gateway.allowed_return_hosts`, for `return_to`.
    pub return_hosts: ReturnHosts,
}

impl AppState {
    /// Wraps the parts.
    pub(crate) fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// For `CurrentUser` (`extract.rs`).
impl FromRef<AppState> for AuthClient {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// For the session credential (`extract.rs`, `credential`).
impl FromRef<AppState> for Arc<CookieFactory> {
    fn from_ref(state: &AppState) -> Self {
        state.cookies.clone()
    }
}

/// For `ClientIp` (`client_ip.rs`).
impl FromRef<AppState> for Arc<TrustedProxies> {
    fn from_ref(state: &AppState) -> Self {
        state.trusted_proxies.clone()
    }
}
