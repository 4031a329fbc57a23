//! The `[[providers]]` array: identity providers and every endpoint they use,
//! each overridable so tests and the development stack can point at a local
//! provider.

use super::{ConfigError, require_secure_url, secret};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// What protocol a provider speaks.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenID Connect provider, configured by `issuer` (discovery + JWKS).
    Oidc,
    /// The OIDC preset for Google: both issuer spellings, `hd` restriction,
    /// access tokens checked through `tokeninfo`.
    Google,
    /// GitHub: OAuth 2.0 without OIDC; the user comes from the user API.
    Github,
    /// X (Twitter): OAuth 2.0 with PKCE, without OIDC; the user comes from
    /// the X API v2 `users/me`. Also accepted as `kind = "x"`.
    #[serde(alias = "x")]
    Twitter,
}

impl ProviderKind {
    /// The name used in configuration and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Google => "google",
            Self::Github => "github",
            Self::Twitter => "twitter",
        }
    }

    /// Whether the kind speaks OpenID Connect (ID tokens, discovery,
    /// claims) rather than plain OAuth 2.0 and an API.
    pub fn is_openid(self) -> bool {
        matches!(self, Self::Oidc | Self::Google)
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuth {
    /// HTTP Basic with client id and secret (RFC 6749 2.3.1; OIDC default).
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
    /// A public client: PKCE only, no secret.
    None,
}

/// One `[[providers]]` entry as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ProviderSection {
    /// Short id used in URLs (`/auth/login/{id}`): lowercase letters,
    /// digits, `-` and `_`.
    id: String,
    /// Name shown on the login button. Default: the id.
    #[serde(default)]
    name: Option<String>,
    /// `oidc`, `google`, `github` or `twitter`.
    kind: ProviderKind,
    /// The OAuth client id registered with the provider.
    client_id: String,
    /// Name of the environment variable holding the client secret. Required
    /// unless `token_endpoint_auth = "none"`.
    #[serde(default)]
    client_secret_env: Option<String>,
    /// A file holding the client secret instead (a mounted secret);
    /// exclusive with `client_secret_env`.
    #[serde(default)]
    client_secret_file: Option<std::path::PathBuf>,
    /// Client authentication at the token endpoint. Default
    /// `client_secret_basic` (`client_secret_post` for GitHub).
    #[serde(default)]
    token_endpoint_auth: Option<TokenEndpointAuth>,
    /// OIDC issuer identifier; discovery is fetched from
    /// `{issuer}/.well-known/openid-configuration` and its `issuer` must
    /// equal this exactly. Required for `oidc`; Google's by default for
    /// `google`; not used by `github`.
    /// Kept as text: issuers compare as exact strings (a trailing `/` matters).
    #[serde(default)]
    issuer: Option<String>,
    /// Scopes requested. Default `openid email profile` (OIDC),
    /// `read:user user:email` (GitHub) or `tweet.read users.read` (X).
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Overrides the discovered (or GitHub's) authorization endpoint.
    #[serde(default)]
    authorization_endpoint: Option<Url>,
    /// Overrides the discovered (or GitHub's) token endpoint.
    #[serde(default)]
    token_endpoint: Option<Url>,
    /// Overrides the discovered userinfo endpoint.
    #[serde(default)]
    userinfo_endpoint: Option<Url>,
    /// Overrides the discovered JWKS URI.
    #[serde(default)]
    jwks_uri: Option<Url>,
    /// Google-style tokeninfo endpoint used to verify access tokens (and
    /// their audience). Default Google's for `google`; unset (access tokens
    /// refused) for `oidc` unless given.
    #[serde(default)]
    tokeninfo_endpoint: Option<Url>,
    /// GitHub or X API base URL. Default `https://api.github.com` or
    /// `https://api.x.com`.
    #[serde(default)]
    api_base_url: Option<Url>,
    /// Google Workspace domain: when set, the ID token's `hd` claim must
    /// equal it.
    #[serde(default)]
    hosted_domain: Option<String>,
    /// Refuse logins whose e-mail the provider does not mark verified.
    /// Default true.
    #[serde(default = "default_true")]
    require_email_verified: bool,
    /// When non-empty, the only redirect URIs a login may use (exact match).
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// OpenID providers: the ID token (or userinfo) claim holding the
    /// user's groups as a flat list of strings, e.g. `groups`. Unset: the
    /// user has no groups from this provider.
    #[serde(default)]
    groups_claim: Option<String>,
    /// OpenID providers: when non-empty, only users in one of these groups
    /// (exact match) may log in. Needs `groups_claim`.
    #[serde(default)]
    allowed_groups: Vec<String>,
    /// GitHub: when `allowed_orgs` or `allowed_teams` is non-empty, only
    /// members of one of these organisations (or teams, `org/team-slug`)
    /// may log in. Compared without case; needs the `read:org` scope.
    #[serde(default)]
    allowed_orgs: Vec<String>,
    /// GitHub: see `allowed_orgs`.
    #[serde(default)]
    allowed_teams: Vec<String>,
    /// OpenID providers: accept OpenID Connect Back-Channel Logout tokens
    /// at `POST /auth/backchannel-logout/{id}`. Default false.
    #[serde(default)]
    backchannel_logout: bool,
    /// OpenID providers: after a local logout, send the browser to the
    /// provider's `end_session_endpoint` (RP-Initiated Logout 1.0), which
    /// then returns it here. Must be registered with the provider.
    #[serde(default)]
    post_logout_redirect_uri: Option<Url>,
    /// Overrides the discovered `end_session_endpoint`.
    #[serde(default)]
    end_session_endpoint: Option<Url>,
    /// Google: read the user's Google Workspace groups at login (Cloud
    /// Identity `searchDirectGroups` with the user's own token and the
    /// `cloud-identity.groups.readonly` scope). Default false.
    #[serde(default)]
    workspace_groups: bool,
    /// The Cloud Identity API base. Default
    /// `https://cloudidentity.googleapis.com`.
    #[serde(default)]
    cloud_identity_url: Option<Url>,
}

/// One identity provider, parsed: the client secret read from its
/// environment variable and the endpoints of the `google` and `github`
/// presets filled in. The keys are documented on [`ProviderSection`].
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: Option<String>,
    /// `kind`.
    pub kind: ProviderKind,
    /// `client_id`.
    pub client_id: String,
    /// The client secret read from `client_secret_env`; `None` for a
    /// public client (`token_endpoint_auth = "none"`).
    pub client_secret: Option<SecretString>,
    /// `token_endpoint_auth`.
    pub token_endpoint_auth: Option<TokenEndpointAuth>,
    /// `issuer`.
    pub issuer: Option<String>,
    /// `scopes`.
    pub scopes: Option<Vec<String>>,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<Url>,
    /// `token_endpoint`.
    pub token_endpoint: Option<Url>,
    /// `userinfo_endpoint`.
    pub userinfo_endpoint: Option<Url>,
    /// `jwks_uri`.
    pub jwks_uri: Option<Url>,
    /// `tokeninfo_endpoint`.
    pub tokeninfo_endpoint: Option<Url>,
    /// `api_base_url`.
    pub api_base_url: Option<Url>,
    /// `hosted_domain`.
    pub hosted_domain: Option<String>,
    /// `require_email_verified`.
    pub require_email_verified: bool,
    /// `redirect_uris`.
    pub redirect_uris: Vec<String>,
    /// `groups_claim`.
    pub groups_claim: Option<String>,
    /// `allowed_groups`.
    pub allowed_groups: Vec<String>,
    /// `allowed_orgs`, lower case.
    pub allowed_orgs: Vec<String>,
    /// `allowed_teams` (`org/team-slug`), lower case.
    pub allowed_teams: Vec<String>,
    /// `backchannel_logout`.
    pub backchannel_logout: bool,
    /// `post_logout_redirect_uri`.
    pub post_logout_redirect_uri: Option<Url>,
    /// `end_session_endpoint`.
    pub end_session_endpoint: Option<Url>,
    /// `workspace_groups`.
    pub workspace_groups: bool,
    /// `cloud_identity_url`, filled in for `workspace_groups`.
    pub cloud_identity_url: Option<Url>,
}

