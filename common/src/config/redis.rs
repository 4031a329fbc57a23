//! The `[auth_service.redis]` section: where the Redis store lives and how
//! durable its writes must be (`store = "redis"`, for several auth-service
//! replicas; ../shared/SCALE-OUT.md).

use super::{ConfigError, secret};
use secrecy::SecretString;
use serde::Deserialize;
use std::time::Duration;

/// The `[auth_service.redis]` section as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RedisSection {
    /// A standalone server: `redis://host:port/db`, `rediss://…` (TLS) or
    /// `redis+unix:///path/to/redis.sock`. Exclusive with `sentinels`.
    url: Option<String>,
    /// Sentinel addresses (`redis://host:26379`) that name the primary of
    /// `master_name`; the primary is resolved again after every lost
    /// connection or `READONLY` reply, so a failover is followed without a
    /// restart. Exclusive with `url`.
    sentinels: Vec<String>,
    /// The Sentinel service name of the primary. Required with `sentinels`.
    master_name: Option<String>,
    /// Name of the environment variable holding the server's password
    /// (ACL user password with `username`). Unset: no AUTH.
    password_env: Option<String>,
    /// A file holding the password instead (a mounted secret); exclusive
    /// with `password_env`.
    password_file: Option<std::path::PathBuf>,
    /// ACL user name sent with the password. Unset: the default user.
    username: Option<String>,
    /// Prefix of every key this store writes, so one server can hold
    /// several deployments and an ACL can confine the user to it.
    /// Default `pc:`.
    key_prefix: String,
    /// Replicas that must have received each login and revocation (Redis
    /// `WAIT`) before it is acknowledged; fewer in time is an error answer,
    /// never a silent success. Default 0 (the primary's own fsync only).
    min_replicas_ack: u32,
    /// How long a write waits for `min_replicas_ack` replicas. Default
    /// `500ms`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    barrier_timeout: Duration,
    /// How long one command may take before the store counts as
    /// unreachable (`ValidateSession` answers UNAVAILABLE). Default `2s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    command_timeout: Duration,
    /// Run against a server without `appendonly yes` + `appendfsync
    /// always`. Then an acknowledged revocation can be undone by a server
    /// crash; logged at every start. Default false.
    allow_volatile: bool,
}

/// Settings of the Redis store, parsed. The keys are documented on
/// [`RedisSection`].
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `url`: exclusive with `sentinels`, one of them set.
    pub url: Option<String>,
    /// `sentinels`.
    pub sentinels: Vec<String>,
    /// `master_name`, set with `sentinels`.
    pub master_name: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// The password read from `password_env`.
    pub password: Option<SecretString>,
    /// `key_prefix`.
    pub key_prefix: String,
    /// `min_replicas_ack`.
    pub min_replicas_ack: u32,
    /// `barrier_timeout`.
    pub barrier_timeout: Duration,
    /// `command_timeout`.
    pub command_timeout: Duration,
    /// `allow_volatile`.
    pub allow_volatile: bool,
}

/// The defaults of [`RedisSection`] (tests point them at a server).
impl Default for RedisConfig {
    fn default() -> Self {
        RedisSection::default().into_config(None)
    }
}

impl Default for RedisSection {
    fn default() -> Self {
        Self {
            url: None,
            sentinels: Vec::new(),
            master_name: None,
            password_env: None,
            password_file: None,
            username: None,
            key_prefix: "pc:".to_owned(),
            min_replicas_ack: 0,
            barrier_timeout: Duration::from_millis(500),
            command_timeout: Duration::from_secs(2),
            allow_volatile: false,
        }
    }
}

/// The URL schemes the store accepts.
const SCHEMES: [&str; 3] = ["redis://", "rediss://", "redis+unix://"];

