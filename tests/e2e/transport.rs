//! HTTPS at the gateway (rustls, HSTS, `__Host-` Secure cookies) and the
//! service token between the gateway and auth-service.

use portcullis_tests::{StackOptions, TestStack, set_cookie};
use serde_json::Value;

#[tokio::test]
async fn https_gateway_sends_hsts_and_secure_host_cookies() {
    let stack = TestStack::start_with(StackOptions {
        tls: true,
        ..StackOptions::default()
    })
    .await;
    let client = stack.browser();

    let health = client.get(stack.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );

    let login = client
        .get(stack.url("/auth/login/dev"))
        .send()
        .await
        .unwrap();
    let flow = set_cookie(&login, "__Host-portcullis_flow").expect("flow cookie");
    assert!(flow.contains("Secure") && flow.contains("Path=/"), "{flow}");
    assert!(!flow.contains("Domain"), "{flow}");

    let callback = stack.login_as(&client, "alice").await;
    let session = set_cookie(&callback, "__Host-portcullis").expect("session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    let me: Value = client
        .get(stack.url("/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "alice@example.com");

    // CSRF compares against the https public origin.
    let logout = client
        .post(stack.url("/auth/logout"))
        .header("origin", "http://127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 403);
    let logout = client
        .post(stack.url("/auth/logout"))
        .header("origin", &stack.public_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
}

#[tokio::test]
async fn the_gateway_authenticates_to_auth_service_with_the_service_token() {
    let stack = TestStack::start_with(StackOptions {
        service_token: true,
        ..StackOptions::default()
    })
    .await;
    let token = stack.session_token("bob").await;
    let client = stack.bare_client();
    let me = client
        .get(stack.url("/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(
        client
            .get(stack.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A gateway without the token gets nothing out of auth-service.
    let rogue = stack.spawn_gateway("rogue.toml", false);
    let me = client
        .get(format!("{}/auth/me", rogue.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let ready = client
        .get(format!("{}/readyz", rogue.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
}
