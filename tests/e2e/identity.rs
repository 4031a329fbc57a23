//! Identity through the gateway: signing in with X (Twitter), a provider
//! allow-list refusing a login, and the provider logging a user out over
//! the back channel, against the real binaries and the dev-idp acting as
//! each provider.

use portcullis_tests::{StackOptions, TestStack, set_cookie, wait_until};
use serde_json::Value;
use std::time::Duration;

/// The dev-idp as X (public client, its X API at the issuer's root), and
/// as an OpenID provider that admits only the `admins` group.
const PROVIDERS: &str = r#"
[[providers]]
id = "devx"
name = "X (development)"
kind = "twitter"
client_id = "portcullis-dev"
token_endpoint_auth = "none"
authorization_endpoint = "{issuer}/authorize"
token_endpoint = "{issuer}/token"
api_base_url = "{issuer}"

[[providers]]
id = "admins"
kind = "oidc"
client_id = "portcullis-dev"
token_endpoint_auth = "none"
issuer = "{issuer}"
groups_claim = "groups"
allowed_groups = ["admins"]

[[providers]]
id = "bcl"
kind = "oidc"
client_id = "portcullis-dev"
token_endpoint_auth = "none"
issuer = "{issuer}"
backchannel_logout = true

[[providers]]
id = "rpl"
kind = "oidc"
client_id = "portcullis-dev"
token_endpoint_auth = "none"
issuer = "{issuer}"
post_logout_redirect_uri = "http://127.0.0.1/logged-out"
"#;

async fn stack() -> TestStack {
    TestStack::start_with(StackOptions {
        providers: PROVIDERS.to_owned(),
        ..StackOptions::default()
    })
    .await
}

#[tokio::test]
async fn sign_in_with_x_gives_a_session_without_an_email() {
    let stack = stack().await;
    let page = stack.get_html("/").await.text().await.unwrap();
    assert!(page.contains("/auth/login/devx"), "{page}");

    let client = stack.browser();
    let callback = stack
        .authorize_at("devx", &client, "bob", "/api/whoami")
        .await;
    let done = client.get(callback).send().await.unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    let me: Value = stack.get_json_in(&client, "/auth/me").await;
    assert_eq!(me["user"]["provider"], "devx");
    assert_eq!(me["user"]["name"], "Bob Example");
    assert_eq!(me["user"]["email"], "");
    assert_eq!(me["user"]["email_verified"], false);
    let whoami = stack.get_in(&client, "/api/whoami").await;
    assert_eq!(whoami.status(), 200);

    // A front-end's X token is refused with the reason.
    let token = stack.access_token("bob").await;
    let refused = stack
        .post_json(
            "/auth/session",
            &serde_json::json!({"provider": "devx", "access_token": token}),
        )
        .await;
    assert_eq!(refused.status(), 401);
    assert!(set_cookie(&refused, &stack.session_cookie).is_none());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "token_not_verifiable", "{body}");
}

#[tokio::test]
async fn a_provider_allow_list_refuses_the_login_with_its_reason() {
    let stack = stack().await;
    let client = stack.browser();
    let callback = stack.authorize_at("admins", &client, "bob", "/").await;
    let refused = client.get(callback).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(set_cookie(&refused, &stack.session_cookie).is_none());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "group_not_allowed");

    let client = stack.browser();
    let callback = stack.authorize_at("admins", &client, "alice", "/").await;
    let admitted = client.get(callback).send().await.unwrap();
    assert_eq!(admitted.status(), 303);
}

async fn live(stack: &TestStack, token: &str) -> bool {
    stack.get_with_bearer("/auth/me", token).await.status() == 200
}

#[tokio::test]
async fn the_provider_logs_a_user_out_over_the_back_channel() {
    let stack = stack().await;
    let first = stack.session_token_at("bcl", "alice").await;
    let second = stack.session_token_at("bcl", "alice").await;
    let bob = stack.session_token_at("bcl", "bob").await;
    for token in [&first, &second, &bob] {
        assert!(live(&stack, token).await);
    }
    let endpoint = stack.url("/auth/backchannel-logout/bcl");

    // Garbage is a 400 with the reason, and ends nothing.
    let garbage = stack
        .bare_client()
        .post(&endpoint)
        .form(&[("logout_token", "not-a-jwt")])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(garbage.headers()["cache-control"], "no-store");
    let body: Value = garbage.json().await.unwrap();
    assert_eq!(body["error"], "malformed_token");

    // The dev-idp's development action: alice signs out at the provider,
    // which posts one logout token per provider session of hers.
    let sent: Value = stack
        .bare_client()
        .post(format!("{}/dev/backchannel-logout", stack.idp_url))
        .form(&[
            ("login", "alice"),
            ("backchannel_uri", endpoint.as_str()),
            ("client_id", "portcullis-dev"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["statuses"], serde_json::json!([200, 200]), "{sent}");
    // Revoked in auth-service before the 200; every gateway cache hears it
    // through the revocation feed within milliseconds.
    for token in [&first, &second] {
        wait_until(Duration::from_secs(5), "the session is refused", || async {
            !live(&stack, token).await
        })
        .await;
    }
    assert!(live(&stack, &bob).await, "bob's session is untouched");
}

#[tokio::test]
async fn logging_out_sends_the_browser_to_log_out_at_the_provider_too() {
    let stack = stack().await;
    let token = stack.session_token_at("rpl", "alice").await;
    let logout = stack
        .bare_client()
        .post(stack.url("/auth/logout"))
        .header("cookie", format!("{}={token}", stack.session_cookie))
        .header("origin", &stack.public_origin)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    let cleared = set_cookie(&logout, &stack.session_cookie).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(!live(&stack, &token).await, "revoked before the redirect");
    let end_session = portcullis_tests::location(&logout);
    let url = url::Url::parse(&end_session).unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some(format!("{}/logout", stack.idp_url).as_str())
    );
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "portcullis-dev");
    assert_eq!(
        query["post_logout_redirect_uri"],
        "http://127.0.0.1/logged-out"
    );
    // The hint is alice's ID token from this login.
    let payload = query["id_token_hint"].split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "dev-alice");

    // The provider logs her out and sends the browser back.
    let back = stack.bare_client().get(&end_session).send().await.unwrap();
    assert!(back.status().is_redirection(), "{}", back.status());
    assert_eq!(
        portcullis_tests::location(&back),
        "http://127.0.0.1/logged-out"
    );

    // An API client's logout is a plain 204, and a provider without
    // post_logout_redirect_uri sends no browser anywhere.
    let api = stack.session_token_at("rpl", "bob").await;
    let response = stack
        .bare_client()
        .post(stack.url("/auth/logout"))
        .bearer_auth(&api)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let plain = stack.session_token_at("bcl", "bob").await;
    let response = stack
        .bare_client()
        .post(stack.url("/auth/logout"))
        .header("cookie", format!("{}={plain}", stack.session_cookie))
        .header("origin", &stack.public_origin)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(portcullis_tests::location(&response), "/");
}
