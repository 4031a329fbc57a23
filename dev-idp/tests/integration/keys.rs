//! Discovery, the JWKS, minting and key rotation.

use crate::support::*;
use dev_idp::{DevIdp, DevIdpConfig, SigningKey};
use jsonwebtoken::{Algorithm, Header};
use serde_json::Value;

async fn jwks(idp: &DevIdp) -> Value {
    get_json(&format!("{}/jwks", idp.issuer())).await
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn discovery_describes_the_provider() {
    let idp = start().await;
    assert_eq!(idp.issuer(), format!("http://{}", idp.addr()));
    let doc = get_json(&format!(
        "{}/.well-known/openid-configuration",
        idp.issuer()
    ))
    .await;
    let issuer = idp.issuer();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(doc["tokeninfo_endpoint"], format!("{issuer}/tokeninfo"));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);

    let home = http()
        .get(&issuer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("not for production"));
}

#[tokio::test]
async fn the_jwks_publishes_the_current_key_and_counts_fetches() {
    let idp = start().await;
    assert_eq!(idp.jwks_fetch_count(), 0);
    let response = http()
        .get(format!("{}/jwks", idp.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "max-age=300");
    let set = json(response).await;
    assert_eq!(idp.jwks_fetch_count(), 1);
    let key = &set["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    assert!(!key["n"].as_str().unwrap().contains('='));
    assert_eq!(kids(&set), vec![idp.current_kid()]);

    let token = idp.sign(&idp.id_token_claims("alice", PUBLIC_CLIENT, Some("n")));
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid, Some(idp.current_kid()));
    let claims = verify(&idp, &token, PUBLIC_CLIENT).await.unwrap();
    assert_eq!(claims["nonce"], "n");
    assert!(claims.get("azp").is_none());
    let exp = claims["exp"].as_i64().unwrap();
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(exp - iat, 3600);
}

#[tokio::test]
async fn rotation_replaces_or_adds_a_key() {
    let idp = start().await;
    let first = idp.current_kid();
    let second = idp.rotate_key(false).await;
    assert_ne!(first, second);
    assert_eq!(idp.current_kid(), second);
    assert_eq!(kids(&jwks(&idp).await), vec![second.clone()]);
    let token = idp.sign(&idp.id_token_claims("alice", PUBLIC_CLIENT, None));
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid,
        Some(second.clone())
    );
    verify(&idp, &token, PUBLIC_CLIENT).await.unwrap();

    let third = idp.rotate_key(true).await;
    assert_eq!(kids(&jwks(&idp).await), vec![third, second]);
}

#[tokio::test]
async fn forged_tokens_do_not_verify() {
    let idp = start().await;
    let claims = idp.id_token_claims("alice", PUBLIC_CLIENT, None);

    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(idp.current_kid());
    let unpublished = idp.sign_with(header, &claims, SigningKey::Unpublished);
    let err = verify(&idp, &unpublished, PUBLIC_CLIENT).await.unwrap_err();
    assert!(err.contains("InvalidSignature"), "{err}");

    let confused = idp.sign_with(
        Header::new(Algorithm::HS256),
        &claims,
        SigningKey::Hs256WithPublicKeyPem,
    );
    assert_eq!(
        jsonwebtoken::decode_header(&confused).unwrap().alg,
        Algorithm::HS256
    );
    assert!(verify(&idp, &confused, PUBLIC_CLIENT).await.is_err());

    // Without a kid, signed as given.
    let no_kid = idp.sign_with(Header::new(Algorithm::RS256), &claims, SigningKey::Current);
    assert_eq!(jsonwebtoken::decode_header(&no_kid).unwrap().kid, None);
    verify(&idp, &no_kid, PUBLIC_CLIENT).await.unwrap();

    let none = dev_idp::unsigned_token(&claims);
    assert!(none.ends_with('.'));
    assert!(none.starts_with("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."));
    assert!(verify(&idp, &none, PUBLIC_CLIENT).await.is_err());
}

