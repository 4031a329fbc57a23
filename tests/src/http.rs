//! Talking HTTP to the stack: clients (browser-like with a cookie jar, or
//! bare), the gateway's URLs, one-line requests for the shapes tests send
//! most (zero2prod's `TestApp::post_*` style: anonymous, with the session
//! cookie, with a bearer token, JSON, or in a browser's cookie jar), and
//! assertions and readers on its answers. A request of another shape is
//! built on [`TestStack::bare_client`] or [`TestStack::browser`] with
//! [`TestStack::url`].

use crate::config::fixture;
use crate::stack::TestStack;
use reqwest::Method;
use std::time::Duration;

/// Asserts a redirect (301/302/303/307/308) to exactly `location`.
pub fn assert_redirect(response: &reqwest::Response, location: &str) {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {}",
        response.status()
    );
    assert_eq!(
        response.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap(),
        location
    );
}

/// The `Location` header.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("no Location in a {} answer", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `Set-Cookie` header setting `name`, if any.
pub fn set_cookie<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The value a `Set-Cookie` line sets.
pub fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v)
        .unwrap_or("")
}

impl TestStack {
    fn client_builder(&self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        if self.options.tls {
            let ca = std::fs::read(fixture("ca.pem")).unwrap();
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                .https_only(false);
        }
        builder
    }

    /// A browser-like client for this stack (trusts the test CA on TLS).
    pub fn browser(&self) -> reqwest::Client {
        self.client_builder().cookie_store(true).build().unwrap()
    }

    /// A client without cookies for this stack.
    pub fn bare_client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    /// A gateway URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway_url)
    }

    /// Maps a redirect target on the public origin to the gateway's real
    /// address; other URLs are returned unchanged.
    pub fn follow(&self, location: &str) -> String {
        match location.strip_prefix(&self.public_origin) {
            Some(rest) if rest.starts_with('/') => format!("{}{rest}", self.gateway_url),
            _ => location.to_owned(),
        }
    }

    /// `GET path`, anonymous.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        send(self.bare(Method::GET, path)).await
    }

    /// `GET path` as a browser navigation (`Accept: text/html`), anonymous.
    pub async fn get_html(&self, path: &str) -> reqwest::Response {
        send(self.bare(Method::GET, path).header("accept", "text/html")).await
    }

    /// `GET path` with `token` in the session cookie.
    pub async fn get_with_session(&self, path: &str, token: &str) -> reqwest::Response {
        send(self.with_session(Method::GET, path, token)).await
    }

    /// `GET path` with `token` as a bearer credential.
    pub async fn get_with_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        send(self.bare(Method::GET, path).bearer_auth(token)).await
    }

    /// `GET path` in `client`, a [`TestStack::browser`]: with the cookies
    /// its jar holds.
    pub async fn get_in(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        send(client.get(self.url(path))).await
    }

    /// [`TestStack::get_in`], reading the JSON answer whatever its status.
    pub async fn get_json_in(&self, client: &reqwest::Client, path: &str) -> serde_json::Value {
        self.get_in(client, path).await.json().await.unwrap()
    }

    /// GETs `path` with `token` as a bearer credential and reads the JSON
    /// answer, whatever its status.
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        self.get_with_bearer(path, token)
            .await
            .json()
            .await
            .unwrap()
    }

    /// `POST path` with `body` as JSON, anonymous and without `Origin`, as
    /// a non-browser client sends it.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        send(self.bare(Method::POST, path).json(body)).await
    }

    /// `POST path` without a body, with `token` in the session cookie and
    /// `headers`: an `Origin` (ours or another), or none at all as a forged
    /// cross-site form may send.
    pub async fn post_with_session(
        &self,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.with_session(Method::POST, path, token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request).await
    }

    /// `method path` on a fresh [`TestStack::bare_client`].
    fn bare(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.bare_client().request(method, self.url(path))
    }

    /// [`TestStack::bare`] carrying `token` in the session cookie.
    fn with_session(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.bare(method, path)
            .header("cookie", format!("{}={token}", self.session_cookie))
    }
}

/// Sends `request`; a transport error fails the test.
async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.unwrap()
}
