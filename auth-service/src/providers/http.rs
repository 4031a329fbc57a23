//! Calls to identity providers: one pooled HTTPS client with timeouts, no
//! redirects, and a size cap on every response body, so a slow, huge or
//! malicious provider answer cannot tie up or exhaust the service. Every
//! call goes through [`ProviderHttp::send_json`], which also times it for
//! the provider's latency metrics.

use crate::domain::error::AuthError;
use crate::metrics::{Endpoint, ProviderMetrics};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// The largest provider response body read (discovery, JWKS, token, user).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Builds the client shared by every provider.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "portcullis-auth-service/",
            env!("CARGO_PKG_VERSION")
        ))
        .https_only(false) // plain http is allowed by config validation for loopback only
        .build()
}

/// One provider's view of the shared client: requests are built on the
/// client, and sent through [`ProviderHttp::send_json`], which records each
/// call under this provider's id and its endpoint.
#[derive(Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    metrics: ProviderMetrics,
}

impl ProviderHttp {
    /// `client` (shared by every provider) recording into `metrics`.
    pub fn new(client: reqwest::Client, metrics: ProviderMetrics) -> Self {
        Self { client, metrics }
    }

    /// A GET request to `url`.
    pub fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.client.get(url)
    }

    /// A POST request to `url`.
    pub fn post(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.client.post(url)
    }

    /// This provider's metrics (key-set refreshes).
    pub fn metrics(&self) -> &ProviderMetrics {
        &self.metrics
    }

    /// Sends `request` to `endpoint` and reads at most
    /// [`MAX_RESPONSE_BYTES`] of JSON, timing the whole exchange. `what`
    /// names the endpoint in error messages ("JWKS", "token endpoint").
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: Endpoint,
        what: &str,
    ) -> Result<JsonResponse<T>, AuthError> {
        let started = Instant::now();
        let result = send_json(request, what).await;
        self.metrics
            .record_call(endpoint, started.elapsed(), result.is_err());
        result
    }

    /// Like [`ProviderHttp::send_json`], but any non-2xx status or
    /// unparsable body is an "unavailable" error: for endpoints whose
    /// failure is the provider's.
    pub async fn fetch_json<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: Endpoint,
        what: &str,
    ) -> Result<(T, Option<u64>), AuthError> {
        let response = self.send_json(request, endpoint, what).await?;
        if !response.status.is_success() {
            return Err(AuthError::ProviderUnavailable(format!(
                "{what} answered HTTP {}",
                response.status.as_u16()
            )));
        }
        let body = response.body.map_err(AuthError::ProviderUnavailable)?;
        Ok((body, response.max_age))
    }
}

/// A provider answer: its status and its JSON body (if it parsed).
pub struct JsonResponse<T> {
    /// HTTP status.
    pub status: reqwest::StatusCode,
    /// `Cache-Control: max-age` in seconds, when present.
    pub max_age: Option<u64>,
    /// The body, parsed.
    pub body: Result<T, String>,
}

/// Sends `request` and reads at most [`MAX_RESPONSE_BYTES`] of JSON.
/// `what` names the endpoint in error messages ("JWKS", "token endpoint")
/// and in the call's span, which holds neither the URL nor the body: a
/// token request carries the code and the client secret.
#[tracing::instrument(name = "provider_call", skip_all, fields(otel.kind = "client", endpoint = %what))]
async fn send_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<JsonResponse<T>, AuthError> {
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| AuthError::ProviderUnavailable(format!("{what}: {}", describe(&e))))?;
    let status = response.status();
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_max_age);
    let declared = response.content_length().unwrap_or(0);
    if declared > MAX_RESPONSE_BYTES as u64 {
        return Err(AuthError::ProviderUnavailable(format!(
            "{what}: response larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| AuthError::ProviderUnavailable(format!("{what}: {}", describe(&e))))?;
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(AuthError::ProviderUnavailable(format!(
                "{what}: response larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let body = serde_json::from_slice(&body).map_err(|e| format!("{what}: malformed JSON: {e}"));
    Ok(JsonResponse {
        status,
        max_age,
        body,
    })
}

/// A transport error without its URL (URLs may carry codes or tokens).
fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request failed"
    }
}

fn parse_max_age(cache_control: &str) -> Option<u64> {
    cache_control.split(',').find_map(|directive| {
        let directive = directive.trim();
        directive
            .strip_prefix("max-age=")
            .and_then(|v| v.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_max_age;

    #[test]
    fn max_age_is_parsed() {
        assert_eq!(
            parse_max_age("public, max-age=19990, must-revalidate"),
            Some(19990)
        );
        assert_eq!(parse_max_age("no-cache"), None);
        assert_eq!(parse_max_age("max-age=abc"), None);
    }
}
