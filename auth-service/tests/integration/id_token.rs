//! The front-end flow with an ID token: one failing token per rule of
//! OpenID Connect Core 3.1.3.7, each rejected with its own reason.

use crate::support::*;
use dev_idp::SigningKey;
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

fn current_kid(h: &Harness) -> Option<String> {
    jsonwebtoken::decode_header(h.id_token("alice"))
        .unwrap()
        .kid
}

#[tokio::test]
async fn valid_id_token_logs_in_and_maps_the_user() {
    let h = Harness::start().await;
    let login = h
        .exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    let user = login.user.unwrap();
    assert_eq!(user.email, "alice@example.com");
    assert!(user.email_verified);
    assert_eq!(user.issuer, h.idp.issuer());
    assert_eq!(user.provider_id, "dev");
    assert_eq!(user.roles, vec!["admin".to_owned()]);
    assert_eq!(login.session_token.len(), 43);

    // Same (issuer, subject) → same user; a new token every login.
    let again = h
        .exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    assert_eq!(again.user.unwrap().id, user.id);
    assert_ne!(again.session_token, login.session_token);

    let bob = h
        .exchange_id_token("dev", &h.id_token("bob"))
        .await
        .unwrap();
    assert_ne!(bob.user.as_ref().unwrap().id, user.id);
    assert!(bob.user.unwrap().roles.is_empty());
}

#[tokio::test]
async fn signature_by_an_unpublished_key_is_rejected() {
    let h = Harness::start().await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = current_kid(&h);
    let claims = h.idp.id_token_claims("alice", DEV_CLIENT, None);
    let token = h.idp.sign_with(header, &claims, SigningKey::Unpublished);
    assert_rejected(h.exchange_id_token("dev", &token).await, "bad_signature");
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let h = Harness::start().await;
    let token = dev_idp::unsigned_token(&h.idp.id_token_claims("alice", DEV_CLIENT, None));
    assert_rejected(h.exchange_id_token("dev", &token).await, "malformed_token");
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_rejected() {
    let h = Harness::start().await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = current_kid(&h);
    let claims = h.idp.id_token_claims("alice", DEV_CLIENT, None);
    let token = h
        .idp
        .sign_with(header, &claims, SigningKey::Hs256WithPublicKeyPem);
    assert_rejected(h.exchange_id_token("dev", &token).await, "unsupported_alg");
}

/// A listener that counts the connections made to it: where an attacker's
/// `jku`, `x5u` or `kid` URL points.
async fn trap() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (url, hits)
}

