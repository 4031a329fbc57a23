//! Envoy's external authorization, `envoy.service.auth.v3.Authorization/Check`
//! (Envoy's `ext_authz` HTTP filter with a `grpc_service`, Istio's `CUSTOM`
//! action, Envoy Gateway's `extAuth`): the decision of `/auth/check`
//! ([`crate::forward_auth`]) on the request Envoy describes, answered in
//! Envoy's terms.
//!
//! * Allowed: OK, with the upstream request rewritten as the gateway's own
//!   proxy would send it: the `X-Auth-*` identity headers set (removed when
//!   empty, and all of them for an anonymous caller: Envoy does not set
//!   empty values), every client spelling of them and of the address and
//!   path overrides removed (`X-Forwarded-*` is Envoy's own), and the
//!   session cookie and a session bearer token taken out.
//! * Denied: the answer Envoy gives the client itself: a 302 to the login
//!   page for a browser navigation without a session, otherwise the
//!   gateway's usual error (401 with `WWW-Authenticate`, 403, 400, 503),
//!   as JSON, or as the error page for a browser.
//!
//! Envoy is trusted to describe the request truthfully, as
//! `trusted_proxies` are for `/auth/check`: the listener
//! (`gateway.ext_authz_listen`) belongs where only Envoy reaches it.

use crate::client_headers;
use crate::error::{ApiError, wants_html};
use crate::extract::CurrentUser;
use crate::forward_auth::{Verdict, decide};
use crate::original_request::OriginalRequest;
use crate::pages;
use crate::proxy::{add_identity_headers, remove_session_credentials};
use crate::routes::configured::RouteTable;
use crate::state::AppState;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use envoy_types::ext_authz::v3::pb::{
    Authorization, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction,
    HeaderValue as EnvoyHeader, HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::google::rpc;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The service.
pub(crate) struct ExtAuthz {
    state: AppState,
    table: Arc<RouteTable>,
}

impl ExtAuthz {
    pub(crate) fn new(state: AppState, table: Arc<RouteTable>) -> Self {
        Self { state, table }
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    #[tracing::instrument(name = "ext_authz", skip_all)]
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let check = request.into_inner();
        let Some(http) = check
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref())
        else {
            return Err(Status::invalid_argument(
                "the CheckRequest describes no HTTP request (attributes.request.http)",
            ));
        };
        Ok(Response::new(self.answer(http).await))
    }
}

impl ExtAuthz {
    async fn answer(&self, http: &HttpRequest) -> CheckResponse {
        let (original, headers) = match described(http) {
            Ok(described) => described,
            Err(e) => return self.denied(&e, &HeaderMap::new()),
        };
        let mut parts = match axum::http::Request::builder()
            .method(original.method.clone())
            .uri(original.target.as_str())
            .body(())
        {
            Ok(request) => request.into_parts().0,
            Err(_) => {
                let e = ApiError::internal("the described request cannot be rebuilt");
                return self.denied(&e, &headers);
            }
        };
        parts.headers = headers;
        match decide(&self.state, &self.table, Some(&original), &mut parts).await {
            Verdict::Allowed(user) => self.allowed(&parts.headers, user.as_deref()),
            Verdict::LogIn(location) => login(&location),
            Verdict::Refused(e) => self.denied(&e, &parts.headers),
        }
    }

    /// OK, with the request's headers rewritten for the upstream.
    fn allowed(&self, client: &HeaderMap, user: Option<&CurrentUser>) -> CheckResponse {
        let mut upstream = client.clone();
        client_headers::strip_all_but_forwarding(&mut upstream);
        remove_session_credentials(&mut upstream, &self.state.cookies);
        if let Some(user) = user {
            add_identity_headers(&mut upstream, user.identity());
        }
        ok_response(client, &upstream)
    }

    /// The gateway's error, as Envoy will send it to the client: the error
    /// page for a browser, JSON otherwise.
    fn denied(&self, error: &ApiError, client: &HeaderMap) -> CheckResponse {
        log_refusal(error);
        let page = wants_html(client).then(|| {
            pages::error_page(
                &self.state.gateway.branding,
                error.status,
                error.code,
                &error.message,
            )
        });
        denial(error, page)
    }
}

/// OK, turning the `client` request into the `upstream` one.
fn ok_response(client: &HeaderMap, upstream: &HeaderMap) -> CheckResponse {
    let (set, remove) = rewrite(client, upstream);
    let ok = OkHttpResponse {
        headers: set
            .into_iter()
            .map(|(name, value)| overwrite(name, value))
            .collect(),
        headers_to_remove: remove,
        ..OkHttpResponse::default()
    };
    response(rpc_status(0, ""), HttpResponse::OkResponse(ok))
}

