//! Configuration: one TOML file can hold the whole stack, and each binary
//! reads its own sections (`[auth_service]`, `[gateway]`, `[[providers]]`,
//! `[[routes]]`).
//!
//! The file is read by serde into one `*Section` struct per TOML section,
//! with `deny_unknown_fields` (a typo is an error, not a silently ignored
//! key), and each section is then parsed into the runtime type the binaries
//! use ([`GatewayConfig`], [`AuthServiceConfig`], [`ProviderConfig`],
//! [`RouteConfig`]), before any port is bound: those hold resolved values
//! (secrets, network blocks, loaded TLS files) and nothing left to check.
//! Every error names the key and says what is wrong. Secrets never live in
//! the file: the file names an environment variable
//! (`client_secret_env = "GOOGLE_CLIENT_SECRET"`) and the value is read into a
//! [`secrecy::SecretString`].

mod auth_service;
mod branding;
mod cors;
mod env_overrides;
mod gateway;
mod google_sign_in;
mod listen_or_off;
mod providers;
mod redis;
mod routes;
mod rules;
mod session_cache;
mod sibling_hosts;
mod single_node;

pub use auth_service::{AuthServiceConfig, StoreConfig};
pub use branding::Branding;
pub use gateway::GatewayConfig;
pub use google_sign_in::{GoogleSignInConfig, UxMode};
pub use providers::{ProviderConfig, ProviderKind, TokenEndpointAuth};
pub use redis::RedisConfig;
pub use routes::{AllowList, Policy, RouteConfig, RouteTarget};
pub use rules::{is_https_or_loopback_http, is_loopback_host, is_valid_provider_id};
pub use session_cache::{SESSION_CACHE_MAX_TTL, SessionCacheConfig};
pub use sibling_hosts::is_allowed_return_host;

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

impl From<crate::tls::TlsFileError> for ConfigError {
    fn from(e: crate::tls::TlsFileError) -> Self {
        Self::Invalid {
            key: e.key,
            reason: e.reason,
        }
    }
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The whole configuration file as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// The `[auth_service]` section.
    #[serde(default)]
    auth_service: auth_service::AuthServiceSection,
    /// The `[gateway]` section.
    #[serde(default)]
    gateway: gateway::GatewaySection,
    /// The `[[providers]]` array: identity providers users can log in with.
    #[serde(default)]
    providers: Vec<providers::ProviderSection>,
    /// The `[[routes]]` array: the gateway's per-route policies and targets.
    #[serde(default)]
    routes: Vec<routes::RouteSection>,
}

/// The whole configuration, parsed.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The `[auth_service]` section.
    pub auth_service: AuthServiceConfig,
    /// The `[gateway]` section.
    pub gateway: GatewayConfig,
    /// The `[[providers]]` array, ids distinct.
    pub providers: Vec<ProviderConfig>,
    /// The `[[routes]]` array, prefixes distinct.
    pub routes: Vec<RouteConfig>,
}

/// The JSON Schema of the configuration file, built from its types and
/// their doc comments: shipped as `docs/configuration.schema.json` for
/// editors (Taplo, Even Better TOML) and regenerated with
/// `cargo run -p common --example config_schema`. It describes shapes and
/// defaults; the rules between keys are checked when a file is loaded
/// (`--check-config`).
pub fn json_schema() -> schemars::Schema {
    schemars::schema_for!(ConfigFile)
}