#[tokio::test]
async fn unknown_logins_get_a_synthetic_unverified_user() {
    let idp = start().await;
    let claims = idp.id_token_claims("zoe", PUBLIC_CLIENT, None);
    assert_eq!(claims["sub"], "zoe");
    assert_eq!(claims["email_verified"], false);
    assert!(claims.get("groups").is_none(), "{claims}");
}

#[tokio::test]
async fn id_tokens_carry_the_users_groups() {
    let idp = start().await;
    let groups = |login| idp.id_token_claims(login, PUBLIC_CLIENT, None)["groups"].clone();
    assert_eq!(groups("alice"), serde_json::json!(["admins", "staff"]));
    assert_eq!(groups("bob"), serde_json::json!(["staff"]));
    assert_eq!(
        groups("mallory"),
        serde_json::Value::Null,
        "no groups, no claim"
    );
}

#[tokio::test]
async fn non_loopback_listen_is_refused() {
    for listen in ["0.0.0.0:0", "192.0.2.1:0", "[::]:0"] {
        let err = DevIdp::start(DevIdpConfig {
            listen: listen.parse().unwrap(),
            ..DevIdpConfig::default()
        })
        .await
        .err()
        .unwrap();
        assert!(
            err.downcast_ref::<dev_idp::NonLoopbackListen>().is_some(),
            "{err}"
        );
        assert!(err.to_string().contains("loopback"));
    }
    assert!(dev_idp::check_listen("[::1]:0".parse().unwrap()).is_ok());
    assert!(dev_idp::check_listen("[::ffff:127.0.0.1]:0".parse().unwrap()).is_ok());
}

#[tokio::test]
async fn an_issuer_with_a_path_serves_under_it() {
    let idp = DevIdp::start(DevIdpConfig {
        issuer: Some("http://localhost:1/realms/dev/".parse().unwrap()),
        ..DevIdpConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(idp.issuer(), "http://localhost:1/realms/dev");
    let base = format!("http://{}/realms/dev", idp.addr());
    let doc = get_json(&format!("{base}/.well-known/openid-configuration")).await;
    assert_eq!(doc["issuer"], "http://localhost:1/realms/dev");
    assert_eq!(doc["jwks_uri"], "http://localhost:1/realms/dev/jwks");
    let set = get_json(&format!("{base}/jwks")).await;
    assert_eq!(kids(&set), vec![idp.current_kid()]);
    let page = http()
        .get(format!("{base}/authorize"))
        .query(&authorize_params(PUBLIC_CLIENT, None))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"action="/realms/dev/authorize""#), "{page}");
    idp.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let idp = start().await;
    let addr = idp.addr();
    idp.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_signing_key_from_pem_signs_and_is_published() {
    use base64::Engine as _;
    use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
    use rsa::traits::PublicKeyParts as _;
    let private = rsa::RsaPrivateKey::new(&mut rand_core_06::OsRng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let idp = DevIdp::start(DevIdpConfig {
        signing_key_pem: Some(pem.clone()),
        ..DevIdpConfig::default()
    })
    .await
    .unwrap();
    let set = get_json(&format!("{}/jwks", idp.issuer())).await;
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
    assert_eq!(set["keys"][0]["n"], n, "the JWKS publishes the given key");
    // A token the provider signs verifies with the key the developer holds.
    let token = idp.sign(&serde_json::json!({"sub": "x"}));
    let public = jsonwebtoken::DecodingKey::from_rsa_components(
        &n,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(&token, &public, &validation).unwrap();
    idp.shutdown().await;

    for bad in [
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ] {
        let err = DevIdp::start(DevIdpConfig {
            signing_key_pem: Some(bad.to_owned()),
            ..DevIdpConfig::default()
        })
        .await
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("not a PEM RSA private key"),
            "{err:#}"
        );
    }
}
