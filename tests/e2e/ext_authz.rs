//! Envoy's external authorization against the real gateway binary. No
//! Envoy runs here, so the test plays Envoy with the `envoy-types` crate's
//! generated client and asserts the exact `CheckResponse`s: the request
//! rewritten for the upstream, and the answers Envoy would send the client.

use crate::forward_auth::PROXIED_ROUTES;
use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use portcullis_tests::{StackOptions, TestStack};
use serde_json::Value;
use std::collections::HashMap;
use tonic::transport::Channel;

/// A stack serving ext_authz, with [`PROXIED_ROUTES`].
async fn envoy_stack() -> (TestStack, AuthorizationClient<Channel>) {
    let stack = TestStack::start_with(StackOptions {
        gateway_settings: "ext_authz_listen = \"127.0.0.1:0\"\n".into(),
        routes: PROXIED_ROUTES.into(),
        ..StackOptions::default()
    })
    .await;
    let client = AuthorizationClient::connect(stack.ext_authz_url().await)
        .await
        .unwrap();
    (stack, client)
}

/// What Envoy sends for a `method path` request with `headers`.
fn described(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    let mut map: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    map.insert(":path".into(), path.into());
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    path: path.into(),
                    host: "app.example.com".into(),
                    scheme: "https".into(),
                    headers: map,
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

async fn check(
    client: &mut AuthorizationClient<Channel>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> CheckResponse {
    client
        .check(described(method, path, headers))
        .await
        .unwrap()
        .into_inner()
}

/// The OK answer's headers to set (name → value, each overwriting) and to
/// remove; panics on a denial.
fn allowed(response: &CheckResponse) -> (HashMap<String, String>, Vec<String>) {
    assert_eq!(response.status.as_ref().unwrap().code, 0, "{response:?}");
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("not an OK response: {response:?}");
    };
    let set = ok
        .headers
        .iter()
        .map(|option| {
            // OVERWRITE_IF_EXISTS_OR_ADD: a forged value cannot survive.
            assert_eq!(option.append_action, 2, "{option:?}");
            let header = option.header.as_ref().unwrap();
            (header.key.clone(), header.value.clone())
        })
        .collect();
    let mut remove = ok.headers_to_remove.clone();
    remove.sort();
    (set, remove)
}

/// The denial's HTTP status, headers and body; panics on an OK.
fn denied(response: &CheckResponse) -> (i32, HashMap<String, String>, String) {
    assert_ne!(response.status.as_ref().unwrap().code, 0, "{response:?}");
    let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
        panic!("not a denial: {response:?}");
    };
    let headers = denied
        .headers
        .iter()
        .map(|option| {
            let header = option.header.as_ref().unwrap();
            (header.key.clone(), header.value.clone())
        })
        .collect();
    (
        denied.status.as_ref().unwrap().code,
        headers,
        denied.body.clone(),
    )
}

