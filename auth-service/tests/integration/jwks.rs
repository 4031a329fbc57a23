//! JWKS handling: rotation without restart, rate-limited refetches, tokens
//! without `kid`, and a provider whose JWKS endpoint fails.

use crate::support::*;
use dev_idp::SigningKey;
use jsonwebtoken::{Algorithm, Header};

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch() {
    let h = Harness::start().await;
    h.exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    let fetched = h.idp.jwks_fetch_count();
    h.idp.rotate_key(false).await;
    h.exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    assert_eq!(h.idp.jwks_fetch_count(), fetched + 1);
    // And the cached set serves the next one without fetching.
    h.exchange_id_token("dev", &h.id_token("bob"))
        .await
        .unwrap();
    assert_eq!(h.idp.jwks_fetch_count(), fetched + 1);
}

#[tokio::test]
async fn an_unknown_kid_cannot_make_us_hammer_the_provider() {
    let h = Harness::start().await;
    h.exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    let fetched = h.idp.jwks_fetch_count();
    let claims = h.idp.id_token_claims("alice", DEV_CLIENT, None);
    for _ in 0..5 {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("made-up".into());
        let token = h.idp.sign_with(header, &claims, SigningKey::Unpublished);
        assert_rejected(h.exchange_id_token("dev", &token).await, "unknown_key");
    }
    assert_eq!(
        h.idp.jwks_fetch_count(),
        fetched + 1,
        "one refetch for one unknown kid"
    );
    // Many different unknown kids: capped by the refetch budget.
    for i in 0..30 {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("made-up-{i}"));
        let token = h.idp.sign_with(header, &claims, SigningKey::Unpublished);
        assert_rejected(h.exchange_id_token("dev", &token).await, "unknown_key");
    }
    assert!(h.idp.jwks_fetch_count() <= fetched + auth_service::providers::jwks::REFETCH_BUDGET);
}

#[tokio::test]
async fn no_kid_is_accepted_with_one_key_and_refused_with_several() {
    let h = Harness::start().await;
    let claims = h.idp.id_token_claims("alice", DEV_CLIENT, None);
    let token = h
        .idp
        .sign_with(Header::new(Algorithm::RS256), &claims, SigningKey::Current);
    h.exchange_id_token("dev", &token).await.unwrap();

    let h = Harness::start().await;
    h.idp.rotate_key(true).await;
    let claims = h.idp.id_token_claims("alice", DEV_CLIENT, None);
    let token = h
        .idp
        .sign_with(Header::new(Algorithm::RS256), &claims, SigningKey::Current);
    assert_rejected(h.exchange_id_token("dev", &token).await, "kid_required");
}

#[tokio::test]
async fn keys_published_without_kid_still_verify() {
    let h = Harness::start().await;
    h.idp.update_faults(|f| f.jwks_omit_kid = true);
    let claims = h.idp.id_token_claims("alice", DEV_CLIENT, None);
    let token = h
        .idp
        .sign_with(Header::new(Algorithm::RS256), &claims, SigningKey::Current);
    h.exchange_id_token("dev", &token).await.unwrap();
}

#[tokio::test]
async fn cached_keys_survive_a_failing_jwks_endpoint() {
    let h = Harness::start().await;
    h.exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    h.idp.update_faults(|f| f.jwks_status = Some(500));
    h.exchange_id_token("dev", &h.id_token("bob"))
        .await
        .unwrap();
    // A rotation cannot be picked up while the endpoint fails: unknown key.
    h.idp.rotate_key(false).await;
    assert_rejected(
        h.exchange_id_token("dev", &h.id_token("alice")).await,
        "unknown_key",
    );
}
