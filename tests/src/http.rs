//! Talking HTTP to the stack: clients (browser-like with a cookie jar, or
//! bare), the gateway's URLs, and assertions and readers on its answers.

use crate::config::fixture;
use crate::stack::TestStack;
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

/// A browser-like client: cookie jar, no automatic redirects (tests follow
/// them step by step).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A client without cookies, for bearer-token and header-level tests.
pub fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
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

    /// GETs `path` with `token` as a bearer credential and reads the JSON
    /// answer, whatever its status.
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        self.bare_client()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
