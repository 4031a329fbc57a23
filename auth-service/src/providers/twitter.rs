//! X (Twitter): OAuth 2.0 authorization code with PKCE S256, which X
//! requires, and no OpenID Connect. After the code exchange (a confidential
//! client authenticates with HTTP Basic) the user is read from the X API v2
//! `users/me`; the stable key is X's numeric user id (usernames can be
//! renamed). X reports an e-mail (`confirmed_email`) only to an app granted
//! the `users.email` scope, so a user without one logs in; e-mail rules and
//! roles simply do not match them.
//!
//! An access token a front-end already holds is refused: X has no endpoint
//! that says which app a user token was issued to (no introspection, no
//! tokeninfo), and a token issued to another app must never log anyone in.

use super::http::send_json;
use super::token::exchange_code;
use super::{AuthorizationRequest, CodeExchange, Identity};
use crate::domain::error::AuthError;
use common::config::ProviderConfig;
use common::reason::Reason;
use serde::Deserialize;
use url::Url;

const X_ISSUER: &str = "https://x.com";

/// The scope under which X reports the e-mail address.
const EMAIL_SCOPE: &str = "users.email";

/// `users/me`'s answer: the user under `data`.
#[derive(Deserialize)]
struct UsersMe {
    data: Option<XUser>,
}

#[derive(Deserialize)]
struct XUser {
    id: String,
    username: Option<String>,
    name: Option<String>,
    profile_image_url: Option<String>,
    /// Present only with the `users.email` scope; X has confirmed the
    /// user controls it.
    confirmed_email: Option<String>,
}

/// An X app (OAuth 2.0 client).
pub struct TwitterProvider {
    config: ProviderConfig,
    http: reqwest::Client,
    authorization_endpoint: Url,
    token_endpoint: Url,
    /// `users/me` with the fields we read.
    users_me: Url,
    /// `https://x.com`, or the API base for tests.
    issuer: String,
}

impl TwitterProvider {
    /// A provider from validated configuration (which fills X's URLs).
    pub fn new(config: ProviderConfig, http: reqwest::Client) -> Result<Self, AuthError> {
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
            .clone()
            .ok_or_else(|| missing("api_base_url"))?;
        let api = api.as_str().trim_end_matches('/').to_owned();
        let mut fields = vec!["id", "name", "username", "profile_image_url"];
        if config.scopes().iter().any(|s| s == EMAIL_SCOPE) {
            fields.push("confirmed_email");
        }
        let users_me = Url::parse_with_params(
            &format!("{api}/2/users/me"),
            [("user.fields", fields.join(","))],
        )
        .map_err(|e| AuthError::InvalidArgument(format!("api_base_url: {e}")))?;
        let issuer = if api == "https://api.x.com" {
            X_ISSUER.to_owned()
        } else {
            api
        };
        Ok(Self {
            config,
            http,
            authorization_endpoint,
            token_endpoint,
            users_me,
            issuer,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The authorization URL (PKCE S256; X ignores `nonce`).
    pub fn authorization_url(&self, req: &AuthorizationRequest<'_>) -> Url {
        super::authorization_url(&self.authorization_endpoint, &self.config, req, None)
    }

    /// Exchanges the code and reads the user.
    pub async fn complete(&self, exchange: &CodeExchange<'_>) -> Result<Identity, AuthError> {
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
        let access_token = tokens.access_token.ok_or_else(|| {
            AuthError::rejected(
                Reason::MissingAccessToken,
                "the token response has no access token",
            )
        })?;
        self.read_user(&access_token).await
    }

    /// A front-end's X token: refused, see the module documentation.
    pub fn refuse_frontend_token(&self) -> AuthError {
        AuthError::rejected(
            Reason::TokenNotVerifiable,
            "X cannot confirm which app an access token was issued to, so X tokens from a \
             front-end are refused; log in with the code flow (/auth/login/{provider})",
        )
    }

    async fn read_user(&self, access_token: &str) -> Result<Identity, AuthError> {
        let request = self
            .http
            .get(self.users_me.clone())
            .bearer_auth(access_token);
        let response = send_json::<UsersMe>(request, "X API users/me").await?;
        let user = match response.status.as_u16() {
            200 => response
                .body
                .map_err(AuthError::ProviderUnavailable)?
                .data
                .ok_or_else(|| {
                    AuthError::ProviderUnavailable("X API users/me returned no user".into())
                })?,
            401 | 403 => {
                return Err(AuthError::rejected(
                    Reason::InvalidAccessToken,
                    "X refused the access token",
                ));
            }
            status => {
                return Err(AuthError::ProviderUnavailable(format!(
                    "X API users/me answered HTTP {status}"
                )));
            }
        };
        // X user ids are decimal numbers (as strings, being over 2^53).
        if user.id.is_empty() || !user.id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::rejected(
                Reason::MissingSub,
                "X API users/me returned no numeric user id",
            ));
        }
        let email = user.confirmed_email.unwrap_or_default();
        // X only reports an address it has confirmed: there is no present
        // but unverified e-mail for `require_email_verified` to refuse.
        let email_verified = !email.is_empty();
        let username = user.username.unwrap_or_default();
        Ok(Identity {
            issuer: self.issuer.clone(),
            subject: user.id,
            email,
            email_verified,
            name: user.name.filter(|n| !n.is_empty()).unwrap_or(username),
            picture: user.profile_image_url.unwrap_or_default(),
            groups: Vec::new(),
            provider_sid: String::new(),
            id_token: Default::default(),
        })
    }
}
