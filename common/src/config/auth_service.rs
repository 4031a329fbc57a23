//! The `[auth_service]` section: read as an [`AuthServiceSection`], parsed
//! into the [`AuthServiceConfig`] auth-service runs with (the service token
//! read from its environment variable, role e-mails lower-cased, every TLS
//! file loaded).

use super::redis::{RedisConfig, RedisSection};
use super::rules::check_socket_path;
use super::{ConfigError, secret};
use crate::telemetry::LogFormat;
use crate::tls::{CaCertificates, Identity, PairKeys, TlsFiles};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `store = ...` as written: which store holds users, sessions and flow
/// state.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum StoreKind {
    /// Embedded sled database in `data_dir` (one node).
    #[default]
    Sled,
    /// A Redis-protocol server (`[auth_service.redis]`): several replicas.
    Redis,
}

/// The `[auth_service]` section as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct AuthServiceSection {
    /// gRPC listen address. Default `127.0.0.1:50051`.
    listen: SocketAddr,
    /// Storage backend. Default `sled`.
    store: StoreKind,
    /// Directory of the sled database. Default `./data`.
    data_dir: PathBuf,
    /// The Redis store's settings; required with `store = "redis"`.
    redis: Option<RedisSection>,
    /// Absolute session lifetime, whatever the activity. Default `7d`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    session_lifetime: Duration,
    /// A session unused for this long ends. Default `24h`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    session_idle_timeout: Duration,
    /// Tolerance for provider clocks when checking `exp` and `iat`.
    /// Default `60s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    clock_skew: Duration,
    /// How often expired sessions and login flows are purged. Default `5m`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    sweep_interval: Duration,
    /// How often the store watchdog writes, reads back and flushes a marker.
    /// Default `5s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    store_probe_interval: Duration,
    /// How long one probe may take before the store counts as hung and
    /// health reports NOT_SERVING. Default `5s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    store_probe_timeout: Duration,
    /// Timeout of every call to an identity provider. Default `10s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    provider_timeout: Duration,
    /// Roles granted by verified e-mail address:
    /// `roles = { admin = ["alice@example.com"] }`. Never granted on an
    /// unverified address.
    roles: BTreeMap<String, Vec<String>>,
    /// Log line format: `text` or `json`. Default `text`.
    log_format: LogFormat,
    /// Name of the environment variable holding the service token that
    /// every caller of `AuthService` must send as `authorization: Bearer
    /// <token>` metadata (at least 32 characters). Unset: no token is asked
    /// for; on a non-loopback `listen` address `client_ca` must then
    /// authenticate callers instead. With both, a caller needs both.
    service_token_env: Option<String>,
    /// A file holding that token instead (a mounted secret); exclusive with
    /// `service_token_env`.
    service_token_file: Option<PathBuf>,
    /// Listen on a non-loopback address without caller authentication
    /// (neither a service token nor `client_ca`). Dangerous: anyone who
    /// reaches the port can mint sessions' answers and revoke sessions.
    /// Default false.
    insecure_listen: bool,
    /// PEM certificate chain auth-service presents; with `tls_key`, gRPC is
    /// served over TLS only (a plaintext client cannot connect). Without
    /// TLS the service token crosses the network in clear, which is why it
    /// belongs on loopback only.
    tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert` (PKCS#8, PKCS#1 RSA or SEC1 EC).
    tls_key: Option<PathBuf>,
    /// PEM file of the CA certificate(s) client certificates must chain
    /// to: set, every connection must present one (mutual TLS; a missing or
    /// foreign certificate fails the handshake, before any call). Requires
    /// `tls_cert` and `tls_key`. A caller authenticated this way counts as
    /// authenticated for the non-loopback `listen` rule.
    client_ca: Option<PathBuf>,
    /// Serve gRPC server reflection (`grpc.reflection.v1`), which lists
    /// every service and message of the API to whoever asks. Off by
    /// default: callers are our own gateway and services, which have the
    /// schema compiled in. On, it sits behind the same caller
    /// authentication as `AuthService` (service token and/or client
    /// certificate); only the health service stays open. Default false.
    grpc_reflection: bool,
    /// A second listener, plain HTTP, that serves only `GET /metrics`
    /// (Prometheus: logins, failures by reason, validations, revocations,
    /// provider latency), on loopback by default; `"off"` disables it.
    /// The binary prints `metrics listening on http://ADDR` on the line
    /// after its `listening on` line. Not authenticated: keep it on
    /// loopback or a network only Prometheus reaches. Default
    /// `127.0.0.1:9091` (the gateway's is 9090).
    #[serde(deserialize_with = "super::listen_or_off::deserialize")]
    #[schemars(with = "String")]
    metrics_listen: Option<SocketAddr>,
    /// Also serve gRPC on this Unix socket, in plain text, for a gateway
    /// or service on the same machine or pod (`auth_service_url =
    /// "unix:/run/portcullis/auth.sock"`): cheaper per call than loopback
    /// TCP. Created with mode 0660 and removed at shutdown; a stale socket
    /// left by a crash is replaced, a live one or any other file is
    /// refused. The file's permissions stand in for a client certificate;
    /// a service token, when configured, is still required. Default none.
    listen_socket: Option<PathBuf>,
}

