//! One simulated user for the stress tests: logs in with the front-end token
//! flow (`POST /auth/session`), checks its session, logs out. Each user has a
//! subject of its own, so clients never revoke each other's sessions, and
//! every call is bounded by [`CALL_DEADLINE`]: a hang is a failure that names
//! the call.

use portcullis_tests::{TestStack, cookie_value, set_cookie};
use serde_json::json;
use std::time::Duration;

/// The longest one call may take before the test calls the service hung.
pub(crate) const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// `[gateway]` keys that lift the per-IP login rate limit: every simulated
/// user comes from 127.0.0.1.
pub(crate) const UNLIMITED_LOGINS: &str =
    "login_rate_limit_per_minute = 1000000\nlogin_rate_limit_burst = 1000000\n";

/// A simulated user of one stack.
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    origin: String,
    cookie: String,
    id_token: String,
}

impl Client {
    /// A user named `login` (synthetic at the dev-idp: its own subject).
    pub(crate) fn new(stack: &TestStack, login: &str) -> Client {
        Client::at(stack, &stack.gateway_url, login)
    }

    /// A user named `login` talking to the gateway at `base`.
    pub(crate) fn at(stack: &TestStack, base: &str, login: &str) -> Client {
        let idp = stack.idp.idp();
        let mut claims = idp.id_token_claims(login, "portcullis-dev", None);
        // The dev-idp's synthetic users are unverified, which the dev
        // provider refuses.
        claims["email_verified"] = serde_json::Value::Bool(true);
        Client {
            http: reqwest::Client::builder()
                .timeout(CALL_DEADLINE)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            origin: stack.public_origin.clone(),
            cookie: stack.session_cookie.clone(),
            id_token: idp.sign(&claims),
        }
    }

    /// Logs in; panics unless the gateway answers 200 with a session cookie.
    pub(crate) async fn login(&self) -> String {
        match self.try_login().await {
            Ok(token) => token,
            Err(e) => panic!("login: {e}"),
        }
    }

    /// Logs in; the session token, or why not (status or transport error).
    pub(crate) async fn try_login(&self) -> Result<String, String> {
        let response = self
            .http
            .post(format!("{}/auth/session", self.base))
            .header("origin", &self.origin)
            .json(&json!({"provider": "dev", "id_token": self.id_token}))
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        if response.status() != 200 {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(format!("answered {status}: {body}"));
        }
        set_cookie(&response, &self.cookie)
            .map(|c| cookie_value(c).to_owned())
            .ok_or_else(|| "200 without a session cookie".to_owned())
    }

    /// `GET /auth/me` with `token`: the status, panicking on no answer.
    pub(crate) async fn me(&self, token: &str) -> u16 {
        match self.try_me(token).await {
            Ok(status) => status,
            Err(e) => panic!("GET /auth/me: {e}"),
        }
    }

    /// `GET /auth/me` with `token`: the status, or the transport error.
    pub(crate) async fn try_me(&self, token: &str) -> Result<u16, String> {
        self.http
            .get(format!("{}/auth/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("no answer: {e}"))
    }

    /// `POST /auth/logout`; panics unless it answers 204.
    pub(crate) async fn logout(&self, token: &str) {
        let status = self.try_post(token, "/auth/logout").await;
        assert_eq!(status, Ok(204), "POST /auth/logout");
    }

    /// `POST /auth/logout/all`; panics unless it answers 204.
    pub(crate) async fn logout_all(&self, token: &str) {
        let status = self.try_post(token, "/auth/logout/all").await;
        assert_eq!(status, Ok(204), "POST /auth/logout/all");
    }

    /// POSTs `path` with `token`: the status, or the transport error.
    pub(crate) async fn try_post(&self, token: &str, path: &str) -> Result<u16, String> {
        self.http
            .post(format!("{}{path}", self.base))
            .header("origin", &self.origin)
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("no answer: {e}"))
    }
}
