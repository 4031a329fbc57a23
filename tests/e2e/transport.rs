//! HTTPS at the gateway (rustls, HSTS, `__Host-` Secure cookies), and the
//! service token and mutual TLS between the gateway and auth-service.

use portcullis_tests::{StackOptions, TestStack, set_cookie};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn https_gateway_sends_hsts_and_secure_host_cookies() {
    let stack = TestStack::start_with(StackOptions {
        tls: true,
        ..StackOptions::default()
    })
    .await;

    let health = stack.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );

    let client = stack.browser();
    let login = stack.get_in(&client, "/auth/login/dev").await;
    let flow = set_cookie(&login, "__Host-portcullis_flow").expect("flow cookie");
    assert!(flow.contains("Secure") && flow.contains("Path=/"), "{flow}");
    assert!(!flow.contains("Domain"), "{flow}");

    let callback = stack.login_as(&client, "alice").await;
    let session = set_cookie(&callback, "__Host-portcullis").expect("session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    let me = stack.get_json_in(&client, "/auth/me").await;
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
    let me = stack.get_with_bearer("/auth/me", &token).await;
    assert_eq!(me.status(), 200);
    assert_eq!(stack.get("/readyz").await.status(), 200);

    // A gateway without the token gets nothing out of auth-service.
    let client = stack.bare_client();
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

#[tokio::test]
async fn the_gateway_talks_mutual_tls_to_auth_service() {
    let stack = TestStack::start_with(StackOptions {
        grpc_mtls: true,
        ..StackOptions::default()
    })
    .await;

    // auth-service really speaks TLS: the HTTP/2 preface of a plaintext
    // gRPC client is answered with a TLS alert record (content type 21),
    // not with the SETTINGS frame an h2c server would send.
    let mut plain = tokio::net::TcpStream::connect(&stack.auth.addr)
        .await
        .unwrap();
    plain
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut reply = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), plain.read(&mut reply))
        .await
        .expect("auth-service answered nothing in 10 s")
        .unwrap();
    assert_eq!((read, reply[0]), (1, 21), "not a TLS alert");

    // The gateway (https, the test CA, its client certificate) gets through.
    let client = stack.browser();
    stack.login_as(&client, "alice").await;
    let me = stack.get_in(&client, "/auth/me").await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], "alice@example.com");
    let ready = stack.get_in(&client, "/readyz").await;
    assert_eq!(ready.status(), 200);
}