/// `error` as a denial, with `page` as its body (JSON when `None`).
fn denial(error: &ApiError, page: Option<String>) -> CheckResponse {
    let (content_type, body) = match page {
        Some(page) => ("text/html; charset=utf-8", page),
        None => ("application/json", error.json_body()),
    };
    let mut headers = vec![plain(header::CONTENT_TYPE.as_str(), content_type)];
    if error.status == StatusCode::UNAUTHORIZED {
        headers.push(plain(
            header::WWW_AUTHENTICATE.as_str(),
            "Bearer realm=\"portcullis\"",
        ));
    }
    if let Some(secs) = error.retry_after {
        headers.push(plain(header::RETRY_AFTER.as_str(), &secs.to_string()));
    }
    let grpc_code = if error.status == StatusCode::UNAUTHORIZED {
        16 // UNAUTHENTICATED
    } else {
        7 // PERMISSION_DENIED
    };
    let denied = DeniedHttpResponse {
        status: Some(HttpStatus {
            code: i32::from(error.status.as_u16()),
        }),
        headers,
        body,
    };
    response(
        rpc_status(grpc_code, error.code),
        HttpResponse::DeniedResponse(denied),
    )
}

/// The request Envoy describes, and its headers (pseudo-headers left out).
fn described(http: &HttpRequest) -> Result<(OriginalRequest, HeaderMap), ApiError> {
    let malformed = |what: &'static str| ApiError::bad_request("invalid_forwarded_request", what);
    let method = Method::from_bytes(http.method.as_bytes())
        .map_err(|_| malformed("Envoy described a request whose method is not a method."))?;
    let target = http
        .path
        .starts_with('/')
        .then(|| http.path.parse::<PathAndQuery>().ok())
        .flatten()
        .ok_or_else(|| {
            malformed("Envoy described a request whose path is not an origin-form path.")
        })?;
    let mut headers = HeaderMap::with_capacity(http.headers.len());
    for (name, value) in &http.headers {
        if name.starts_with(':') {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| malformed("Envoy described a header whose name is not a header name."))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| malformed("Envoy described a header value that is not valid."))?;
        headers.append(name, value);
    }
    let url = (!http.scheme.is_empty() && !http.host.is_empty())
        .then(|| format!("{}://{}{}", http.scheme, http.host, target));
    Ok((
        OriginalRequest {
            method,
            target,
            url,
        },
        headers,
    ))
}

/// What turns `client` into `upstream`: headers to set (changed or new,
/// with a value) and names to remove (gone, or left empty).
fn rewrite(client: &HeaderMap, upstream: &HeaderMap) -> (Vec<(String, String)>, Vec<String>) {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    for name in client.keys() {
        if !upstream.contains_key(name) {
            remove.push(name.as_str().to_owned());
        }
    }
    for name in upstream.keys() {
        let values: Vec<&str> = upstream
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let joined = values.join(",");
        let unchanged = client
            .get_all(name)
            .iter()
            .eq(upstream.get_all(name).iter());
        if joined.is_empty() {
            if client.contains_key(name) {
                remove.push(name.as_str().to_owned());
            }
        } else if !unchanged {
            set.push((name.as_str().to_owned(), joined));
        }
    }
    remove.sort_unstable();
    remove.dedup();
    (set, remove)
}

/// A 302 to the login page.
fn login(location: &str) -> CheckResponse {
    let denied = DeniedHttpResponse {
        status: Some(HttpStatus { code: 302 }),
        headers: vec![
            plain(header::LOCATION.as_str(), location),
            plain(header::CACHE_CONTROL.as_str(), "no-store"),
        ],
        body: String::new(),
    };
    response(
        rpc_status(16, "unauthenticated"),
        HttpResponse::DeniedResponse(denied),
    )
}

fn rpc_status(code: i32, message: &str) -> rpc::Status {
    rpc::Status {
        code,
        message: message.to_owned(),
        details: Vec::new(),
    }
}

fn response(status: rpc::Status, http: HttpResponse) -> CheckResponse {
    CheckResponse {
        status: Some(status),
        http_response: Some(http),
        ..CheckResponse::default()
    }
}

/// A header for a denied response.
fn plain(name: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(EnvoyHeader {
            key: name.to_owned(),
            value: value.to_owned(),
            ..EnvoyHeader::default()
        }),
        ..HeaderValueOption::default()
    }
}

/// A header that replaces whatever the request had under its name.
fn overwrite(name: String, value: String) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(EnvoyHeader {
            key: name,
            value,
            ..EnvoyHeader::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
        ..HeaderValueOption::default()
    }
}