#[tokio::test]
async fn jku_x5u_jwk_and_url_kids_are_never_followed() {
    let h = Harness::start().await;
    let (trap_url, hits) = trap().await;
    let claims = h.idp.id_token_claims("alice", DEV_CLIENT, None);
    h.exchange_id_token("dev", &h.id_token("alice"))
        .await
        .unwrap();
    let before = h.idp.jwks_fetch_count();

    // A kid of no published key, with jku and x5u offering the attacker's.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("attacker-key".into());
    header.jku = Some(format!("{trap_url}/jwks.json"));
    header.x5u = Some(format!("{trap_url}/cert.pem"));
    let token = h.idp.sign_with(header, &claims, SigningKey::Unpublished);
    assert_rejected(h.exchange_id_token("dev", &token).await, "unknown_key");

    // The published kid, the attacker's key embedded as `jwk`.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = current_kid(&h);
    header.jwk =
        Some(serde_json::from_value(json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})).unwrap());
    let token = h.idp.sign_with(header, &claims, SigningKey::Unpublished);
    assert_rejected(h.exchange_id_token("dev", &token).await, "bad_signature");

    // A kid that is itself a URL.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(format!("{trap_url}/key"));
    let token = h.idp.sign_with(header, &claims, SigningKey::Unpublished);
    assert_rejected(h.exchange_id_token("dev", &token).await, "unknown_key");

    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a URL from a token header was fetched"
    );
    // Only the configured JWKS was consulted: at most one refetch per
    // unknown kid.
    assert!(h.idp.jwks_fetch_count() - before <= 2);
    // The trap does count what reaches it.
    let _probe = tokio::net::TcpStream::connect(trap_url.trim_start_matches("http://"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn wrong_audience_is_rejected() {
    let h = Harness::start().await;
    let token = h.id_token_with("alice", |c| c["aud"] = json!("someone-else"));
    assert_rejected(
        h.exchange_id_token("dev", &token).await,
        "audience_mismatch",
    );
}

#[tokio::test]
async fn several_audiences_need_azp() {
    let h = Harness::start().await;
    let token = h.id_token_with("alice", |c| {
        c["aud"] = json!([DEV_CLIENT, "other"]);
        c.as_object_mut().unwrap().remove("azp");
    });
    assert_rejected(h.exchange_id_token("dev", &token).await, "azp_missing");
    let token = h.id_token_with("alice", |c| {
        c["aud"] = json!([DEV_CLIENT, "other"]);
        c["azp"] = json!("other");
    });
    assert_rejected(h.exchange_id_token("dev", &token).await, "azp_mismatch");
    let token = h.id_token_with("alice", |c| {
        c["aud"] = json!([DEV_CLIENT, "other"]);
        c["azp"] = json!(DEV_CLIENT);
    });
    assert!(h.exchange_id_token("dev", &token).await.is_ok());
}

#[tokio::test]
async fn wrong_issuer_is_rejected() {
    let h = Harness::start().await;
    let token = h.id_token_with("alice", |c| c["iss"] = json!("https://evil.example"));
    assert_rejected(h.exchange_id_token("dev", &token).await, "issuer_mismatch");
}

#[tokio::test]
async fn missing_required_claims_are_rejected() {
    let h = Harness::start().await;
    for (claim, reason) in [
        ("sub", "missing_sub"),
        ("iat", "missing_iat"),
        ("exp", "missing_exp"),
    ] {
        let token = h.id_token_with("alice", |c| {
            c.as_object_mut().unwrap().remove(claim);
        });
        assert_rejected(h.exchange_id_token("dev", &token).await, reason);
    }
}

#[tokio::test]
async fn expiry_and_issue_time_respect_the_skew() {
    let h = Harness::start().await;
    let now = h.clock_now();
    let token = h.id_token_with("alice", |c| c["exp"] = json!(now - 61));
    assert_rejected(h.exchange_id_token("dev", &token).await, "expired");
    let token = h.id_token_with("alice", |c| c["exp"] = json!(now - 30));
    assert!(
        h.exchange_id_token("dev", &token).await.is_ok(),
        "within the 60 s skew"
    );
    let token = h.id_token_with("alice", |c| c["iat"] = json!(now + 120));
    assert_rejected(h.exchange_id_token("dev", &token).await, "issued_in_future");
    let token = h.id_token_with("alice", |c| c["iat"] = json!(now + 30));
    assert!(
        h.exchange_id_token("dev", &token).await.is_ok(),
        "within the 60 s skew"
    );
}

#[tokio::test]
async fn oversized_and_garbage_tokens_are_rejected_before_crypto() {
    let h = Harness::start().await;
    // A real, well-signed token made large: refused on its size alone,
    // before the provider's keys are even fetched.
    let mut claims = h.idp.id_token_claims("alice", DEV_CLIENT, None);
    claims["padding"] = json!("x".repeat(20_000));
    let huge = h.idp.sign(&claims);
    assert_rejected(h.exchange_id_token("dev", &huge).await, "token_too_large");
    assert_eq!(
        h.idp.jwks_fetch_count(),
        0,
        "keys fetched for an oversized token"
    );
    assert_rejected(
        h.exchange_id_token("dev", "not.a.jwt").await,
        "malformed_token",
    );
    let empty = h.exchange_id_token("dev", "").await.unwrap_err();
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);
    let unknown = h
        .exchange_id_token("nope", &h.id_token("alice"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    assert!(!unknown.message().contains("eyJ"), "no token in messages");
}

#[tokio::test]
async fn unverified_email_is_refused_by_default() {
    let h = Harness::start().await;
    assert_rejected(
        h.exchange_id_token("dev", &h.id_token("mallory")).await,
        "email_not_verified",
    );
}

#[tokio::test]
async fn google_hosted_domain_is_enforced() {
    let h = Harness::start_with(|issuer| {
        format!(
            r#"
[[providers]]
id = "workspace"
kind = "google"
client_id = "{GOOGLE_CLIENT}"
client_secret_env = "GOOGLE_SECRET"
issuer = "{issuer}"
hosted_domain = "example.com"
"#
        )
    })
    .await;
    let claims = h.idp.id_token_claims("alice", GOOGLE_CLIENT, None);
    let token = h.idp.sign(&claims);
    assert_rejected(
        h.exchange_id_token("workspace", &token).await,
        "hosted_domain_mismatch",
    );
    let mut claims = h.idp.id_token_claims("alice", GOOGLE_CLIENT, None);
    claims["hd"] = json!("example.com");
    assert!(
        h.exchange_id_token("workspace", &h.idp.sign(&claims))
            .await
            .is_ok()
    );
    claims["hd"] = json!("evil.com");
    assert_rejected(
        h.exchange_id_token("workspace", &h.idp.sign(&claims)).await,
        "hosted_domain_mismatch",
    );
}