impl RedisSection {
    /// Checks every value and reads the password from `env`.
    pub(super) fn parse(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RedisConfig, ConfigError> {
        let key = |k: &str| format!("auth_service.redis.{k}");
        let scheme_ok = |url: &str| SCHEMES.iter().any(|s| url.starts_with(s));
        match (&self.url, self.sentinels.is_empty()) {
            (Some(_), false) => {
                return Err(ConfigError::invalid(
                    key("sentinels"),
                    "set either url (one server) or sentinels + master_name, not both",
                ));
            }
            (None, true) => {
                return Err(ConfigError::invalid(
                    key("url"),
                    "required with store = \"redis\" (or sentinels + master_name)",
                ));
            }
            (Some(url), true) if !scheme_ok(url) => {
                return Err(ConfigError::invalid(
                    key("url"),
                    "must start with redis://, rediss:// or redis+unix://",
                ));
            }
            (Some(_), true) => {}
            (None, false) => {
                if let Some(bad) = self.sentinels.iter().find(|s| !scheme_ok(s)) {
                    return Err(ConfigError::invalid(
                        key("sentinels"),
                        format!("{bad:?} must start with redis:// or rediss://"),
                    ));
                }
                if self.master_name.as_deref().is_none_or(str::is_empty) {
                    return Err(ConfigError::invalid(
                        key("master_name"),
                        "required with sentinels",
                    ));
                }
            }
        }
        if self.key_prefix.is_empty() || self.key_prefix.chars().any(char::is_whitespace) {
            return Err(ConfigError::invalid(
                key("key_prefix"),
                "must be non-empty and without whitespace",
            ));
        }
        for (name, value) in [
            ("barrier_timeout", self.barrier_timeout),
            ("command_timeout", self.command_timeout),
        ] {
            if value < Duration::from_millis(10) || value > Duration::from_secs(60) {
                return Err(ConfigError::invalid(
                    key(name),
                    "must be between 10ms and 60s",
                ));
            }
        }
        let password = secret(
            "auth_service.redis",
            "password",
            self.password_env.as_deref(),
            self.password_file.as_deref(),
            env,
        )?;
        Ok(self.into_config(password))
    }

    fn into_config(self, password: Option<SecretString>) -> RedisConfig {
        RedisConfig {
            url: self.url,
            sentinels: self.sentinels,
            master_name: self.master_name,
            username: self.username,
            password,
            key_prefix: self.key_prefix,
            min_replicas_ack: self.min_replicas_ack,
            barrier_timeout: self.barrier_timeout,
            command_timeout: self.command_timeout,
            allow_volatile: self.allow_volatile,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use crate::config::{Config, StoreConfig};

    fn load(redis: &str) -> Result<Config, String> {
        let text = format!("[auth_service]\nstore = \"redis\"\n{redis}");
        Config::from_toml(&text, &|name| (name == "REDIS_PW").then(|| "pw".to_owned()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_url_and_its_defaults_load() {
        let config = load(
            "[auth_service.redis]\nurl = \"redis://127.0.0.1:6379/0\"\npassword_env = \"REDIS_PW\"",
        )
        .unwrap();
        let StoreConfig::Redis(redis) = config.auth_service.store else {
            panic!("not the redis store: {:?}", config.auth_service.store);
        };
        assert_eq!(redis.key_prefix, "pc:");
        assert_eq!(redis.min_replicas_ack, 0);
        assert!(redis.password.is_some());
    }

    #[test]
    fn every_mistake_names_its_key() {
        for (section, key) in [
            ("", "auth_service.redis"),
            ("[auth_service.redis]", "auth_service.redis.url"),
            (
                "[auth_service.redis]\nurl = \"http://x\"",
                "auth_service.redis.url",
            ),
            (
                "[auth_service.redis]\nurl = \"redis://x\"\nsentinels = [\"redis://s:26379\"]",
                "auth_service.redis.sentinels",
            ),
            (
                "[auth_service.redis]\nsentinels = [\"redis://s:26379\"]",
                "auth_service.redis.master_name",
            ),
            (
                "[auth_service.redis]\nurl = \"redis://x\"\npassword_env = \"UNSET\"",
                "auth_service.redis.password_env",
            ),
            (
                "[auth_service.redis]\nurl = \"redis://x\"\nkey_prefix = \"\"",
                "auth_service.redis.key_prefix",
            ),
            (
                "[auth_service.redis]\nurl = \"redis://x\"\nbarrier_timeout = \"1ms\"",
                "auth_service.redis.barrier_timeout",
            ),
        ] {
            let error = load(section)
                .err()
                .unwrap_or_else(|| panic!("{section} loaded"));
            assert!(error.contains(&format!("`{key}`")), "{section}: {error}");
        }
    }

    #[test]
    fn a_redis_section_without_the_redis_store_is_refused() {
        let error = Config::from_toml("[auth_service.redis]\nurl = \"redis://x\"", &|_| None)
            .err()
            .unwrap();
        assert!(error.to_string().contains("auth_service.redis"), "{error}");
    }
}