fn log_refusal(error: &ApiError) {
    let cause = error.internal.as_deref().unwrap_or("");
    if error.status.is_server_error() {
        tracing::error!(
            status = error.status.as_u16(),
            code = error.code,
            cause,
            "ext_authz check failed"
        );
    } else {
        tracing::info!(
            status = error.status.as_u16(),
            code = error.code,
            cause,
            "ext_authz check refused"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn the_rewrite_sets_what_changed_and_removes_what_went() {
        let client = map(&[
            ("accept", "text/html"),
            ("cookie", "portcullis=t; theme=dark"),
            ("x-auth-user-id", "forged"),
            ("x-auth-roles", "admin"),
            ("x_auth_email", "forged@example.com"),
        ]);
        let upstream = map(&[
            ("accept", "text/html"),
            ("cookie", "theme=dark"),
            ("x-auth-user-id", "u1"),
            ("x-auth-roles", ""),
            ("x-auth-email", "a@example.com"),
        ]);
        let (mut set, remove) = rewrite(&client, &upstream);
        set.sort();
        assert_eq!(
            set,
            [
                ("cookie".to_owned(), "theme=dark".to_owned()),
                ("x-auth-email".to_owned(), "a@example.com".to_owned()),
                ("x-auth-user-id".to_owned(), "u1".to_owned()),
            ]
        );
        assert_eq!(remove, ["x-auth-roles", "x_auth_email"]);
    }

    /// A denial's gRPC code, HTTP status, headers and body.
    fn parts_of(response: &CheckResponse) -> (i32, i32, HashMap<String, String>, String) {
        let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
            panic!("not a denial: {response:?}");
        };
        let headers = denied
            .headers
            .iter()
            .map(|o| {
                let h = o.header.as_ref().unwrap();
                (h.key.clone(), h.value.clone())
            })
            .collect();
        (
            response.status.as_ref().unwrap().code,
            denied.status.as_ref().unwrap().code,
            headers,
            denied.body.clone(),
        )
    }

    #[test]
    fn denials_carry_the_status_challenge_and_body() {
        let (grpc, http, headers, body) = parts_of(&denial(&ApiError::unauthenticated(), None));
        assert_eq!((grpc, http), (16, 401));
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"portcullis\"");
        assert_eq!(headers["content-type"], "application/json");
        assert!(body.contains("\"error\":\"unauthenticated\""), "{body}");

        let (grpc, http, headers, _) =
            parts_of(&denial(&ApiError::forbidden(), Some("<p>page</p>".into())));
        assert_eq!((grpc, http), (7, 403));
        assert!(!headers.contains_key("www-authenticate"));
        assert!(headers["content-type"].starts_with("text/html"));

        let (_, http, headers, _) = parts_of(&denial(&ApiError::auth_unavailable(), None));
        assert_eq!(http, 503);
        assert!(!headers.contains_key("retry-after"), "{headers:?}");
        let (_, http, headers, _) = parts_of(&denial(&ApiError::rate_limited(30), None));
        assert_eq!(http, 429);
        assert_eq!(headers["retry-after"], "30");
    }

    #[test]
    fn a_browser_without_a_session_is_sent_to_log_in() {
        let (grpc, http, headers, body) = parts_of(&login("/auth/login?return_to=%2Fx"));
        assert_eq!((grpc, http), (16, 302));
        assert_eq!(headers["location"], "/auth/login?return_to=%2Fx");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(body.is_empty());
    }

    #[test]
    fn an_ok_sets_overwrites_and_removes() {
        let client = map(&[("x-auth-email", "forged"), ("x_auth_email", "forged")]);
        let upstream = map(&[("x-auth-email", "a@example.com")]);
        let response = ok_response(&client, &upstream);
        assert_eq!(response.status.as_ref().unwrap().code, 0);
        let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
            panic!("{response:?}");
        };
        assert_eq!(ok.headers.len(), 1);
        assert_eq!(ok.headers[0].append_action, 2, "overwrite, never append");
        let header = ok.headers[0].header.as_ref().unwrap();
        assert_eq!(
            (header.key.as_str(), header.value.as_str()),
            ("x-auth-email", "a@example.com")
        );
        assert_eq!(ok.headers_to_remove, ["x_auth_email"]);
    }

    #[test]
    fn nothing_changed_means_nothing_to_do() {
        let client = map(&[("accept", "*/*"), ("x-custom", "1")]);
        let (set, remove) = rewrite(&client, &client.clone());
        assert!(set.is_empty() && remove.is_empty());
    }

    #[test]
    fn described_requests_must_be_well_formed() {
        let http = |method: &str, path: &str, headers: &[(&str, &str)]| HttpRequest {
            method: method.into(),
            path: path.into(),
            host: "app.example.com".into(),
            scheme: "https".into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..HttpRequest::default()
        };
        let (original, headers) = described(&http(
            "GET",
            "/a?b=1",
            &[(":authority", "x"), ("accept", "*/*")],
        ))
        .unwrap();
        assert_eq!(original.target.as_str(), "/a?b=1");
        assert_eq!(
            original.url.as_deref(),
            Some("https://app.example.com/a?b=1")
        );
        assert_eq!(headers.len(), 1, "pseudo-headers are left out");
        // Without both scheme and host there is no whole URL to return to.
        let mut no_scheme = http("GET", "/a", &[]);
        no_scheme.scheme.clear();
        assert_eq!(described(&no_scheme).unwrap().0.url, None);
        let mut no_host = http("GET", "/a", &[]);
        no_host.host.clear();
        assert_eq!(described(&no_host).unwrap().0.url, None);
        for bad in [
            http("G ET", "/", &[]),
            http("GET", "a", &[]),
            http("GET", "http://x/a", &[]),
            http("GET", "", &[]),
            http("GET", "/", &[("bad name", "v")]),
            http("GET", "/", &[("x", "line\nbreak")]),
        ] {
            let error = described(&bad).map(|_| ()).unwrap_err();
            assert_eq!(error.code, "invalid_forwarded_request");
        }
    }
}
