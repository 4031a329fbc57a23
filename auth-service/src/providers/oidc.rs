//! OpenID Connect providers by issuer: discovery, the code flow, ID token
//! verification (OIDC Core 3.1.3.7) and userinfo (5.3.2). Google is this kind
//! with a preset (see `google.rs`).

use super::claims::{self, Expected, IdTokenClaims};
use super::http::ProviderHttp;
use super::jwks::JwksCache;
use super::token::exchange_code;
use super::{
    AuthorizationRequest, Checks, CodeExchange, Identity, check_token_size, google, google_groups,
    groups, logout_token, provider_url,
};
use crate::domain::IdTokenHint;
use crate::domain::error::AuthError;
use crate::metrics::Endpoint;
use common::config::ProviderConfig;
use common::reason::Reason;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::Deserialize;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::OnceCell;
use url::Url;

/// Signature algorithms we verify: asymmetric only. HMAC is never accepted
/// for provider tokens (its key would be our client secret or, in the
/// algorithm-confusion attack, a public key).
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The parts of the discovery document we use (OIDC Discovery 3).
#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    end_session_endpoint: Option<String>,
}

/// Endpoints and keys, from discovery with configured overrides.
struct Metadata {
    authorization_endpoint: Url,
    token_endpoint: Url,
    userinfo_endpoint: Option<Url>,
    algorithms: Vec<Algorithm>,
    iss_parameter_supported: bool,
    /// RP-Initiated Logout 1.0.
    end_session_endpoint: Option<Url>,
    jwks: JwksCache,
}