fn default_true() -> bool {
    true
}

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GOOGLE_TOKENINFO: &str = "https://oauth2.googleapis.com/tokeninfo";
const CLOUD_IDENTITY: &str = "https://cloudidentity.googleapis.com";
/// The scope under which a user may look up their own group memberships.
const GOOGLE_GROUPS_SCOPE: &str = "https://www.googleapis.com/auth/cloud-identity.groups.readonly";
const GITHUB_AUTHORIZE: &str = "https://github.com/login/oauth/authorize";
const GITHUB_TOKEN: &str = "https://github.com/login/oauth/access_token";
const GITHUB_API: &str = "https://api.github.com";
const GITHUB_ORG_SCOPE: &str = "read:org";
const X_AUTHORIZE: &str = "https://x.com/i/oauth2/authorize";
const X_TOKEN: &str = "https://api.x.com/2/oauth2/token";
const X_API: &str = "https://api.x.com";

impl ProviderConfig {
    /// The display name.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// The token endpoint client authentication in effect.
    pub fn token_auth(&self) -> TokenEndpointAuth {
        self.token_endpoint_auth
            .unwrap_or(default_token_auth(self.kind))
    }

    /// The scopes in effect. GitHub's default adds `read:org` when the
    /// login is limited to organisations or teams.
    pub fn scopes(&self) -> Vec<String> {
        match (&self.scopes, self.kind) {
            (Some(s), _) => s.clone(),
            (None, ProviderKind::Github) => {
                let mut scopes = vec!["read:user".to_owned(), "user:email".to_owned()];
                if self.limits_github_orgs() {
                    scopes.push(GITHUB_ORG_SCOPE.to_owned());
                }
                scopes
            }
            (None, ProviderKind::Twitter) => vec!["tweet.read".into(), "users.read".into()],
            (None, _) => {
                let mut scopes = vec![
                    "openid".to_owned(),
                    "email".to_owned(),
                    "profile".to_owned(),
                ];
                if self.workspace_groups {
                    scopes.push(GOOGLE_GROUPS_SCOPE.to_owned());
                }
                scopes
            }
        }
    }

