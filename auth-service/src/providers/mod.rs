//! Identity providers: what each kind needs to start a login, finish one and
//! verify a token a front-end already holds. Each kind turns a provider's
//! answer into an [`Identity`] or a specific [`Rejection`](crate::domain::error::Rejection).

mod claims;
pub mod github;
pub mod google;
mod google_groups;
pub mod groups;
pub mod http;
pub mod jwks;
pub mod logout_token;
mod oauth_app;
pub mod oidc;
mod token;
pub mod twitter;

use crate::domain::IdTokenHint;
use crate::domain::clock::UnixTime;
use crate::domain::error::AuthError;
use crate::metrics::Metrics;
use common::config::{ProviderConfig, ProviderKind};
use common::reason::Reason;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The longest provider token (ID token, access token, code) we look at.
/// Larger input is refused before any parsing or crypto.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Who the provider says the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's issuer, canonical form (the configured one).
    pub issuer: String,
    /// The provider's stable subject.
    pub subject: String,
    /// E-mail, possibly empty.
    pub email: String,
    /// Whether the provider vouched for the e-mail.
    pub email_verified: bool,
    /// Display name, possibly empty.
    pub name: String,
    /// Avatar URL, possibly empty.
    pub picture: String,
    /// Groups the provider reports, possibly none (see [`groups`]).
    pub groups: Vec<String>,
    /// The provider's session id (`sid`), possibly empty: what a
    /// back-channel logout token names.
    pub provider_sid: String,
    /// The verified ID token, empty for providers without them: the
    /// `id_token_hint` of RP-initiated logout.
    pub id_token: IdTokenHint,
}

/// What goes into an authorization request.
pub struct AuthorizationRequest<'a> {
    /// CSRF `state` (RFC 6749 10.12).
    pub state: &'a str,
    /// OIDC replay `nonce`.
    pub nonce: &'a str,
    /// PKCE S256 challenge (RFC 7636 4.2).
    pub code_challenge: &'a str,
    /// Exact redirect URI.
    pub redirect_uri: &'a str,
}

/// A callback to complete.
pub struct CodeExchange<'a> {
    /// The authorization code.
    pub code: &'a str,
    /// The `iss` parameter of the authorization response, if any (RFC 9207).
    pub iss: Option<&'a str>,
    /// The redirect URI used in the authorization request.
    pub redirect_uri: &'a str,
    /// The PKCE verifier.
    pub code_verifier: &'a str,
    /// The nonce sent in the authorization request.
    pub nonce: &'a str,
}

/// Clock and tolerance for token checks.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    /// The current time.
    pub now: UnixTime,
    /// Allowed clock difference with the provider, in seconds.
    pub skew: i64,
}

/// One configured provider.
pub enum Provider {
    /// OIDC and its Google preset.
    Oidc(oidc::OidcProvider),
    /// GitHub OAuth.
    Github(github::GithubProvider),
    /// X (Twitter) OAuth 2.0.
    Twitter(twitter::TwitterProvider),
}

impl Provider {
    /// Builds a provider from its validated configuration.
    pub fn new(config: ProviderConfig, http: http::ProviderHttp) -> Result<Self, AuthError> {
        Ok(match config.kind {
            ProviderKind::Oidc | ProviderKind::Google => {
                Self::Oidc(oidc::OidcProvider::new(config, http)?)
            }
            ProviderKind::Github => Self::Github(github::GithubProvider::new(config, http)?),
            ProviderKind::Twitter => Self::Twitter(twitter::TwitterProvider::new(config, http)?),
        })
    }

    /// The provider's configuration.
    pub fn config(&self) -> &ProviderConfig {
        match self {
            Self::Oidc(p) => p.config(),
            Self::Github(p) => p.config(),
            Self::Twitter(p) => p.config(),
        }
    }

    /// The authorization URL to send the browser to.
    pub async fn authorization_url(
        &self,
        req: &AuthorizationRequest<'_>,
    ) -> Result<Url, AuthError> {
        match self {
            Self::Oidc(p) => p.authorization_url(req).await,
            Self::Github(p) => Ok(p.authorization_url(req)),
            Self::Twitter(p) => Ok(p.authorization_url(req)),
        }
    }

    /// Exchanges an authorization code and verifies the result.
    pub async fn complete(
        &self,
        exchange: &CodeExchange<'_>,
        checks: Checks,
    ) -> Result<Identity, AuthError> {
        match self {
            Self::Oidc(p) => p.complete(exchange, checks).await,
            Self::Github(p) => p.complete(exchange).await,
            Self::Twitter(p) => p.complete(exchange).await,
        }
    }

