//! The provider logging users out (development only):
//! `POST /dev/backchannel-logout` with form fields `login`,
//! `backchannel_uri`, `client_id` and optionally `scope`, signs OpenID
//! Connect Back-Channel Logout tokens and POSTs each to the URI, as a real
//! provider does when a user signs out there. `scope=session` (default)
//! sends one token per provider session of the user (`sub` and `sid`);
//! `scope=user` sends one token naming the user only (`sub`). The answer
//! lists the status each delivery got.
//!
//! The URI must be on a loopback host: the dev-idp only ever talks to
//! services on this machine.

use super::Shared;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use url::Url;

/// The action's form.
#[derive(Deserialize)]
pub(super) struct SendLogout {
    login: String,
    backchannel_uri: Url,
    client_id: String,
    #[serde(default)]
    scope: Scope,
}

/// Which sessions the tokens end.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Scope {
    /// One token per provider session, naming `sub` and `sid`.
    #[default]
    Session,
    /// One token naming only `sub`: every session of the user.
    User,
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// Whether `url` is http(s) on a loopback host.
pub(super) fn is_loopback(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    loopback && matches!(url.scheme(), "http" | "https")
}

/// `POST /dev/backchannel-logout`.
pub(super) async fn send(
    State(provider): State<Shared>,
    form: Result<Form<SendLogout>, FormRejection>,
) -> Response {
    let Ok(Form(request)) = form else {
        return bad_request("expected form fields login, backchannel_uri, client_id[, scope]");
    };
    if !is_loopback(&request.backchannel_uri) {
        return bad_request("backchannel_uri must be an http(s) URL on a loopback host");
    }
    if provider.client(&request.client_id).is_none() {
        return bad_request("unknown client_id");
    }
    let tokens: Vec<String> = match request.scope {
        Scope::User => vec![provider.logout_token(&request.login, &request.client_id, None, true)],
        Scope::Session => provider
            .sessions_of(&request.login)
            .iter()
            .map(|sid| provider.logout_token(&request.login, &request.client_id, Some(sid), true))
            .collect(),
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => return bad_request(&format!("cannot build an HTTP client: {e}")),
    };
    let mut statuses = Vec::with_capacity(tokens.len());
    for token in tokens {
        let sent = client
            .post(request.backchannel_uri.clone())
            .form(&[("logout_token", token)])
            .send()
            .await;
        statuses.push(match sent {
            Ok(response) => json!(response.status().as_u16()),
            Err(e) => json!(format!("not delivered: {e}")),
        });
    }
    tracing::info!(login = %request.login, sent = statuses.len(), "back-channel logout sent");
    Json(json!({ "sent": statuses.len(), "statuses": statuses })).into_response()
}
