//! Configuration: one TOML file can hold the whole stack, and each binary
//! reads its own sections (`[auth_service]`, `[gateway]`, `[[providers]]`,
//! `[[routes]]`).
//!
//! The file is parsed into typed structs with `deny_unknown_fields` (a typo is
//! an error, not a silently ignored key) and then validated, before any port
//! is bound. Every error names the key and says what is wrong. Secrets never
//! live in the file: the file names an environment variable
//! (`client_secret_env = "GOOGLE_CLIENT_SECRET"`) and the value is read into a
//! [`secrecy::SecretString`].

mod auth_service;
mod gateway;
mod providers;
mod redis;
mod rules;
mod session_cache;

pub use auth_service::{AuthServiceConfig, StoreKind};
pub use gateway::{GatewayConfig, RouteConfig, RoutePolicy, RouteTarget};
pub use providers::{ProviderConfig, ProviderKind, TokenEndpointAuth};
pub use redis::RedisConfig;
pub use rules::{is_https_or_loopback_http, is_valid_provider_id};
pub use session_cache::{SESSION_CACHE_MAX_TTL, SessionCacheConfig};

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The environment variable read when no `--config` is given.
pub const CONFIG_ENV: &str = "PORTCULLIS_CONFIG";

/// A configuration that could not be loaded. `Display` names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither `--config` nor `PORTCULLIS_CONFIG` was given.
    #[error("no configuration file: pass --config PATH or set {CONFIG_ENV}")]
    NoPath,
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema; the message
    /// from `toml` names the key, line and column.
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is present but wrong.
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The `[auth_service]` section.
    #[serde(default)]
    pub auth_service: AuthServiceConfig,
    /// The `[gateway]` section.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// The `[[providers]]` array: identity providers users can log in with.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// The `[[routes]]` array: the gateway's per-route policies and targets.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

impl Config {
    /// Reads `path`, or the file named by `PORTCULLIS_CONFIG` when `path` is
    /// `None`, then parses and validates it. Secrets are read from the
    /// environment variables the file names.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => std::env::var_os(CONFIG_ENV)
                .map(PathBuf::from)
                .ok_or(ConfigError::NoPath)?,
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::from_toml(&text, &|name| std::env::var(name).ok()).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse { path, message },
            other => other,
        })
    }

    /// Parses and validates TOML text; `env` looks up secrets by variable
    /// name (injected so tests need not touch the process environment).
    pub fn from_toml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            message: e.to_string(),
        })?;
        config.validate(env)?;
        Ok(config)
    }

    fn validate(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        self.auth_service.validate(env)?;
        let mut seen = std::collections::HashSet::new();
        for (i, provider) in self.providers.iter_mut().enumerate() {
            let key = format!("providers[{i}]");
            provider.validate(&key, env)?;
            if !seen.insert(provider.id.clone()) {
                return Err(ConfigError::invalid(
                    format!("{key}.id"),
                    format!("duplicate provider id {:?}", provider.id),
                ));
            }
        }
        self.gateway.validate(env)?;
        let mut prefixes = std::collections::HashSet::new();
        for (i, route) in self.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            route.validate(&key)?;
            // Routes match whole segments without case (see
            // `api-gateway/src/policy.rs`), so `/api` and `/API/` are one
            // route; two of them would leave the choice to file order.
            if !prefixes.insert(gateway::prefix_identity(&route.path_prefix)) {
                return Err(ConfigError::invalid(
                    format!("{key}.path_prefix"),
                    format!(
                        "{:?} covers the same paths as an earlier route (case and a trailing slash do not count)",
                        route.path_prefix
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.id == id)
    }
}

/// Checks that a URL uses HTTPS, or plain HTTP to a loopback host (local
/// development and tests only).
pub(crate) fn require_secure_url(key: &str, url: &url::Url) -> Result<(), ConfigError> {
    if is_https_or_loopback_http(url) {
        return Ok(());
    }
    match url.scheme() {
        "http" => Err(ConfigError::invalid(
            key,
            format!("{url} must use https (plain http is allowed only for localhost)"),
        )),
        other => Err(ConfigError::invalid(
            key,
            format!("unsupported URL scheme {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests;
