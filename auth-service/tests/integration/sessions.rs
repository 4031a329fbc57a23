//! Sessions: validation, sliding idle expiry, absolute expiry, revocation,
//! the per-user list, and what is stored at rest.

use crate::support::*;
use common::proto::{
    ListSessionsRequest, RevokeSessionRequest, RevokeUserSessionsRequest, ValidateSessionRequest,
    ValidateSessionResponse, revoke_session_request::Target,
};

async fn validate(h: &Harness, token: &str) -> Result<ValidateSessionResponse, tonic::Status> {
    h.client
        .clone()
        .validate_session(ValidateSessionRequest {
            session_token: token.into(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn login(h: &Harness, user: &str) -> common::proto::LoginResponse {
    h.exchange_id_token("dev", &h.id_token(user)).await.unwrap()
}

#[tokio::test]
async fn malformed_and_unknown_tokens_are_unauthenticated() {
    let h = Harness::start().await;
    for token in ["", "garbage", &"A".repeat(43), &"x".repeat(5000)] {
        assert_rejected(validate(&h, token).await, "invalid_session");
    }
}

#[tokio::test]
async fn idle_timeout_slides_with_use_but_not_past_the_absolute_lifetime() {
    let h = Harness::start().await;
    let token = login(&h, "alice").await.session_token;
    let hours = |n: i64| n * 3600;
    // Used every 23 h: alive through day 6, thanks to sliding renewal...
    for _ in 0..7 {
        h.clock.advance(hours(23));
        validate(&h, &token).await.unwrap();
    }
    // ...but 7 days after login it ends whatever the activity.
    h.clock.advance(hours(23));
    assert_rejected(validate(&h, &token).await, "invalid_session");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let h = Harness::start().await;
    let token = login(&h, "alice").await.session_token;
    h.clock.advance(24 * 3600 - 1);
    let s = validate(&h, &token).await.unwrap().session.unwrap();
    assert!(s.expires_at.unwrap().seconds <= s.absolute_expires_at.unwrap().seconds);
    h.clock.advance(24 * 3600);
    assert_rejected(validate(&h, &token).await, "invalid_session");
}

#[tokio::test]
async fn activity_is_written_at_most_once_a_minute() {
    let h = Harness::start().await;
    let token = login(&h, "alice").await.session_token;
    let seen = |r: ValidateSessionResponse| r.session.unwrap().last_seen_at.unwrap().seconds;
    let first = seen(validate(&h, &token).await.unwrap());
    h.clock.advance(30);
    assert_eq!(seen(validate(&h, &token).await.unwrap()), first);
    h.clock.advance(31);
    let later = seen(validate(&h, &token).await.unwrap());
    assert_eq!(later, first + 61);
    // Persisted, not just reported.
    assert_eq!(seen(validate(&h, &token).await.unwrap()), later);
}

#[tokio::test]
async fn logout_revokes_at_once() {
    let h = Harness::start().await;
    let token = login(&h, "alice").await.session_token;
    validate(&h, &token).await.unwrap();
    h.client
        .clone()
        .revoke_session(RevokeSessionRequest {
            target: Some(Target::SessionToken(token.clone())),
            user_id: String::new(),
        })
        .await
        .unwrap();
    assert_rejected(validate(&h, &token).await, "invalid_session");
}

#[tokio::test]
async fn revoke_by_id_only_for_the_owner() {
    let h = Harness::start().await;
    let alice = login(&h, "alice").await;
    let bob = login(&h, "bob").await;
    let alice_session = alice.session.unwrap().id;
    let err = h
        .client
        .clone()
        .revoke_session(RevokeSessionRequest {
            target: Some(Target::SessionId(alice_session.clone())),
            user_id: bob.user.unwrap().id,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    validate(&h, &alice.session_token).await.unwrap();

    let revoked = h
        .client
        .clone()
        .revoke_session(RevokeSessionRequest {
            target: Some(Target::SessionId(alice_session.clone())),
            user_id: alice.user.unwrap().id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.session_id, alice_session);
    assert_rejected(validate(&h, &alice.session_token).await, "invalid_session");
}

#[tokio::test]
async fn list_and_revoke_all_use_the_user_index() {
    let h = Harness::start().await;
    let first = login(&h, "alice").await;
    h.clock.advance(5);
    let second = login(&h, "alice").await;
    let bob = login(&h, "bob").await;
    let user_id = first.user.unwrap().id;

    let listed = h
        .client
        .clone()
        .list_sessions(ListSessionsRequest {
            user_id: user_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .sessions;
    let ids: Vec<_> = listed.iter().map(|s| s.id.clone()).collect();
    assert_eq!(
        ids,
        vec![second.session.unwrap().id, first.session.unwrap().id],
        "newest first, only alice's"
    );
    assert_eq!(listed[0].user_agent, "");

    let revoked = h
        .client
        .clone()
        .revoke_user_sessions(RevokeUserSessionsRequest {
            user_id: user_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .revoked;
    assert_eq!(revoked, 2);
    assert_rejected(validate(&h, &first.session_token).await, "invalid_session");
    assert_rejected(validate(&h, &second.session_token).await, "invalid_session");
    validate(&h, &bob.session_token).await.unwrap();
    let listed = h
        .client
        .clone()
        .list_sessions(ListSessionsRequest { user_id })
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert!(listed.is_empty());
}

#[tokio::test]
async fn only_token_hashes_are_stored() {
    let mut h = Harness::start().await;
    let tokens: Vec<String> = [login(&h, "alice").await, login(&h, "bob").await]
        .into_iter()
        .map(|l| l.session_token)
        .collect();
    h.stop().await;
    let mut files = vec![h.dir.path().join("data")];
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        scanned += bytes.len();
        for token in &tokens {
            let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
            assert!(!found, "session token found in {}", path.display());
        }
    }
    assert!(scanned > 0, "the store wrote something");
}
