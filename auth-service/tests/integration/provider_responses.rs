//! Provider answers that are huge or malformed: every provider call is cut
//! off at the size cap (whether or not the provider announces the size) or
//! refused as unusable, with UNAVAILABLE naming the endpoint; no session is
//! created, the service stays healthy, and cached JWKS keys survive.

use crate::support::*;
use auth_service::providers::http::MAX_RESPONSE_BYTES;
use common::proto::exchange_token_request::Token;
use common::proto::{ListSessionsRequest, LoginResponse};
use dev_idp::{Endpoint, Faults, HugeResponse, MalformedResponse, SigningKey};
use jsonwebtoken::{Algorithm, Header};
use std::time::{Duration, Instant};

/// How a login reaches the faulty endpoint.
#[derive(Debug, Clone, Copy)]
enum Flow {
    /// BeginLogin, the provider's consent, CompleteLogin.
    Code(&'static str),
    /// ExchangeToken with an ID token for the dev provider.
    IdToken,
    /// ExchangeToken with an access token issued to the provider's client.
    AccessToken(&'static str),
}

/// One login attempt for `user` along `flow`.
async fn attempt(h: &Harness, flow: Flow, user: &str) -> Result<LoginResponse, tonic::Status> {
    match flow {
        Flow::Code(provider) => h.code_flow(provider, user).await,
        Flow::IdToken => h.exchange_id_token("dev", &h.id_token(user)).await,
        Flow::AccessToken(provider) => {
            let client = match provider {
                "google" => GOOGLE_CLIENT,
                "github" => GITHUB_CLIENT,
                _ => DEV_CLIENT,
            };
            let token = h.idp.issue_access_token(user, client);
            h.exchange(provider, Token::AccessToken(token)).await
        }
    }
}

/// Far below the 10 s provider timeout: a call that ends sooner was cut
/// off by the size cap, not by the clock.
const PROMPTLY: Duration = Duration::from_secs(5);

/// Asserts a prompt UNAVAILABLE whose message names `what` and contains
/// `expected`, and not a timeout.
#[track_caller]
fn assert_unavailable(
    result: Result<LoginResponse, tonic::Status>,
    started: Instant,
    what: &str,
    expected: &str,
) {
    let elapsed = started.elapsed();
    let status = match result {
        Ok(login) => panic!("expected {what} to fail with {expected:?}, got a login {login:?}"),
        Err(status) => status,
    };
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), "provider_unavailable", "{status:?}");
    let message = status.message();
    assert!(
        message.contains(&format!("{what}: {expected}")),
        "{what}: {expected}: {status:?}"
    );
    assert!(!message.contains("timed out"), "{status:?}");
    assert!(elapsed < PROMPTLY, "{what} took {elapsed:?}");
}

/// The faults a huge or malformed `endpoint` can show, each with the error
/// text it must produce.
fn bad_answers(endpoint: Endpoint) -> Vec<(Faults, String)> {
    let cap = format!("response larger than {MAX_RESPONSE_BYTES} bytes");
    let huge = |huge| Faults {
        huge_response: Some(huge),
        ..Faults::default()
    };
    let malformed = |malformed| Faults {
        malformed_response: Some(malformed),
        ..Faults::default()
    };
    vec![
        (huge(HugeResponse::chunked(endpoint)), cap.clone()),
        (huge(HugeResponse::with_content_length(endpoint)), cap),
        (
            malformed(MalformedResponse::not_json(endpoint)),
            "malformed JSON".to_owned(),
        ),
        (
            malformed(MalformedResponse::wrong_shape(endpoint)),
            "malformed JSON".to_owned(),
        ),
    ]
}

/// For each bad answer of `endpoint`: a login along `flow` fails promptly
/// with UNAVAILABLE naming `what`. Then, with the faults cleared, the same
/// user logs in, and that is the user's only session.
async fn bad_answers_fail_cleanly(
    endpoint: Endpoint,
    flow: Flow,
    what: &str,
    answers: Vec<(Faults, String)>,
) {
    let h = Harness::start().await;
    for (faults, expected) in answers {
        h.idp.set_faults(faults);
        let started = Instant::now();
        let result = attempt(&h, flow, "alice").await;
        assert_unavailable(result, started, what, &expected);
    }
    h.idp.set_faults(Faults::default());
    let login = attempt(&h, flow, "alice")
        .await
        .unwrap_or_else(|e| panic!("{endpoint:?}: a correct login after the faults: {e:?}"));
    let sessions = h
        .client
        .clone()
        .list_sessions(ListSessionsRequest {
            user_id: login.user.unwrap().id,
        })
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(
        sessions.len(),
        1,
        "{endpoint:?}: no session from the failed logins"
    );
}

#[tokio::test]
async fn huge_or_malformed_discovery_fails_begin_login() {
    let endpoint = Endpoint::Discovery;
    bad_answers_fail_cleanly(
        endpoint,
        Flow::Code("dev"),
        "discovery",
        bad_answers(endpoint),
    )
    .await;
}

#[tokio::test]
async fn huge_or_malformed_discovery_fails_a_token_exchange() {
    let endpoint = Endpoint::Discovery;
    bad_answers_fail_cleanly(endpoint, Flow::IdToken, "discovery", bad_answers(endpoint)).await;
}

