//! "Sign in with Google" from a page, with Google Identity Services (GIS),
//! when `[gateway.google_sign_in]` is configured:
//!
//! * `GET /auth/google-sign-in`: the page. Google's script draws Google's
//!   own button; ours (`GET /auth/google-sign-in.js`) configures it and, in
//!   popup mode, posts the credential it returns (a Google ID token) to
//!   `POST /auth/session`, the same-origin JSON token flow, then goes on to
//!   `return_to`.
//! * `POST /auth/google-sign-in`: redirect mode, where Google's page posts
//!   the form fields `credential` and `g_csrf_token` here, cross-site. The
//!   origin check cannot apply ([`crate::middleware::csrf`] lets this path
//!   through); Google's double-submit defence replaces it: the
//!   `g_csrf_token` cookie that Google's script set on our origin must equal
//!   the form field, which a cross-site attacker can neither read nor set.
//!   The browser then lands on `/`: this mode carries no state through
//!   Google.
//!
//! Either way auth-service verifies the credential like any front-end ID
//! token of the configured provider (signature, issuer, audience = its
//! `client_id`, expiry).

use super::start_session;
use crate::auth_client::ProviderToken;
use crate::client_ip::ClientIp;
use crate::cookies;
use crate::error::ApiError;
use crate::pages;
use crate::return_to::safe_return_to;
use crate::routes::client_info;
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use common::config::GoogleSignInConfig;
use serde::Deserialize;

/// The page's path, and redirect mode's `login_uri`.
pub(crate) const PATH: &str = "/auth/google-sign-in";

/// Largest redirect-mode form: an ID token is a few KiB.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// Our script on the page. GIS calls `onGoogleLibraryLoad` once loaded;
/// this script runs first (it is not `async`), so the hook is in place.
const SCRIPT: &str = r#""use strict";
(function () {
  var settings = document.getElementById("portcullis-google").dataset;
  var status = document.getElementById("google-status");

  function signedIn(response) {
    status.textContent = "Signing in…";
    fetch("/auth/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ provider: settings.provider, id_token: response.credential })
    }).then(function (reply) {
      if (reply.ok) { window.location.assign(settings.returnTo); return null; }
      return reply.json().then(function (body) {
        status.textContent = "Sign-in failed: " + (body.message || reply.status);
      });
    }).catch(function () {
      status.textContent = "Sign-in failed: the server could not be reached. Try again.";
    });
  }

  window.onGoogleLibraryLoad = function () {
    var options = { client_id: settings.clientId, ux_mode: settings.uxMode };
    if (settings.uxMode === "redirect") {
      options.login_uri = settings.loginUri;
    } else {
      options.callback = signedIn;
    }
    google.accounts.id.initialize(options);
    google.accounts.id.renderButton(document.getElementById("google-button"), {
      type: "standard", theme: "outline", size: "large", text: "signin_with", shape: "rectangular"
    });
  };
})();
"#;

/// Query of the page.
#[derive(Deserialize)]
pub(crate) struct PageQuery {
    return_to: Option<String>,
}

/// The page's Content-Security-Policy: ours, plus exactly what Google
/// documents for GIS (its script; frames, calls and styles under its
/// directory).
fn content_security_policy(config: &GoogleSignInConfig) -> String {
    let prefix = config.library_prefix();
    format!(
        "default-src 'none'; script-src 'self' {script}; frame-src {prefix}; \
         connect-src 'self' {prefix}; style-src 'unsafe-inline' {prefix}; img-src https: data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        script = config.client_script,
    )
}

fn configured(state: &AppState) -> Result<&GoogleSignInConfig, ApiError> {
    state
        .gateway
        .google_sign_in
        .as_ref()
        .ok_or_else(ApiError::not_found)
}

/// `GET /auth/google-sign-in`.
pub(crate) async fn page(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let config = configured(&state)?;
    let Query(query) = query
        .map_err(|_| ApiError::bad_request("invalid_query", "The query string is not valid."))?;
    let return_to = safe_return_to(query.return_to.as_deref(), &state.return_hosts);
    let login_uri = format!("{}{PATH}", state.public_origin);
    let csp = HeaderValue::from_str(&content_security_policy(config))
        .map_err(|_| ApiError::internal("the Google sign-in CSP is not a header value"))?;
    let mut response = Html(pages::google_sign_in_page(
        &state.gateway.branding,
        config,
        &return_to,
        &login_uri,
    ))
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    // GIS reads the page's origin from the Referer of its frames and
    // popups (no-referrer breaks it), and talks to its popup window.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin-allow-popups"),
    );
    Ok(response)
}

