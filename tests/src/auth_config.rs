//! The auth-service configuration file of a test, written in one place for
//! both suites that start auth-service: `portcullis-tests`' `TestStack`
//! (where this file lives) and auth-service's own integration tests, which
//! compile it into their harness with `#[path]` (auth-service cannot depend
//! on `portcullis-tests`, which depends on it). So: nothing but `std` here,
//! and nothing that only one of the two suites uses.

use std::path::Path;

/// The development provider's client id (a public client: PKCE, no
/// secret).
pub(crate) const DEV_CLIENT_ID: &str = "portcullis-dev";

/// The name the development provider is configured with (what the login
/// page and the `ListProviders` call show).
pub(crate) const DEV_PROVIDER_NAME: &str = "Development provider";

/// An auth-service configuration: its listener and data directory, alice
/// as the one admin, and the development provider (OpenID, public client
/// [`DEV_CLIENT_ID`], groups from its `groups` claim) at `issuer`; each suite adds its own `[auth_service]`
/// keys and providers.
pub(crate) struct AuthConfig<'a> {
    /// `listen`, e.g. `127.0.0.1:0`.
    pub(crate) listen: &'a str,
    /// `data_dir`, the store's directory.
    pub(crate) data_dir: &'a Path,
    /// The development provider's issuer URL.
    pub(crate) issuer: &'a str,
    /// Extra `[auth_service]` keys (TOML lines, each ending in a newline).
    pub(crate) settings: &'a str,
    /// TOML after the development provider: more `[[providers]]`, other
    /// tables.
    pub(crate) rest: &'a str,
}

impl AuthConfig<'_> {
    /// The configuration as TOML text.
    pub(crate) fn to_toml(&self) -> String {
        format!(
            r#"
[auth_service]
listen = "{listen}"
data_dir = "{data}"
{settings}
[auth_service.roles]
admin = ["alice@example.com"]

[[providers]]
id = "dev"
name = "{DEV_PROVIDER_NAME}"
kind = "oidc"
client_id = "{DEV_CLIENT_ID}"
token_endpoint_auth = "none"
issuer = "{issuer}"
groups_claim = "groups"
{rest}"#,
            listen = self.listen,
            data = self.data_dir.display(),
            settings = self.settings,
            issuer = self.issuer,
            rest = self.rest,
        )
    }
}
