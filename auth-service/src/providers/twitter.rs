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

use super::http::ProviderHttp;
use super::oauth_app::OAuthApp;
use super::{AuthorizationRequest, CodeExchange, Identity};
use crate::domain::error::AuthError;
use crate::metrics::Endpoint;
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
    app: OAuthApp,
    /// `users/me` with the fields we read.
    users_me: Url,
}

impl TwitterProvider {
    /// A provider from validated configuration (which fills X's URLs).
    pub fn new(config: ProviderConfig, http: ProviderHttp) -> Result<Self, AuthError> {
        let mut fields = vec!["id", "name", "username", "profile_image_url"];
        if config.scopes().iter().any(|s| s == EMAIL_SCOPE) {
            fields.push("confirmed_email");
        }
        let app = OAuthApp::new(config, http, "https://api.x.com", X_ISSUER)?;
        let users_me = Url::parse_with_params(
            &format!("{}/2/users/me", app.api),
            [("user.fields", fields.join(","))],
        )
        .map_err(|e| AuthError::InvalidArgument(format!("api_base_url: {e}")))?;
        Ok(Self { app, users_me })
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.app.config
    }

    /// The authorization URL (PKCE S256; X ignores `nonce`).
    pub fn authorization_url(&self, req: &AuthorizationRequest<'_>) -> Url {
        self.app.authorization_url(req)
    }

    /// Exchanges the code and reads the user.
    pub async fn complete(&self, exchange: &CodeExchange<'_>) -> Result<Identity, AuthError> {
        let access_token = self.app.access_token(exchange).await?;
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
            .app
            .http
            .get(self.users_me.clone())
            .bearer_auth(access_token);
        let response = self
            .app
            .http
            .send_json::<UsersMe>(request, Endpoint::XApi, "X API users/me")
            .await?;
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
            issuer: self.app.issuer.clone(),
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
