//! The authorization-code flow with PKCE: state, nonce, PKCE, code reuse,
//! RFC 9207 mix-up defence and provider misbehaviour.

use crate::support::*;
use common::proto::ValidateSessionRequest;
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn full_code_flow_creates_a_session() {
    let h = Harness::start().await;
    let began = h
        .client
        .clone()
        .begin_login(common::proto::BeginLoginRequest {
            provider_id: "dev".into(),
            redirect_uri: REDIRECT_URI.into(),
            return_to: "/dashboard?tab=1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let url = url::Url::parse(&began.authorization_url).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], DEV_CLIENT);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43);
    assert_ne!(q["state"], began.flow_handle, "the handle is not the state");

    let params = follow_authorization(&began.authorization_url, "alice").await;
    let login = h
        .complete(
            "dev",
            &params["code"],
            &params["state"],
            &began.flow_handle,
            &params["iss"],
        )
        .await
        .unwrap();
    assert_eq!(login.return_to, "/dashboard?tab=1");
    assert_eq!(login.user.as_ref().unwrap().email, "alice@example.com");

    let valid = h
        .client
        .clone()
        .validate_session(ValidateSessionRequest {
            session_token: login.session_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(valid.user.unwrap().id, login.user.unwrap().id);

    // The token request was a public-client PKCE exchange.
    let requests = h.idp.token_requests();
    let last = requests.last().unwrap();
    assert_eq!(last.client_auth, "none");
    assert!(last.code_verifier_present);
}

#[tokio::test]
async fn a_state_works_once() {
    let h = Harness::start().await;
    let (code, state, iss, handle) = h.authorize("dev", "alice").await;
    h.complete("dev", &code, &state, &handle, &iss)
        .await
        .unwrap();
    assert_rejected(
        h.complete("dev", &code, &state, &handle, &iss).await,
        "state_unknown",
    );
}

#[tokio::test]
async fn a_state_from_another_browser_is_rejected_and_spent() {
    let h = Harness::start().await;
    let (code, state, iss, handle) = h.authorize("dev", "alice").await;
    assert_rejected(
        h.complete("dev", &code, &state, "someone-elses-flow-handle", &iss)
            .await,
        "state_mismatch",
    );
    assert_rejected(
        h.complete("dev", &code, &state, &handle, &iss).await,
        "state_unknown",
    );
}

#[tokio::test]
async fn a_state_older_than_ten_minutes_is_rejected() {
    let h = Harness::start().await;
    let (code, state, iss, handle) = h.authorize("dev", "alice").await;
    h.clock.advance(601);
    assert_rejected(
        h.complete("dev", &code, &state, &handle, &iss).await,
        "state_expired",
    );
}

#[tokio::test]
async fn an_injected_code_fails_pkce() {
    // The attacker completes their own flow with a code issued for the
    // victim's flow: the victim's PKCE challenge does not match the
    // attacker's verifier.
    let h = Harness::start().await;
    let (_attacker_code, attacker_state, iss, attacker_handle) =
        h.authorize("dev", "mallory").await;
    let (victim_code, _victim_state, _, _) = h.authorize("dev", "alice").await;
    assert_rejected(
        h.complete("dev", &victim_code, &attacker_state, &attacker_handle, &iss)
            .await,
        "code_exchange_failed",
    );
}

#[tokio::test]
async fn a_code_is_never_reused() {
    let h = Harness::start().await;
    let (code, state, iss, handle) = h.authorize("dev", "alice").await;
    h.complete("dev", &code, &state, &handle, &iss)
        .await
        .unwrap();
    let (_, state2, iss2, handle2) = h.authorize("dev", "alice").await;
    assert_rejected(
        h.complete("dev", &code, &state2, &handle2, &iss2).await,
        "code_exchange_failed",
    );
}

#[tokio::test]
async fn a_wrong_nonce_is_rejected() {
    let h = Harness::start().await;
    h.idp.update_faults(|f| {
        f.id_token_mutator = Some(Arc::new(|_, claims| claims["nonce"] = json!("replayed")));
    });
    assert_rejected(h.code_flow("dev", "alice").await, "nonce_mismatch");
}

#[tokio::test]
async fn a_missing_nonce_is_rejected() {
    let h = Harness::start().await;
    h.idp.update_faults(|f| {
        f.id_token_mutator = Some(Arc::new(|_, claims| {
            claims.as_object_mut().unwrap().remove("nonce");
        }));
    });
    assert_rejected(h.code_flow("dev", "alice").await, "nonce_mismatch");
}

#[tokio::test]
async fn the_authorization_response_issuer_must_match() {
    let h = Harness::start().await;
    let (code, state, _iss, handle) = h.authorize("dev", "alice").await;
    assert_rejected(
        h.complete("dev", &code, &state, &handle, "https://other-idp.example")
            .await,
        "issuer_mismatch",
    );
    // The provider advertises `iss` in responses, so it may not be absent.
    let (code, state, _iss, handle) = h.authorize("dev", "alice").await;
    assert_rejected(
        h.complete("dev", &code, &state, &handle, "").await,
        "issuer_missing",
    );
}

#[tokio::test]
async fn a_callback_for_another_provider_is_rejected() {
    let h = Harness::start().await;
    let (code, state, iss, handle) = h.authorize("dev", "alice").await;
    assert_rejected(
        h.complete("google", &code, &state, &handle, &iss).await,
        "provider_mismatch",
    );
}

#[tokio::test]
async fn a_token_response_without_id_token_is_rejected() {
    let h = Harness::start().await;
    h.idp.update_faults(|f| f.omit_id_token = true);
    assert_rejected(h.code_flow("dev", "alice").await, "missing_id_token");
}

#[tokio::test]
async fn a_userinfo_subject_mismatch_is_rejected() {
    let h = Harness::start().await;
    h.idp
        .update_faults(|f| f.userinfo_sub = Some("somebody-else".into()));
    assert_rejected(h.code_flow("dev", "alice").await, "userinfo_sub_mismatch");
}

#[tokio::test]
async fn a_provider_error_at_the_token_endpoint_is_a_rejection() {
    let h = Harness::start().await;
    h.idp
        .update_faults(|f| f.token_error = Some("invalid_grant".into()));
    assert_rejected(h.code_flow("dev", "alice").await, "code_exchange_failed");
}

#[tokio::test]
async fn a_discovery_issuer_mismatch_refuses_the_provider() {
    let h = Harness::start().await;
    h.idp
        .update_faults(|f| f.discovery_issuer = Some("https://impostor.example".into()));
    // Refused at BeginLogin: the browser is never sent to the impostor.
    assert_rejected(
        h.code_flow("dev", "alice").await,
        "discovery_issuer_mismatch",
    );
    // Not remembered: once the provider is fixed, logins work.
    h.idp.set_faults(Default::default());
    h.authorize("dev", "alice").await;
}

#[tokio::test]
async fn confidential_clients_authenticate_at_the_token_endpoint() {
    let h = Harness::start().await;
    let (code, state, iss, handle) = h.authorize("google", "alice").await;
    let login = h
        .complete("google", &code, &state, &handle, &iss)
        .await
        .unwrap();
    assert_eq!(login.user.unwrap().email, "alice@example.com");
    assert_eq!(
        h.idp.token_requests().last().unwrap().client_auth,
        "client_secret_basic"
    );
}

#[tokio::test]
async fn bad_redirect_and_return_paths_are_invalid_arguments() {
    let h = Harness::start().await;
    for (redirect_uri, return_to) in [
        ("http://evil.example/cb", "/"),
        ("not a url", "/"),
        (REDIRECT_URI, "//evil.example"),
        // Absolute URLs pass here (the gateway's allowed_return_hosts
        // decide); one with user info or another scheme never does.
        (REDIRECT_URI, "https://user@evil.example"),
        (REDIRECT_URI, "javascript:alert(1)"),
        (REDIRECT_URI, "/\\evil.example"),
    ] {
        let err = h
            .client
            .clone()
            .begin_login(common::proto::BeginLoginRequest {
                provider_id: "dev".into(),
                redirect_uri: redirect_uri.into(),
                return_to: return_to.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            tonic::Code::InvalidArgument,
            "{redirect_uri} {return_to}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    let h = Harness::start_with(|_| {
        r#"
[[providers]]
id = "down"
kind = "oidc"
client_id = "x"
token_endpoint_auth = "none"
issuer = "http://127.0.0.1:1"
"#
        .to_owned()
    })
    .await;
    let err = h
        .exchange_id_token("down", &h.id_token("alice"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    // Existing sessions do not depend on the provider.
    let login = h
        .exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    h.client
        .clone()
        .validate_session(ValidateSessionRequest {
            session_token: login.session_token,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_slow_provider_is_cut_off_by_the_timeout() {
    let h = Harness::start_with_settings("provider_timeout = \"300ms\"\n").await;
    h.idp
        .update_faults(|f| f.delay = Some(std::time::Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let err = h
        .exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(err.message().contains("timed out"), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}
