//! RP-Initiated Logout 1.0: a logout by token answers where the browser
//! goes to be logged out at the provider too, with the login's ID token as
//! `id_token_hint`; a revoke by id (another user's session, an admin) never
//! learns that token.

use crate::support::*;
use common::proto::{RevokeSessionRequest, revoke_session_request::Target};

fn with_rp_logout(issuer: &str) -> String {
    format!(
        r#"
[[providers]]
id = "rpl"
kind = "oidc"
client_id = "{DEV_CLIENT}"
token_endpoint_auth = "none"
issuer = "{issuer}"
post_logout_redirect_uri = "http://127.0.0.1:1/logged-out"
"#
    )
}

async fn revoke(h: &Harness, target: Target) -> common::proto::RevokeSessionResponse {
    h.client
        .clone()
        .revoke_session(RevokeSessionRequest {
            target: Some(target),
            user_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_logout_by_token_names_the_providers_end_session_url() {
    let h = Harness::start_with(with_rp_logout).await;
    let id_token = h.id_token("alice");
    let login = h.exchange_id_token("rpl", &id_token).await.unwrap();
    let answer = revoke(&h, Target::SessionToken(login.session_token)).await;
    let url = url::Url::parse(&answer.end_session_url).unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some(format!("{}/logout", h.idp.issuer()).as_str())
    );
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["id_token_hint"], id_token);
    assert_eq!(query["client_id"], DEV_CLIENT);
    assert_eq!(
        query["post_logout_redirect_uri"],
        "http://127.0.0.1:1/logged-out"
    );

    // By id, the caller is not the session's holder: no URL, no token.
    let other = h
        .exchange_id_token("rpl", &h.id_token("bob"))
        .await
        .unwrap();
    let id = other.session.unwrap().id;
    assert_eq!(revoke(&h, Target::SessionId(id)).await.end_session_url, "");

    // A provider without post_logout_redirect_uri: none either.
    let plain = h
        .exchange_id_token("dev", &h.id_token("bob"))
        .await
        .unwrap();
    let answer = revoke(&h, Target::SessionToken(plain.session_token)).await;
    assert_eq!(answer.end_session_url, "");
}
