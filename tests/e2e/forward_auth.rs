//! `/auth/check` for nginx / Traefik / Caddy forward authentication: the
//! answer for the session alone, the route policy applied to the request
//! the proxy describes, and where a browser without a session is sent.
//! The same through real nginx and Caddy is in `front_proxies.rs`.

use portcullis_tests::{StackOptions, TestStack, wait_until};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn check_answers_identity_headers_or_401() {
    let stack = TestStack::start().await;
    let token = stack.session_token("alice").await;

    let ok = stack.get_with_session("/auth/check", &token).await;
    assert_eq!(ok.status(), 200);
    let me: Value = stack.get_json("/auth/me", &token).await;
    let h = ok.headers();
    assert_eq!(h["x-auth-user-id"], me["user"]["id"].as_str().unwrap());
    assert_eq!(h["x-auth-email"], "alice@example.com");
    assert_eq!(
        h["x-auth-session-id"],
        me["session"]["id"].as_str().unwrap()
    );
    assert_eq!(h["x-auth-roles"], "admin");
    assert_eq!(h["x-auth-groups"], "admins,staff");
    assert_eq!(h["cache-control"], "no-store");

    let bearer = stack.get_with_bearer("/auth/check", &token).await;
    assert_eq!(bearer.status(), 200);

    let anonymous = stack.get("/auth/check").await;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().get("x-auth-user-id").is_none());
    let bad = stack
        .get_with_session("/auth/check", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(bad.status(), 401);

    // This stack trusts no proxy: a peer that names the request it asks
    // about is refused, not answered for the session alone (its route may
    // be stricter than the default policy).
    for header in ["x-forwarded-uri", "x-original-url", "x-forwarded-method"] {
        let refused = stack
            .bare_client()
            .get(stack.url("/auth/check"))
            .header("cookie", format!("{}={token}", stack.session_cookie))
            .header(header, "/api/admin/")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{header}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_forwarded_request", "{header}");
    }
}

/// A route only the group `nobody` may use and a public one, besides the
/// default routes (also Envoy's in `ext_authz.rs`).
pub(crate) const PROXIED_ROUTES: &str = r#"
[[routes]]
path_prefix = "/staff-only/"
allow_groups = ["nobody"]
target = { upstream = "http://127.0.0.1:9" }

[[routes]]
path_prefix = "/open/"
policy = "public"
target = { upstream = "http://127.0.0.1:9" }
"#;

/// A stack trusting the loopback proxy (the test), with
/// [`PROXIED_ROUTES`].
async fn proxied_stack() -> TestStack {
    TestStack::start_with(StackOptions {
        gateway_settings: "trusted_proxies = [\"127.0.0.1/32\"]\n".into(),
        routes: PROXIED_ROUTES.into(),
        ..StackOptions::default()
    })
    .await
}

