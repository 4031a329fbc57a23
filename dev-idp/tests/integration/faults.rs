//! Each fault breaks the provider in exactly one way.

use crate::support::*;
use dev_idp::{Faults, SigningKey};
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
