//! The token endpoint call shared by every kind (RFC 6749 4.1.3 with PKCE,
//! RFC 7636 4.5), with the client authentication the provider expects.

use super::http::ProviderHttp;
use crate::domain::error::AuthError;
use crate::metrics::Endpoint;
use common::config::{ProviderConfig, TokenEndpointAuth};
use common::reason::Reason;
use secrecy::ExposeSecret;
use serde::Deserialize;

/// The token endpoint's answer (RFC 6749 5.1 / 5.2).
#[derive(Deserialize)]
pub(super) struct TokenResponse {
    pub access_token: Option<String>,
    pub id_token: Option<String>,
    pub error: Option<String>,
}

/// Exchanges `code` for tokens.
pub(super) async fn exchange_code(
    http: &ProviderHttp,
    config: &ProviderConfig,
    endpoint: &url::Url,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
) -> Result<TokenResponse, AuthError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier),
    ];
    let secret = config.client_secret.as_ref().map(|s| s.expose_secret());
    let mut request = http.post(endpoint.clone());
    match (config.token_auth(), secret) {
        (TokenEndpointAuth::ClientSecretBasic, Some(secret)) => {
            // RFC 6749 2.3.1: both parts are form-urlencoded first.
            let id: String =
                url::form_urlencoded::byte_serialize(config.client_id.as_bytes()).collect();
            let secret: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            request = request.basic_auth(id, Some(secret));
        }
        (TokenEndpointAuth::ClientSecretPost, Some(secret)) => {
            form.push(("client_id", &config.client_id));
            form.push(("client_secret", secret));
        }
        _ => form.push(("client_id", &config.client_id)),
    }
    let response = http
        .send_json::<TokenResponse>(request.form(&form), Endpoint::Token, "token endpoint")
        .await?;
    let status = response.status;
    match response.body {
        // GitHub answers errors with 200 and an `error` field.
        Ok(body) if status.is_success() && body.error.is_none() => Ok(body),
        Ok(body) if status.is_success() || status.is_client_error() => Err(AuthError::rejected(
            Reason::CodeExchangeFailed,
            format!(
                "the provider refused the authorization code ({})",
                sanitize(body.error.as_deref())
            ),
        )),
        Err(_) if status.is_client_error() => Err(AuthError::rejected(
            Reason::CodeExchangeFailed,
            "the provider refused the authorization code",
        )),
        // A success that is not a token response: say so, not "HTTP 200".
        Err(malformed) if status.is_success() => Err(AuthError::ProviderUnavailable(malformed)),
        _ => Err(AuthError::ProviderUnavailable(format!(
            "token endpoint answered HTTP {}",
            status.as_u16()
        ))),
    }
}

/// Provider error codes are echoed only when they look like RFC 6749 codes.
pub(crate) fn sanitize(code: Option<&str>) -> &str {
    match code {
        Some(c)
            if !c.is_empty()
                && c.len() <= 64
                && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
        {
            c
        }
        _ => "unspecified error",
    }
}
