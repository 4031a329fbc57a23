//! GitHub: OAuth 2.0 code flow and access tokens, the user read from the API
//! and keyed by GitHub's numeric id.

use crate::support::*;
use common::proto::exchange_token_request::Token;

#[tokio::test]
async fn code_flow_reads_the_user_from_the_api() {
    let h = Harness::start().await;
    let login = h.code_flow("github", "alice").await.unwrap();
    let user = login.user.unwrap();
    assert_eq!(user.email, "alice@example.com");
    assert!(user.email_verified);
    assert!(
        user.subject.parse::<u64>().is_ok(),
        "numeric GitHub id: {}",
        user.subject
    );
    assert_eq!(
        h.idp.token_requests().last().unwrap().client_auth,
        "client_secret_post"
    );
}

#[tokio::test]
async fn access_tokens_must_belong_to_our_app() {
    let h = Harness::start().await;
    let ours = h.idp.issue_access_token("bob", GITHUB_CLIENT);
    let login = h
        .exchange("github", Token::AccessToken(ours))
        .await
        .unwrap();
    assert_eq!(login.user.unwrap().email, "bob@example.com");

    let theirs = h.idp.issue_access_token("bob", DEV_CLIENT);
    assert_rejected(
        h.exchange("github", Token::AccessToken(theirs)).await,
        "invalid_access_token",
    );
}

#[tokio::test]
async fn unverified_primary_email_is_refused() {
    let h = Harness::start().await;
    let token = h.idp.issue_access_token("mallory", GITHUB_CLIENT);
    assert_rejected(
        h.exchange("github", Token::AccessToken(token)).await,
        "email_not_verified",
    );
}

#[tokio::test]
async fn github_has_no_id_tokens() {
    let h = Harness::start().await;
    let err = h
        .exchange_id_token("github", &h.id_token("alice"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}
