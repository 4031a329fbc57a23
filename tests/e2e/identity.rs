//! Identity through the gateway: signing in with X (Twitter) and a
//! provider allow-list refusing a login, against the real binaries and
//! the dev-idp acting as each provider.

use portcullis_tests::{StackOptions, TestStack, set_cookie};
use serde_json::Value;

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
