//! `WatchRevocations` over the real gRPC server: every acknowledged revoke
//! has already been published when its RPC answers, the session event
//! carries the hash a cache keys on, and the stream is behind caller
//! authentication like the rest of `AuthService`; and the `session-cache`
//! crate's `CachedValidator` against it.

use crate::support::*;
use common::proto::revocation_event::Event;
use common::proto::{
    RevocationEvent, RevokeSessionRequest, RevokeUserSessionsRequest, WatchRevocationsRequest,
    revoke_session_request::Target,
};
use common::service_token::ServiceToken;
use session_cache::{CachedValidator, FeedState};
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
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
    let h = Harness::start_with_settings("service_token_env = \"SERVICE_TOKEN\"\n").await;
    let err = h
        .client
        .clone()
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

/// Polls `check` every 5 ms for up to 5 s; true once it holds.
async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

async fn cached_validator(h: &Harness, shutdown: &CancellationToken) -> CachedValidator {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", h.addr))
        .unwrap()
        .connect_lazy();
    let validator = CachedValidator::start(
        channel,
        ServiceToken::new(None).unwrap(),
        1000,
        Duration::from_secs(30),
        shutdown.clone(),
    )
    .unwrap();
    assert!(
        eventually(async || validator.cache().state() == FeedState::On).await,
        "the cache turns on once the feed says Synced"
    );
    validator
}

#[tokio::test]
async fn the_cached_validator_serves_hits_and_drops_revoked_sessions() {
    let mut h = Harness::start().await;
    let shutdown = CancellationToken::new();
    let validator = cached_validator(&h, &shutdown).await;
    let stats = validator.cache().stats();

    let alice = h
        .exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    validator.validate(&alice.session_token).await.unwrap();
    validator.validate(&alice.session_token).await.unwrap();
    assert_eq!(
        stats.hits.load(Ordering::Relaxed),
        1,
        "the second validation is a hit"
    );

    h.client
        .clone()
        .revoke_session(RevokeSessionRequest {
            target: Some(Target::SessionToken(alice.session_token.clone())),
            user_id: String::new(),
        })
        .await
        .unwrap();
    assert!(
        eventually(async || validator.validate(&alice.session_token).await.is_err()).await,
        "a revoked session is refused"
    );
    let refused = validator.validate(&alice.session_token).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // Logout everywhere reaches every cached session of the user.
    let bob: Vec<_> = [
        h.exchange_id_token("dev", &h.id_token("bob"))
            .await
            .unwrap(),
        h.exchange_id_token("dev", &h.id_token("bob"))
            .await
            .unwrap(),
    ]
    .into_iter()
    .map(|login| login.session_token)
    .collect();
    for token in &bob {
        validator.validate(token).await.unwrap();
        validator.validate(token).await.unwrap();
    }
    let user_id = validator.validate(&bob[0]).await.unwrap().user.unwrap().id;
    h.client
        .clone()
        .revoke_user_sessions(RevokeUserSessionsRequest { user_id })
        .await
        .unwrap();
    for token in &bob {
        assert!(eventually(async || validator.validate(token).await.is_err()).await);
    }

    // auth-service stopping (gracefully, with the watcher still connected)
    // turns the cache off: no hits without a feed.
    tokio::time::timeout(Duration::from_secs(10), h.stop())
        .await
        .expect("a watcher does not hold the shutdown open");
    assert!(eventually(async || validator.cache().state() == FeedState::Off).await);
    shutdown.cancel();
}
