//! The `[gateway]` section and the `[[routes]]` array.

use super::{ConfigError, is_loopback_host};
use crate::telemetry::LogFormat;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Settings of the api-gateway binary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// HTTP(S) listen address. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The origin browsers use to reach the gateway; redirect URIs and the
    /// CSRF origin check derive from it. Default `http://localhost:8080`.
    pub public_url: Url,
    /// Where auth-service listens. Default `http://127.0.0.1:50051`.
    pub auth_service_url: Url,
    /// Session cookie name. Default `__Host-portcullis` when `public_url` is
    /// HTTPS, `portcullis` otherwise (the `__Host-` prefix requires Secure).
    pub cookie_name: Option<String>,
    /// PEM certificate chain; with `tls_key`, the gateway serves HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Whole-request timeout for built-in handlers. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Timeout of a proxied upstream request. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub upstream_timeout: Duration,
    /// Timeout of each call to auth-service. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub auth_timeout: Duration,
    /// Log line format: `text` or `json`. Default `text`.
    pub log_format: LogFormat,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: Url::parse("http://localhost:8080").unwrap_or_else(|_| unreachable_url()),
            auth_service_url: Url::parse("http://127.0.0.1:50051")
                .unwrap_or_else(|_| unreachable_url()),
            cookie_name: None,
            tls_cert: None,
            tls_key: None,
            request_timeout: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(30),
            auth_timeout: Duration::from_secs(5),
            log_format: LogFormat::Text,
        }
    }
}

/// The literal defaults above always parse; this keeps `Default` free of
/// `unwrap` without a panic path.
fn unreachable_url() -> Url {
    Url::from_directory_path("/").unwrap_or_else(|()| unreachable_url())
}

impl GatewayConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match self.public_url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&self.public_url) => {}
            _ => {
                return Err(ConfigError::invalid(
                    "gateway.public_url",
                    "must be https (plain http is allowed only for localhost)",
                ));
            }
        }
        if self.public_url.path() != "/" || self.public_url.query().is_some() {
            return Err(ConfigError::invalid(
                "gateway.public_url",
                "must be an origin without path or query, e.g. https://app.example.com",
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::invalid(
                "gateway.tls_cert",
                "tls_cert and tls_key must be set together",
            ));
        }
        if let Some(name) = &self.cookie_name {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid {
                return Err(ConfigError::invalid(
                    "gateway.cookie_name",
                    "must be letters, digits, '-', '_' or '.'",
                ));
            }
            if name.starts_with("__Host-") && self.public_url.scheme() != "https" {
                return Err(ConfigError::invalid(
                    "gateway.cookie_name",
                    "the __Host- prefix requires an https public_url",
                ));
            }
        }
        Ok(())
    }

    /// Whether browsers reach the gateway over HTTPS (cookies get `Secure`).
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The session cookie name in effect.
    pub fn session_cookie_name(&self) -> String {
        match &self.cookie_name {
            Some(name) => name.clone(),
            None if self.is_https() => "__Host-portcullis".to_owned(),
            None => "portcullis".to_owned(),
        }
    }
}

/// Who may use a route.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RoutePolicy {
    /// Anyone, logged in or not.
    Public,
    /// Any logged-in user, further restricted by the route's `allow_*` lists
    /// when any is non-empty.
    #[default]
    Authenticated,
}

/// Where a route's requests go.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RouteTarget {
    /// A built-in business handler, by name.
    Handler(String),
    /// An upstream base URL the gateway reverse-proxies to.
    Upstream(Url),
}

/// One `[[routes]]` entry. Routes match by longest path prefix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path prefix, starting with `/` (e.g. `/api/`).
    pub path_prefix: String,
    /// `public` or `authenticated` (default).
    #[serde(default)]
    pub policy: RoutePolicy,
    /// Allowed user ids (any match of any `allow_*` list admits).
    #[serde(default)]
    pub allow_user_ids: Vec<String>,
    /// Allowed verified e-mail addresses.
    #[serde(default)]
    pub allow_emails: Vec<String>,
    /// Allowed verified e-mail domains (`example.com`).
    #[serde(default)]
    pub allow_email_domains: Vec<String>,
    /// Allowed roles.
    #[serde(default)]
    pub allow_roles: Vec<String>,
    /// The target: `{ handler = "users" }` or `{ upstream = "http://..." }`.
    pub target: RouteTarget,
}

impl RouteConfig {
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !self.path_prefix.starts_with('/') {
            return Err(ConfigError::invalid(
                format!("{key}.path_prefix"),
                "must start with '/'",
            ));
        }
        if self.path_prefix.starts_with("/auth/") || self.path_prefix == "/auth" {
            return Err(ConfigError::invalid(
                format!("{key}.path_prefix"),
                "/auth is reserved for the gateway's own routes",
            ));
        }
        let restricted = !(self.allow_user_ids.is_empty()
            && self.allow_emails.is_empty()
            && self.allow_email_domains.is_empty()
            && self.allow_roles.is_empty());
        if restricted && self.policy == RoutePolicy::Public {
            return Err(ConfigError::invalid(
                format!("{key}.policy"),
                "a public route cannot have allow_* lists",
            ));
        }
        if let RouteTarget::Upstream(url) = &self.target
            && !matches!(url.scheme(), "http" | "https")
        {
            return Err(ConfigError::invalid(
                format!("{key}.target.upstream"),
                "must be an http or https URL",
            ));
        }
        Ok(())
    }
}