/// `GET /auth/google-sign-in.js`.
pub(crate) async fn script(State(state): State<AppState>) -> Result<Response, ApiError> {
    configured(&state)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        SCRIPT,
    )
        .into_response())
}

/// The fields of Google's redirect-mode post we read (it sends others,
/// such as `select_by`, which are ignored).
#[derive(Deserialize)]
pub(crate) struct RedirectForm {
    credential: String,
    g_csrf_token: String,
}

/// Whether the double-submit pair matches: a non-empty cookie equal to the
/// form field, compared in constant time.
fn double_submit_matches(headers: &HeaderMap, field: &str) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq as _;
    let cookie = cookies::read_google_csrf(headers).ok_or_else(|| {
        ApiError::bad_request(
            "csrf_token_missing",
            "The sign-in did not carry Google's CSRF cookie. Start again from the sign-in page.",
        )
    })?;
    if field.is_empty() || !bool::from(cookie.as_bytes().ct_eq(field.as_bytes())) {
        return Err(ApiError::bad_request(
            "csrf_token_mismatch",
            "The sign-in did not come from Google's page for this browser. Start again from the \
             sign-in page.",
        ));
    }
    Ok(())
}

/// `POST /auth/google-sign-in`: redirect mode's `login_uri`.
#[tracing::instrument(name = "google_sign_in", skip_all)]
pub(crate) async fn redirect_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<RedirectForm>, FormRejection>,
) -> Result<Response, ApiError> {
    let config = configured(&state)?;
    let Form(form) = form.map_err(|_| {
        ApiError::bad_request(
            "invalid_form",
            "Expected the form fields credential and g_csrf_token, each once.",
        )
    })?;
    double_submit_matches(&headers, &form.g_csrf_token)?;
    if form.credential.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_form",
            "The credential is empty.",
        ));
    }
    let reply = state
        .auth
        .exchange_token(
            config.provider.clone(),
            ProviderToken::Id(form.credential),
            client_info(&headers, ip),
        )
        .await?;
    let mut response = Redirect::to("/").into_response();
    // Single use: the pair is spent.
    cookies::set(response.headers_mut(), &state.cookies.clear_google_csrf());
    start_session(&state, &mut response, &reply);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn config(script: &str) -> GoogleSignInConfig {
        GoogleSignInConfig {
            provider: "google".into(),
            client_id: "id".into(),
            ux_mode: common::config::UxMode::Popup,
            client_script: Url::parse(script).unwrap(),
        }
    }

    fn cookie_headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, cookie.parse().unwrap());
        headers
    }

    #[test]
    fn the_csp_allows_google_s_library_and_nothing_else() {
        let csp = content_security_policy(&config("https://accounts.google.com/gsi/client"));
        assert!(
            csp.contains("script-src 'self' https://accounts.google.com/gsi/client;"),
            "{csp}"
        );
        assert!(
            csp.contains("frame-src https://accounts.google.com/gsi/;"),
            "{csp}"
        );
        assert!(
            csp.contains("connect-src 'self' https://accounts.google.com/gsi/;"),
            "{csp}"
        );
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-eval") && !csp.contains("script-src 'unsafe-inline'"));
    }

    #[test]
    fn the_double_submit_pair_must_match() {
        assert!(double_submit_matches(&cookie_headers("g_csrf_token=abc"), "abc").is_ok());
        for (cookie, field, code) in [
            ("g_csrf_token=abc", "abd", "csrf_token_mismatch"),
            ("g_csrf_token=abc", "ab", "csrf_token_mismatch"),
            ("g_csrf_token=abc", "", "csrf_token_mismatch"),
            ("other=abc", "abc", "csrf_token_missing"),
            ("g_csrf_token=", "", "csrf_token_missing"),
            // Two different cookies (one tossed by a sibling host): refused.
            (
                "g_csrf_token=abc; g_csrf_token=xyz",
                "abc",
                "csrf_token_missing",
            ),
        ] {
            let error = double_submit_matches(&cookie_headers(cookie), field).unwrap_err();
            assert_eq!(error.code, code, "{cookie} / {field}");
        }
        assert_eq!(
            double_submit_matches(&HeaderMap::new(), "abc")
                .unwrap_err()
                .code,
            "csrf_token_missing"
        );
    }
}