    /// Whether the login reads the user's GitHub organisations and teams
    /// (as groups): exactly when the `read:org` scope is requested, since
    /// GitHub shows private memberships only with it.
    pub fn reads_github_orgs(&self) -> bool {
        self.kind == ProviderKind::Github && self.scopes().iter().any(|s| s == GITHUB_ORG_SCOPE)
    }

    fn limits_github_orgs(&self) -> bool {
        !self.allowed_orgs.is_empty() || !self.allowed_teams.is_empty()
    }
}

impl ProviderSection {
    /// Checks every value, reads the client secret from `env` and fills in
    /// the presets' endpoints; the key of an error starts with `key`
    /// (`providers[i]`).
    pub(super) fn parse(
        mut self,
        key: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProviderConfig, ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        if !super::is_valid_provider_id(&self.id) {
            return Err(ConfigError::invalid(
                k("id"),
                "must be 1-32 characters of a-z, 0-9, '-' or '_'",
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::invalid(k("client_id"), "must not be empty"));
        }
        let token_auth = self
            .token_endpoint_auth
            .unwrap_or(default_token_auth(self.kind));
        let client_secret = secret(
            key,
            "client_secret",
            self.client_secret_env.as_deref(),
            self.client_secret_file.as_deref(),
            env,
        )?;
        match (token_auth, &client_secret) {
            (TokenEndpointAuth::None, Some(_)) => {
                return Err(ConfigError::invalid(
                    k("client_secret_env"),
                    "must not be set when token_endpoint_auth = \"none\"",
                ));
            }
            (TokenEndpointAuth::None, None) | (_, Some(_)) => {}
            (_, None) => {
                return Err(ConfigError::invalid(
                    k("client_secret_env"),
                    "required: name the environment variable (or with client_secret_file, \
                     the file) holding the client secret (or set token_endpoint_auth = \
                     \"none\" for a public client)",
                ));
            }
        }
        match self.kind {
            ProviderKind::Oidc => {
                if self.issuer.is_none() {
                    return Err(ConfigError::invalid(
                        k("issuer"),
                        "required for kind = \"oidc\"",
                    ));
                }
            }
            ProviderKind::Google => {
                if self.issuer.is_none() {
                    self.issuer = Some(GOOGLE_ISSUER.to_owned());
                }
                if self.tokeninfo_endpoint.is_none() {
                    self.tokeninfo_endpoint = Url::parse(GOOGLE_TOKENINFO).ok();
                }
                if self.workspace_groups && self.cloud_identity_url.is_none() {
                    self.cloud_identity_url = Url::parse(CLOUD_IDENTITY).ok();
                }
            }
            ProviderKind::Github => {
                self.oauth_preset(key, "GitHub", GITHUB_AUTHORIZE, GITHUB_TOKEN, GITHUB_API)?
            }
            ProviderKind::Twitter => self.oauth_preset(key, "X", X_AUTHORIZE, X_TOKEN, X_API)?,
        }
        if let Some(issuer) = &self.issuer {
            let parsed = Url::parse(issuer)
                .map_err(|e| ConfigError::invalid(k("issuer"), format!("not a URL: {e}")))?;
            require_secure_url(&k("issuer"), &parsed)?;
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(ConfigError::invalid(
                    k("issuer"),
                    "an issuer has no query or fragment (OpenID Connect Discovery 2)",
                ));
            }
        }
        for (field, url) in [
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("jwks_uri", &self.jwks_uri),
            ("tokeninfo_endpoint", &self.tokeninfo_endpoint),
            ("api_base_url", &self.api_base_url),
        ] {
            if let Some(url) = url {
                require_secure_url(&k(field), url)?;
            }
        }
        let openid = match &self.scopes {
            Some(scopes) => scopes.iter().any(|s| s == "openid"),
            None => true,
        };
        if self.kind.is_openid() && !openid {
            return Err(ConfigError::invalid(
                k("scopes"),
                "an OpenID Connect provider needs the \"openid\" scope",
            ));
        }
        if self.backchannel_logout && !self.kind.is_openid() {
            return Err(ConfigError::invalid(
                k("backchannel_logout"),
                "only OpenID providers send logout tokens",
            ));
        }
        for (field, url) in [
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("end_session_endpoint", &self.end_session_endpoint),
        ] {
            if let Some(url) = url {
                if !self.kind.is_openid() {
                    return Err(ConfigError::invalid(
                        k(field),
                        "only OpenID providers have an end_session_endpoint",
                    ));
                }
                require_secure_url(&k(field), url)?;
            }
        }
        if self.hosted_domain.is_some() && self.kind != ProviderKind::Google {
            return Err(ConfigError::invalid(
                k("hosted_domain"),
                "only applies to kind = \"google\"",
            ));
        }
        for (i, uri) in self.redirect_uris.iter().enumerate() {
            let parsed = Url::parse(uri).map_err(|e| {
                ConfigError::invalid(format!("{key}.redirect_uris[{i}]"), e.to_string())
            })?;
            require_secure_url(&format!("{key}.redirect_uris[{i}]"), &parsed)?;
        }
        self.parse_groups(key)?;
        let config = self.into_config(client_secret);
        if config.limits_github_orgs() && !config.reads_github_orgs() {
            return Err(ConfigError::invalid(
                k("scopes"),
                "allowed_orgs and allowed_teams need the \"read:org\" scope \
                 (or leave `scopes` unset for the default)",
            ));
        }
        Ok(config)
    }

