//! What foreign gRPC clients rely on: the standard health service, server
//! reflection, the provider list, and the binary's configuration errors.

use crate::support::*;
use common::proto::ListProvidersRequest;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn health_reflection_and_providers() {
    let h = Harness::start_with_settings("grpc_reflection = true\n").await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", h.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "auth.v1.AuthService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"auth.v1.AuthService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );

    let providers = h
        .client
        .clone()
        .list_providers(ListProvidersRequest {})
        .await
        .unwrap()
        .into_inner()
        .providers;
    let ids: Vec<_> = providers
        .iter()
        .map(|p| (p.id.as_str(), p.kind.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("dev", "oidc"),
            ("google", "google"),
            ("github", "github"),
            ("x", "twitter")
        ]
    );
    assert_eq!(providers[0].name, auth_config::DEV_PROVIDER_NAME);
}

#[test]
fn a_bad_config_exits_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[auth_service]\nsession_idle_timeout = \"soon\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("session_idle_timeout"), "{stderr}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[tokio::test]
async fn callers_must_present_the_service_token() {
    let h = Harness::start_with_settings("service_token_env = \"SERVICE_TOKEN\"\n").await;
    let request = || common::proto::ValidateSessionRequest {
        session_token: "A".repeat(43),
    };
    let err = h
        .client
        .clone()
        .validate_session(request())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("caller authentication"), "{err:?}");

    let mut wrong = tonic::Request::new(request());
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer not-the-token".parse().unwrap());
    let err = h.client.clone().validate_session(wrong).await.unwrap_err();
    assert!(err.message().contains("wrong service token"), "{err:?}");

    let mut right = tonic::Request::new(request());
    right.metadata_mut().insert(
        "authorization",
        format!("Bearer {SERVICE_TOKEN}").parse().unwrap(),
    );
    let err = h.client.clone().validate_session(right).await.unwrap_err();
    assert_eq!(
        err.message(),
        "session unknown, expired or revoked",
        "past caller auth"
    );

    // The standard health check stays open for orchestrators.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", h.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
}

/// One reflection `ListServices` call on `addr`, with `token` as the
/// service token if given.
async fn list_services(
    addr: std::net::SocketAddr,
    token: Option<&str>,
) -> Result<Vec<String>, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = tonic::Request::new(tokio_stream::iter(vec![ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    }]));
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(request)
        .await?
        .into_inner();
    let response = stream.message().await?.unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    Ok(list.service.into_iter().map(|s| s.name).collect())
}

#[tokio::test]
async fn reflection_is_off_unless_configured() {
    let h = Harness::start().await;
    let err = list_services(h.addr, None).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");
}

#[tokio::test]
async fn reflection_needs_the_service_token_like_the_api() {
    let h = Harness::start_with_settings(
        "service_token_env = \"SERVICE_TOKEN\"\ngrpc_reflection = true\n",
    )
    .await;
    let err = list_services(h.addr, None).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    let err = list_services(h.addr, Some("not-the-token"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    let names = list_services(h.addr, Some(SERVICE_TOKEN)).await.unwrap();
    assert!(
        names.contains(&"auth.v1.AuthService".to_owned()),
        "{names:?}"
    );
}

/// `ValidateSessionRequest` as it is on the wire, with the token as bytes,
/// so a test can send what a well-behaved client never would.
#[derive(Clone, PartialEq, prost::Message)]
struct RawValidateSessionRequest {
    #[prost(bytes = "vec", tag = "1")]
    session_token: Vec<u8>,
}

#[tokio::test]
async fn a_token_that_is_not_utf8_is_an_invalid_argument_not_internal() {
    let h = Harness::start().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", h.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    // 43 characters like a real token, one of them an invalid UTF-8 byte.
    let mut token = b"A".repeat(43);
    token[20] = 0xff;
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, common::proto::ValidateSessionResponse, _>(
            tonic::Request::new(RawValidateSessionRequest {
                session_token: token,
            }),
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/auth.v1.AuthService/ValidateSession",
            ),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("ValidateSessionRequest"),
        "{status:?}"
    );
    assert!(!status.message().contains("AAAA"), "{status:?}");
    // The same service still answers a well-formed call.
    let valid = h
        .client
        .clone()
        .validate_session(common::proto::ValidateSessionRequest {
            session_token: "A".repeat(43),
        })
        .await
        .unwrap_err();
    assert_eq!(valid.code(), tonic::Code::Unauthenticated);
}
