//! TLS and mutual TLS on the gRPC edge: with `tls_cert`/`tls_key` and
//! `client_ca`, only a client that trusts the server's CA and presents a
//! certificate from `client_ca` reaches the service; a client without a
//! certificate, with one from another CA, or speaking plaintext fails
//! before any call is served. The certificates are the committed fixtures
//! in `tests/fixtures/grpc-tls` (see its README).

use crate::support::{Harness, SERVICE_TOKEN, config_text, secrets, start_idp};
use common::config::Config;
use common::proto::ValidateSessionRequest;
use common::proto::auth_service_client::AuthServiceClient;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A fixture file's path.
fn fixture(name: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/grpc-tls/").to_owned() + name
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// `[auth_service]` lines serving TLS with the fixture server certificate,
/// requiring client certificates from the fixture CA.
fn mtls_lines() -> String {
    format!(
        "tls_cert = {:?}\ntls_key = {:?}\nclient_ca = {:?}\n",
        fixture("server.pem"),
        fixture("server.key"),
        fixture("ca.pem")
    )
}

/// A harness whose auth-service has `lines` added to `[auth_service]`.
async fn harness(lines: String) -> Harness {
    Harness::start_with_settings(&lines).await
}

/// A client trusting the fixture CA, presenting `identity` (cert, key).
fn tls_client(addr: SocketAddr, identity: Option<(&str, &str)>) -> AuthServiceClient<Channel> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("ca.pem")));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(read(cert), read(key)));
    }
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    AuthServiceClient::new(channel)
}

/// ValidateSession for a well-formed token nobody was issued, with the
/// service token when `token` is set. Reaching the service answers
/// UNAUTHENTICATED for the unknown session.
async fn validate(client: &AuthServiceClient<Channel>, token: bool) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(ValidateSessionRequest {
        session_token: "A".repeat(43),
    });
    if token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {SERVICE_TOKEN}").parse().unwrap(),
        );
    }
    let mut client = client.clone();
    let call = client.validate_session(request);
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => panic!("the call neither succeeded nor failed in 10 s"),
    }
}

/// The call reached ValidateSession, past TLS and caller authentication.
#[track_caller]
fn assert_reached_the_service(result: Result<(), tonic::Status>) {
    let status = result.expect_err("an unknown session cannot validate");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(
        !status.message().contains("caller authentication"),
        "stopped by caller authentication: {status:?}"
    );
}

/// The call failed in the transport (handshake or connection), not with an
/// answer from a service (UNAUTHENTICATED would mean the connection was
/// accepted and something behind it answered); `cause` is what the error's
/// chain must mention, e.g. the TLS alert the server sent.
#[track_caller]
fn assert_refused_before_the_service(result: Result<(), tonic::Status>, what: &str, cause: &str) {
    match result {
        Ok(()) => panic!("{what}: the call succeeded"),
        Err(status) => {
            assert_ne!(
                status.code(),
                tonic::Code::Unauthenticated,
                "{what}: the connection was accepted and a service answered: {status:?}"
            );
            let chain = format!("{status:?}");
            assert!(chain.contains(cause), "{what}: expected {cause}: {chain}");
        }
    }
}

#[tokio::test]
async fn a_client_certificate_from_client_ca_reaches_the_service() {
    let h = harness(mtls_lines()).await;
    let client = tls_client(h.addr, Some(("client.pem", "client.key")));
    assert_reached_the_service(validate(&client, false).await);
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let h = harness(mtls_lines()).await;
    let client = tls_client(h.addr, None);
    assert_refused_before_the_service(
        validate(&client, false).await,
        "no client certificate",
        "CertificateRequired",
    );
    // The service token does not replace the certificate.
    assert_refused_before_the_service(
        validate(&client, true).await,
        "no client certificate, with a token",
        "CertificateRequired",
    );
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let h = harness(mtls_lines()).await;
    let client = tls_client(h.addr, Some(("rogue-client.pem", "rogue-client.key")));
    assert_refused_before_the_service(validate(&client, false).await, "rogue CA", "UnknownCA");
}

#[tokio::test]
async fn a_plaintext_client_cannot_talk_to_a_tls_server() {
    let h = harness(mtls_lines()).await;
    // The harness's own client speaks h2c to the same address.
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        h.client.clone().validate_session(ValidateSessionRequest {
            session_token: "A".repeat(43),
        }),
    )
    .await
    .expect("the plaintext call should fail, not hang")
    .map(|_| ());
    // The server takes the client's HTTP/2 preface for a TLS record and
    // answers with a TLS alert, which the client cannot read as HTTP/2:
    // the call fails in the transport.
    assert_refused_before_the_service(result, "plaintext client", "tonic::transport::Error");
}

#[tokio::test]
async fn server_tls_without_client_ca_accepts_any_tls_client() {
    let h = harness(format!(
        "tls_cert = {:?}\ntls_key = {:?}\n",
        fixture("server.pem"),
        fixture("server.key")
    ))
    .await;
    assert_reached_the_service(validate(&tls_client(h.addr, None), false).await);
}

#[tokio::test]
async fn with_a_service_token_and_client_ca_a_caller_needs_both() {
    let h = harness(format!(
        "{}service_token_env = \"SERVICE_TOKEN\"\n",
        mtls_lines()
    ))
    .await;
    let client = tls_client(h.addr, Some(("client.pem", "client.key")));
    let status = validate(&client, false).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(
        status.message().contains("send the service token"),
        "a certificate alone must not be enough: {status:?}"
    );
    assert_reached_the_service(validate(&client, true).await);
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate_is_a_startup_error() {
    let idp = start_idp().await;
    let dir = tempfile::tempdir().unwrap();
    // Both files are PEM of the right kind; loading the configuration
    // (`common::tls`) finds that the key is the client's, not the server's,
    // so the service never starts.
    let text = config_text(
        &idp,
        &dir.path().join("data"),
        &format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            fixture("server.pem"),
            fixture("client.key")
        ),
        "",
    );
    let error =
        Config::from_toml(&text, &secrets).expect_err("a mismatched key must stop the service");
    let message = error.to_string();
    assert!(message.contains("auth_service.tls_cert"), "{message}");
    assert!(message.contains(&fixture("client.key")), "{message}");
    let key = String::from_utf8(read("client.key")).unwrap();
    assert!(
        !message.contains(key.lines().nth(1).unwrap()),
        "key material in {message}"
    );
}
