//! GitHub: OAuth 2.0 without OpenID Connect. After the code exchange the
//! user is read from the REST API; the stable key is GitHub's numeric user id
//! (logins can be renamed), and the e-mail is the verified primary one from
//! `/user/emails`; with the `read:org` scope, its groups are the user's
//! organisations and teams. An access token from a front-end is first checked with
//! `POST /applications/{client_id}/token`, which only succeeds for tokens
//! issued to our OAuth app.

use super::http::ProviderHttp;
use super::oauth_app::OAuthApp;
use super::{AuthorizationRequest, CodeExchange, Identity, check_token_size, groups};
use crate::domain::error::AuthError;
use crate::metrics::Endpoint;
use common::config::ProviderConfig;
use common::reason::Reason;
use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

const GITHUB_ISSUER: &str = "https://github.com";

#[derive(Deserialize)]
struct GithubUser {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

/// An entry of `/user/orgs`, and a team's organisation.
#[derive(Deserialize)]
struct GithubOrg {
    login: String,
}

/// An entry of `/user/teams`.
#[derive(Deserialize)]
struct GithubTeam {
    slug: String,
    organization: GithubOrg,
}

/// Items per page of GitHub's list APIs (its maximum).
const PAGE_SIZE: usize = 100;

/// Pages read of one list before the user counts as having too many
/// groups (more than [`groups::MAX_GROUPS`] in any case).
const MAX_PAGES: usize = groups::MAX_GROUPS / PAGE_SIZE + 1;

// The pages read hold every group a user may have, and not a page more.
const _: () = assert!(MAX_PAGES * PAGE_SIZE > groups::MAX_GROUPS);
const _: () = assert!((MAX_PAGES - 1) * PAGE_SIZE <= groups::MAX_GROUPS);

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

/// A GitHub (or GitHub Enterprise) OAuth app.
pub struct GithubProvider {
    app: OAuthApp,
}

impl GithubProvider {
    /// A provider from validated configuration (which fills GitHub's URLs).
    pub fn new(config: ProviderConfig, http: ProviderHttp) -> Result<Self, AuthError> {
        let app = OAuthApp::new(config, http, "https://api.github.com", GITHUB_ISSUER)?;
        Ok(Self { app })
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.app.config
    }

    /// The authorization URL; GitHub supports PKCE S256 and ignores `nonce`.
    pub fn authorization_url(&self, req: &AuthorizationRequest<'_>) -> Url {
        self.app.authorization_url(req)
    }

    /// Exchanges the code and reads the user.
    pub async fn complete(&self, exchange: &CodeExchange<'_>) -> Result<Identity, AuthError> {
        let access_token = self.app.access_token(exchange).await?;
        self.read_user(&access_token).await
    }