/// Settings of the auth-service binary, parsed: every value here is usable
/// as it is. The keys are documented on [`AuthServiceSection`].
#[derive(Debug, Clone)]
pub struct AuthServiceConfig {
    /// `listen`.
    pub listen: SocketAddr,
    /// `store`, with the settings of that store.
    pub store: StoreConfig,
    /// `session_lifetime`.
    pub session_lifetime: Duration,
    /// `session_idle_timeout`, at most `session_lifetime`.
    pub session_idle_timeout: Duration,
    /// `clock_skew`.
    pub clock_skew: Duration,
    /// `sweep_interval`.
    pub sweep_interval: Duration,
    /// `store_probe_interval`.
    pub store_probe_interval: Duration,
    /// `store_probe_timeout`.
    pub store_probe_timeout: Duration,
    /// `provider_timeout`.
    pub provider_timeout: Duration,
    /// `roles`, the e-mail addresses in ASCII lower case.
    pub roles: BTreeMap<String, Vec<String>>,
    /// `log_format`.
    pub log_format: LogFormat,
    /// The service token read from `service_token_env` (at least 32
    /// characters).
    pub service_token: Option<SecretString>,
    /// `insecure_listen`.
    pub insecure_listen: bool,
    /// `tls_cert` and `tls_key`, loaded: set, gRPC is served over TLS only.
    pub tls: Option<Identity>,
    /// `client_ca`, loaded; only with `tls`.
    pub client_ca: Option<CaCertificates>,
    /// `grpc_reflection`.
    pub grpc_reflection: bool,
    /// `metrics_listen`; `None` for `"off"`.
    pub metrics_listen: Option<SocketAddr>,
    /// `listen_socket`.
    pub listen_socket: Option<PathBuf>,
}

/// Which store holds users, sessions and flow state, and its settings.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// `store = "sled"`: the embedded database in `data_dir`.
    Sled {
        /// `data_dir`.
        data_dir: PathBuf,
    },
    /// `store = "redis"`: the `[auth_service.redis]` server.
    Redis(RedisConfig),
}

/// The defaults of [`AuthServiceSection`], with nothing to load.
impl Default for AuthServiceConfig {
    fn default() -> Self {
        let section = AuthServiceSection::default();
        let store = StoreConfig::Sled {
            data_dir: section.data_dir.clone(),
        };
        section.into_config(store, None, None, None)
    }
}

/// The keys of auth-service's certificate pair.
const SERVER_TLS: PairKeys<'static> = PairKeys {
    cert: "auth_service.tls_cert",
    key: "auth_service.tls_key",
};

