//! Secondary listeners (`metrics_listen` in `[gateway]` and
//! `[auth_service]`, `ext_authz_listen`): an address, or `"off"` for no
//! such listener. One parser and one "not the main address" rule, so both
//! binaries read and refuse the same values the same way.

use super::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;

/// Reads an address like `"127.0.0.1:9090"`, or `"off"` as `None`; any
/// other text is an error naming both accepted shapes.
pub(super) fn deserialize<'de, D>(deserializer: D) -> Result<Option<SocketAddr>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    if text == "off" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?} is not an address like \"127.0.0.1:9090\" or \"off\""
        ))
    })
}

/// Refuses a secondary listener `key` on the section's main `listen`
/// address (`main_key`): both would fail to bind, or worse, one port would
/// serve two things. Port 0 twice is two different ports.
pub(super) fn check_distinct(
    main_key: &str,
    main: SocketAddr,
    key: &str,
    secondary: Option<SocketAddr>,
) -> Result<(), ConfigError> {
    if main.port() != 0 && secondary == Some(main) {
        return Err(ConfigError::invalid(
            key,
            format!("must differ from {main_key} (or be \"off\")"),
        ));
    }
    Ok(())
}