#[tokio::test]
async fn allowed_requests_reach_the_upstream_as_our_proxy_would_send_them() {
    let (stack, mut client) = envoy_stack().await;
    let alice = stack.session_token("alice").await;
    let me: Value = stack.get_json("/auth/me", &alice).await;
    let cookie = format!("{}={alice}; theme=dark", stack.session_cookie);

    let response = check(
        &mut client,
        "GET",
        "/api/admin/x?y=1",
        &[
            ("cookie", &cookie),
            ("x-auth-user-id", "forged"),
            ("x_auth_roles", "forged"),
            ("x-original-url", "/somewhere-else"),
            ("x-forwarded-for", "203.0.113.9"),
            ("accept", "application/json"),
        ],
    )
    .await;
    let (set, remove) = allowed(&response);
    assert_eq!(set["x-auth-user-id"], me["user"]["id"].as_str().unwrap());
    assert_eq!(set["x-auth-email"], "alice@example.com");
    assert_eq!(
        set["x-auth-session-id"],
        me["session"]["id"].as_str().unwrap()
    );
    assert_eq!(set["x-auth-roles"], "admin");
    assert_eq!(set["x-auth-groups"], "admins,staff");
    // Our cookie never reaches the upstream; the app's own does.
    assert_eq!(set["cookie"], "theme=dark");
    assert_eq!(set.len(), 6, "{set:?}");
    // Every forged spelling goes; Envoy's own X-Forwarded-For stays.
    assert_eq!(remove, ["x-original-url", "x_auth_roles"]);

    // A session bearer token is taken out too.
    let bearer = format!("Bearer {alice}");
    let response = check(
        &mut client,
        "POST",
        "/api/whoami",
        &[("authorization", &bearer)],
    )
    .await;
    let (set, remove) = allowed(&response);
    assert_eq!(set["x-auth-email"], "alice@example.com");
    assert_eq!(remove, ["authorization"]);

    // A public route: anonymous callers pass with no identity at all.
    let response = check(
        &mut client,
        "GET",
        "/open/page",
        &[("x-auth-email", "forged@example.com")],
    )
    .await;
    let (set, remove) = allowed(&response);
    assert!(set.is_empty(), "{set:?}");
    assert_eq!(remove, ["x-auth-email"]);
}

#[tokio::test]
async fn denied_requests_get_the_answer_envoy_sends_the_client() {
    let (stack, mut client) = envoy_stack().await;
    let bob = stack.session_token("bob").await;
    let bob_cookie = format!("{}={bob}", stack.session_cookie);

    // An API client without a session: 401 JSON with a challenge.
    let (status, headers, body) = denied(
        &check(
            &mut client,
            "GET",
            "/api/whoami",
            &[("accept", "application/json")],
        )
        .await,
    );
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"portcullis\"");
    assert_eq!(headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "unauthenticated");

    // A browser: straight to the login page, and back afterwards.
    let (status, headers, _) = denied(
        &check(
            &mut client,
            "GET",
            "/app/page?x=1",
            &[("accept", "text/html,application/xhtml+xml")],
        )
        .await,
    );
    assert_eq!(status, 302);
    assert_eq!(
        headers["location"],
        "/auth/login?return_to=%2Fapp%2Fpage%3Fx%3D1"
    );

    // The policy: bob is not an admin (JSON for an API, a page for a
    // browser).
    let (status, _, body) = denied(
        &check(
            &mut client,
            "GET",
            "/api/admin/",
            &[("cookie", &bob_cookie)],
        )
        .await,
    );
    assert_eq!(status, 403);
    assert!(body.contains("\"forbidden\""), "{body}");
    let (status, headers, body) = denied(
        &check(
            &mut client,
            "GET",
            "/api/admin/",
            &[("cookie", &bob_cookie), ("accept", "text/html")],
        )
        .await,
    );
    assert_eq!(status, 403);
    assert!(headers["content-type"].starts_with("text/html"));
    assert!(body.contains("Error code"), "{body}");

    // Paths are read as the gateway reads its own.
    for path in [
        "/open/../staff-only/x",
        "/open/%2e%2e/staff-only/x",
        "/Staff-Only/x",
    ] {
        let (status, _, _) =
            denied(&check(&mut client, "GET", path, &[("cookie", &bob_cookie)]).await);
        assert!(matches!(status, 400 | 403), "{path}: {status}");
    }

    // A description that is not a request.
    let (status, _, body) = denied(&check(&mut client, "GET", "no-slash", &[]).await);
    assert_eq!(status, 400);
    assert!(body.contains("invalid_forwarded_request"), "{body}");
    let error = client.check(CheckRequest::default()).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn without_the_setting_there_is_no_listener() {
    let stack = TestStack::start().await;
    // Every address line is printed before the gateway serves anything.
    stack.metrics_url().await;
    assert_eq!(stack.get("/healthz").await.status(), 200);
    assert!(
        !stack
            .gateway
            .logs()
            .iter()
            .any(|line| line.starts_with("ext_authz listening on")),
        "{:?}",
        stack.gateway.logs()
    );
}
