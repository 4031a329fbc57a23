//! What the plain OAuth 2.0 kinds (GitHub, X) share: their endpoints from
//! the validated configuration, the authorization URL, and a code exchange
//! that must yield an access token. Neither issues ID tokens; each reads
//! the user from its own API with that token.

use super::http::ProviderHttp;
use super::token::exchange_code;
use super::{AuthorizationRequest, CodeExchange};
use crate::domain::error::AuthError;
use common::config::ProviderConfig;
use common::reason::Reason;
use url::Url;

/// One OAuth 2.0 app registered with a provider.
pub(super) struct OAuthApp {
    pub(super) config: ProviderConfig,
    pub(super) http: ProviderHttp,
    authorization_endpoint: Url,
    token_endpoint: Url,
    /// The API base URL, without a trailing `/`.
    pub(super) api: String,
    /// The issuer users are keyed under: the provider's public one for its
    /// public API, else the API base (GitHub Enterprise, tests).
    pub(super) issuer: String,
}

impl OAuthApp {
    /// The app from validated configuration (which fills the provider's
    /// URLs); `public_api` is the provider's own API base, whose users are
    /// keyed under `public_issuer`.
    pub(super) fn new(
        config: ProviderConfig,
        http: ProviderHttp,
        public_api: &str,
        public_issuer: &str,
    ) -> Result<Self, AuthError> {
        let missing = |what: &str| {
            AuthError::InvalidArgument(format!("provider {} has no {what}", config.id))
        };
        let authorization_endpoint = config
            .authorization_endpoint
            .clone()
            .ok_or_else(|| missing("authorization_endpoint"))?;
        let token_endpoint = config
            .token_endpoint
            .clone()
            .ok_or_else(|| missing("token_endpoint"))?;
        let api = config
            .api_base_url
            .as_ref()
            .ok_or_else(|| missing("api_base_url"))?
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let issuer = if api == public_api {
            public_issuer.to_owned()
        } else {
            api.clone()
        };
        Ok(Self {
            config,
            http,
            authorization_endpoint,
            token_endpoint,
            api,
            issuer,
        })
    }

    /// The authorization URL: PKCE S256, no `nonce` (there is no ID token
    /// to carry it back).
    pub(super) fn authorization_url(&self, req: &AuthorizationRequest<'_>) -> Url {
        super::authorization_url(&self.authorization_endpoint, &self.config, req, None)
    }

    /// Checks the response's `iss` when present (RFC 9207), exchanges the
    /// code and returns the access token.
    pub(super) async fn access_token(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<String, AuthError> {
        if exchange.iss.is_some_and(|iss| iss != self.issuer) {
            return Err(AuthError::rejected(
                Reason::IssuerMismatch,
                "the authorization response names another issuer (RFC 9207)",
            ));
        }
        let tokens = exchange_code(
            &self.http,
            &self.config,
            &self.token_endpoint,
            exchange.code,
            exchange.redirect_uri,
            exchange.code_verifier,
        )
        .await?;
        tokens.access_token.ok_or_else(|| {
            AuthError::rejected(
                Reason::MissingAccessToken,
                "the token response has no access token",
            )
        })
    }
}
