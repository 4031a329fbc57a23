//! X (Twitter): the OAuth 2.0 code flow with PKCE and HTTP Basic, the user
//! read from the X API v2 `users/me` and keyed by X's numeric id, the
//! e-mail only with the `users.email` scope, and front-end tokens refused.

use crate::support::*;
use common::proto::exchange_token_request::Token;

/// The same X app, granted the e-mail scope.
fn with_email_scope(issuer: &str) -> String {
    format!(
        r#"
[[providers]]
id = "x-email"
kind = "x"
client_id = "{X_CLIENT}"
client_secret_env = "X_SECRET"
authorization_endpoint = "{issuer}/authorize"
token_endpoint = "{issuer}/token"
api_base_url = "{issuer}"
scopes = ["tweet.read", "users.read", "users.email"]
"#
    )
}

#[tokio::test]
async fn code_flow_reads_the_user_from_users_me_without_an_email() {
    let h = Harness::start().await;
    let login = h.code_flow("x", "alice").await.unwrap();
    let user = login.user.unwrap();
    assert!(
        user.subject.len() > 16 && user.subject.bytes().all(|b| b.is_ascii_digit()),
        "X's numeric id, beyond 2^53: {}",
        user.subject
    );
    assert_eq!(user.name, "Alice Example");
    assert_eq!(user.picture, "https://example.com/avatars/alice.png");
    // Default scopes: X reports no e-mail, and the login still succeeds
    // (require_email_verified refuses only a present, unverified one); no
    // e-mail means no e-mail roles.
    assert_eq!(user.email, "");
    assert!(!user.email_verified);
    assert!(user.roles.is_empty(), "{:?}", user.roles);
    let token_request = h.idp.token_requests().last().cloned().unwrap();
    assert_eq!(token_request.client_auth, "client_secret_basic");
    assert!(token_request.code_verifier_present, "X requires PKCE");

    // The same X account is the same user at the next login.
    let again = h.code_flow("x", "alice").await.unwrap().user.unwrap();
    assert_eq!(again.id, user.id);
    // ...and a different user from the same person's GitHub account.
    let github = h.code_flow("github", "alice").await.unwrap().user.unwrap();
    assert_ne!(github.id, user.id);
}

#[tokio::test]
async fn with_users_email_the_confirmed_address_counts() {
    let h = Harness::start_with(with_email_scope).await;
    let alice = h.code_flow("x-email", "alice").await.unwrap().user.unwrap();
    assert_eq!(alice.email, "alice@example.com");
    assert!(alice.email_verified);
    assert_eq!(alice.roles, ["admin"]);
    // mallory's address is not confirmed, so X does not report it: she
    // logs in without one.
    let mallory = h
        .code_flow("x-email", "mallory")
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(mallory.email, "");
    assert!(mallory.roles.is_empty());
}

#[tokio::test]
async fn front_end_tokens_are_refused_because_x_cannot_say_whose_they_are() {
    let h = Harness::start().await;
    for client in [X_CLIENT, DEV_CLIENT] {
        let token = h
            .idp
            .issue_access_token_with_scope("alice", client, "tweet.read users.read");
        let result = h.exchange("x", Token::AccessToken(token)).await;
        if let Err(err) = &result {
            assert!(
                err.message().contains("cannot confirm which app"),
                "{client}: {}",
                err.message()
            );
        }
        assert_rejected(result, "token_not_verifiable");
    }
    assert_rejected(
        h.exchange_id_token("x", &h.id_token("alice")).await,
        "token_not_verifiable",
    );
}
