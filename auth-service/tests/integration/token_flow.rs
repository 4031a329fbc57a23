//! The front-end flow with an access token: verified through the provider's
//! tokeninfo endpoint, which must confirm our client id.

use crate::support::*;
use common::proto::exchange_token_request::Token;

#[tokio::test]
async fn an_access_token_for_our_client_logs_in_as_the_same_user() {
    let h = Harness::start().await;
    let access = h.idp.issue_access_token("alice", GOOGLE_CLIENT);
    let by_access = h
        .exchange("google", Token::AccessToken(access))
        .await
        .unwrap();
    let user = by_access.user.unwrap();
    assert_eq!(user.email, "alice@example.com");
    assert_eq!(user.name, "Alice Example");

    let id_token = h
        .idp
        .sign(&h.idp.id_token_claims("alice", GOOGLE_CLIENT, None));
    let by_id = h
        .exchange("google", Token::IdToken(id_token))
        .await
        .unwrap();
    assert_eq!(
        by_id.user.unwrap().id,
        user.id,
        "one user per (issuer, subject)"
    );
}

#[tokio::test]
async fn an_access_token_issued_to_another_client_is_rejected() {
    let h = Harness::start().await;
    let access = h.idp.issue_access_token("alice", DEV_CLIENT);
    assert_rejected(
        h.exchange("google", Token::AccessToken(access)).await,
        "audience_mismatch",
    );
}

#[tokio::test]
async fn unknown_access_tokens_are_rejected() {
    let h = Harness::start().await;
    assert_rejected(
        h.exchange("google", Token::AccessToken("ya29.made-up".into()))
            .await,
        "invalid_access_token",
    );
}

#[tokio::test]
async fn providers_without_tokeninfo_refuse_access_tokens() {
    let h = Harness::start().await;
    let access = h.idp.issue_access_token("alice", DEV_CLIENT);
    let err = h
        .exchange("dev", Token::AccessToken(access))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}
