//! Configured routes: the reverse proxy's identity headers and stripping,
//! route policies (401 vs 403) and the built-in handlers' user-id rules.

use crate::upstream::{Echo, seen};
use portcullis_tests::TestStack;
use serde_json::Value;

async fn stack_with_upstream(echo: &Echo) -> TestStack {
    TestStack::start_with_routes(&format!(
        r#"
[[routes]]
path_prefix = "/echo/"
target = {{ upstream = "{url}" }}

[[routes]]
path_prefix = "/public/"
policy = "public"
target = {{ upstream = "{url}" }}

[[routes]]
path_prefix = "/down/"
target = {{ upstream = "http://127.0.0.1:1" }}

[[routes]]
path_prefix = "/bob-only/"
allow_emails = ["bob@example.com"]
target = {{ upstream = "{url}" }}

[[routes]]
path_prefix = "/admins/"
allow_groups = ["admins"]
target = {{ upstream = "{url}" }}
"#,
        url = echo.url
    ))
    .await
}

async fn user_id(stack: &TestStack, token: &str) -> String {
    let me: Value = stack.get_json("/auth/me", token).await;
    me["user"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn upstream_gets_our_identity_and_never_forgeries_or_our_cookie() {
    let echo = Echo::start().await;
    let stack = stack_with_upstream(&echo).await;
    let token = stack.session_token("alice").await;
    let alice_id = user_id(&stack, &token).await;
    let client = stack.bare_client();

    let response = client
        .get(stack.url("/echo/things?x=1"))
        .header("cookie", format!("theme=dark; portcullis={token}; lang=en"))
        .header("x-auth-user-id", "forged-admin")
        .header("x-auth-roles", "admin,root")
        .header("x-auth-email", "ceo@example.com")
        .header("x-auth-groups", "root")
        .header("X-Auth-Groups", "wheel")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["path"], "/echo/things?x=1");
    assert_eq!(seen(&echoed, "x-auth-user-id"), vec![alice_id.as_str()]);
    assert_eq!(seen(&echoed, "x-auth-email"), vec!["alice@example.com"]);
    assert_eq!(seen(&echoed, "x-auth-roles"), vec!["admin"]);
    assert_eq!(seen(&echoed, "x-auth-groups"), vec!["admins,staff"]);
    assert_eq!(seen(&echoed, "x-auth-session-id").len(), 1);
    assert_eq!(seen(&echoed, "x-forwarded-for"), vec!["127.0.0.1"]);
    assert_eq!(seen(&echoed, "x-custom"), vec!["kept"]);
    let cookies = seen(&echoed, "cookie").join("; ");
    assert!(
        !cookies.contains(&token),
        "session token reached the upstream"
    );
    assert!(!cookies.contains("portcullis="), "{cookies}");
    assert!(
        cookies.contains("theme=dark") && cookies.contains("lang=en"),
        "{cookies}"
    );

    // A bearer session token is not forwarded either.
    let echoed: Value = stack.get_json("/echo/", &token).await;
    assert!(seen(&echoed, "authorization").is_empty());
    assert_eq!(seen(&echoed, "x-auth-user-id"), vec![alice_id.as_str()]);

    // Anonymous on a public route: forgeries stripped, no identity added.
    let echoed: Value = client
        .get(stack.url("/public/page"))
        .header("x-auth-user-id", "forged")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(seen(&echoed, "x-auth-user-id").is_empty(), "{echoed}");

    // Paths that could escape their route after upstream normalisation.
    let before = echo.hits();
    let sneaky = stack.get("/public/..%2Fecho/x").await;
    assert_eq!(sneaky.status(), 400);
    assert_eq!(echo.hits(), before);
}

#[tokio::test]
async fn bodies_stream_through_and_unsafe_cookie_requests_need_our_origin() {
    let echo = Echo::start().await;
    let stack = stack_with_upstream(&echo).await;
    let token = stack.session_token("bob").await;
    let client = stack.bare_client();
    let cookie = format!("portcullis={token}");

    let payload = "x".repeat(200_000);
    let echoed: Value = client
        .post(stack.url("/echo/upload"))
        .bearer_auth(&token)
        .body(payload.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["body"].as_str().unwrap().len(), payload.len());

    // A cross-site form post riding on the cookie never reaches the upstream.
    let before = echo.hits();
    let forged = client
        .post(stack.url("/echo/transfer"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .body("amount=1000")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(echo.hits(), before);
    let same_origin = client
        .post(stack.url("/echo/transfer"))
        .header("cookie", &cookie)
        .header("origin", &stack.public_origin)
        .body("amount=1")
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 200);

    let down = stack.get_with_bearer("/down/x", &token).await;
    assert_eq!(down.status(), 502);
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["error"], "upstream_error");
}

#[tokio::test]
async fn policies_answer_401_then_403() {
    let echo = Echo::start().await;
    let stack = stack_with_upstream(&echo).await;
    let alice = stack.session_token("alice").await;
    let bob = stack.session_token("bob").await;

    let anonymous = stack.get("/echo/x").await;
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");
    let anonymous = stack.get("/bob-only/x").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(echo.hits(), 0, "nothing reached the upstream");

    let alice_try = stack.get_with_bearer("/bob-only/x", &alice).await;
    assert_eq!(alice_try.status(), 403);
    assert_eq!(echo.hits(), 0);
    let bob_try = stack.get_with_bearer("/bob-only/x", &bob).await;
    assert_eq!(bob_try.status(), 200);
    assert_eq!(echo.hits(), 1);

    // Groups come from the provider's `groups` claim: alice is in
    // `admins`, bob only in `staff`.
    let me: Value = stack.get_json("/auth/me", &bob).await;
    assert_eq!(me["user"]["groups"], serde_json::json!(["staff"]));
    assert_eq!(stack.get("/admins/x").await.status(), 401);
    let bob_try = stack.get_with_bearer("/admins/x", &bob).await;
    assert_eq!(bob_try.status(), 403);
    assert_eq!(echo.hits(), 1);
    let alice_try = stack.get_with_bearer("/admins/x", &alice).await;
    assert_eq!(alice_try.status(), 200);
    assert_eq!(echo.hits(), 2);
    let echoed: Value = alice_try.json().await.unwrap();
    assert_eq!(seen(&echoed, "x-auth-groups"), vec!["admins,staff"]);

    let nowhere = stack.get("/nowhere").await;
    assert_eq!(nowhere.status(), 404);
}

#[tokio::test]
async fn business_handlers_decide_on_the_user_id() {
    let stack = TestStack::start().await;
    let alice = stack.session_token("alice").await; // admin
    let bob = stack.session_token("bob").await;
    let alice_id = user_id(&stack, &alice).await;
    let bob_id = user_id(&stack, &bob).await;

    let own = stack
        .get_with_bearer(&format!("/api/users/{bob_id}"), &bob)
        .await;
    assert_eq!(own.status(), 200);
    let own: Value = own.json().await.unwrap();
    assert_eq!(own["user"]["email"], "bob@example.com");
    assert_eq!(
        stack
            .get_with_bearer(&format!("/api/users/{alice_id}"), &bob)
            .await
            .status(),
        403
    );
    assert_eq!(
        stack
            .get_with_bearer("/api/users/u_nonexistent", &bob)
            .await
            .status(),
        403
    );
    let as_admin = stack
        .get_with_bearer(&format!("/api/users/{bob_id}"), &alice)
        .await;
    assert_eq!(as_admin.status(), 200);

    let path = format!("/api/admin/users/{bob_id}/sessions");
    assert_eq!(stack.get_with_bearer(&path, &bob).await.status(), 403);
    let sessions = stack.get_with_bearer(&path, &alice).await;
    assert_eq!(sessions.status(), 200);
    let sessions: Value = sessions.json().await.unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    assert_eq!(stack.get("/api/whoami").await.status(), 401);
}
