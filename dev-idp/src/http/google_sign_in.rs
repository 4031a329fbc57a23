//! A stand-in for Google Identity Services, the script behind "Sign in with
//! Google" buttons on web pages, so the gateway's Google sign-in page runs
//! in a real browser without Google:
//!
//! * `GET /gsi/client`: the part of `google.accounts.id` such a page uses
//!   (`initialize`, `renderButton`, then `onGoogleLibraryLoad`), rendering
//!   one button per development user;
//! * `POST /gsi/credential`: popup mode, a Google-shaped ID token (the
//!   "credential") for the page's callback, fetched cross-origin;
//! * `GET /gsi/select`: redirect mode, the account confirmation that posts
//!   `credential` and `g_csrf_token` to the page's `login_uri` from this
//!   origin, as Google's own page does (the page set the `g_csrf_token`
//!   cookie on its origin before coming here: the double-submit pair).

use super::Shared;
use super::pages::{error_page, page};
use crate::grants::random_secret;
use axum::Json;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

/// The script, with `__BASE__` and `__USERS__` replaced by JSON literals.
const CLIENT_SCRIPT: &str = r#""use strict";
(function () {
  var BASE = __BASE__;
  var USERS = __USERS__;
  var config = null;

  function randomToken() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function signIn(login) {
    if (config.ux_mode === "redirect") {
      var token = randomToken();
      document.cookie = "g_csrf_token=" + token + "; path=/; SameSite=Lax";
      var target = new URL(BASE + "/gsi/select");
      target.searchParams.set("client_id", config.client_id);
      target.searchParams.set("login_uri", config.login_uri);
      target.searchParams.set("g_csrf_token", token);
      target.searchParams.set("login", login);
      window.location.assign(target.toString());
      return;
    }
    var form = new URLSearchParams({ client_id: config.client_id, login: login });
    fetch(BASE + "/gsi/credential", { method: "POST", body: form })
      .then(function (reply) {
        if (!reply.ok) { throw new Error("dev-idp answered " + reply.status); }
        return reply.json();
      })
      .then(function (body) {
        config.callback({ credential: body.credential, select_by: "btn", clientId: config.client_id });
      });
  }

  window.google = window.google || {};
  window.google.accounts = window.google.accounts || {};
  window.google.accounts.id = {
    initialize: function (c) { config = c; },
    renderButton: function (parent) {
      USERS.forEach(function (login) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = "Sign in with Google as " + login + " (dev-idp)";
        button.dataset.login = login;
        button.addEventListener("click", function () { signIn(login); });
        parent.appendChild(button);
      });
    },
    prompt: function () {},
    disableAutoSelect: function () {},
  };
  if (typeof window.onGoogleLibraryLoad === "function") { window.onGoogleLibraryLoad(); }
})();
"#;

/// `GET /gsi/client`.
pub(super) async fn client_script(State(provider): State<Shared>) -> Response {
    let logins: Vec<&str> = provider.users.iter().map(|u| u.login.as_str()).collect();
    let script = CLIENT_SCRIPT
        .replace("__BASE__", &json!(provider.issuer).to_string())
        .replace("__USERS__", &json!(logins).to_string());
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        script,
    )
        .into_response()
}

/// The claims of a credential Google's library hands a page: an ID token
/// for the page's client, with `azp`, `nbf`, `jti` and the split name.
fn credential_claims(provider: &Shared, login: &str, client_id: &str) -> Value {
    let mut claims = provider.id_token_claims(login, client_id, None);
    let name = claims["name"].as_str().unwrap_or_default().to_owned();
    let (given, family) = name.split_once(' ').unwrap_or((&name, ""));
    claims["azp"] = json!(client_id);
    claims["nbf"] = claims["iat"].clone();
    claims["jti"] = json!(random_secret());
    claims["given_name"] = json!(given);
    claims["family_name"] = json!(family);
    claims
}

/// The form of `POST /gsi/credential`.
#[derive(Deserialize)]
pub(super) struct CredentialRequest {
    client_id: String,
    login: String,
}

/// `POST /gsi/credential`: `{"credential": "<ID token>"}`, readable from
/// any origin (the page's script fetches it cross-origin, without cookies).
pub(super) async fn credential(
    State(provider): State<Shared>,
    form: Result<Form<CredentialRequest>, FormRejection>,
) -> Response {
    let cors = [(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    )];
    let Ok(Form(request)) = form else {
        let body = json!({ "error": "expected form fields client_id and login" });
        return (StatusCode::BAD_REQUEST, cors, Json(body)).into_response();
    };
    if provider.client(&request.client_id).is_none() || provider.user(&request.login).is_none() {
        let body = json!({ "error": "unknown client_id or login" });
        return (StatusCode::BAD_REQUEST, cors, Json(body)).into_response();
    }
    let claims = credential_claims(&provider, &request.login, &request.client_id);
    tracing::info!(user = %request.login, client_id = %request.client_id, "Google-style credential issued");
    let body = json!({ "credential": provider.sign(&claims) });
    (cors, Json(body)).into_response()
}

/// The query of `GET /gsi/select`.
#[derive(Deserialize)]
pub(super) struct SelectParams {
    client_id: String,
    login_uri: String,
    g_csrf_token: String,
    login: String,
}

/// `GET /gsi/select`: a page whose one button posts the credential and the
/// CSRF token to `login_uri` (on a loopback host only, so this is never a
/// way to post tokens elsewhere).
pub(super) async fn select(
    State(provider): State<Shared>,
    params: Result<Query<SelectParams>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error_page("expected client_id, login_uri, g_csrf_token and login");
    };
    let login_uri = match Url::parse(&params.login_uri) {
        Ok(url) if super::backchannel::is_loopback(&url) => url,
        _ => return error_page("login_uri must be an http(s) URL on a loopback host"),
    };
    if params.g_csrf_token.is_empty() {
        return error_page("g_csrf_token is empty");
    }
    let Some(user) = provider.user(&params.login) else {
        return error_page("unknown login");
    };
    if provider.client(&params.client_id).is_none() {
        return error_page("unknown client_id");
    }
    let credential = provider.sign(&credential_claims(
        &provider,
        &params.login,
        &params.client_id,
    ));
    page(
        StatusCode::OK,
        "Sign in with Google",
        html! {
            p {
                "Continue to " code { (login_uri.origin().ascii_serialization()) }
                " as " (user.name) " <" (user.email) ">?"
            }
            form method="post" action=(login_uri.as_str()) {
                input type="hidden" name="credential" value=(credential);
                input type="hidden" name="g_csrf_token" value=(params.g_csrf_token);
                input type="hidden" name="select_by" value="btn_confirm";
                button type="submit" { "Continue as " (user.login) }
            }
        },
    )
}
