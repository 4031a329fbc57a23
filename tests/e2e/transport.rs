//! HTTPS at the gateway (rustls, HSTS, `__Host-` Secure cookies), and the
//! service token, mutual TLS and Unix socket between the gateway and
//! auth-service.

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

/// A gRPC client of auth-service on its Unix socket at `path`, with the
/// service token if one is given.
async fn socket_client(
    path: std::path::PathBuf,
) -> common::proto::auth_service_client::AuthServiceClient<tonic::transport::Channel> {
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let path = path.clone();
        async move {
            tokio::net::UnixStream::connect(path)
                .await
                .map(hyper_util::rt::TokioIo::new)
        }
    });
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(connector)
        .await
        .unwrap();
    common::proto::auth_service_client::AuthServiceClient::new(channel)
}

#[tokio::test]
async fn the_gateway_reaches_a_co_located_auth_service_on_its_unix_socket() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let mut stack = TestStack::start_with(StackOptions {
        auth_socket: true,
        service_token: true,
        gateway_settings: "session_cache = { enabled = true }\n".to_owned(),
        ..StackOptions::default()
    })
    .await;
    // The binaries are built by now: from here a hang (a socket nobody
    // answers, a shutdown that never ends) fails fast with every stack.
    let _watchdog = portcullis_tests::watchdog::Watchdog::arm(
        "the_gateway_reaches_a_co_located_auth_service_on_its_unix_socket",
        Duration::from_secs(120),
    );
    let socket = stack.auth_socket();
    // Announced once bound and given its permissions (the line after the
    // TCP address, which the stack waited for).
    let announced = format!("socket listening on unix:{}", socket.display());
    portcullis_tests::wait_until(Duration::from_secs(10), "the socket is announced", || {
        let seen = stack.auth.logs().contains(&announced);
        async move { seen }
    })
    .await;
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    // The gateway's only route to auth-service is the socket: log in, use
    // the session (the cache's revocation feed streams over it too), log
    // out, and the session is refused.
    let client = stack.browser();
    stack.login_as(&client, "alice").await;
    let me = stack.get_json_in(&client, "/auth/me").await;
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(stack.get("/readyz").await.status(), 200);
    let metrics = stack.metrics_url().await;
    crate::session_cache::wait_for_feed(&metrics, "on", Duration::from_secs(10)).await;
    let logout = client
        .post(stack.url("/auth/logout"))
        .header("origin", &stack.public_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(stack.get_in(&client, "/auth/me").await.status(), 401);

    // The socket's permissions stand in for a client certificate, not for
    // the service token: without it, nothing.
    let token = stack.session_token("bob").await;
    let refused = socket_client(socket.clone())
        .await
        .validate_session(common::proto::ValidateSessionRequest {
            session_token: token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

    // Killed, auth-service leaves its socket behind; the next one replaces
    // it and the gateway reconnects by itself.
    stack.kill_auth_service();
    assert!(socket.exists());
    stack.restart_auth_service();
    portcullis_tests::wait_until(
        Duration::from_secs(10),
        "bob's session is served again",
        || {
            let request = stack
                .bare_client()
                .get(stack.url("/auth/me"))
                .header("cookie", format!("{}={token}", stack.session_cookie));
            async move { request.send().await.is_ok_and(|r| r.status() == 200) }
        },
    )
    .await;

    // A graceful stop removes the socket file.
    assert!(stack.auth.terminate().success());
    assert!(!socket.exists(), "the socket outlives auth-service");
}
