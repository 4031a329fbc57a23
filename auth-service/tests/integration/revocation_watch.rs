//! `WatchRevocations` over the real gRPC server: every acknowledged revoke
//! has already been published when its RPC answers, the session event
//! carries the hash a cache keys on, and the stream is behind caller
//! authentication like the rest of `AuthService`.

use crate::support::*;
use common::proto::revocation_event::Event;
use common::proto::{
    RevocationEvent, RevokeSessionRequest, RevokeUserSessionsRequest, WatchRevocationsRequest,
    revoke_session_request::Target,
};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tonic::Streaming;

async fn watch(h: &Harness) -> Streaming<RevocationEvent> {
    h.client
        .clone()
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner()
}

/// The next event that is not a heartbeat, within 5 s.
async fn next_event(stream: &mut Streaming<RevocationEvent>) -> Event {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream is open");
        match message.event.unwrap() {
            Event::Heartbeat(_) => continue,
            event => return event,
        }
    }
}

#[tokio::test]
async fn revokes_are_published_with_the_token_hash_and_the_user() {
    let h = Harness::start().await;
    let mut stream = watch(&h).await;
    assert_eq!(
        next_event(&mut stream).await,
        Event::Synced(Default::default())
    );

    let login = h
        .exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    let session_id = login.session.as_ref().unwrap().id.clone();
    let user_id = login.user.as_ref().unwrap().id.clone();
    h.client
        .clone()
        .revoke_session(RevokeSessionRequest {
            target: Some(Target::SessionToken(login.session_token.clone())),
            user_id: String::new(),
        })
        .await
        .unwrap();
    let Event::Session(revoked) = next_event(&mut stream).await else {
        panic!("expected a session revocation");
    };
    assert_eq!(
        revoked.token_hash,
        Sha256::digest(login.session_token.as_bytes()).to_vec()
    );
    assert_eq!(
        (revoked.session_id, revoked.user_id),
        (session_id, user_id.clone())
    );

    h.client
        .clone()
        .revoke_user_sessions(RevokeUserSessionsRequest {
            user_id: user_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut stream).await,
        Event::User(common::proto::UserRevoked { user_id })
    );
}

#[tokio::test]
async fn a_resume_from_the_last_position_misses_nothing() {
    let h = Harness::start().await;
    let mut first = watch(&h).await;
    let synced = tokio::time::timeout(Duration::from_secs(5), first.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let resume = synced.position.unwrap();
    drop(first);

    // Revoked while nobody watched.
    h.client
        .clone()
        .revoke_user_sessions(RevokeUserSessionsRequest {
            user_id: "u-missed".into(),
        })
        .await
        .unwrap();
    let mut second = h
        .client
        .clone()
        .watch_revocations(WatchRevocationsRequest {
            resume: Some(resume),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next_event(&mut second).await,
        Event::User(common::proto::UserRevoked {
            user_id: "u-missed".into()
        })
    );
    assert_eq!(
        next_event(&mut second).await,
        Event::Synced(Default::default())
    );
}

#[tokio::test]
async fn watching_needs_the_service_token() {
    let h = Harness::start_config(|text| {
        text.replace(
            "[auth_service]\n",
            "[auth_service]\nservice_token_env = \"SERVICE_TOKEN\"\n",
        )
    })
    .await;
    let err = h
        .client
        .clone()
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}
