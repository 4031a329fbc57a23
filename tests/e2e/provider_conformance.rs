//! The OpenID relying-party conformance cases through the whole stack: the
//! local provider misbehaves in exactly one way and a user logs in through
//! both flows (the code flow's callback and the front-end's
//! `POST /auth/session`), as alice (who already has an account) and bob
//! (who has none).
//!
//! Expected in every failing case: 401 with the specific reason as the
//! error code, `Cache-Control: no-store`, no session cookie, exactly one
//! `login_failed` audit line with that reason; and, read from auth-service's
//! store at the end, alice's account unchanged and no account for bob.

use auth_service::storage::UserStore;
use dev_idp::SigningKey;
use jsonwebtoken::{Algorithm, Header};
use portcullis_tests::{StackOptions, TestStack, cookie_value, location, set_cookie, wait_until};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The two login flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// `/auth/login/dev` → provider → `/auth/callback/dev`.
    Code,
    /// A front-end gets an ID token from the provider and posts it to
    /// `/auth/session`.
    Token,
}

const BOTH: &[Flow] = &[Flow::Code, Flow::Token];
/// Cases that only exist in the code flow (nonce, token endpoint, userinfo,
/// authorization response).
const CODE_ONLY: &[Flow] = &[Flow::Code];

/// What the provider's ID tokens say about their holder in every failing
/// case, so a login that wrongly succeeded would change alice's account.
const INJECTED_NAME: &str = "Renamed By A Forged Token";

type Edit = fn(&mut Header, &mut Value);

/// One way to misbehave: the provider's faults, and the reason the relying
/// party must give.
struct Case {
    name: &'static str,
    reason: &'static str,
    flows: &'static [Flow],
    /// Applied to every ID token the token endpoint signs (after the name
    /// change).
    edit: Option<Edit>,
    /// Other faults.
    faults: fn(&mut dev_idp::Faults),
}

fn no_faults(_: &mut dev_idp::Faults) {}

