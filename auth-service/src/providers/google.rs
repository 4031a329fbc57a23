//! Google specifics on top of the OIDC kind: Google's two issuer spellings,
//! the Workspace `hd` restriction, and access-token verification through the
//! `tokeninfo` endpoint (the product brief's EDIT), which tells us the token's
//! audience so a token issued to another app cannot log anyone in here.

use super::claims::Flag;
use super::http::ProviderHttp;
use super::{Checks, Identity};
use crate::domain::error::AuthError;
use crate::metrics::Endpoint;
use common::config::{ProviderConfig, ProviderKind};
use common::reason::Reason;
use serde::Deserialize;

const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// Every `iss` value accepted for this provider.
pub fn accepted_issuers(config: &ProviderConfig, issuer: &str) -> Vec<String> {
    let mut issuers = vec![issuer.to_owned()];
    if config.kind == ProviderKind::Google && GOOGLE_ISSUERS.contains(&issuer) {
        issuers.extend(
            GOOGLE_ISSUERS
                .iter()
                .filter(|i| **i != issuer)
                .map(|i| (*i).to_owned()),
        );
    }
    issuers
}

/// With `hosted_domain` configured, the token's `hd` must equal it.
pub fn check_hosted_domain(config: &ProviderConfig, hd: Option<&str>) -> Result<(), AuthError> {
    match &config.hosted_domain {
        Some(want) if hd != Some(want.as_str()) => Err(AuthError::rejected(
            Reason::HostedDomainMismatch,
            "the account is not in the required Google Workspace domain",
        )),
        _ => Ok(()),
    }
}

/// Seconds as a JSON number or a string (Google sends strings).
#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(i64),
    Text(String),
}

impl Seconds {
    fn value(&self) -> Option<i64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(t) => t.parse().ok(),
        }
    }
}

#[derive(Deserialize)]
struct TokenInfo {
    aud: Option<String>,
    sub: Option<String>,
    exp: Option<Seconds>,
    email: Option<String>,
    email_verified: Option<Flag>,
    hd: Option<String>,
}

/// Asks the tokeninfo endpoint about an access token (sent in a POST body,
/// never in a URL) and checks audience, expiry and subject.
pub async fn verify_with_tokeninfo(
    http: &ProviderHttp,
    endpoint: &url::Url,
    config: &ProviderConfig,
    issuer: &str,
    token: &str,
    checks: Checks,
) -> Result<Identity, AuthError> {
    let response = http
        .send_json::<TokenInfo>(
            http.post(endpoint.clone()).form(&[("access_token", token)]),
            Endpoint::Tokeninfo,
            "tokeninfo",
        )
        .await?;
    if response.status.is_client_error() {
        return Err(AuthError::rejected(
            Reason::InvalidAccessToken,
            "the provider does not recognise the access token",
        ));
    }
    if !response.status.is_success() {
        return Err(AuthError::ProviderUnavailable(format!(
            "tokeninfo answered HTTP {}",
            response.status.as_u16()
        )));
    }
    let info = response.body.map_err(AuthError::ProviderUnavailable)?;
    if info.aud.as_deref() != Some(config.client_id.as_str()) {
        return Err(AuthError::rejected(
            Reason::AudienceMismatch,
            "the access token was issued to another client",
        ));
    }
    match info.exp.as_ref().and_then(Seconds::value) {
        Some(exp) if checks.now < exp => {}
        _ => {
            return Err(AuthError::rejected(
                Reason::Expired,
                "the access token has expired",
            ));
        }
    }
    let subject = match info.sub {
        Some(sub) if !sub.is_empty() => sub,
        _ => {
            return Err(AuthError::rejected(
                Reason::MissingSub,
                "tokeninfo names no subject",
            ));
        }
    };
    check_hosted_domain(config, info.hd.as_deref())?;
    Ok(Identity {
        issuer: issuer.to_owned(),
        subject,
        email: info.email.unwrap_or_default(),
        email_verified: info.email_verified.is_some_and(Flag::value),
        name: String::new(),
        picture: String::new(),
        groups: Vec::new(),
        provider_sid: String::new(),
        id_token: Default::default(),
    })
}
