//! The `[auth_service]` section.

use super::ConfigError;
use super::redis::RedisConfig;
use crate::telemetry::LogFormat;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which store holds users, sessions and flow state.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Embedded sled database in `data_dir` (one node).
    #[default]
    Sled,
    /// A Redis-protocol server (`[auth_service.redis]`): several replicas.
    Redis,
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
    /// The Redis store's settings; required with `store = "redis"`.
    pub redis: Option<RedisConfig>,
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
    /// How often the store watchdog writes, reads back and flushes a marker.
    /// Default `5s`.
    #[serde(with = "humantime_serde")]
    pub store_probe_interval: Duration,
    /// How long one probe may take before the store counts as hung and
    /// health reports NOT_SERVING. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub store_probe_timeout: Duration,
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
    /// <token>` metadata (at least 32 characters). Unset: no token is asked
    /// for; on a non-loopback `listen` address `client_ca` must then
    /// authenticate callers instead. With both, a caller needs both.
    pub service_token_env: Option<String>,
    /// The service token read from `service_token_env` at load time.
    #[serde(skip)]
    pub service_token: Option<secrecy::SecretString>,
    /// Listen on a non-loopback address without caller authentication
    /// (neither a service token nor `client_ca`). Dangerous: anyone who
    /// reaches the port can mint sessions' answers and revoke sessions.
    /// Default false.
    pub insecure_listen: bool,
    /// PEM certificate chain auth-service presents; with `tls_key`, gRPC is
    /// served over TLS only (a plaintext client cannot connect). Without
    /// TLS the service token crosses the network in clear, which is why it
    /// belongs on loopback only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert` (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub tls_key: Option<PathBuf>,
    /// PEM file of the CA certificate(s) client certificates must chain
    /// to: set, every connection must present one (mutual TLS; a missing or
    /// foreign certificate fails the handshake, before any call). Requires
    /// `tls_cert` and `tls_key`. A caller authenticated this way counts as
    /// authenticated for the non-loopback `listen` rule.
    pub client_ca: Option<PathBuf>,
    /// Serve gRPC server reflection (`grpc.reflection.v1`), which lists
    /// every service and message of the API to whoever asks. Off by
    /// default: callers are our own gateway and services, which have the
    /// schema compiled in. On, it sits behind the same caller
    /// authentication as `AuthService` (service token and/or client
    /// certificate); only the health service stays open. Default false.
    pub grpc_reflection: bool,
}

impl Default for AuthServiceConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            store: StoreKind::Sled,
            data_dir: PathBuf::from("./data"),
            redis: None,
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            session_idle_timeout: Duration::from_secs(24 * 3600),
            clock_skew: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(300),
            store_probe_interval: Duration::from_secs(5),
            store_probe_timeout: Duration::from_secs(5),
            provider_timeout: Duration::from_secs(10),
            roles: BTreeMap::new(),
            log_format: LogFormat::Text,
            service_token_env: None,
            service_token: None,
            insecure_listen: false,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            grpc_reflection: false,
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
        self.validate_tls()?;
        match (self.store, &mut self.redis) {
            (StoreKind::Redis, Some(redis)) => redis.validate(env)?,
            (StoreKind::Redis, None) => {
                return Err(ConfigError::invalid(
                    key("redis"),
                    "store = \"redis\" needs an [auth_service.redis] section with url",
                ));
            }
            (StoreKind::Sled, Some(_)) => {
                return Err(ConfigError::invalid(
                    key("redis"),
                    "set store = \"redis\" to use it (the store is sled)",
                ));
            }
            (StoreKind::Sled, None) => {}
        }
        if !self.listen.ip().is_loopback() && !self.authenticates_callers() && !self.insecure_listen
        {
            return Err(ConfigError::invalid(
                key("listen"),
                format!(
                    "{} is not a loopback address: callers must authenticate, so set \
                     service_token_env and/or client_ca (mutual TLS), or insecure_listen = true \
                     to accept anyone (never in production)",
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
        for (name, value) in [
            ("store_probe_interval", self.store_probe_interval),
            ("store_probe_timeout", self.store_probe_timeout),
        ] {
            if value < Duration::from_millis(100) {
                return Err(ConfigError::invalid(key(name), "must be at least 100ms"));
            }
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

    /// `tls_cert`/`tls_key` come as a pair, `client_ca` only with them (a
    /// client certificate is only asked for in a TLS handshake), and every
    /// file is readable PEM of the right kind, so a typo stops the binary
    /// here, naming the key, instead of at the first connection.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "auth_service.tls_key",
                    "must be set with tls_cert (both or neither)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "auth_service.tls_cert",
                    "must be set with tls_key (both or neither)",
                ));
            }
            (Some(cert), Some(key)) => {
                check_pem_file("auth_service.tls_cert", cert, Pem::Certificates)?;
                check_pem_file("auth_service.tls_key", key, Pem::PrivateKey)?;
            }
            (None, None) => {}
        }
        if let Some(ca) = &self.client_ca {
            if !self.serves_tls() {
                return Err(ConfigError::invalid(
                    "auth_service.client_ca",
                    "requires tls_cert and tls_key: client certificates are only asked for \
                     over TLS",
                ));
            }
            check_pem_file("auth_service.client_ca", ca, Pem::Certificates)?;
        }
        Ok(())
    }

    /// Whether gRPC is served over TLS (`tls_cert` and `tls_key` set).
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Whether callers must prove who they are: a service token, a client
    /// certificate (mutual TLS), or both when both are configured.
    pub fn authenticates_callers(&self) -> bool {
        self.service_token.is_some() || self.client_ca.is_some()
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

/// What a PEM file named in the configuration must hold.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pem {
    /// At least one `CERTIFICATE` block.
    Certificates,
    /// A private key block rustls can use (PKCS#8, PKCS#1 RSA, SEC1 EC).
    PrivateKey,
}

/// Checks that the file `key` names can be read and holds PEM of the
/// expected kind (parsed with rustls' PEM reader): a wrong path, or a
/// certificate and key swapped, then stops the binary before it binds,
/// naming the key and the path. Whether the key matches the certificate is
/// only known when the binaries build their TLS configuration. The file's content never appears in an
/// error (it may be a private key).
pub(super) fn check_pem_file(key: &str, path: &Path, kind: Pem) -> Result<(), ConfigError> {
    let contents = std::fs::read(path)
        .map_err(|e| ConfigError::invalid(key, format!("cannot read {}: {e}", path.display())))?;
    // Only the encrypted form is recognised by its label, to say so; the
    // rest is parsed by rustls' PEM reader.
    let encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
    let found = match kind {
        Pem::Certificates => {
            let mut certificates = CertificateDer::pem_slice_iter(&contents).peekable();
            certificates.peek().is_some() && certificates.all(|c| c.is_ok())
        }
        Pem::PrivateKey => {
            if contents.windows(encrypted.len()).any(|w| w == encrypted) {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "{} holds an encrypted private key; the key must be unencrypted PEM \
                         (protect it with file permissions)",
                        path.display()
                    ),
                ));
            }
            PrivateKeyDer::from_pem_slice(&contents).is_ok()
        }
    };
    if found {
        return Ok(());
    }
    let expected = match kind {
        Pem::Certificates => "a PEM certificate (-----BEGIN CERTIFICATE-----)",
        Pem::PrivateKey => "a PEM private key (-----BEGIN PRIVATE KEY-----)",
    };
    Err(ConfigError::invalid(
        key,
        format!("{} does not contain {expected}", path.display()),
    ))
}
