//! Each fault breaks the provider in exactly one way.

use crate::support::*;
use dev_idp::{Endpoint, Faults, HUGE_RESPONSE_BYTES, HugeResponse, MalformedResponse, SigningKey};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn id_token_after_flow(idp: &dev_idp::DevIdp) -> Option<String> {
    let code = code_for(idp, PUBLIC_CLIENT, "alice").await;
    let body = json(redeem(idp, &code, VERIFIER).await).await;
    body["id_token"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn id_token_faults() {
    let idp = start().await;
    idp.update_faults(|f| {
        f.id_token_mutator = Some(Arc::new(|header, claims| {
            header.kid = Some("mutated-kid".into());
            claims["nonce"] = json!("replayed");
        }));
    });
    let token = id_token_after_flow(&idp).await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
        Some("mutated-kid")
    );
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
        .unwrap()
        .claims;
    assert_eq!(claims["nonce"], "replayed");

    idp.set_faults(Faults {
        id_token_signing: SigningKey::Unpublished,
        ..Faults::default()
    });
    let token = id_token_after_flow(&idp).await.unwrap();
    assert!(verify(&idp, &token, PUBLIC_CLIENT).await.is_err());

    idp.set_faults(Faults {
        id_token_alg_none: true,
        ..Faults::default()
    });
    let token = id_token_after_flow(&idp).await.unwrap();
    assert!(token.ends_with('.'));

    idp.set_faults(Faults {
        omit_id_token: true,
        ..Faults::default()
    });
    assert_eq!(id_token_after_flow(&idp).await, None);

    idp.set_faults(Faults::default());
    let token = id_token_after_flow(&idp).await.unwrap();
    verify(&idp, &token, PUBLIC_CLIENT).await.unwrap();
}

#[tokio::test]
async fn endpoint_faults() {
    let idp = start().await;
    idp.update_faults(|f| {
        f.discovery_issuer = Some("https://impostor.example".into());
        f.authorization_response_iss = Some("https://mix-up.example".into());
        f.userinfo_sub = Some("somebody-else".into());
        f.jwks_omit_kid = true;
    });
    let doc = get_json(&format!(
        "{}/.well-known/openid-configuration",
        idp.issuer()
    ))
    .await;
    assert_eq!(doc["issuer"], "https://impostor.example");
    let query =
        redirect_query(&get_authorize(&idp, &authorize_params(PUBLIC_CLIENT, Some("alice"))).await);
    assert_eq!(query["iss"], "https://mix-up.example");
    let token = idp.issue_access_token("alice", PUBLIC_CLIENT);
    let info = json(
        http()
            .get(format!("{}/userinfo", idp.issuer()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(info["sub"], "somebody-else");
    let set = get_json(&format!("{}/jwks", idp.issuer())).await;
    assert!(set["keys"][0].get("kid").is_none());

    idp.set_faults(Faults {
        jwks_status: Some(503),
        token_error: Some("temporarily_unavailable".into()),
        ..Faults::default()
    });
    let before = idp.jwks_fetch_count();
    let response = http()
        .get(format!("{}/jwks", idp.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(idp.jwks_fetch_count(), before + 1);
    let code = query["code"].clone();
    assert_eq!(
        oauth_error(redeem(&idp, &code, VERIFIER).await, 400).await,
        "temporarily_unavailable"
    );
}

#[tokio::test]
async fn a_slow_provider_is_slow_everywhere() {
    let idp = start().await;
    idp.update_faults(|f| f.delay = Some(Duration::from_millis(300)));
    assert!(idp.faults().delay.is_some());
    let started = Instant::now();
    http()
        .get(format!("{}/jwks", idp.issuer()))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_huge_response_is_valid_json_beyond_a_mebibyte_without_content_length() {
    let idp = start().await;
    let jwks_uri = format!("{}/jwks", idp.issuer());
    idp.update_faults(|f| f.huge_response = Some(HugeResponse::chunked(Endpoint::Jwks)));
    assert!(format!("{:?}", idp.faults()).contains("huge_response: Some"));
    let response = http().get(&jwks_uri).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("content-length").is_none(),
        "{:?}",
        response.headers()
    );
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let body = response.bytes().await.unwrap();
    assert!(body.len() >= HUGE_RESPONSE_BYTES && body.len() > 1 << 20);
    // Valid JSON, still the real key set: only a size cap can refuse it.
    let set: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(set["keys"][0]["kid"], idp.current_kid().as_str());

    // Other endpoints are untouched.
    let response = http()
        .get(format!("{}/.well-known/openid-configuration", idp.issuer()))
        .send()
        .await
        .unwrap();
    assert!(response.content_length().unwrap() < 4096);

    // The honest variant announces its size.
    idp.update_faults(|f| {
        f.huge_response = Some(HugeResponse::with_content_length(Endpoint::Jwks));
    });
    let response = http().get(&jwks_uri).send().await.unwrap();
    let declared = response.content_length().unwrap();
    let body = response.bytes().await.unwrap();
    assert_eq!(declared, body.len() as u64);
    assert!(body.len() >= HUGE_RESPONSE_BYTES);

    // A JSON array (GitHub's e-mail list) is padded with whitespace.
    idp.update_faults(|f| {
        f.huge_response = Some(HugeResponse::chunked(Endpoint::GithubEmails));
    });
    let response = http()
        .get(format!("{}/github/user/emails", idp.issuer()))
        .bearer_auth(idp.issue_access_token("alice", PUBLIC_CLIENT))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-length").is_none());
    let body = response.bytes().await.unwrap();
    assert!(body.len() >= HUGE_RESPONSE_BYTES);
    let emails: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(emails[0]["email"], "alice@example.com");
}

#[tokio::test]
async fn a_malformed_response_is_not_json_or_the_wrong_shape() {
    let idp = start().await;
    idp.update_faults(|f| {
        f.malformed_response = Some(MalformedResponse::not_json(Endpoint::Token));
    });
    let code = code_for(&idp, PUBLIC_CLIENT, "alice").await;
    let response = redeem(&idp, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = response.bytes().await.unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
    // The endpoint still ran: the code is spent.
    idp.set_faults(Faults::default());
    assert_eq!(
        oauth_error(redeem(&idp, &code, VERIFIER).await, 400).await,
        "invalid_grant"
    );

    idp.update_faults(|f| {
        f.malformed_response = Some(MalformedResponse::wrong_shape(Endpoint::Jwks));
        // Malformed wins over huge on the same endpoint.
        f.huge_response = Some(HugeResponse::chunked(Endpoint::Jwks));
    });
    let before = idp.jwks_fetch_count();
    let set = get_json(&format!("{}/jwks", idp.issuer())).await;
    assert_eq!(set, json!({ "keys": "nope" }));
    assert_eq!(idp.jwks_fetch_count(), before + 1);
    // Only the named endpoint misbehaves.
    let doc = get_json(&format!(
        "{}/.well-known/openid-configuration",
        idp.issuer()
    ))
    .await;
    assert_eq!(doc["issuer"], idp.issuer().as_str());

    idp.update_faults(|f| {
        f.malformed_response = Some(MalformedResponse::wrong_shape(Endpoint::Userinfo));
        f.huge_response = None;
    });
    let info = json(
        http()
            .get(format!("{}/userinfo", idp.issuer()))
            .bearer_auth(idp.issue_access_token("alice", PUBLIC_CLIENT))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(info["sub"].is_number(), "{info}");
}
