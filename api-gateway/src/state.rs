//! The state every handler shares: configuration, the cookie factory, the
//! auth-service client, the upstream client and the metrics. Passed in, never
//! global, so two gateways can run in one test process.

use crate::auth_client::AuthClient;
use crate::cookies::CookieFactory;
use crate::metrics::Metrics;
use crate::proxy::Proxy;
use common::config::GatewayConfig;
use std::ops::Deref;
use std::sync::Arc;

/// Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
pub struct Inner {
    /// The `[gateway]` section.
    pub gateway: GatewayConfig,
    /// Builds and reads our cookies.
    pub cookies: CookieFactory,
    /// The auth-service client.
    pub auth: AuthClient,
    /// The upstream HTTP client.
    pub proxy: Proxy,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// `gateway.public_url` as an origin (`https://app.example.com`), for
    /// the CSRF check.
    pub public_origin: String,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