    /// Checks that a front-end's access token was issued to our app, then
    /// reads the user.
    pub async fn verify_access_token(&self, token: &str) -> Result<Identity, AuthError> {
        check_token_size(token)?;
        let secret = self.app.config.client_secret.as_ref().ok_or_else(|| {
            AuthError::InvalidArgument(
                "GitHub access tokens can only be checked with a client secret".into(),
            )
        })?;
        let url = format!(
            "{}/applications/{}/token",
            self.app.api, self.app.config.client_id
        );
        let request = self
            .app
            .http
            .post(url)
            .basic_auth(&self.app.config.client_id, Some(secret.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .json(&serde_json::json!({ "access_token": token }));
        let response = self
            .app
            .http
            .send_json::<serde_json::Value>(
                request,
                Endpoint::GithubTokenCheck,
                "GitHub token check",
            )
            .await?;
        match response.status.as_u16() {
            // A 200 that is not JSON is not GitHub confirming the token;
            // one naming another app is not confirming it for us.
            200 => {
                let body = response.body.map_err(AuthError::ProviderUnavailable)?;
                if body["app"]["client_id"].as_str() != Some(self.app.config.client_id.as_str()) {
                    return Err(AuthError::rejected(
                        Reason::InvalidAccessToken,
                        "GitHub's token check names another application",
                    ));
                }
                self.read_user(token).await
            }
            404 | 422 => Err(AuthError::rejected(
                Reason::InvalidAccessToken,
                "the access token was not issued to this application",
            )),
            status => Err(AuthError::ProviderUnavailable(format!(
                "GitHub token check answered HTTP {status}"
            ))),
        }
    }

    async fn read_user(&self, access_token: &str) -> Result<Identity, AuthError> {
        let user: GithubUser = self.api_get(access_token, "/user").await?;
        let emails: Vec<GithubEmail> = self.api_get(access_token, "/user/emails").await?;
        let primary = emails.into_iter().find(|e| e.primary && e.verified);
        let (email, email_verified) = match primary {
            Some(e) => (e.email, true),
            None => (String::new(), false),
        };
        if self.app.config.require_email_verified && !email_verified {
            return Err(AuthError::rejected(
                Reason::EmailNotVerified,
                "the GitHub account has no verified primary e-mail address",
            ));
        }
        let groups = self.read_groups(access_token).await?;
        let allowed: Vec<String> = self
            .app
            .config
            .allowed_orgs
            .iter()
            .chain(&self.app.config.allowed_teams)
            .cloned()
            .collect();
        groups::require_allowed(&allowed, &groups, "allowed_orgs or allowed_teams")?;
        Ok(Identity {
            issuer: self.app.issuer.clone(),
            subject: user.id.to_string(),
            email,
            email_verified,
            name: user.name.filter(|n| !n.is_empty()).unwrap_or(user.login),
            picture: user.avatar_url.unwrap_or_default(),
            groups,
            provider_sid: String::new(),
            id_token: Default::default(),
        })
    }

    /// The user's organisations (`my-org`) and teams (`my-org/my-team`),
    /// lower case, when the `read:org` scope is requested; none otherwise.
    async fn read_groups(&self, access_token: &str) -> Result<Vec<String>, AuthError> {
        if !self.app.config.reads_github_orgs() {
            return Ok(Vec::new());
        }
        let orgs: Vec<GithubOrg> = self.api_get_all(access_token, "/user/orgs").await?;
        let teams: Vec<GithubTeam> = self.api_get_all(access_token, "/user/teams").await?;
        let names = orgs
            .into_iter()
            .map(|org| org.login.to_ascii_lowercase())
            .chain(teams.into_iter().map(|team| {
                format!("{}/{}", team.organization.login, team.slug).to_ascii_lowercase()
            }))
            .collect();
        groups::checked(names)
    }

    /// Every item of a paginated list API, page by page.
    async fn api_get_all<T: serde::de::DeserializeOwned>(
        &self,
        access_token: &str,
        path: &str,
    ) -> Result<Vec<T>, AuthError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let batch: Vec<T> = self
                .api_get(
                    access_token,
                    &format!("{path}?per_page={PAGE_SIZE}&page={page}"),
                )
                .await?;
            let last = batch.len() < PAGE_SIZE;
            all.extend(batch);
            if last {
                return Ok(all);
            }
        }
        Err(AuthError::rejected(
            Reason::GroupsMalformed,
            format!(
                "GitHub lists more than {} items at {path}",
                MAX_PAGES * PAGE_SIZE
            ),
        ))
    }

    async fn api_get<T: serde::de::DeserializeOwned>(
        &self,
        access_token: &str,
        path: &str,
    ) -> Result<T, AuthError> {
        let request = self
            .app
            .http
            .get(format!("{}{path}", self.app.api))
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json");
        let what = format!("GitHub API {path}");
        let response = self
            .app
            .http
            .send_json::<T>(request, Endpoint::GithubApi, &what)
            .await?;
        match response.status.as_u16() {
            200 => response.body.map_err(AuthError::ProviderUnavailable),
            401 | 403 => Err(AuthError::rejected(
                Reason::InvalidAccessToken,
                "GitHub refused the access token",
            )),
            status => Err(AuthError::ProviderUnavailable(format!(
                "{what} answered HTTP {status}"
            ))),
        }
    }
}
