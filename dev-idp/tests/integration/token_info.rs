//! Userinfo and the Google-like tokeninfo endpoint, for minted tokens.

use crate::support::*;

#[tokio::test]
async fn tokeninfo_describes_an_issued_access_token() {
    let idp = start().await;
    let token = idp.issue_access_token("alice", CONFIDENTIAL_CLIENT);
    let url = format!("{}/tokeninfo", idp.issuer());

    let by_post = http()
        .post(&url)
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(by_post.status(), 200);
    let info = json(by_post).await;
    assert_eq!(info["aud"], CONFIDENTIAL_CLIENT);
    assert_eq!(info["azp"], CONFIDENTIAL_CLIENT);
    assert_eq!(info["sub"], "dev-alice");
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["email_verified"], "true");
    let exp: i64 = info["exp"].as_str().unwrap().parse().unwrap();
    let expires_in: i64 = info["expires_in"].as_str().unwrap().parse().unwrap();
    assert!((3590..=3600).contains(&expires_in));
    assert!(exp > 1_700_000_000);

    let by_get = http()
        .get(&url)
        .query(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(json(by_get).await["sub"], "dev-alice");

    let mallory = idp.issue_access_token("mallory", CONFIDENTIAL_CLIENT);
    let info = get_json(&format!("{url}?access_token={mallory}")).await;
    assert_eq!(info["email_verified"], "false");
}

#[tokio::test]
async fn tokeninfo_refuses_unknown_tokens() {
    let idp = start().await;
    let url = format!("{}/tokeninfo", idp.issuer());
    for body in [vec![("access_token", "garbage")], vec![]] {
        let response = http().post(&url).form(&body).send().await.unwrap();
        let status = response.status();
        let error = json(response).await;
        assert_eq!(status, 400);
        assert!(error["error"].is_string());
        assert!(error["error_description"].is_string());
    }
    let response = http()
        .get(&url)
        .query(&[("access_token", "garbage")])
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(response, 400).await, "invalid_token");
}

#[tokio::test]
async fn userinfo_needs_a_known_bearer_token() {
    let idp = start().await;
    let url = format!("{}/userinfo", idp.issuer());
    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let response = http()
        .get(&url)
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let token = idp.issue_access_token("bob", PUBLIC_CLIENT);
    let response = http().post(&url).bearer_auth(&token).send().await.unwrap();
    let info = json(response).await;
    assert_eq!(info["sub"], "dev-bob");
    assert_eq!(info["email"], "bob@example.com");
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["picture"], "https://example.com/avatars/bob.png");
    assert_eq!(info["groups"], serde_json::json!(["staff"]));
}
