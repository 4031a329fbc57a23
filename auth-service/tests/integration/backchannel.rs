//! OpenID Connect Back-Channel Logout 1.0 through `BackchannelLogout`: the
//! logout token's rules, and which sessions it ends (by `sid`, by `sub`,
//! by `sid` alone, never a session of another user or provider).

use crate::support::*;
use common::proto::{BackchannelLogoutRequest, ValidateSessionRequest};
use serde_json::json;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The dev provider again, accepting logout tokens.
fn with_backchannel(issuer: &str) -> String {
    format!(
        r#"
[[providers]]
id = "bcl"
kind = "oidc"
client_id = "{DEV_CLIENT}"
token_endpoint_auth = "none"
issuer = "{issuer}"
backchannel_logout = true
"#
    )
}

async fn logout(h: &Harness, provider: &str, token: &str) -> Result<u32, tonic::Status> {
    h.client
        .clone()
        .backchannel_logout(BackchannelLogoutRequest {
            provider_id: provider.into(),
            logout_token: token.into(),
        })
        .await
        .map(|r| r.into_inner().revoked)
}

async fn is_live(h: &Harness, token: &str) -> bool {
    h.client
        .clone()
        .validate_session(ValidateSessionRequest {
            session_token: token.into(),
        })
        .await
        .is_ok()
}

/// A session for `user` through a front-end ID token naming provider
/// session `sid`.
async fn session(h: &Harness, user: &str, sid: &str) -> String {
    let token = h.id_token_with(user, |c| c["sid"] = json!(sid));
    h.exchange_id_token("bcl", &token)
        .await
        .unwrap()
        .session_token
}

/// Logout token claims for `user` (its `sub`) and `sid`.
fn claims(h: &Harness, user: Option<&str>, sid: Option<&str>) -> serde_json::Value {
    let now = h.clock_now();
    let mut c = json!({
        "iss": h.idp.issuer(), "aud": DEV_CLIENT, "iat": now, "jti": format!("j-{now}-{user:?}-{sid:?}"),
        "events": { EVENT: {} },
    });
    if let Some(user) = user {
        c["sub"] = json!(format!("dev-{user}"));
    }
    if let Some(sid) = sid {
        c["sid"] = json!(sid);
    }
    c
}

#[tokio::test]
async fn a_sid_ends_that_provider_session_only() {
    let h = Harness::start_with(with_backchannel).await;
    let first = session(&h, "alice", "sid-a1").await;
    let second = session(&h, "alice", "sid-a2").await;
    let bob = session(&h, "bob", "sid-b1").await;

    let token = h.idp.sign(&claims(&h, Some("alice"), Some("sid-a1")));
    assert_eq!(logout(&h, "bcl", &token).await.unwrap(), 1);
    assert!(!is_live(&h, &first).await);
    assert!(is_live(&h, &second).await);
    assert!(is_live(&h, &bob).await);

    // The same token again is a replay.
    assert_rejected(logout(&h, "bcl", &token).await, "logout_token_replayed");

    // A sid with another user's sub names nobody's session.
    let token = h.idp.sign(&claims(&h, Some("bob"), Some("sid-a2")));
    assert_eq!(logout(&h, "bcl", &token).await.unwrap(), 0);
    assert!(is_live(&h, &second).await);

    // A sid alone finds its sessions through the store's sid index. A login
    // through a provider without `backchannel_logout` (the same issuer
    // here) keeps no sid, so it is not among them.
    let token = h.id_token_with("alice", |c| c["sid"] = json!("sid-a2"));
    let unlisted = h
        .exchange_id_token("dev", &token)
        .await
        .unwrap()
        .session_token;
    let token = h.idp.sign(&claims(&h, None, Some("sid-a2")));
    assert_eq!(logout(&h, "bcl", &token).await.unwrap(), 1);
    assert!(!is_live(&h, &second).await);
    assert!(is_live(&h, &unlisted).await);
    assert!(is_live(&h, &bob).await);

    // A session nobody has: 200 with nothing revoked.
    let token = h.idp.sign(&claims(&h, None, Some("sid-unknown")));
    assert_eq!(logout(&h, "bcl", &token).await.unwrap(), 0);
}

#[tokio::test]
async fn a_sub_alone_ends_every_session_of_the_user() {
    let h = Harness::start_with(with_backchannel).await;
    let first = session(&h, "bob", "sid-1").await;
    let second = session(&h, "bob", "sid-2").await;
    let alice = session(&h, "alice", "sid-3").await;
    let token = h.idp.sign(&claims(&h, Some("bob"), None));
    assert_eq!(logout(&h, "bcl", &token).await.unwrap(), 2);
    assert!(!is_live(&h, &first).await && !is_live(&h, &second).await);
    assert!(is_live(&h, &alice).await);
}

#[tokio::test]
async fn invalid_logout_tokens_revoke_nothing() {
    let h = Harness::start_with(with_backchannel).await;
    let alice = session(&h, "alice", "sid-x").await;
    let good = claims(&h, Some("alice"), Some("sid-x"));
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = good.clone();
        f(&mut c);
        h.idp.sign(&c)
    };
    let cases = [
        (
            edit(&|c| c["aud"] = json!("another-client")),
            "audience_mismatch",
        ),
        (
            edit(&|c| c["iss"] = json!("https://evil.example")),
            "issuer_mismatch",
        ),
        (
            edit(&|c| {
                c.as_object_mut().unwrap().remove("events");
            }),
            "invalid_logout_token",
        ),
        (edit(&|c| c["nonce"] = json!("n")), "invalid_logout_token"),
        (
            edit(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            "invalid_logout_token",
        ),
        (
            edit(&|c| c["iat"] = json!(h.clock_now() - 3600)),
            "invalid_logout_token",
        ),
        // An ID token is not a logout token.
        (h.id_token("alice"), "invalid_logout_token"),
        ("not-a-jwt".to_owned(), "malformed_token"),
    ];
    for (token, reason) in cases {
        assert_rejected(logout(&h, "bcl", &token).await, reason);
    }
    assert!(is_live(&h, &alice).await, "nothing was revoked");

    // ...and a logout token is not an ID token: it logs nobody in.
    let mut as_id_token = good.clone();
    as_id_token["exp"] = json!(h.clock_now() + 60);
    assert_rejected(
        h.exchange_id_token("bcl", &h.idp.sign(&as_id_token)).await,
        "malformed_token",
    );

    // A provider that does not enable back-channel logout refuses it.
    let token = h.idp.sign(&good);
    let err = logout(&h, "dev", &token).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(is_live(&h, &alice).await);
}
