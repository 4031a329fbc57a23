//! Starting a provider and speaking to it as a relying party would.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dev_idp::{DevClient, DevIdp, DevIdpConfig};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;

pub(crate) const PUBLIC_CLIENT: &str = "portcullis-dev";
pub(crate) const CONFIDENTIAL_CLIENT: &str = "conf-client";
pub(crate) const CONFIDENTIAL_SECRET: &str = "conf-secret";
pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1:8080/auth/callback/dev";
pub(crate) const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-0123456789";

pub(crate) async fn start() -> DevIdp {
    DevIdp::start(DevIdpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        issuer: None,
        clients: vec![
            DevClient {
                client_id: PUBLIC_CLIENT.into(),
                client_secret: None,
            },
            DevClient {
                client_id: CONFIDENTIAL_CLIENT.into(),
                client_secret: Some(CONFIDENTIAL_SECRET.into()),
            },
        ],
        users: Vec::new(),
        signing_key_pem: None,
    })
    .await
    .unwrap()
}

/// An HTTP client that shows redirects instead of following them.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A complete, valid authorization request; tests edit it.
pub(crate) fn authorize_params(client_id: &str, login_hint: Option<&str>) -> Vec<(String, String)> {
    let mut params = vec![
        ("response_type", "code".to_owned()),
        ("client_id", client_id.to_owned()),
        ("redirect_uri", REDIRECT_URI.to_owned()),
        ("scope", "openid email profile".to_owned()),
        ("state", "state-123".to_owned()),
        ("nonce", "nonce-456".to_owned()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".to_owned()),
    ];
    if let Some(login) = login_hint {
        params.push(("login_hint", login.to_owned()));
    }
    params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub(crate) fn set(params: &mut Vec<(String, String)>, key: &str, value: Option<&str>) {
    params.retain(|(k, _)| k != key);
    if let Some(value) = value {
        params.push((key.to_owned(), value.to_owned()));
    }
}

pub(crate) async fn get_authorize(idp: &DevIdp, params: &[(String, String)]) -> reqwest::Response {
    http()
        .get(format!("{}/authorize", idp.issuer()))
        .query(params)
        .send()
        .await
        .unwrap()
}

/// The query of a 302 back to the relying party.
pub(crate) fn redirect_query(response: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), 302, "expected a redirect back");
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Authorizes `login` for the public client and returns the code.
pub(crate) async fn code_for(idp: &DevIdp, client_id: &str, login: &str) -> String {
    let response = get_authorize(idp, &authorize_params(client_id, Some(login))).await;
    redirect_query(&response)["code"].clone()
}

/// POSTs a token request as a public client.
pub(crate) async fn redeem(idp: &DevIdp, code: &str, verifier: &str) -> reqwest::Response {
    http()
        .post(format!("{}/token", idp.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
            ("client_id", PUBLIC_CLIENT),
        ])
        .send()
        .await
        .unwrap()
}

pub(crate) async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

pub(crate) async fn get_json(url: &str) -> Value {
    json(http().get(url).send().await.unwrap()).await
}

/// The RFC 6749 error code of a failed token response with `status`.
pub(crate) async fn oauth_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    json(response).await["error"].as_str().unwrap().to_owned()
}

/// Verifies `token` as a relying party would: discovery, JWKS, RS256,
/// issuer and audience.
pub(crate) async fn verify(idp: &DevIdp, token: &str, audience: &str) -> Result<Value, String> {
    let discovery = get_json(&format!(
        "{}/.well-known/openid-configuration",
        idp.issuer()
    ))
    .await;
    let jwks = get_json(discovery["jwks_uri"].as_str().unwrap()).await;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let keys = jwks["keys"].as_array().unwrap();
    let jwk = keys
        .iter()
        .find(|k| header.kid.is_none() || k["kid"].as_str() == header.kid.as_deref())
        .ok_or("no such key")?;
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[discovery["issuer"].as_str().unwrap()]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}
