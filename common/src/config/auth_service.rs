//! The `[auth_service]` section.

use super::ConfigError;
use crate::telemetry::LogFormat;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which store holds users, sessions and flow state.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Embedded sled database in `data_dir` (one node).
    #[default]
    Sled,
}

/// Settings of the auth-service binary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthServiceConfig {
    /// gRPC listen address. Default `127.0.0.1:50051`.
    pub listen: SocketAddr,
    /// Storage backend. Default `sled`.
    pub store: StoreKind,
    /// Directory of the sled database. Default `./data`.
    pub data_dir: PathBuf,
    /// Absolute session lifetime, whatever the activity. Default `7d`.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// A session unused for this long ends. Default `24h`.
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// Tolerance for provider clocks when checking `exp` and `iat`.
    /// Default `60s`.
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
    /// How often expired sessions and login flows are purged. Default `5m`.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Timeout of every call to an identity provider. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub provider_timeout: Duration,
    /// Roles granted by verified e-mail address:
    /// `roles = { admin = ["alice@example.com"] }`. Never granted on an
    /// unverified address.
    pub roles: BTreeMap<String, Vec<String>>,
    /// Log line format: `text` or `json`. Default `text`.
    pub log_format: LogFormat,
    /// Name of the environment variable holding the service token that
    /// every caller of `AuthService` must send as `authorization: Bearer
    /// <token>` metadata (at least 32 characters). Unset: no caller
    /// authentication, allowed only on a loopback `listen` address.
    pub service_token_env: Option<String>,
    /// The service token read from `service_token_env` at load time.
    #[serde(skip)]
    pub service_token: Option<secrecy::SecretString>,
    /// Listen on a non-loopback address without caller authentication.
    /// Dangerous: anyone who reaches the port can mint sessions' answers and
    /// revoke sessions. Default false.
    pub insecure_listen: bool,
}

impl Default for AuthServiceConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            store: StoreKind::Sled,
            data_dir: PathBuf::from("./data"),
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            session_idle_timeout: Duration::from_secs(24 * 3600),
            clock_skew: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(300),
            provider_timeout: Duration::from_secs(10),
            roles: BTreeMap::new(),
            log_format: LogFormat::Text,
            service_token_env: None,
            service_token: None,
            insecure_listen: false,
        }
    }
}

impl AuthServiceConfig {
    pub(crate) fn validate(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let key = |k: &str| format!("auth_service.{k}");
        if let Some(var) = &self.service_token_env {
            match env(var) {
                Some(token) if token.len() >= 32 => {
                    self.service_token = Some(secrecy::SecretString::from(token));
                }
                Some(_) => {
                    return Err(ConfigError::invalid(
                        key("service_token_env"),
                        format!("the token in {var} must be at least 32 characters"),
                    ));
                }
                None => {
                    return Err(ConfigError::invalid(
                        key("service_token_env"),
                        format!("environment variable {var} is not set"),
                    ));
                }
            }
        }
        if !self.listen.ip().is_loopback() && self.service_token.is_none() && !self.insecure_listen
        {
            return Err(ConfigError::invalid(
                key("listen"),
                format!(
                    "{} is not a loopback address: set service_token_env so callers must \
                     authenticate (or insecure_listen = true to accept anyone, never in production)",
                    self.listen
                ),
            ));
        }
        if self.session_lifetime < Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                key("session_lifetime"),
                "must be at least 1m",
            ));
        }
        if self.session_idle_timeout < Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                key("session_idle_timeout"),
                "must be at least 1m",
            ));
        }
        if self.session_idle_timeout > self.session_lifetime {
            return Err(ConfigError::invalid(
                key("session_idle_timeout"),
                "must not exceed session_lifetime",
            ));
        }
        if self.clock_skew > Duration::from_secs(600) {
            return Err(ConfigError::invalid(
                key("clock_skew"),
                "must be at most 10m",
            ));
        }
        if self.sweep_interval < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                key("sweep_interval"),
                "must be at least 1s",
            ));
        }
        if self.provider_timeout < Duration::from_millis(100) {
            return Err(ConfigError::invalid(
                key("provider_timeout"),
                "must be at least 100ms",
            ));
        }
        for (role, emails) in &mut self.roles {
            if role.is_empty()
                || !role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(ConfigError::invalid(
                    key("roles"),
                    format!("role name {role:?} must be letters, digits, '-' or '_'"),
                ));
            }
            for email in emails.iter_mut() {
                if !email.contains('@') {
                    return Err(ConfigError::invalid(
                        format!("auth_service.roles.{role}"),
                        format!("{email:?} is not an e-mail address"),
                    ));
                }
                *email = email.to_ascii_lowercase();
            }
        }
        Ok(())
    }

    /// The roles granted to a user with this e-mail, if it is verified.
    pub fn roles_for(&self, email: &str, email_verified: bool) -> Vec<String> {
        if !email_verified || email.is_empty() {
            return Vec::new();
        }
        let email = email.to_ascii_lowercase();
        self.roles
            .iter()
            .filter(|(_, emails)| emails.contains(&email))
            .map(|(role, _)| role.clone())
            .collect()
    }
}