fn cases() -> Vec<Case> {
    let case = |name, reason, flows, edit: Option<Edit>, faults| Case {
        name,
        reason,
        flows,
        edit,
        faults,
    };
    vec![
        case(
            "rp-id_token-bad-sig-rs256: signed by a key the provider never published",
            "bad_signature",
            BOTH,
            None,
            |f| f.id_token_signing = SigningKey::Unpublished,
        ),
        case(
            "rp-id_token-sig-none: alg none",
            "malformed_token",
            BOTH,
            None,
            |f| f.id_token_alg_none = true,
        ),
        case(
            "algorithm confusion: HS256 keyed with the provider's public key",
            "unsupported_alg",
            BOTH,
            Some(|h, _| h.alg = Algorithm::HS256),
            |f| f.id_token_signing = SigningKey::Hs256WithPublicKeyPem,
        ),
        case(
            "jku and x5u point at the attacker; the published kid, the attacker's key",
            "bad_signature",
            BOTH,
            Some(|h, _| {
                h.jku = Some("http://127.0.0.1:1/attacker-jwks".into());
                h.x5u = Some("http://127.0.0.1:1/attacker-cert".into());
            }),
            |f| f.id_token_signing = SigningKey::Unpublished,
        ),
        case(
            "an embedded jwk header carrying the attacker's key",
            "bad_signature",
            BOTH,
            Some(|h, _| {
                h.jwk = Some(
                    serde_json::from_value(json!({
                        "kty": "RSA", "alg": "RS256", "use": "sig",
                        "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
                        "e": "AQAB"
                    }))
                    .unwrap(),
                );
            }),
            |f| f.id_token_signing = SigningKey::Unpublished,
        ),
        case(
            "a kid that names a URL instead of a published key",
            "unknown_key",
            BOTH,
            Some(|h, _| h.kid = Some("https://attacker.example/key.json".into())),
            |f| f.id_token_signing = SigningKey::Unpublished,
        ),
        case(
            "rp-id_token-aud: issued to another client",
            "audience_mismatch",
            BOTH,
            Some(|_, c| c["aud"] = json!("another-client")),
            no_faults,
        ),
        case(
            "several audiences without azp",
            "azp_missing",
            BOTH,
            Some(|_, c| {
                c["aud"] = json!(["portcullis-dev", "another-client"]);
                c.as_object_mut().unwrap().remove("azp");
            }),
            no_faults,
        ),
        case(
            "rp-id_token-issuer-mismatch",
            "issuer_mismatch",
            BOTH,
            Some(|_, c| c["iss"] = json!("https://impostor.example")),
            no_faults,
        ),
        case(
            "rp-id_token-sub: no sub",
            "missing_sub",
            BOTH,
            Some(|_, c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            no_faults,
        ),
        case(
            "rp-id_token-iat: no iat",
            "missing_iat",
            BOTH,
            Some(|_, c| {
                c.as_object_mut().unwrap().remove("iat");
            }),
            no_faults,
        ),
        case(
            "no exp",
            "missing_exp",
            BOTH,
            Some(|_, c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            no_faults,
        ),
        case(
            "expired an hour ago",
            "expired",
            BOTH,
            Some(|_, c| c["exp"] = json!(c["iat"].as_i64().unwrap() - 3600)),
            no_faults,
        ),
        case(
            "issued an hour in the future",
            "issued_in_future",
            BOTH,
            Some(|_, c| {
                let iat = c["iat"].as_i64().unwrap();
                c["iat"] = json!(iat + 3600);
                c["exp"] = json!(iat + 7200);
            }),
            no_faults,
        ),
        case(
            "an oversized token (rejected before any crypto)",
            "token_too_large",
            BOTH,
            Some(|_, c| c["padding"] = json!("x".repeat(20_000))),
            no_faults,
        ),
        case(
            "rp-nonce-invalid: a nonce from another login",
            "nonce_mismatch",
            CODE_ONLY,
            Some(|_, c| c["nonce"] = json!("replayed-from-another-login")),
            no_faults,
        ),
        case(
            "no nonce",
            "nonce_mismatch",
            CODE_ONLY,
            Some(|_, c| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
            no_faults,
        ),
        case(
            "rp-userinfo-bad-sub-claim",
            "userinfo_sub_mismatch",
            CODE_ONLY,
            None,
            |f| f.userinfo_sub = Some("someone-else".into()),
        ),
        case(
            "a token response without an ID token",
            "missing_id_token",
            CODE_ONLY,
            None,
            |f| f.omit_id_token = true,
        ),
        case(
            "RFC 9207: the authorization response names another issuer",
            "issuer_mismatch",
            CODE_ONLY,
            None,
            |f| f.authorization_response_iss = Some("https://impostor.example".into()),
        ),
        case(
            "the token endpoint refuses the code",
            "code_exchange_failed",
            CODE_ONLY,
            None,
            |f| f.token_error = Some("invalid_grant".into()),
        ),
    ]
}

/// Makes the provider misbehave as `case` says, renaming the user in every
/// ID token it signs.
fn break_provider(stack: &TestStack, case: &Case) {
    stack.idp.heal();
    let edit = case.edit;
    stack.idp.faults(|f| {
        (case.faults)(f);
        f.id_token_mutator = Some(Arc::new(move |header, claims| {
            claims["name"] = json!(INJECTED_NAME);
            if let Some(edit) = edit {
                edit(header, claims);
            }
        }));
    });
}

/// One login attempt through `flow` as `user`; returns the gateway's
/// answer to the step that fails (or succeeds).
async fn attempt(stack: &TestStack, flow: Flow, user: &str) -> reqwest::Response {
    let client = stack.browser();
    match flow {
        Flow::Code => {
            let login = stack.get_in(&client, "/auth/login/dev").await;
            if login.status() != 302 {
                return login;
            }
            let consent = client
                .get(format!("{}&login_hint={user}", location(&login)))
                .send()
                .await
                .unwrap();
            assert!(consent.status().is_redirection(), "{}", consent.status());
            client
                .get(stack.follow(&location(&consent)))
                .send()
                .await
                .unwrap()
        }
        Flow::Token => {
            let id_token = stack.id_token(user).await;
            client
                .post(stack.url("/auth/session"))
                .header("origin", &stack.public_origin)
                .json(&json!({"provider": "dev", "id_token": id_token}))
                .send()
                .await
                .unwrap()
        }
    }
}

/// Waits for auth-service's audit log to hold more than `seen` events and
/// returns the new ones.
async fn new_audit_events(stack: &TestStack, seen: usize) -> Vec<Value> {
    wait_until(Duration::from_secs(5), "the audit line is written", || {
        let n = stack.audit_events().len();
        async move { n > seen }
    })
    .await;
    // A second line would be written before the answer; give the log
    // reader a moment so it would be seen.
    tokio::time::sleep(Duration::from_millis(50)).await;
    stack.audit_events().split_off(seen)
}

/// Asserts the outcome every failing case must have.
async fn assert_refused(stack: &TestStack, case: &Case, flow: Flow, user: &str) {
    let what = format!("{} ({flow:?} flow, {user})", case.name);
    let seen = stack.audit_events().len();
    let response = attempt(stack, flow, user).await;
    assert_eq!(response.status(), 401, "{what}");
    assert!(
        set_cookie(&response, &stack.session_cookie).is_none(),
        "{what}: a session cookie was set"
    );
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "{what}: cacheable"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], case.reason, "{what}: {body}");

    let events = new_audit_events(stack, seen).await;
    assert_eq!(events.len(), 1, "{what}: {events:?}");
    let event = &events[0];
    assert_eq!(event["event"], "login_failed", "{what}: {event}");
    assert_eq!(event["reason"], case.reason, "{what}: {event}");
    let audited_flow = match flow {
        Flow::Code => "code",
        Flow::Token => "id_token",
    };
    assert_eq!(event["flow"], audited_flow, "{what}: {event}");
}

/// Logs in through `flow` as `user`, expects it to work and returns the
/// session token.
async fn assert_accepted(stack: &TestStack, flow: Flow, user: &str, what: &str) -> String {
    let seen = stack.audit_events().len();
    let response = attempt(stack, flow, user).await;
    let Some(cookie) = set_cookie(&response, &stack.session_cookie).map(str::to_owned) else {
        panic!(
            "{what} ({flow:?}): {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    };
    assert!(matches!(response.status().as_u16(), 200 | 303), "{what}");
    // The login's own audit line is written asynchronously; wait for it, so
    // the next case's count of new lines starts after it.
    let logged = new_audit_events(stack, seen).await;
    assert!(
        logged.iter().any(|e| e["event"] == "login"),
        "{what}: no login audit line in {logged:?}"
    );
    cookie_value(&cookie).to_owned()
}

fn stack_options() -> StackOptions {
    StackOptions {
        // Dozens of logins from one address in a few seconds.
        gateway_settings: "login_rate_limit_per_minute = 100000\nlogin_rate_limit_burst = 100000\n"
            .into(),
        ..StackOptions::default()
    }
}

#[tokio::test]
async fn every_misbehaving_provider_is_refused_in_both_flows() {
    let mut stack = TestStack::start_with(stack_options()).await;
    let issuer = stack.idp_url.clone();

    // rp-discovery-issuer-not-matching-config first: auth-service keeps a
    // discovery document once one has passed, so this must precede every
    // successful login.
    let discovery = Case {
        name: "rp-discovery-issuer-not-matching-config",
        reason: "discovery_issuer_mismatch",
        flows: BOTH,
        edit: None,
        faults: |f| f.discovery_issuer = Some("https://impostor.example".into()),
    };
    break_provider(&stack, &discovery);
    for &flow in discovery.flows {
        for user in ["alice", "bob"] {
            assert_refused(&stack, &discovery, flow, user).await;
        }
    }

    // alice has an account from here on; bob never logs in.
    stack.idp.heal();
    let mut session_tokens =
        vec![assert_accepted(&stack, Flow::Code, "alice", "first login").await];
    let alice_sub = "dev-alice";

    for case in cases() {
        break_provider(&stack, &case);
        for &flow in case.flows {
            for user in ["alice", "bob"] {
                assert_refused(&stack, &case, flow, user).await;
            }
        }
    }

    // rp-id_token-kid-absent-single-jwks: accepted; then
    // rp-id_token-kid-absent-multiple-jwks: refused.
    let no_kid: Edit = |h, _| h.kid = None;
    stack.idp.heal();
    stack
        .idp
        .faults(|f| f.id_token_mutator = Some(Arc::new(no_kid)));
    for &flow in BOTH {
        session_tokens.push(assert_accepted(&stack, flow, "alice", "no kid, one key").await);
    }
    // A graceful rotation publishes a second key; a login signed by the new
    // one makes auth-service fetch the JWKS holding both.
    stack.idp.heal();
    stack.idp.idp().rotate_key(true).await;
    session_tokens.push(assert_accepted(&stack, Flow::Token, "alice", "new key").await);
    let several_keys = Case {
        name: "rp-id_token-kid-absent-multiple-jwks",
        reason: "kid_required",
        flows: BOTH,
        edit: Some(no_kid),
        faults: no_faults,
    };
    break_provider(&stack, &several_keys);
    for &flow in several_keys.flows {
        for user in ["alice", "bob"] {
            assert_refused(&stack, &several_keys, flow, user).await;
        }
    }

    // rp-key-rotation-op-sign-key: the old keys vanish, a new one signs;
    // accepted after exactly one JWKS refetch.
    stack.idp.heal();
    stack.idp.idp().rotate_key(false).await;
    let fetches = stack.idp.idp().jwks_fetch_count();
    for &flow in BOTH {
        session_tokens.push(assert_accepted(&stack, flow, "alice", "after a key rotation").await);
    }
    assert_eq!(stack.idp.idp().jwks_fetch_count(), fetches + 1);

    // No secret in any log line of either service.
    let logs = stack.service_logs();
    assert!(!logs.is_empty());
    for line in &logs {
        assert!(!line.contains("eyJ"), "a JWT in the log: {line}");
        for token in &session_tokens {
            assert!(!line.contains(token.as_str()), "a session token in the log");
        }
    }

    // Nothing a refused login carried reached the store.
    let store = stack.stop_and_open_store().await;
    let alice = store
        .user_by_identity(&issuer, alice_sub)
        .await
        .unwrap()
        .expect("alice's account");
    assert_eq!(alice.name, "Alice Example");
    assert!(
        store
            .user_by_identity(&issuer, "dev-bob")
            .await
            .unwrap()
            .is_none(),
        "a refused login created bob's account"
    );
}