/// The userinfo answer (OIDC Core 5.3.2).
#[derive(Deserialize)]
struct UserInfo {
    sub: Option<String>,
    email: Option<String>,
    email_verified: Option<claims::Flag>,
    name: Option<String>,
    picture: Option<String>,
    /// Every other claim, for the configured `groups_claim`.
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// An OpenID Connect provider.
pub struct OidcProvider {
    config: ProviderConfig,
    /// The configured issuer, exactly: the canonical issuer of our users.
    issuer: String,
    /// Every `iss` value accepted (the configured one, plus Google's other
    /// spelling).
    accepted_issuers: Vec<String>,
    http: ProviderHttp,
    /// Fetched on first use and kept; a failed fetch is retried next time.
    metadata: OnceCell<Arc<Metadata>>,
}

impl OidcProvider {
    /// A provider from validated configuration (which guarantees an issuer).
    pub fn new(config: ProviderConfig, http: ProviderHttp) -> Result<Self, AuthError> {
        let issuer = config.issuer.clone().ok_or_else(|| {
            AuthError::InvalidArgument(format!("provider {} has no issuer", config.id))
        })?;
        let accepted_issuers = google::accepted_issuers(&config, &issuer);
        Ok(Self {
            config,
            issuer,
            accepted_issuers,
            http,
            metadata: OnceCell::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    async fn metadata(&self) -> Result<&Arc<Metadata>, AuthError> {
        self.metadata.get_or_try_init(|| self.discover()).await
    }

    /// Fetches and checks the discovery document (rp-discovery-*).
    async fn discover(&self) -> Result<Arc<Metadata>, AuthError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let (doc, _) = self
            .http
            .fetch_json::<DiscoveryDocument>(self.http.get(&url), Endpoint::Discovery, "discovery")
            .await?;
        if doc.issuer != self.issuer {
            tracing::error!(
                provider = %self.config.id,
                configured = %self.issuer,
                discovered = %doc.issuer,
                "discovery document names another issuer; refusing the provider"
            );
            // A rejection, not an outage: OpenID Connect Discovery 1.0 4.3
            // says the document must not be used, and the log says why.
            return Err(AuthError::rejected(
                Reason::DiscoveryIssuerMismatch,
                "the discovery document's issuer differs from the configured issuer",
            ));
        }
        let pick = |configured: &Option<Url>,
                    discovered: Option<String>,
                    what: &str|
         -> Result<Option<Url>, AuthError> {
            match (configured, discovered) {
                (Some(url), _) => Ok(Some(url.clone())),
                (None, Some(text)) => provider_url(&text, what).map(Some),
                (None, None) => Ok(None),
            }
        };
        let missing =
            |what: &str| AuthError::ProviderUnavailable(format!("discovery has no {what}"));
        let authorization_endpoint = pick(
            &self.config.authorization_endpoint,
            doc.authorization_endpoint,
            "authorization_endpoint",
        )?
        .ok_or_else(|| missing("authorization_endpoint"))?;
        let token_endpoint = pick(
            &self.config.token_endpoint,
            doc.token_endpoint,
            "token_endpoint",
        )?
        .ok_or_else(|| missing("token_endpoint"))?;
        let userinfo_endpoint = pick(
            &self.config.userinfo_endpoint,
            doc.userinfo_endpoint,
            "userinfo_endpoint",
        )?;
        let end_session_endpoint = pick(
            &self.config.end_session_endpoint,
            doc.end_session_endpoint,
            "end_session_endpoint",
        )?;
        let jwks_uri = pick(&self.config.jwks_uri, doc.jwks_uri, "jwks_uri")?
            .ok_or_else(|| missing("jwks_uri"))?;
        let algorithms = if doc.id_token_signing_alg_values_supported.is_empty() {
            vec![Algorithm::RS256]
        } else {
            doc.id_token_signing_alg_values_supported
                .iter()
                .filter_map(|a| Algorithm::from_str(a).ok())
                .filter(|a| ASYMMETRIC.contains(a))
                .collect()
        };
        if algorithms.is_empty() {
            return Err(AuthError::ProviderUnavailable(
                "the provider advertises no signature algorithm we accept".into(),
            ));
        }
        Ok(Arc::new(Metadata {
            authorization_endpoint,
            token_endpoint,
            userinfo_endpoint,
            algorithms,
            iss_parameter_supported: doc.authorization_response_iss_parameter_supported,
            end_session_endpoint,
            jwks: JwksCache::new(jwks_uri.to_string(), self.http.clone()),
        }))
    }

    /// The authorization request URL (OIDC Core 3.1.2.1, RFC 7636 4.3).
    pub async fn authorization_url(
        &self,
        req: &AuthorizationRequest<'_>,
    ) -> Result<Url, AuthError> {
        let meta = self.metadata().await?;
        let mut url = super::authorization_url(
            &meta.authorization_endpoint,
            &self.config,
            req,
            Some(req.nonce),
        );
        if let Some(hd) = &self.config.hosted_domain {
            url.query_pairs_mut().append_pair("hd", hd);
        }
        Ok(url)
    }

    /// Finishes the code flow: mix-up check, code exchange, ID token and
    /// userinfo verification.
    pub async fn complete(
        &self,
        exchange: &CodeExchange<'_>,
        checks: Checks,
    ) -> Result<Identity, AuthError> {
        let meta = self.metadata().await?;
        // RFC 9207: the authorization response must come from this issuer.
        match exchange.iss {
            Some(iss) if !self.accepted_issuers.iter().any(|a| a == iss) => {
                return Err(AuthError::rejected(
                    Reason::IssuerMismatch,
                    "the authorization response names another issuer (RFC 9207)",
                ));
            }
            None if meta.iss_parameter_supported => {
                return Err(AuthError::rejected(
                    Reason::IssuerMissing,
                    "the provider sends `iss` with authorization responses but this one had none",
                ));
            }
            _ => {}
        }
        let tokens = exchange_code(
            &self.http,
            &self.config,
            &meta.token_endpoint,
            exchange.code,
            exchange.redirect_uri,
            exchange.code_verifier,
        )
        .await?;
        let id_token = tokens.id_token.ok_or_else(|| {
            AuthError::rejected(Reason::MissingIdToken, "the token response has no ID token")
        })?;
        let mut identity = self
            .verify_id_token(&id_token, Some(exchange.nonce), checks)
            .await?;
        if let (Some(endpoint), Some(access_token)) =
            (&meta.userinfo_endpoint, tokens.access_token.as_deref())
        {
            self.merge_userinfo(endpoint, access_token, &mut identity)
                .await?;
        }
        self.add_workspace_groups(tokens.access_token.as_deref(), &mut identity)
            .await?;
        self.enforce_login_policy(identity)
    }

    /// The front-end flow with an ID token.
    pub async fn verify_id_token_for_exchange(
        &self,
        token: &str,
        checks: Checks,
    ) -> Result<Identity, AuthError> {
        let identity = self.verify_id_token(token, None, checks).await?;
        self.enforce_login_policy(identity)
    }

    /// Verifies an ID token's signature and claims; the e-mail and group
    /// policies are applied by the caller once userinfo is merged.
    async fn verify_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
        checks: Checks,
    ) -> Result<Identity, AuthError> {
        let claims: IdTokenClaims = self.decode_signed(token, "ID token").await?;
        let expected = Expected {
            issuers: &self.accepted_issuers,
            client_id: &self.config.client_id,
            nonce,
        };
        claims::check(&claims, &expected, checks)?;
        google::check_hosted_domain(&self.config, claims.hd.as_deref())?;
        let groups = self.groups_in(&claims.other)?.unwrap_or_default();
        Ok(Identity {
            issuer: self.issuer.clone(),
            subject: claims.sub.unwrap_or_default(),
            email: claims.email.unwrap_or_default(),
            email_verified: claims.email_verified.is_some_and(claims::Flag::value),
            name: claims.name.unwrap_or_default(),
            picture: claims.picture.unwrap_or_default(),
            groups,
            provider_sid: claims.sid.unwrap_or_default(),
            id_token: IdTokenHint(token.to_owned()),
        })
    }

    /// Verifies a JWT the provider signed (an ID token or a logout token):
    /// size, an algorithm the provider advertises, a key from its JWKS only,
    /// the signature; then decodes its claims. Time, audience and the rest
    /// are the caller's checks, with our clock.
    async fn decode_signed<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        what: &str,
    ) -> Result<T, AuthError> {
        check_token_size(token)?;
        let meta = self.metadata().await?;
        let header = decode_header(token).map_err(|_| {
            AuthError::rejected(
                Reason::MalformedToken,
                format!("the {what} is not a well-formed signed JWT"),
            )
        })?;
        if !meta.algorithms.contains(&header.alg) {
            return Err(AuthError::rejected(
                Reason::UnsupportedAlg,
                format!(
                    "the {what}'s algorithm {:?} is not one the provider advertises",
                    header.alg
                ),
            ));
        }
        // jku, x5u, jwk and x5c headers are deliberately ignored: keys come
        // only from the configured provider's JWKS.
        let key = meta.jwks.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        decode::<T>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AuthError::rejected(
                    Reason::BadSignature,
                    format!("the {what}'s signature is invalid"),
                ),
                ErrorKind::InvalidAlgorithm => AuthError::rejected(
                    Reason::UnsupportedAlg,
                    format!("the {what}'s algorithm does not match its key"),
                ),
                _ => AuthError::rejected(
                    Reason::MalformedToken,
                    format!("the {what} could not be decoded"),
                ),
            })
    }

    /// The provider's `end_session_endpoint` with `id_token_hint` (when
    /// kept), `client_id` and `post_logout_redirect_uri` (RP-Initiated
    /// Logout 1.0 section 2); `None` unless `post_logout_redirect_uri` is
    /// configured and the provider has such an endpoint.
    pub async fn end_session_url(&self, id_token: &IdTokenHint) -> Option<Url> {
        let back = self.config.post_logout_redirect_uri.as_ref()?;
        let meta = match self.metadata().await {
            Ok(meta) => meta,
            Err(e) => {
                tracing::warn!(provider = %self.config.id, error = %e, "no end_session_endpoint: discovery failed; logged out locally only");
                return None;
            }
        };
        let Some(endpoint) = &meta.end_session_endpoint else {
            tracing::warn!(provider = %self.config.id, "the provider has no end_session_endpoint; logged out locally only");
            return None;
        };
        let mut url = endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            if !id_token.is_empty() {
                query.append_pair("id_token_hint", &id_token.0);
            }
            query
                .append_pair("client_id", &self.config.client_id)
                .append_pair("post_logout_redirect_uri", back.as_str());
        }
        Some(url)
    }

    /// Verifies a back-channel logout token (OpenID Connect Back-Channel
    /// Logout 1.0 section 2.6): the same keys and algorithms as ID tokens,
    /// then the logout token's own claim rules.
    pub async fn verify_logout_token(
        &self,
        token: &str,
        checks: Checks,
    ) -> Result<logout_token::Logout, AuthError> {
        let claims: logout_token::LogoutClaims = self.decode_signed(token, "logout token").await?;
        logout_token::check(
            claims,
            &self.accepted_issuers,
            &self.issuer,
            &self.config.client_id,
            checks,
        )
    }

    /// The groups in the configured `groups_claim` of a claim set; `None`
    /// when no claim is configured or this set lacks it.
    fn groups_in(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<Vec<String>>, AuthError> {
        match &self.config.groups_claim {
            Some(name) => groups::from_claim(name, claims.get(name)),
            None => Ok(None),
        }
    }

    /// The front-end flow with an access token: the provider's tokeninfo
    /// endpoint must confirm it was issued to us; then userinfo.
    pub async fn verify_access_token(
        &self,
        token: &str,
        checks: Checks,
    ) -> Result<Identity, AuthError> {
        check_token_size(token)?;
        let endpoint = self.config.tokeninfo_endpoint.as_ref().ok_or_else(|| {
            AuthError::InvalidArgument(format!(
                "provider {} cannot verify access tokens (no tokeninfo_endpoint); send an ID token",
                self.config.id
            ))
        })?;
        let meta = self.metadata().await?;
        let mut identity = google::verify_with_tokeninfo(
            &self.http,
            endpoint,
            &self.config,
            &self.issuer,
            token,
            checks,
        )
        .await?;
        if let Some(userinfo) = &meta.userinfo_endpoint {
            self.merge_userinfo(userinfo, token, &mut identity).await?;
        }
        self.add_workspace_groups(Some(token), &mut identity)
            .await?;
        self.enforce_login_policy(identity)
    }

    /// Reads userinfo; its `sub` must be the identity's (OIDC Core 5.3.2).
    /// Fills profile fields and groups the earlier answer lacked (providers
    /// such as Okta and Keycloak may put groups in userinfo only).
    async fn merge_userinfo(
        &self,
        endpoint: &Url,
        access_token: &str,
        identity: &mut Identity,
    ) -> Result<(), AuthError> {
        let response = self
            .http
            .send_json::<UserInfo>(
                self.http.get(endpoint.clone()).bearer_auth(access_token),
                Endpoint::Userinfo,
                "userinfo",
            )
            .await?;
        if response.status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(AuthError::rejected(
                Reason::InvalidAccessToken,
                "the provider refused the access token at userinfo",
            ));
        }
        if !response.status.is_success() {
            return Err(AuthError::ProviderUnavailable(format!(
                "userinfo answered HTTP {}",
                response.status.as_u16()
            )));
        }
        let info = response.body.map_err(AuthError::ProviderUnavailable)?;
        if info.sub.as_deref() != Some(identity.subject.as_str()) {
            return Err(AuthError::rejected(
                Reason::UserinfoSubMismatch,
                "the userinfo subject differs from the token's subject",
            ));
        }
        if identity.email.is_empty()
            && let Some(email) = info.email
        {
            identity.email = email;
            identity.email_verified = info.email_verified.is_some_and(claims::Flag::value);
        }
        if identity.name.is_empty() {
            identity.name = info.name.unwrap_or_default();
        }
        if identity.picture.is_empty() {
            identity.picture = info.picture.unwrap_or_default();
        }
        if identity.groups.is_empty()
            && let Some(groups) = self.groups_in(&info.other)?
        {
            identity.groups = groups;
        }
        Ok(())
    }

    /// With `workspace_groups`, adds the user's Google Workspace groups,
    /// looked up with their access token for their verified address. A
    /// login without an access token (a front-end's ID token) or without a
    /// verified address gets none.
    async fn add_workspace_groups(
        &self,
        access_token: Option<&str>,
        identity: &mut Identity,
    ) -> Result<(), AuthError> {
        let (Some(api), Some(token)) = (&self.config.cloud_identity_url, access_token) else {
            return Ok(());
        };
        if !self.config.workspace_groups || !identity.email_verified {
            return Ok(());
        }
        let found = google_groups::direct_groups(&self.http, api, token, &identity.email).await?;
        let mut all = std::mem::take(&mut identity.groups);
        all.extend(found);
        identity.groups = groups::checked(all)?;
        Ok(())
    }

    /// The provider's own login rules: a verified e-mail where required,
    /// membership of an allowed group where configured.
    fn enforce_login_policy(&self, identity: Identity) -> Result<Identity, AuthError> {
        if self.config.require_email_verified
            && (identity.email.is_empty() || !identity.email_verified)
        {
            return Err(AuthError::rejected(
                Reason::EmailNotVerified,
                "the provider did not vouch for the user's e-mail address",
            ));
        }
        groups::require_allowed(
            &self.config.allowed_groups,
            &identity.groups,
            "allowed_groups",
        )?;
        Ok(identity)
    }
}
