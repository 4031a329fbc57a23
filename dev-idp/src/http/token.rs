//! The token endpoint (RFC 6749 section 4.1.3 with PKCE, RFC 7636 section
//! 4.6): client authentication, single-use codes bound to their request, and
//! the ID token (OpenID Connect Core section 3.1.3.3). Every request is
//! recorded (without secrets) for tests, and the token faults apply here.

use super::{OAuthError, Shared, basic_credentials, no_store, secrets_match};
use crate::DevClient;
use crate::grants::{CodeGrant, TOKEN_LIFETIME_SECS};
use crate::keys::unsigned_token;
use crate::provider::TokenRequestRecord;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

#[derive(Deserialize)]
pub(super) struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

const BASIC_CHALLENGE: &str = r#"Basic realm="dev-idp""#;

/// Always JSON, whatever `Accept` says: GitHub answers form-encoded unless
/// asked, but every client in this workspace asks for JSON anyway.
#[tracing::instrument(name = "token", skip_all)]
pub(super) async fn token(
    State(provider): State<Shared>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return OAuthError::bad_request(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
        .into_response();
    };
    match exchange(&provider, &headers, &form) {
        Ok(response) => response,
        Err(e) => {
            tracing::info!(error = %e.error_code(), "token request refused");
            e.into_response()
        }
    }
}

fn exchange(
    provider: &Shared,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<Response, OAuthError> {
    let basic = basic_credentials(headers);
    let client_auth = match (&basic, &form.client_secret) {
        (Some(_), _) => "client_secret_basic",
        (None, Some(_)) => "client_secret_post",
        (None, None) => "none",
    };
    let basic_id = basic.as_ref().map(|(id, _)| form_decode(id));
    provider.record_token_request(TokenRequestRecord {
        grant_type: form.grant_type.clone(),
        client_id: basic_id.clone().or_else(|| form.client_id.clone()),
        client_auth: client_auth.to_owned(),
        code_verifier_present: form.code_verifier.is_some(),
        redirect_uri: form.redirect_uri.clone(),
    });

    let faults = provider.faults();
    if let Some(error) = faults.token_error.clone() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            error,
            "injected fault",
        ));
    }
    if form.grant_type.as_deref() != Some("authorization_code") {
        return Err(OAuthError::bad_request(
            "unsupported_grant_type",
            "only authorization_code is supported",
        ));
    }
    let client = authenticate_client(provider, basic.as_ref(), basic_id.as_deref(), form)?;

    let code = form.code.as_deref().ok_or(OAuthError::bad_request(
        "invalid_request",
        "code is missing",
    ))?;
    let redeemed = provider.grants().redeem_code(code);
    let grant = redeemed.map_err(|why| {
        tracing::info!(reason = ?why, "code not redeemable");
        OAuthError::bad_request(
            "invalid_grant",
            "the code is unknown, expired or already used",
        )
    })?;
    check_binding(&grant, client, form)?;

    let access_token =
        provider
            .grants()
            .issue_access_token(grant.user.clone(), &client.client_id, &grant.scope);
    provider.grants().link_code_to_token(code, &access_token);

    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
        "scope": grant.scope,
    });
    let openid = grant.scope.split(' ').any(|s| s == "openid");
    if openid && !faults.omit_id_token {
        let mut header = provider.current_header();
        let mut claims =
            provider.user_claims(&grant.user, &client.client_id, grant.nonce.as_deref());
        // Each code-flow login is a provider session, named in the ID token
        // so a back-channel logout can name it later.
        claims["sid"] = json!(provider.start_session(&grant.user.login));
        if let Some(mutate) = &faults.id_token_mutator {
            mutate(&mut header, &mut claims);
        }
        body["id_token"] = json!(if faults.id_token_alg_none {
            unsigned_token(&claims)
        } else {
            provider.sign_with(header, &claims, faults.id_token_signing)
        });
    }
    tracing::info!(user = %grant.user.login, client_id = %client.client_id, "tokens issued");
    Ok((StatusCode::OK, no_store(), Json(body)).into_response())
}

/// RFC 6749 section 2.3: confidential clients prove their secret by exactly
/// one method; public clients send only their id (RFC 6749 section 3.2.1).
fn authenticate_client<'p>(
    provider: &'p Shared,
    basic: Option<&(String, String)>,
    basic_id: Option<&str>,
    form: &TokenForm,
) -> Result<&'p DevClient, OAuthError> {
    let invalid_client =
        |description| OAuthError::unauthorized("invalid_client", description, BASIC_CHALLENGE);
    if basic.is_some() && form.client_secret.is_some() {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "use one client authentication method, not both",
        ));
    }
    if let (Some(basic_id), Some(form_id)) = (basic_id, form.client_id.as_deref())
        && basic_id != form_id
    {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "client_id in the body differs from HTTP Basic",
        ));
    }
    let client_id = basic_id
        .or(form.client_id.as_deref())
        .ok_or_else(|| invalid_client("no client_id"))?;
    let client = provider
        .client(client_id)
        .ok_or_else(|| invalid_client("unknown client"))?;
    let given = basic
        .map(|(_, secret)| secret.as_str())
        .or(form.client_secret.as_deref());
    match (&client.client_secret, given) {
        (None, None) => Ok(client),
        (None, Some(_)) => Err(invalid_client("a public client must not send a secret")),
        (Some(_), None) => Err(invalid_client("this confidential client must authenticate")),
        (Some(expected), Some(given)) => {
            // RFC 6749 section 2.3.1 form-encodes Basic credentials, but
            // many clients (and GitHub) do not: accept either spelling.
            let ok = secrets_match(expected, given)
                | (basic.is_some() && secrets_match(expected, &form_decode(given)));
            if ok {
                Ok(client)
            } else {
                Err(invalid_client("wrong client secret"))
            }
        }
    }
}

/// The code must come back from the client it was issued to, with the same
/// redirect URI, and with the verifier whose SHA-256 is the challenge.
fn check_binding(
    grant: &CodeGrant,
    client: &DevClient,
    form: &TokenForm,
) -> Result<(), OAuthError> {
    let invalid_grant = |description| OAuthError::bad_request("invalid_grant", description);
    if grant.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    let verifier = form
        .code_verifier
        .as_deref()
        .ok_or_else(|| invalid_grant("code_verifier is missing"))?;
    // RFC 7636 section 4.1: 43 to 128 unreserved characters.
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return Err(invalid_grant("code_verifier is malformed"));
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !secrets_match(&grant.code_challenge, &computed) {
        return Err(invalid_grant("code_verifier does not match code_challenge"));
    }
    Ok(())
}

/// Undoes `application/x-www-form-urlencoded` escaping of one value.
fn form_decode(value: &str) -> String {
    url::form_urlencoded::parse(value.as_bytes())
        .next()
        .map(|(decoded, _)| decoded.into_owned())
        .unwrap_or_default()
}
