//! The login page, security headers, health and metrics endpoints.

use portcullis_tests::TestStack;

#[tokio::test]
async fn login_page_health_metrics_and_headers() {
    let stack = TestStack::start().await;

    let page = stack.get_html("/").await;
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS over plain http"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("href=\"/auth/login/dev\""), "{html}");
    assert!(html.contains("Development provider"), "{html}");

    let client = stack.browser();
    stack.login_as(&client, "bob").await;
    let html = stack.get_in(&client, "/").await.text().await.unwrap();
    assert!(html.contains("Bob Example"), "{html}");
    assert!(html.contains("action=\"/auth/logout\""), "{html}");
    assert!(html.contains("this session"), "{html}");

    let providers = stack.get_json_in(&client, "/auth/providers").await;
    assert_eq!(
        providers[0],
        serde_json::json!({"id": "dev", "name": "Development provider", "kind": "oidc"})
    );
    assert_eq!(providers[1]["kind"], "google");

    assert_eq!(stack.get("/healthz").await.status(), 200);
    assert_eq!(stack.get("/readyz").await.status(), 200);
    let bare = stack.bare_client();
    let metrics = bare
        .get(format!("{}/metrics", stack.metrics_url().await))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            "portcullis_gateway_requests_total{route=\"/auth/providers\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains(
        "portcullis_gateway_auth_call_duration_seconds_count{method=\"ValidateSession\"}"
    ));

    // An API error is JSON; the same error for a browser navigation is a page.
    let json = stack.get("/auth/me").await;
    assert_eq!(json.status(), 401);
    assert!(
        json.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let html = bare
        .get(stack.url("/auth/me"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 401);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

/// OWASP: nothing under `/auth/` may be stored by a browser or a shared
/// cache, whatever the answer: success, redirect, error or rate limit.
#[tokio::test]
async fn every_auth_answer_is_no_store() {
    let stack = TestStack::start().await;
    let token = stack.session_token("alice").await;
    let origin = stack.public_origin.clone();
    let mut answers = Vec::new();
    let mut check = |what: &str, response: reqwest::Response| {
        answers.push(response.status().as_u16());
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{what} ({})",
            response.status()
        );
    };
    check("providers", stack.get("/auth/providers").await);
    check("login", stack.get("/auth/login/dev").await);
    check(
        "login, unknown provider",
        stack.get("/auth/login/nope").await,
    );
    check(
        "callback without flow",
        stack.get("/auth/callback/dev?code=x&state=y").await,
    );
    check(
        "callback, provider error page",
        stack
            .get_html("/auth/callback/dev?error=access_denied")
            .await,
    );
    check("me", stack.get_with_bearer("/auth/me", &token).await);
    check("me, anonymous", stack.get("/auth/me").await);
    check(
        "sessions",
        stack.get_with_bearer("/auth/sessions", &token).await,
    );
    check("check", stack.get_with_bearer("/auth/check", &token).await);
    check("check, anonymous", stack.get("/auth/check").await);
    check("unknown /auth path", stack.get("/auth/nothing-here").await);
    let bare = stack.bare_client();
    check(
        "token login, not JSON",
        bare.post(stack.url("/auth/session"))
            .body("id_token=x")
            .send()
            .await
            .unwrap(),
    );
    check(
        "token login, refused",
        stack
            .post_json(
                "/auth/session",
                &serde_json::json!({"provider": "dev", "id_token": "x.y.z"}),
            )
            .await,
    );
    check(
        "logout, cross-site",
        stack
            .post_with_session(
                "/auth/logout",
                &token,
                &[("origin", "https://evil.example")],
            )
            .await,
    );
    check(
        "logout",
        bare.post(stack.url("/auth/logout"))
            .header("origin", &origin)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    );
    // Until the login rate limit answers 429.
    let mut limited = None;
    for _ in 0..50 {
        let response = stack.get("/auth/login/dev").await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    check(
        "rate limited",
        limited.expect("the login rate limit answered 429"),
    );
    for status in [200, 204, 302, 400, 401, 403, 404, 415, 429] {
        assert!(
            answers.contains(&status),
            "no {status} checked: {answers:?}"
        );
    }
}