    /// Fills the endpoints of an OAuth 2.0 provider that is not an OpenID
    /// one (GitHub, X), refusing an `issuer`.
    fn oauth_preset(
        &mut self,
        key: &str,
        name: &str,
        authorize: &str,
        token: &str,
        api: &str,
    ) -> Result<(), ConfigError> {
        if self.issuer.is_some() {
            return Err(ConfigError::invalid(
                format!("{key}.issuer"),
                format!("{name} is not an OpenID provider; remove `issuer`"),
            ));
        }
        if self.authorization_endpoint.is_none() {
            self.authorization_endpoint = Url::parse(authorize).ok();
        }
        if self.token_endpoint.is_none() {
            self.token_endpoint = Url::parse(token).ok();
        }
        if self.api_base_url.is_none() {
            self.api_base_url = Url::parse(api).ok();
        }
        Ok(())
    }

    /// Checks the group keys against the kind and normalises GitHub's
    /// names to lower case (GitHub compares them without case).
    fn parse_groups(&mut self, key: &str) -> Result<(), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let github = self.kind == ProviderKind::Github;
        if !self.kind.is_openid() && self.groups_claim.is_some() {
            return Err(ConfigError::invalid(
                k("groups_claim"),
                "only OpenID providers have claims (GitHub's groups are organisations and \
                 teams, with scope \"read:org\")",
            ));
        }
        if !self.kind.is_openid() && !self.allowed_groups.is_empty() {
            return Err(ConfigError::invalid(
                k("allowed_groups"),
                "only for OpenID providers (GitHub: use allowed_orgs or allowed_teams)",
            ));
        }
        if !github {
            for (field, list) in [
                ("allowed_orgs", &self.allowed_orgs),
                ("allowed_teams", &self.allowed_teams),
            ] {
                if !list.is_empty() {
                    return Err(ConfigError::invalid(
                        k(field),
                        "only applies to kind = \"github\" (use groups_claim and allowed_groups)",
                    ));
                }
            }
        }
        if self
            .groups_claim
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(ConfigError::invalid(k("groups_claim"), "must not be empty"));
        }
        if self.kind != ProviderKind::Google {
            for (field, set) in [
                ("workspace_groups", self.workspace_groups),
                ("cloud_identity_url", self.cloud_identity_url.is_some()),
            ] {
                if set {
                    return Err(ConfigError::invalid(
                        k(field),
                        "only applies to kind = \"google\"",
                    ));
                }
            }
        }
        if let Some(url) = &self.cloud_identity_url {
            require_secure_url(&k("cloud_identity_url"), url)?;
        }
        let asks_for_groups = self
            .scopes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|s| s == GOOGLE_GROUPS_SCOPE));
        if self.workspace_groups && !asks_for_groups {
            return Err(ConfigError::invalid(
                k("scopes"),
                format!(
                    "workspace_groups needs the {GOOGLE_GROUPS_SCOPE:?} scope \
                     (or leave `scopes` unset for the default)"
                ),
            ));
        }
        if !self.allowed_groups.is_empty() && self.groups_claim.is_none() && !self.workspace_groups
        {
            return Err(ConfigError::invalid(
                k("allowed_groups"),
                "needs groups_claim (name the claim the provider puts groups in), \
                 or workspace_groups for Google",
            ));
        }
        for (i, team) in self.allowed_teams.iter().enumerate() {
            let well_formed = team.split_once('/').is_some_and(|(org, slug)| {
                !org.is_empty() && !slug.is_empty() && !slug.contains('/')
            });
            if !well_formed {
                return Err(ConfigError::invalid(
                    format!("{key}.allowed_teams[{i}]"),
                    "must be \"org/team-slug\"",
                ));
            }
        }
        for list in [&mut self.allowed_orgs, &mut self.allowed_teams] {
            for name in list.iter_mut() {
                name.make_ascii_lowercase();
            }
        }
        Ok(())
    }

    fn into_config(self, client_secret: Option<SecretString>) -> ProviderConfig {
        ProviderConfig {
            id: self.id,
            name: self.name,
            kind: self.kind,
            client_id: self.client_id,
            client_secret,
            token_endpoint_auth: self.token_endpoint_auth,
            issuer: self.issuer,
            scopes: self.scopes,
            authorization_endpoint: self.authorization_endpoint,
            token_endpoint: self.token_endpoint,
            userinfo_endpoint: self.userinfo_endpoint,
            jwks_uri: self.jwks_uri,
            tokeninfo_endpoint: self.tokeninfo_endpoint,
            api_base_url: self.api_base_url,
            hosted_domain: self.hosted_domain,
            require_email_verified: self.require_email_verified,
            redirect_uris: self.redirect_uris,
            groups_claim: self.groups_claim,
            allowed_groups: self.allowed_groups,
            allowed_orgs: self.allowed_orgs,
            allowed_teams: self.allowed_teams,
            backchannel_logout: self.backchannel_logout,
            post_logout_redirect_uri: self.post_logout_redirect_uri,
            end_session_endpoint: self.end_session_endpoint,
            workspace_groups: self.workspace_groups,
            cloud_identity_url: self.cloud_identity_url,
        }
    }
}

/// Client authentication at the token endpoint when the file does not say.
fn default_token_auth(kind: ProviderKind) -> TokenEndpointAuth {
    match kind {
        ProviderKind::Github => TokenEndpointAuth::ClientSecretPost,
        _ => TokenEndpointAuth::ClientSecretBasic,
    }
}
