//! Logout, logout everywhere, the session list and revocation by id, and
//! the CSRF rule on all of them.

use portcullis_tests::{PUBLIC_ORIGIN, TestStack, assert_redirect};
use serde_json::Value;

async fn me_status(stack: &TestStack, token: &str) -> u16 {
    stack
        .get_with_session("/auth/me", token)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn logout_revokes_the_session_and_needs_our_origin() {
    let stack = TestStack::start().await;
    let token = stack.session_token("alice").await;

    // A cookie-authenticated POST without Origin / Sec-Fetch-Site: refused.
    let forged = stack.post_with_session("/auth/logout", &token, &[]).await;
    assert_eq!(forged.status(), 403);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["error"], "csrf");
    let cross = stack
        .post_with_session(
            "/auth/logout",
            &token,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(cross.status(), 403);
    assert_eq!(me_status(&stack, &token).await, 200);

    let logout = stack
        .post_with_session("/auth/logout", &token, &[("sec-fetch-site", "same-origin")])
        .await;
    assert_eq!(logout.status(), 204);
    let cleared = portcullis_tests::set_cookie(&logout, "portcullis").expect("cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(me_status(&stack, &token).await, 401);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user() {
    let stack = TestStack::start().await;
    let laptop = stack.session_token("alice").await;
    let phone = stack.session_token("alice").await;
    let bob = stack.session_token("bob").await;

    // From a browser form: 303 back to the start page.
    let response = stack
        .post_with_session(
            "/auth/logout/all",
            &laptop,
            &[("origin", PUBLIC_ORIGIN), ("accept", "text/html")],
        )
        .await;
    assert_redirect(&response, "/");
    assert_eq!(me_status(&stack, &laptop).await, 401);
    assert_eq!(me_status(&stack, &phone).await, 401);
    assert_eq!(
        me_status(&stack, &bob).await,
        200,
        "other users are untouched"
    );
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_by_id() {
    let stack = TestStack::start().await;
    let laptop = stack.session_token("bob").await;
    let phone = stack.session_token("bob").await;
    let alice = stack.session_token("alice").await;
    let client = stack.bare_client();

    let list: Value = stack.get_json("/auth/sessions", &laptop).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let other_id = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone else's session id: 404, and nothing is revoked.
    let alice_me: Value = stack.get_json("/auth/me", &alice).await;
    let alice_session = alice_me["session"]["id"].as_str().unwrap();
    let not_theirs = client
        .delete(stack.url(&format!("/auth/sessions/{alice_session}")))
        .bearer_auth(&laptop)
        .send()
        .await
        .unwrap();
    assert_eq!(not_theirs.status(), 404);
    assert_eq!(me_status(&stack, &alice).await, 200);

    // Cookie-authenticated DELETE from our origin.
    let revoked = client
        .delete(stack.url(&format!("/auth/sessions/{other_id}")))
        .header("cookie", format!("portcullis={laptop}"))
        .header("origin", PUBLIC_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(me_status(&stack, &phone).await, 401);
    assert_eq!(me_status(&stack, &laptop).await, 200);

    // The login page's form version, with a browser.
    let client = stack.browser();
    stack.login_as(&client, "alice").await;
    let other = stack.session_token("alice").await;
    let list = stack.get_json_in(&client, "/auth/sessions").await;
    let target = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false && s["id"] != alice_session)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = client
        .post(stack.url(&format!("/auth/sessions/{target}/revoke")))
        .header("origin", PUBLIC_ORIGIN)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_redirect(&form, "/");
    assert_eq!(me_status(&stack, &other).await, 401);
}

/// OWASP session fixation: a session cookie planted in the victim's browser
/// (here the attacker's own, bob's) is never promoted by the victim's login;
/// the login issues a new token and the planted one stays bob's.
#[tokio::test]
async fn login_issues_a_new_token_whatever_cookie_was_planted() {
    let stack = TestStack::start().await;
    let planted = stack.session_token("bob").await;
    let client = stack.bare_client();
    let login = client
        .get(stack.url("/auth/login/dev"))
        .header("cookie", format!("portcullis={planted}"))
        .send()
        .await
        .unwrap();
    let flow = portcullis_tests::set_cookie(&login, "portcullis_flow").expect("flow cookie");
    let flow = portcullis_tests::cookie_value(flow).to_owned();
    let consent = client
        .get(format!(
            "{}&login_hint=alice",
            portcullis_tests::location(&login)
        ))
        .send()
        .await
        .unwrap();
    let response = client
        .get(stack.follow(&portcullis_tests::location(&consent)))
        .header(
            "cookie",
            format!("portcullis={planted}; portcullis_flow={flow}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let issued = portcullis_tests::cookie_value(
        portcullis_tests::set_cookie(&response, "portcullis").expect("a session cookie"),
    )
    .to_owned();
    assert_ne!(issued, planted);
    let me = stack.get_json("/auth/me", &issued).await;
    assert_eq!(me["user"]["email"], "alice@example.com");
    let me = stack.get_json("/auth/me", &planted).await;
    assert_eq!(me["user"]["email"], "bob@example.com");
}