    /// Verifies an ID token the front-end holds (no nonce: the front-end
    /// flow has none of ours).
    pub async fn verify_id_token(
        &self,
        token: &str,
        checks: Checks,
    ) -> Result<Identity, AuthError> {
        match self {
            Self::Oidc(p) => p.verify_id_token_for_exchange(token, checks).await,
            Self::Github(_) => Err(AuthError::InvalidArgument(
                "GitHub issues no ID tokens; send an access token".into(),
            )),
            Self::Twitter(p) => Err(p.refuse_frontend_token()),
        }
    }

    /// Verifies an access token the front-end holds, including that it was
    /// issued to our client id.
    pub async fn verify_access_token(
        &self,
        token: &str,
        checks: Checks,
    ) -> Result<Identity, AuthError> {
        match self {
            Self::Oidc(p) => p.verify_access_token(token, checks).await,
            Self::Github(p) => p.verify_access_token(token).await,
            Self::Twitter(p) => Err(p.refuse_frontend_token()),
        }
    }

    /// Where to send the browser after a local logout so the provider logs
    /// the user out too (RP-Initiated Logout 1.0), when configured.
    pub async fn end_session_url(&self, id_token: &IdTokenHint) -> Option<Url> {
        match self {
            Self::Oidc(p) => p.end_session_url(id_token).await,
            Self::Github(_) | Self::Twitter(_) => None,
        }
    }

    /// Verifies a back-channel logout token from this provider.
    pub async fn verify_logout_token(
        &self,
        token: &str,
        checks: Checks,
    ) -> Result<logout_token::Logout, AuthError> {
        match self {
            Self::Oidc(p) => p.verify_logout_token(token, checks).await,
            Self::Github(_) | Self::Twitter(_) => Err(AuthError::InvalidArgument(format!(
                "provider {} sends no logout tokens",
                self.config().id
            ))),
        }
    }
}

/// All configured providers, by id.
pub struct Providers(Vec<Arc<Provider>>);

impl Providers {
    /// Builds every configured provider with one shared HTTP client, each
    /// recording its calls into `metrics` under its id.
    pub fn new(
        configs: &[ProviderConfig],
        timeout: Duration,
        metrics: &Arc<Metrics>,
    ) -> Result<Self, AuthError> {
        let client = http::client(timeout).map_err(|e| {
            AuthError::ProviderUnavailable(format!("cannot build HTTP client: {e}"))
        })?;
        configs
            .iter()
            .map(|c| {
                let http = http::ProviderHttp::new(client.clone(), metrics.provider(&c.id));
                Provider::new(c.clone(), http).map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The provider with this id.
    pub fn get(&self, id: &str) -> Result<Arc<Provider>, AuthError> {
        self.0
            .iter()
            .find(|p| p.config().id == id)
            .cloned()
            .ok_or_else(|| AuthError::InvalidArgument(format!("unknown provider {id:?}")))
    }

    /// Every provider, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.0.iter()
    }
}

/// The authorization request URL (RFC 6749 4.1.1 with PKCE, RFC 7636 4.3;
/// OIDC Core 3.1.2.1 when a `nonce` is given).
pub(crate) fn authorization_url(
    endpoint: &Url,
    config: &ProviderConfig,
    req: &AuthorizationRequest<'_>,
    nonce: Option<&str>,
) -> Url {
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", req.redirect_uri)
            .append_pair("scope", &config.scopes().join(" "))
            .append_pair("state", req.state);
        if let Some(nonce) = nonce {
            query.append_pair("nonce", nonce);
        }
        query
            .append_pair("code_challenge", req.code_challenge)
            .append_pair("code_challenge_method", "S256");
    }
    url
}

/// Checks that a URL a provider gave us (discovery) is safe to call.
pub(crate) fn provider_url(text: &str, what: &str) -> Result<Url, AuthError> {
    let url = Url::parse(text)
        .map_err(|_| AuthError::ProviderUnavailable(format!("discovery: {what} is not a URL")))?;
    if common::config::is_https_or_loopback_http(&url) {
        Ok(url)
    } else {
        Err(AuthError::ProviderUnavailable(format!(
            "discovery: {what} must use https"
        )))
    }
}

/// Refuses oversized tokens before anything else looks at them.
pub(crate) fn check_token_size(token: &str) -> Result<(), AuthError> {
    if token.is_empty() {
        return Err(AuthError::InvalidArgument("the token is empty".into()));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::rejected(
            Reason::TokenTooLarge,
            format!("tokens larger than {MAX_TOKEN_BYTES} bytes are refused"),
        ));
    }
    Ok(())
}