impl AuthServiceSection {
    /// Checks every value, reads the service token (and the Redis password)
    /// from `env` and loads the TLS files.
    pub(super) fn parse(
        mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AuthServiceConfig, ConfigError> {
        let key = |k: &str| format!("auth_service.{k}");
        let service_token = secret(
            "auth_service",
            "service_token",
            self.service_token_env.as_deref(),
            self.service_token_file.as_deref(),
            env,
        )?;
        if let Some(token) = &service_token
            && token.expose_secret().len() < 32
        {
            let named = if self.service_token_file.is_some() {
                "service_token_file"
            } else {
                "service_token_env"
            };
            return Err(ConfigError::invalid(
                key(named),
                "the token must be at least 32 characters",
            ));
        }
        let (tls, client_ca) = self.load_tls()?;
        let store = match (self.store, self.redis.take()) {
            (StoreKind::Redis, Some(redis)) => StoreConfig::Redis(redis.parse(env)?),
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
            (StoreKind::Sled, None) => StoreConfig::Sled {
                data_dir: self.data_dir.clone(),
            },
        };
        if !self.listen.ip().is_loopback()
            && service_token.is_none()
            && client_ca.is_none()
            && !self.insecure_listen
        {
            return Err(ConfigError::invalid(
                key("listen"),
                format!(
                    "{} is not a loopback address: callers must authenticate, so set \
                     service_token_env (or service_token_file) and/or client_ca (mutual TLS), or insecure_listen = true \
                     to accept anyone (never in production)",
                    self.listen
                ),
            ));
        }
        super::listen_or_off::check_distinct(
            "auth_service.listen",
            self.listen,
            "auth_service.metrics_listen",
            self.metrics_listen,
        )?;
        if let Some(path) = &self.listen_socket {
            check_socket_path(path)
                .map_err(|reason| ConfigError::invalid(key("listen_socket"), reason))?;
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
        Ok(self.into_config(store, service_token, tls, client_ca))
    }

    /// `tls_cert`/`tls_key` come as a pair, `client_ca` only with them (a
    /// client certificate is only asked for in a TLS handshake), and every
    /// file is loaded, so a typo stops the binary here, naming the key,
    /// instead of at the first connection.
    fn load_tls(&self) -> Result<(Option<Identity>, Option<CaCertificates>), ConfigError> {
        let files = TlsFiles::pair(SERVER_TLS, self.tls_cert.clone(), self.tls_key.clone())?;
        if self.client_ca.is_some() && files.is_none() {
            return Err(ConfigError::invalid(
                "auth_service.client_ca",
                "requires tls_cert and tls_key: client certificates are only asked for \
                 over TLS",
            ));
        }
        let identity = files.map(|f| f.load(SERVER_TLS)).transpose()?;
        let client_ca = self
            .client_ca
            .clone()
            .map(|path| CaCertificates::load("auth_service.client_ca", path))
            .transpose()?;
        Ok((identity, client_ca))
    }

    fn into_config(
        self,
        store: StoreConfig,
        service_token: Option<SecretString>,
        tls: Option<Identity>,
        client_ca: Option<CaCertificates>,
    ) -> AuthServiceConfig {
        AuthServiceConfig {
            listen: self.listen,
            store,
            session_lifetime: self.session_lifetime,
            session_idle_timeout: self.session_idle_timeout,
            clock_skew: self.clock_skew,
            sweep_interval: self.sweep_interval,
            store_probe_interval: self.store_probe_interval,
            store_probe_timeout: self.store_probe_timeout,
            provider_timeout: self.provider_timeout,
            roles: self.roles,
            log_format: self.log_format,
            service_token,
            insecure_listen: self.insecure_listen,
            tls,
            client_ca,
            grpc_reflection: self.grpc_reflection,
            metrics_listen: self.metrics_listen,
            listen_socket: self.listen_socket,
        }
    }
}

impl AuthServiceConfig {
    /// Whether gRPC is served over TLS (`tls_cert` and `tls_key` set).
    pub fn serves_tls(&self) -> bool {
        self.tls.is_some()
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
        self.roles
            .iter()
            .filter(|(_, emails)| emails.iter().any(|e| e.eq_ignore_ascii_case(email)))
            .map(|(role, _)| role.clone())
            .collect()
    }
}

impl Default for AuthServiceSection {
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
            service_token_file: None,
            insecure_listen: false,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            grpc_reflection: false,
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9091))),
            listen_socket: None,
        }
    }
}