impl Config {
    /// Reads `path`, or the file named by `PORTCULLIS_CONFIG` when `path` is
    /// `None`, then parses it. Secrets are read from the environment
    /// variables the file names, TLS files from the paths it names.
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
        Self::from_toml_and_env(&text, &|name| std::env::var(name).ok(), overrides()?).map_err(
            |e| match e {
                ConfigError::Parse { message, .. } => ConfigError::Parse { path, message },
                other => other,
            },
        )
    }

    /// Parses TOML text; `env` looks up secrets by variable name (injected
    /// so tests need not touch the process environment).
    pub fn from_toml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::from_toml_and_env(text, env, std::iter::empty())
    }

    /// [`Config::from_toml`] with the `PORTCULLIS__SECTION__KEY` overrides
    /// among `vars` applied to the file first (see `env_overrides.rs`).
    pub fn from_toml_and_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            message: e.to_string(),
        };
        let overrides: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| name.starts_with(env_overrides::PREFIX))
            .collect();
        // Without overrides the file is read straight into its types, so
        // errors keep their line and column.
        let file: ConfigFile = if overrides.is_empty() {
            toml::from_str(text).map_err(parse_error)?
        } else {
            let mut table: toml::Table = toml::from_str(text).map_err(parse_error)?;
            env_overrides::apply(&mut table, overrides)?;
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: PathBuf::from("<text>"),
                    message: format!("with the PORTCULLIS__* overrides applied: {e}"),
                })?
        };
        let auth_service = file.auth_service.parse(env)?;
        let mut seen = std::collections::HashSet::new();
        let mut providers = Vec::with_capacity(file.providers.len());
        for (i, section) in file.providers.into_iter().enumerate() {
            let key = format!("providers[{i}]");
            let provider = section.parse(&key, env)?;
            if !seen.insert(provider.id.clone()) {
                return Err(ConfigError::invalid(
                    format!("{key}.id"),
                    format!("duplicate provider id {:?}", provider.id),
                ));
            }
            providers.push(provider);
        }
        let gateway = file.gateway.parse(env)?;
        let routes = routes::parse(file.routes)?;
        Ok(Self {
            auth_service,
            gateway,
            providers,
            routes,
        })
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.id == id)
    }
}

/// The secret in the environment variable `var`, which the key `key` names
/// (`service_token_env`, `password_env`, `client_secret_env`): unset or
/// empty is an error naming the key and the variable, never a secret-less
/// start.
pub(crate) fn secret_from_env(
    key: &str,
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<secrecy::SecretString, ConfigError> {
    match env(var) {
        Some(secret) if !secret.is_empty() => Ok(secrecy::SecretString::from(secret)),
        _ => Err(ConfigError::invalid(
            key,
            format!("environment variable {var} is not set or empty"),
        )),
    }
}

/// The process's `PORTCULLIS__*` variables. `std::env::vars` would panic
/// on a variable that is not UTF-8; one of ours is refused by name instead,
/// and anyone else's is none of our business.
fn overrides() -> Result<Vec<(String, String)>, ConfigError> {
    let mut found = Vec::new();
    for (name, value) in std::env::vars_os() {
        let shown = name.to_string_lossy();
        if !shown.starts_with(env_overrides::PREFIX) {
            continue;
        }
        match (name.to_str(), value.to_str()) {
            (Some(name), Some(value)) => found.push((name.to_owned(), value.to_owned())),
            _ => {
                return Err(ConfigError::invalid(
                    shown.into_owned(),
                    "the variable's name or value is not UTF-8",
                ));
            }
        }
    }
    Ok(found)
}

/// A secret a section may name two ways: `{name}_env`, an environment
/// variable, or `{name}_file`, a file (a mounted Kubernetes or Docker
/// secret; one trailing newline is not part of it). `prefix` is the
/// section's key (`gateway`, `providers[0]`). Neither: `None`; both, an
/// unreadable or empty file, or an unset variable: an error naming the key.
pub(crate) fn secret(
    prefix: &str,
    name: &str,
    var: Option<&str>,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<secrecy::SecretString>, ConfigError> {
    let file_key = format!("{prefix}.{name}_file");
    match (var, file) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            file_key,
            format!("set {name}_env or {name}_file, not both"),
        )),
        (Some(var), None) => secret_from_env(&format!("{prefix}.{name}_env"), var, env).map(Some),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::invalid(&file_key, format!("cannot read {}: {e}", path.display()))
            })?;
            let secret = text
                .strip_suffix("\r\n")
                .or_else(|| text.strip_suffix('\n'))
                .unwrap_or(&text);
            if secret.is_empty() {
                return Err(ConfigError::invalid(
                    file_key,
                    format!("{} is empty", path.display()),
                ));
            }
            Ok(Some(secrecy::SecretString::from(secret.to_owned())))
        }
        (None, None) => Ok(None),
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
