//! The authorization-code flow with PKCE, end to end, and everything the
//! authorization and token endpoints refuse.

use crate::support::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

#[tokio::test]
async fn full_code_flow_with_pkce() {
    let idp = start().await;
    let response = get_authorize(&idp, &authorize_params(PUBLIC_CLIENT, Some("alice"))).await;
    let query = redirect_query(&response);
    assert_eq!(query["state"], "state-123");
    assert_eq!(query["iss"], idp.issuer(), "RFC 9207 iss on the redirect");
    assert_eq!(query["code"].len(), 43, "256-bit code");

    let response = redeem(&idp, &query["code"], VERIFIER).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json(response).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid email profile");

    let claims = verify(&idp, body["id_token"].as_str().unwrap(), PUBLIC_CLIENT)
        .await
        .unwrap();
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], PUBLIC_CLIENT);
    assert_eq!(claims["nonce"], "nonce-456");
    assert_eq!(claims["sub"], "dev-alice");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);

    let userinfo = http()
        .get(format!("{}/userinfo", idp.issuer()))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    let userinfo = json(userinfo).await;
    assert_eq!(userinfo["sub"], claims["sub"]);
    assert_eq!(userinfo["name"], "Alice Example");

    let record = idp.token_requests().pop().unwrap();
    assert_eq!(record.client_auth, "none");
    assert!(record.code_verifier_present);
    assert_eq!(record.client_id.as_deref(), Some(PUBLIC_CLIENT));
    assert_eq!(record.redirect_uri.as_deref(), Some(REDIRECT_URI));
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_rejected() {
    let idp = start().await;
    let code = code_for(&idp, PUBLIC_CLIENT, "alice").await;
    let wrong = "another-verifier-that-is-also-long-enough-0123";
    assert_eq!(
        oauth_error(redeem(&idp, &code, wrong).await, 400).await,
        "invalid_grant"
    );
    // The failed attempt spent the code.
    assert_eq!(
        oauth_error(redeem(&idp, &code, VERIFIER).await, 400).await,
        "invalid_grant"
    );

    let code = code_for(&idp, PUBLIC_CLIENT, "alice").await;
    let response = http()
        .post(format!("{}/token", idp.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", PUBLIC_CLIENT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(response, 400).await, "invalid_grant");
    assert!(!idp.token_requests().pop().unwrap().code_verifier_present);
}

#[tokio::test]
async fn a_code_works_once_and_reuse_revokes_its_token() {
    let idp = start().await;
    let code = code_for(&idp, PUBLIC_CLIENT, "alice").await;
    let first = json(redeem(&idp, &code, VERIFIER).await).await;
    let access_token = first["access_token"].as_str().unwrap();
    assert_eq!(
        oauth_error(redeem(&idp, &code, VERIFIER).await, 400).await,
        "invalid_grant"
    );
    let userinfo = http()
        .get(format!("{}/userinfo", idp.issuer()))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401, "RFC 6749 4.1.2: revoked on reuse");
}

#[tokio::test]
async fn the_redirect_uri_and_client_must_match_the_authorization() {
    let idp = start().await;
    let code = code_for(&idp, PUBLIC_CLIENT, "alice").await;
    let response = http()
        .post(format!("{}/token", idp.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:8080/elsewhere"),
            ("code_verifier", VERIFIER),
            ("client_id", PUBLIC_CLIENT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(response, 400).await, "invalid_grant");

    // A code for the public client redeemed by the confidential one.
    let code = code_for(&idp, PUBLIC_CLIENT, "alice").await;
    let response = http()
        .post(format!("{}/token", idp.issuer()))
        .basic_auth(CONFIDENTIAL_CLIENT, Some(CONFIDENTIAL_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(response, 400).await, "invalid_grant");
}

#[tokio::test]
async fn confidential_clients_authenticate_by_basic_or_post() {
    let idp = start().await;
    let token_request = |code: String| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
        ]
    };
    let url = format!("{}/token", idp.issuer());

    let code = code_for(&idp, CONFIDENTIAL_CLIENT, "bob").await;
    let response = http()
        .post(&url)
        .basic_auth(CONFIDENTIAL_CLIENT, Some(CONFIDENTIAL_SECRET))
        .header("accept", "application/json")
        .form(&token_request(code))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        idp.token_requests().pop().unwrap().client_auth,
        "client_secret_basic"
    );

    let code = code_for(&idp, CONFIDENTIAL_CLIENT, "bob").await;
    let mut form = token_request(code);
    form.push(("client_id", CONFIDENTIAL_CLIENT.to_owned()));
    form.push(("client_secret", CONFIDENTIAL_SECRET.to_owned()));
    let response = http().post(&url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        idp.token_requests().pop().unwrap().client_auth,
        "client_secret_post"
    );

    // Wrong secret, no secret, both methods at once.
    let code = code_for(&idp, CONFIDENTIAL_CLIENT, "bob").await;
    let response = http()
        .post(&url)
        .basic_auth(CONFIDENTIAL_CLIENT, Some("wrong"))
        .form(&token_request(code.clone()))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(oauth_error(response, 401).await, "invalid_client");
    let mut form = token_request(code.clone());
    form.push(("client_id", CONFIDENTIAL_CLIENT.to_owned()));
    let response = http().post(&url).form(&form).send().await.unwrap();
    assert_eq!(oauth_error(response, 401).await, "invalid_client");
    form.push(("client_secret", CONFIDENTIAL_SECRET.to_owned()));
    let response = http()
        .post(&url)
        .basic_auth(CONFIDENTIAL_CLIENT, Some(CONFIDENTIAL_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(response, 400).await, "invalid_request");

    // RFC 6749 2.3.1 form-encodes Basic credentials; both spellings work.
    let response = http()
        .post(&url)
        .header(
            "authorization",
            format!(
                "Basic {}",
                STANDARD.encode(format!("{CONFIDENTIAL_CLIENT}:conf%2Dsecret"))
            ),
        )
        .form(&token_request(code))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn without_openid_scope_there_is_no_id_token() {
    let idp = start().await;
    let mut params = authorize_params(CONFIDENTIAL_CLIENT, Some("alice"));
    set(&mut params, "scope", Some("read:user user:email"));
    let code = redirect_query(&get_authorize(&idp, &params).await)["code"].clone();
    let response = http()
        .post(format!("{}/token", idp.issuer()))
        .header("accept", "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", CONFIDENTIAL_CLIENT),
            ("client_secret", CONFIDENTIAL_SECRET),
        ])
        .send()
        .await
        .unwrap();
    let body = json(response).await;
    assert!(body["access_token"].is_string());
    assert!(body.get("id_token").is_none());
}

#[tokio::test]
async fn bad_authorization_requests_get_an_error_page() {
    let idp = start().await;
    let cases: Vec<(&str, Option<&str>)> = vec![
        ("code_challenge_method", Some("plain")),
        ("code_challenge_method", None),
        ("code_challenge", None),
        ("code_challenge", Some("too-short")),
        ("client_id", Some("unknown-client")),
        ("redirect_uri", Some("https://evil.example/cb")),
        ("redirect_uri", Some("http://127.0.0.1.evil.example/cb")),
        ("redirect_uri", Some("javascript:alert(1)")),
        ("redirect_uri", None),
        ("response_type", Some("token")),
        ("state", None),
        ("scope", None),
    ];
    for (key, value) in cases {
        let mut params = authorize_params(PUBLIC_CLIENT, Some("alice"));
        set(&mut params, key, value);
        let response = get_authorize(&idp, &params).await;
        assert_eq!(response.status(), 400, "{key}={value:?}");
        assert!(!response.headers().contains_key("location"));
        let page = response.text().await.unwrap();
        assert!(page.contains("not for production"), "{page}");
    }
    // RFC 6749 section 3.1: a repeated parameter is refused.
    let mut params = authorize_params(PUBLIC_CLIENT, Some("alice"));
    params.push(("state".into(), "second".into()));
    assert_eq!(get_authorize(&idp, &params).await.status(), 400);
}

#[tokio::test]
async fn without_login_hint_a_consent_page_lists_the_users() {
    let idp = start().await;
    let mut params = authorize_params(PUBLIC_CLIENT, None);
    set(&mut params, "state", Some("<script>alert(1)</script>"));
    let response = get_authorize(&idp, &params).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let page = response.text().await.unwrap();
    assert!(page.contains("development identity provider — not for production"));
    for login in ["alice", "bob", "mallory"] {
        assert!(page.contains(&format!(r#"name="login_hint" value="{login}""#)));
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>"));
    assert!(page.contains(r#"name="deny""#));

    // An unknown login_hint shows the page too.
    set(&mut params, "login_hint", Some("nobody"));
    assert_eq!(get_authorize(&idp, &params).await.status(), 200);
}

#[tokio::test]
async fn deny_redirects_with_access_denied() {
    let idp = start().await;
    let mut params = authorize_params(PUBLIC_CLIENT, None);
    set(&mut params, "deny", Some("1"));
    let query = redirect_query(&get_authorize(&idp, &params).await);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "state-123");
    assert!(!query.contains_key("code"));
}

#[tokio::test]
async fn redirect_uris_keep_their_query() {
    let idp = start().await;
    let mut params = authorize_params(PUBLIC_CLIENT, Some("bob"));
    let redirect = format!("{REDIRECT_URI}?tenant=a");
    set(&mut params, "redirect_uri", Some(&redirect));
    let response = get_authorize(&idp, &params).await;
    let query = redirect_query(&response);
    assert_eq!(query["tenant"], "a");
    assert!(query.contains_key("code"));
}
