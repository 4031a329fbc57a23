//! Several auth-service replicas on one Redis: a login flow may begin on
//! one and end on another, single-use state stays single-use across them,
//! one identity is one user however many replicas see its first login, and
//! a revocation at one replica is refused and announced at every other.

use crate::support::*;
use common::proto::revocation_event::Event;
use common::proto::{
    RevokeSessionRequest, ValidateSessionRequest, WatchRevocationsRequest,
    revoke_session_request::Target,
};
use std::time::{Duration, Instant};

#[path = "../../src/storage/test_redis.rs"]
mod test_redis;
use test_redis::RedisServer;

async fn two_replicas(redis: &RedisServer) -> (Harness, Harness) {
    let a = Harness::start_on_redis(&redis.url()).await;
    let b = a.replica().await;
    (a, b)
}

async fn validate(h: &Harness, token: &str) -> Result<String, tonic::Status> {
    h.client
        .clone()
        .validate_session(ValidateSessionRequest {
            session_token: token.into(),
        })
        .await
        .map(|r| r.into_inner().session.unwrap_or_default().id)
}

#[tokio::test]
async fn a_flow_begun_on_one_replica_completes_on_another() {
    let redis = RedisServer::start().await;
    let (a, b) = two_replicas(&redis).await;
    let (code, state, iss, handle) = a.authorize("dev", "alice").await;
    let login = b
        .complete("dev", &code, &state, &handle, &iss)
        .await
        .unwrap();
    let token = login.session_token;
    let id = login.session.unwrap().id;
    assert_eq!(validate(&a, &token).await.unwrap(), id);
    assert_eq!(validate(&b, &token).await.unwrap(), id);
}

#[tokio::test]
async fn one_state_completes_once_across_replicas() {
    let redis = RedisServer::start().await;
    let (a, b) = two_replicas(&redis).await;
    for round in 0..20 {
        let (code, state, iss, handle) = a.authorize("dev", "alice").await;
        let (at_a, at_b) = tokio::join!(
            a.complete("dev", &code, &state, &handle, &iss),
            b.complete("dev", &code, &state, &handle, &iss)
        );
        assert_eq!(
            usize::from(at_a.is_ok()) + usize::from(at_b.is_ok()),
            1,
            "round {round}: {at_a:?} / {at_b:?}"
        );
    }
}

#[tokio::test]
async fn first_logins_at_two_replicas_make_one_user() {
    let redis = RedisServer::start().await;
    let (a, b) = two_replicas(&redis).await;
    for round in 0..20 {
        let user = format!("user-{round}");
        let verified = |claims: &mut serde_json::Value| {
            claims["email"] = format!("{user}@example.com").into();
            claims["email_verified"] = true.into();
        };
        let (token_a, token_b) = (
            a.id_token_with(&user, verified),
            b.id_token_with(&user, verified),
        );
        let (at_a, at_b) = tokio::join!(
            a.exchange_id_token("dev", &token_a),
            b.exchange_id_token("dev", &token_b)
        );
        let (at_a, at_b) = (at_a.unwrap(), at_b.unwrap());
        assert_eq!(
            at_a.user.unwrap().id,
            at_b.user.unwrap().id,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn a_revocation_at_one_replica_is_refused_and_announced_at_the_other() {
    let redis = RedisServer::start().await;
    let (a, b) = two_replicas(&redis).await;
    let login = a
        .exchange_id_token("dev", &a.id_token("alice"))
        .await
        .unwrap();
    let token = login.session_token.clone();
    let session_id = login.session.unwrap().id;
    assert!(validate(&b, &token).await.is_ok());

    let mut stream = b
        .client
        .clone()
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    a.client
        .clone()
        .revoke_session(RevokeSessionRequest {
            target: Some(Target::SessionId(session_id.clone())),
            user_id: String::new(),
        })
        .await
        .unwrap();
    assert_rejected(validate(&b, &token).await, "invalid_session");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, stream.message())
            .await
            .expect("the revocation within 10 s")
            .unwrap()
            .expect("the stream is open");
        match message.event.unwrap() {
            Event::Session(revoked) => {
                assert_eq!(revoked.session_id, session_id);
                break;
            }
            Event::Synced(_) | Event::Heartbeat(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn redis_down_is_unavailable_and_service_resumes_by_itself() {
    let mut redis = RedisServer::start().await;
    let a = Harness::start_on_redis(&redis.url()).await;
    let token = a
        .exchange_id_token("dev", &a.id_token("alice"))
        .await
        .unwrap()
        .session_token;
    redis.kill();
    let down = validate(&a, &token).await.unwrap_err();
    assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = validate(&a, &token).await {
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
        assert!(Instant::now() < deadline, "not back within 10 s: {e:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
