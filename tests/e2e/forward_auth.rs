//! `/auth/check` for nginx / Traefik / Caddy forward authentication.

use portcullis_tests::TestStack;
use serde_json::Value;

#[tokio::test]
async fn check_answers_identity_headers_or_401() {
    let stack = TestStack::start().await;
    let token = stack.session_token("alice").await;

    let ok = stack.get_with_session("/auth/check", &token).await;
    assert_eq!(ok.status(), 200);
    let me: Value = stack.get_json("/auth/me", &token).await;
    let h = ok.headers();
    assert_eq!(h["x-auth-user-id"], me["user"]["id"].as_str().unwrap());
    assert_eq!(h["x-auth-email"], "alice@example.com");
    assert_eq!(
        h["x-auth-session-id"],
        me["session"]["id"].as_str().unwrap()
    );
    assert_eq!(h["x-auth-roles"], "admin");
    assert_eq!(h["x-auth-groups"], "admins,staff");
    assert_eq!(h["cache-control"], "no-store");

    let bearer = stack.get_with_bearer("/auth/check", &token).await;
    assert_eq!(bearer.status(), 200);

    let anonymous = stack.get("/auth/check").await;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().get("x-auth-user-id").is_none());
    let bad = stack
        .get_with_session("/auth/check", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(bad.status(), 401);
}