#[tokio::test]
async fn huge_or_malformed_jwks_fails_a_token_exchange() {
    let endpoint = Endpoint::Jwks;
    bad_answers_fail_cleanly(endpoint, Flow::IdToken, "JWKS", bad_answers(endpoint)).await;
}

#[tokio::test]
async fn huge_or_malformed_jwks_fails_the_code_flow() {
    let endpoint = Endpoint::Jwks;
    bad_answers_fail_cleanly(endpoint, Flow::Code("dev"), "JWKS", bad_answers(endpoint)).await;
}

#[tokio::test]
async fn huge_or_malformed_token_responses_fail_the_code_flow() {
    let endpoint = Endpoint::Token;
    bad_answers_fail_cleanly(
        endpoint,
        Flow::Code("dev"),
        "token endpoint",
        bad_answers(endpoint),
    )
    .await;
}

#[tokio::test]
async fn huge_or_malformed_token_responses_fail_the_github_code_flow() {
    let endpoint = Endpoint::Token;
    bad_answers_fail_cleanly(
        endpoint,
        Flow::Code("github"),
        "token endpoint",
        bad_answers(endpoint),
    )
    .await;
}

#[tokio::test]
async fn huge_or_malformed_userinfo_fails_the_code_flow() {
    let endpoint = Endpoint::Userinfo;
    bad_answers_fail_cleanly(
        endpoint,
        Flow::Code("dev"),
        "userinfo",
        bad_answers(endpoint),
    )
    .await;
}

#[tokio::test]
async fn huge_or_malformed_userinfo_fails_the_access_token_flow() {
    let endpoint = Endpoint::Userinfo;
    bad_answers_fail_cleanly(
        endpoint,
        Flow::AccessToken("google"),
        "userinfo",
        bad_answers(endpoint),
    )
    .await;
}

#[tokio::test]
async fn huge_or_malformed_tokeninfo_fails_the_access_token_flow() {
    let endpoint = Endpoint::Tokeninfo;
    bad_answers_fail_cleanly(
        endpoint,
        Flow::AccessToken("google"),
        "tokeninfo",
        bad_answers(endpoint),
    )
    .await;
}

#[tokio::test]
async fn huge_or_malformed_github_user_fails_the_code_flow() {
    let endpoint = Endpoint::GithubUser;
    bad_answers_fail_cleanly(
        endpoint,
        Flow::Code("github"),
        "GitHub API /user",
        bad_answers(endpoint),
    )
    .await;
}

#[tokio::test]
async fn huge_or_malformed_github_emails_fail_the_access_token_flow() {
    let endpoint = Endpoint::GithubEmails;
    bad_answers_fail_cleanly(
        endpoint,
        Flow::AccessToken("github"),
        "GitHub API /user/emails",
        bad_answers(endpoint),
    )
    .await;
}

#[tokio::test]
async fn a_huge_or_non_json_github_token_check_fails_the_access_token_flow() {
    // A body that is not JSON at all is not GitHub confirming the token.
    let endpoint = Endpoint::GithubTokenCheck;
    let mut answers = bad_answers(endpoint);
    answers.retain(|(faults, _)| {
        faults.malformed_response != Some(MalformedResponse::wrong_shape(endpoint))
    });
    bad_answers_fail_cleanly(
        endpoint,
        Flow::AccessToken("github"),
        "GitHub token check",
        answers,
    )
    .await;
}

#[tokio::test]
async fn a_github_token_check_naming_another_app_is_a_rejection() {
    let h = Harness::start().await;
    let token = h.idp.issue_access_token("alice", GITHUB_CLIENT);
    h.idp.update_faults(|f| {
        f.malformed_response = Some(MalformedResponse::wrong_shape(Endpoint::GithubTokenCheck))
    });
    assert_rejected(
        h.exchange("github", Token::AccessToken(token.clone()))
            .await,
        "invalid_access_token",
    );
    h.idp.set_faults(Default::default());
    assert!(
        h.exchange("github", Token::AccessToken(token))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn cached_keys_survive_a_huge_or_malformed_jwks_endpoint() {
    let h = Harness::start().await;
    h.exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    let claims = h.idp.id_token_claims("alice", DEV_CLIENT, None);
    for (i, (faults, _)) in bad_answers(Endpoint::Jwks).into_iter().enumerate() {
        h.idp.set_faults(faults.clone());
        let fetched = h.idp.jwks_fetch_count();
        // An unknown kid forces a refetch, which meets the fault...
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("rotated-{i}"));
        let token = h.idp.sign_with(header, &claims, SigningKey::Unpublished);
        let started = Instant::now();
        assert_rejected(h.exchange_id_token("dev", &token).await, "unknown_key");
        assert!(started.elapsed() < PROMPTLY, "{faults:?}");
        assert_eq!(
            h.idp.jwks_fetch_count(),
            fetched + 1,
            "the refetch reached the faulty endpoint: {faults:?}"
        );
        // ...and the cached key still verifies.
        h.exchange_id_token("dev", &h.id_token("bob"))
            .await
            .unwrap_or_else(|e| panic!("cached key after {faults:?}: {e:?}"));
    }
}
