//! The authorization endpoint (RFC 6749 section 4.1.1 with PKCE, RFC 7636
//! section 4.3): validates the request, lets a person pick a development
//! user on a consent page (or takes `login_hint` to skip it), and redirects
//! back with a code, the state and the issuer (RFC 9207).

use super::Shared;
use super::pages::{error_page, page};
use crate::grants::CodeRequest;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use url::Url;

/// The request parameters we read; others (`prompt`, ...) are ignored.
#[derive(Deserialize)]
pub(super) struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// A development user's login: skip the consent page.
    login_hint: Option<String>,
    /// Set by the consent page's "Deny" button.
    deny: Option<String>,
}

/// A request that passed validation.
struct Valid<'a> {
    client_id: &'a str,
    /// As sent: the token request must repeat it exactly (RFC 6749 4.1.3).
    redirect_uri_as_sent: &'a str,
    redirect_uri: Url,
    state: &'a str,
    scope: &'a str,
    code_challenge: &'a str,
}

#[tracing::instrument(name = "authorize", skip_all)]
pub(super) async fn authorize(
    State(provider): State<Shared>,
    params: Result<Query<AuthorizeParams>, QueryRejection>,
) -> Response {
    // RFC 6749 section 3.1: parameters must not repeat; serde refuses
    // duplicates, and the person deserves the page rather than plain text.
    let Ok(Query(params)) = params else {
        return error_page("the query string is malformed or repeats a parameter");
    };
    let valid = match validate(&provider, &params) {
        Ok(valid) => valid,
        Err(message) => {
            tracing::info!(reason = message, "authorization request refused");
            return error_page(message);
        }
    };
    let iss = provider
        .faults()
        .authorization_response_iss
        .unwrap_or_else(|| provider.issuer.clone());

    if params.deny.is_some() {
        // RFC 6749 section 4.1.2.1: the user said no.
        let mut target = valid.redirect_uri;
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", valid.state)
            .append_pair("iss", &iss);
        return found(&target);
    }

    let Some(user) = params
        .login_hint
        .as_deref()
        .and_then(|login| provider.user(login))
    else {
        return consent_page(&provider, &params);
    };

    let code = provider.grants().issue_code(CodeRequest {
        client_id: valid.client_id.to_owned(),
        redirect_uri: valid.redirect_uri_as_sent.to_owned(),
        code_challenge: valid.code_challenge.to_owned(),
        nonce: params.nonce.clone(),
        scope: valid.scope.to_owned(),
        user: user.clone(),
    });
    tracing::info!(user = %user.login, client_id = %valid.client_id, "authorization code issued");
    // RFC 6749 section 4.1.2, plus `iss` from RFC 9207 section 2.
    let mut target = valid.redirect_uri;
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", valid.state)
        .append_pair("iss", &iss);
    found(&target)
}

/// Checks the request. Every failure is shown to the person rather than
/// redirected: an unchecked redirect would make this an open redirector, and
/// a development tool is most useful when it says plainly what is wrong.
fn validate<'a>(provider: &Shared, params: &'a AuthorizeParams) -> Result<Valid<'a>, &'static str> {
    let client_id = params.client_id.as_deref().ok_or("client_id is missing")?;
    if provider.client(client_id).is_none() {
        return Err("unknown client_id");
    }
    let redirect_uri_as_sent = params
        .redirect_uri
        .as_deref()
        .ok_or("redirect_uri is missing")?;
    let redirect_uri = loopback_redirect_uri(redirect_uri_as_sent)?;
    if params.response_type.as_deref() != Some("code") {
        return Err(
            "response_type must be \"code\" (only the authorization code flow is supported)",
        );
    }
    let state = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("state is missing: it protects the callback against CSRF")?;
    let scope = params
        .scope
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or("scope is missing")?;
    // RFC 7636 section 4.2 allows `plain`; we require S256 so clients that
    // would silently downgrade are caught in development.
    match params.code_challenge_method.as_deref() {
        Some("S256") => {}
        Some(_) => return Err("code_challenge_method must be S256 (plain is not accepted)"),
        None => return Err("code_challenge_method is missing: PKCE with S256 is required"),
    }
    let code_challenge = params
        .code_challenge
        .as_deref()
        .ok_or("code_challenge is missing: PKCE with S256 is required")?;
    // An S256 challenge is base64url of 32 bytes: exactly 43 characters.
    let well_formed = code_challenge.len() == 43
        && code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err("code_challenge is not a base64url SHA-256 value");
    }
    Ok(Valid {
        client_id,
        redirect_uri_as_sent,
        redirect_uri,
        state,
        scope,
        code_challenge,
    })
}

/// Redirect URIs must point back at this machine (RFC 8252 section 7.3 for
/// loopback redirects), so the provider can never send a code elsewhere.
fn loopback_redirect_uri(raw: &str) -> Result<Url, &'static str> {
    let url = Url::parse(raw).map_err(|_| "redirect_uri is not an absolute URL")?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err("redirect_uri must be http or https");
    }
    if url.fragment().is_some() {
        return Err("redirect_uri must not contain a fragment");
    }
    if !common::config::is_loopback_host(&url) {
        return Err("redirect_uri must be on localhost, 127.0.0.1 or [::1]");
    }
    Ok(url)
}

/// 302 Found, the status RFC 6749 section 4.1.2 examples use.
fn found(target: &Url) -> Response {
    match HeaderValue::from_str(target.as_str()) {
        Ok(location) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => error_page("redirect_uri cannot be used in a Location header"),
    }
}

/// One form that resubmits the request: each user is a button setting
/// `login_hint`, and "Deny" sets `deny`.
fn consent_page(provider: &Shared, params: &AuthorizeParams) -> Response {
    let carried = [
        ("response_type", &params.response_type),
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("scope", &params.scope),
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
    ];
    let action = format!("{}/authorize", provider.base_path);
    page(
        StatusCode::OK,
        "Sign in",
        html! {
            p {
                code { (params.client_id.as_deref().unwrap_or_default()) }
                " asks to sign you in (scope "
                code { (params.scope.as_deref().unwrap_or_default()) }
                "). Pick a development user:"
            }
            form method="get" action=(action) {
                @for (name, value) in carried {
                    @if let Some(value) = value {
                        input type="hidden" name=(name) value=(value);
                    }
                }
                @for u in &provider.users {
                    button type="submit" name="login_hint" value=(u.login) {
                        (u.name) " <" (u.email) ">"
                        @if !u.email_verified { " — e-mail not verified" }
                    }
                }
                button type="submit" name="deny" value="1" { "Deny" }
            }
        },
    )
}