/// `/auth/check{query}` as a proxy asks it: `headers` describe the
/// request, `token` is its session cookie.
async fn ask(
    stack: &TestStack,
    query: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = stack
        .bare_client()
        .get(stack.url(&format!("/auth/check{query}")));
    if let Some(token) = token {
        request = request.header("cookie", format!("{}={token}", stack.session_cookie));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn check_applies_the_policy_of_the_proxied_request() {
    let stack = proxied_stack().await;
    let alice = stack.session_token("alice").await;
    let bob = stack.session_token("bob").await;
    let status = |r: reqwest::Response| r.status().as_u16();

    // Under no route: any session.
    let r = ask(&stack, "", Some(&bob), &[("x-forwarded-uri", "/anything")]).await;
    assert_eq!(status(r), 200);
    // `/api/admin/` admits the admin role: alice has it, bob does not.
    for (token, want) in [(&alice, 200), (&bob, 403)] {
        let r = ask(
            &stack,
            "",
            Some(token),
            &[("x-forwarded-uri", "/api/admin/x?y")],
        )
        .await;
        assert_eq!(status(r), want);
        let r = ask(
            &stack,
            "",
            Some(token),
            &[("x-original-url", "https://app.example/api/admin/x")],
        )
        .await;
        assert_eq!(status(r), want);
    }
    // Bob's two refusals are counted by route and reason, and audited
    // (ids only).
    let metrics = stack.metrics_text().await;
    assert!(
        metrics.contains(
            "portcullis_gateway_policy_denials_total{route=\"/api/admin/\",reason=\"forbidden\"} 2"
        ),
        "{metrics}"
    );
    // The log reaches us through a pipe and a reader thread: poll it.
    let audited = || {
        stack
            .gateway
            .logs()
            .iter()
            .filter(|line| line.contains("access_denied") && line.contains("/api/admin/"))
            .count()
    };
    wait_until(Duration::from_secs(10), "both refusals audited", || {
        let done = audited() == 2;
        async move { done }
    })
    .await;
    assert!(!stack.gateway.logs().iter().any(|line| line.contains(&bob)));
    // The path is read as the gateway reads its own: dot segments,
    // encoded ones and case cannot step out of a stricter route.
    for path in [
        "/staff-only/",
        "/open/../staff-only/x",
        "/open/%2e%2e/staff-only/x",
        "/open/..%2fstaff-only/x",
    ] {
        let r = ask(&stack, "", Some(&alice), &[("x-forwarded-uri", path)]).await;
        assert!(
            matches!(r.status().as_u16(), 400 | 403),
            "{path}: {}",
            r.status()
        );
    }
    let r = ask(
        &stack,
        "",
        Some(&alice),
        &[("x-forwarded-uri", "/Staff-Only/x")],
    )
    .await;
    assert_eq!(status(r), 400);
    // Two descriptions that disagree are refused.
    let r = ask(
        &stack,
        "",
        Some(&alice),
        &[
            ("x-forwarded-uri", "/open/x"),
            ("x-original-url", "https://app.example/staff-only/x"),
        ],
    )
    .await;
    assert_eq!(status(r), 400);

    // A public route answers anonymous callers too, with every identity
    // header empty (so no proxy fills them in), and passes the identity
    // of a logged-in one.
    let r = ask(&stack, "", None, &[("x-forwarded-uri", "/open/x")]).await;
    assert_eq!(r.status(), 200);
    for name in [
        "x-auth-user-id",
        "x-auth-email",
        "x-auth-session-id",
        "x-auth-roles",
        "x-auth-groups",
    ] {
        assert_eq!(r.headers()[name], "", "{name}");
    }
    let r = ask(&stack, "", Some(&alice), &[("x-forwarded-uri", "/open/x")]).await;
    assert_eq!(r.headers()["x-auth-email"], "alice@example.com");
}

#[tokio::test]
async fn a_browser_without_a_session_is_told_where_to_log_in() {
    let stack = proxied_stack().await;
    let page = [
        ("accept", "text/html,application/xhtml+xml"),
        ("x-forwarded-uri", "/app/page?x=1"),
        ("x-forwarded-method", "GET"),
    ];
    let login = "/auth/login?return_to=%2Fapp%2Fpage%3Fx%3D1";

    // nginx: 401 with the login page in `Location`.
    let r = ask(&stack, "", None, &page).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["location"], login);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\""
    );
    // Traefik, Caddy: the redirect itself.
    let r = ask(&stack, "?redirect=true", None, &page).await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], login);
    // An API call, or a form post, keeps its plain 401.
    for headers in [
        &[
            ("accept", "application/json"),
            ("x-forwarded-uri", "/app/page"),
        ][..],
        &[
            ("accept", "text/html"),
            ("x-forwarded-uri", "/app/page"),
            ("x-forwarded-method", "POST"),
        ][..],
    ] {
        let r = ask(&stack, "?redirect=true", None, headers).await;
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("location").is_none());
    }
    // A path that could leave the site is refused before any redirect; one
    // too long to carry back becomes the start page.
    let r = ask(
        &stack,
        "",
        None,
        &[
            ("accept", "text/html"),
            ("x-forwarded-uri", "//evil.example/x"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let long = format!("/{}", "a".repeat(2100));
    let r = ask(
        &stack,
        "",
        None,
        &[("accept", "text/html"), ("x-forwarded-uri", &long)],
    )
    .await;
    assert_eq!(r.headers()["location"], "/auth/login");

    // The login page offers each provider, each coming back there.
    let picker = stack.get_html(login).await;
    assert_eq!(picker.status(), 200);
    let picker = picker.text().await.unwrap();
    assert!(
        picker.contains(r#"href="/auth/login/dev?return_to=%2Fapp%2Fpage%3Fx%3D1""#),
        "{picker}"
    );
}

#[tokio::test]
async fn a_browser_navigation_to_a_protected_route_goes_to_the_login_page() {
    let stack = TestStack::start().await;
    let r = stack.get_html("/api/whoami?x=1").await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/auth/login?return_to=%2Fapi%2Fwhoami%3Fx%3D1"
    );
    // API clients and scripts keep the 401.
    assert_eq!(stack.get("/api/whoami").await.status(), 401);
    let fetch = stack
        .bare_client()
        .get(stack.url("/api/whoami"))
        .header("accept", "text/html")
        .header("sec-fetch-mode", "cors")
        .send()
        .await
        .unwrap();
    assert_eq!(fetch.status(), 401);
    // Logged in but not admitted is still a 403, not a login.
    let bob = stack.session_token("bob").await;
    let denied = stack
        .bare_client()
        .get(stack.url("/api/admin/sessions"))
        .header("accept", "text/html")
        .header("cookie", format!("{}={bob}", stack.session_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
}
