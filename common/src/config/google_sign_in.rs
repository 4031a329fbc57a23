//! `[gateway.google_sign_in]`: the gateway's "Sign in with Google" page,
//! which runs Google Identity Services (Google's own button) and hands the
//! credential it returns, a Google ID token, to auth-service. Off unless the
//! table is present.

use super::{ConfigError, is_https_or_loopback_http, is_valid_provider_id};
use serde::Deserialize;
use url::Url;

/// Where Google serves its Identity Services library.
const GOOGLE_CLIENT_SCRIPT: &str = "https://accounts.google.com/gsi/client";

/// How Google's button hands the credential back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UxMode {
    /// Google's popup, then a callback on the page, which posts the
    /// credential to `POST /auth/session` (JSON, same origin).
    #[default]
    Popup,
    /// A full-page visit to Google, which posts the credential and the
    /// `g_csrf_token` double-submit value to `POST /auth/google-sign-in`.
    Redirect,
}

impl UxMode {
    /// The `ux_mode` value Google's library takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Popup => "popup",
            Self::Redirect => "redirect",
        }
    }
}

/// The table as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GoogleSignInSection {
    /// The `[[providers]]` id (kind `google`) auth-service verifies the
    /// credential with.
    provider: String,
    /// That provider's OAuth client id: public, Google's button needs it.
    /// It must equal the provider's `client_id`, which the credential's
    /// audience is checked against.
    client_id: String,
    /// `popup` (default) or `redirect`.
    #[serde(default)]
    ux_mode: UxMode,
    /// The Identity Services script. Default
    /// `https://accounts.google.com/gsi/client`; the dev-idp's
    /// `/gsi/client` stands in for it in development and tests.
    client_script: Option<String>,
}

/// The table, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleSignInConfig {
    /// `provider`.
    pub provider: String,
    /// `client_id`.
    pub client_id: String,
    /// `ux_mode`.
    pub ux_mode: UxMode,
    /// `client_script`, https (or http on loopback), with a path.
    pub client_script: Url,
}

impl GoogleSignInConfig {
    /// The directory the script lives in (`https://accounts.google.com/gsi/`):
    /// the library loads its frames, styles and calls from under it, and the
    /// page's CSP allows exactly that prefix.
    pub fn library_prefix(&self) -> String {
        let mut prefix = self.client_script.clone();
        if let Ok(mut segments) = prefix.path_segments_mut() {
            segments.pop().push("");
        }
        prefix.as_str().to_owned()
    }
}

impl GoogleSignInSection {
    /// Checks the table.
    pub(super) fn parse(self) -> Result<GoogleSignInConfig, ConfigError> {
        const KEY: &str = "gateway.google_sign_in";
        if !is_valid_provider_id(&self.provider) {
            return Err(ConfigError::invalid(
                format!("{KEY}.provider"),
                "must be the id of a [[providers]] entry",
            ));
        }
        let client_id_ok = !self.client_id.is_empty()
            && self.client_id.len() <= 256
            && self.client_id.chars().all(|c| c.is_ascii_graphic());
        if !client_id_ok {
            return Err(ConfigError::invalid(
                format!("{KEY}.client_id"),
                "must be the provider's OAuth client id (visible ASCII, at most 256 bytes)",
            ));
        }
        let script = self
            .client_script
            .as_deref()
            .unwrap_or(GOOGLE_CLIENT_SCRIPT);
        let client_script = Url::parse(script)
            .ok()
            .filter(|url| {
                is_https_or_loopback_http(url)
                    && url.query().is_none()
                    && url.fragment().is_none()
                    && url.username().is_empty()
                    && url.password().is_none()
                    // It goes into the page's CSP, where these separate
                    // sources and directives.
                    && !url.as_str().contains([';', ',', '\''])
                    && url.path_segments().and_then(|mut s| s.next_back()).is_some_and(|last| !last.is_empty())
            })
            .ok_or_else(|| {
                ConfigError::invalid(
                    format!("{KEY}.client_script"),
                    "must be an https URL of a script (http only on localhost), without query",
                )
            })?;
        Ok(GoogleSignInConfig {
            provider: self.provider,
            client_id: self.client_id,
            ux_mode: self.ux_mode,
            client_script,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(client_script: Option<&str>) -> GoogleSignInSection {
        GoogleSignInSection {
            provider: "google".into(),
            client_id: "123-abc.apps.googleusercontent.com".into(),
            ux_mode: UxMode::Popup,
            client_script: client_script.map(str::to_owned),
        }
    }

    #[test]
    fn google_is_the_default_library_and_its_directory_the_prefix() {
        let config = section(None).parse().unwrap();
        assert_eq!(config.client_script.as_str(), GOOGLE_CLIENT_SCRIPT);
        assert_eq!(config.library_prefix(), "https://accounts.google.com/gsi/");
        let config = section(Some("http://127.0.0.1:9000/idp/gsi/client"))
            .parse()
            .unwrap();
        assert_eq!(config.library_prefix(), "http://127.0.0.1:9000/idp/gsi/");
    }

    #[test]
    fn the_mode_is_read_and_written_as_google_spells_it() {
        #[derive(Deserialize)]
        struct Holder {
            mode: UxMode,
        }
        for (written, mode) in [("popup", UxMode::Popup), ("redirect", UxMode::Redirect)] {
            let read: Holder = toml::from_str(&format!("mode = {written:?}")).unwrap();
            assert_eq!(read.mode, mode);
            assert_eq!(mode.as_str(), written);
        }
        assert!(toml::from_str::<Holder>("mode = \"Popup\"").is_err());
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        for script in [
            "http://accounts.example.com/gsi/client",
            "https://accounts.google.com/gsi/",
            "https://accounts.google.com",
            "https://accounts.google.com/gsi/client?x=1",
            "https://user@accounts.google.com/gsi/client",
            "https://accounts.google.com/gsi;script-src/client",
            "https://accounts.google.com/gsi/client,'unsafe-inline'",
            "not a url",
        ] {
            let error = section(Some(script)).parse().unwrap_err().to_string();
            assert!(error.contains("client_script"), "{script}: {error}");
        }
        let mut bad = section(None);
        bad.client_id = "has space".into();
        assert!(bad.parse().unwrap_err().to_string().contains("client_id"));
        let mut bad = section(None);
        bad.client_id = String::new();
        assert!(bad.parse().unwrap_err().to_string().contains("client_id"));
        let mut bad = section(None);
        bad.provider = "no spaces".into();
        assert!(bad.parse().unwrap_err().to_string().contains("provider"));
    }
}
