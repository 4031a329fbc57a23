//! The front-end token flow (`POST /auth/session`) and bearer sessions.

use portcullis_tests::{PUBLIC_ORIGIN, TestStack, cookie_value, set_cookie};
use serde_json::{Value, json};

#[tokio::test]
async fn id_token_is_exchanged_for_a_session() {
    let stack = TestStack::start().await;
    let id_token = stack.id_token("bob").await;
    let client = stack.browser();
    let response = client
        .post(stack.url("/auth/session"))
        .header("origin", PUBLIC_ORIGIN)
        .json(&json!({"provider": "dev", "id_token": id_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response, "portcullis").expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let token = cookie_value(cookie).to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "bob@example.com");
    assert!(body["session"]["id"].is_string());
    assert!(
        !body.to_string().contains(&token),
        "token echoed in the body"
    );

    let me = stack.get_in(&client, "/auth/me").await;
    assert_eq!(me.status(), 200);

    // Non-browser clients: the same token as a bearer credential.
    let me: Value = stack.get_json("/auth/me", &token).await;
    assert_eq!(me["user"]["email"], "bob@example.com");
}

#[tokio::test]
async fn access_token_is_verified_by_the_provider_and_exchanged() {
    let stack = TestStack::start().await;
    let access_token = stack.access_token("alice").await;
    let response = stack
        .post_json(
            "/auth/session",
            &json!({"provider": "devgoogle", "access_token": access_token}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(set_cookie(&response, "portcullis").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["user"]["provider"], "devgoogle");

    let forged = stack
        .post_json(
            "/auth/session",
            &json!({"provider": "devgoogle", "access_token": "made-up"}),
        )
        .await;
    assert_eq!(forged.status(), 401);
    assert!(set_cookie(&forged, "portcullis").is_none());
}

#[tokio::test]
async fn token_login_refuses_bad_requests() {
    let stack = TestStack::start().await;
    let client = stack.bare_client();
    let url = stack.url("/auth/session");

    // A cross-site HTML form cannot log anyone in: not JSON, 415.
    let form = client
        .post(&url)
        .form(&[("provider", "dev"), ("id_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let text = client
        .post(&url)
        .header("content-type", "text/plain")
        .body(r#"{"provider":"dev","id_token":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);

    let garbage = stack
        .post_json(
            "/auth/session",
            &json!({"provider": "dev", "id_token": "not.a.jwt"}),
        )
        .await;
    assert_eq!(garbage.status(), 401);
    assert!(set_cookie(&garbage, "portcullis").is_none());

    let both = stack
        .post_json(
            "/auth/session",
            &json!({"provider": "dev", "id_token": "a", "access_token": "b"}),
        )
        .await;
    assert_eq!(both.status(), 400);

    let cross_site = client
        .post(&url)
        .header("origin", "https://evil.example")
        .json(&json!({"provider": "dev", "id_token": stack.id_token("bob").await}))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert!(set_cookie(&cross_site, "portcullis").is_none());

    let huge = stack
        .post_json(
            "/auth/session",
            &json!({"provider": "dev", "id_token": "a".repeat(100 * 1024)}),
        )
        .await;
    assert_eq!(huge.status(), 413);
}
