//! The "Sign in with Google" page (`[gateway.google_sign_in]`), with the
//! dev-idp standing in for Google Identity Services: in headless Chromium
//! in both of Google's modes, and the redirect mode's double-submit check
//! over plain HTTP.

use crate::browser::Browser;
use portcullis_tests::{DEV_CLIENT_ID, StackOptions, TestStack, cookie_value, set_cookie};

/// A stack whose gateway serves the page for the stack's Google-kind
/// provider, loading the dev-idp's stand-in for Google's script.
async fn google_stack(ux_mode: &str) -> TestStack {
    TestStack::start_with(StackOptions {
        public_port: true,
        gateway_settings: format!(
            "[gateway.google_sign_in]\nprovider = \"devgoogle\"\nclient_id = \"{DEV_CLIENT_ID}\"\n\
             ux_mode = \"{ux_mode}\"\nclient_script = \"{{issuer}}/gsi/client\"\n"
        ),
        ..StackOptions::default()
    })
    .await
}

#[tokio::test]
async fn popup_mode_posts_the_credential_and_returns_to_the_page_asked_for() {
    let stack = google_stack("popup").await;

    // The page's headers: Google's library allowed, and nothing else.
    let page = stack.get_html("/auth/google-sign-in").await;
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let csp = header("content-security-policy");
    let script = format!("{}/gsi/client", stack.idp_url);
    assert!(
        csp.contains(&format!("script-src 'self' {script};")),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header("referrer-policy"), "strict-origin-when-cross-origin");
    assert_eq!(
        header("cross-origin-opener-policy"),
        "same-origin-allow-popups"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("src=\"{script}\"")), "{html}");
    // Without JavaScript, the provider's ordinary login.
    assert!(html.contains("<noscript>"), "{html}");
    assert!(html.contains("/auth/login/devgoogle"), "{html}");

    let browser = Browser::start().await;
    browser
        .goto(&stack.url("/auth/google-sign-in?return_to=/api/whoami"))
        .await;
    browser.click(r#"button[data-login="alice"]"#).await;
    browser.wait_for_url(&stack.url("/api/whoami")).await;
    let whoami = browser.wait_for_text("alice@example.com").await;
    assert!(whoami.contains("devgoogle"), "{whoami}");
    assert!(browser.has_cookie(&stack.session_cookie).await);
    browser.close().await;
}

#[tokio::test]
async fn redirect_mode_posts_from_the_provider_with_the_double_submit_cookie() {
    let stack = google_stack("redirect").await;
    let browser = Browser::start().await;
    browser.goto(&stack.url("/auth/google-sign-in")).await;
    browser.click(r#"button[data-login="bob"]"#).await;

    // The dev-idp's confirmation, on its own origin, posts to the gateway
    // cross-origin, as Google's page does.
    browser.wait_for_text("Continue as bob").await;
    assert!(browser.url().await.starts_with(&stack.idp_url));
    browser.click(r#"button[type="submit"]"#).await;

    browser.wait_for_url(&stack.url("/")).await;
    let page = browser.wait_for_text("bob@example.com").await;
    assert!(page.contains("Your sessions"), "{page}");
    // The double-submit pair is spent.
    assert!(!browser.has_cookie("g_csrf_token").await);
    browser.close().await;
}

/// `POST /auth/google-sign-in` with `cookie` and the form `fields`, from
/// Google's origin.
async fn post_redirect_form(
    stack: &TestStack,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = stack
        .bare_client()
        .post(stack.url("/auth/google-sign-in"))
        .header("origin", "https://accounts.google.com")
        .header("sec-fetch-site", "cross-site")
        .header("accept", "text/html")
        .form(fields);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_redirect_post_needs_the_double_submit_pair_and_our_audience() {
    let stack = google_stack("redirect").await;
    let credential = |client_id: &str| {
        let claims = stack.idp.idp().id_token_claims("alice", client_id, None);
        stack.idp.idp().sign(&claims)
    };
    let ours = credential(DEV_CLIENT_ID);

    let refused = [
        // No cookie: a cross-site attacker's post.
        (None, "t0ken", "csrf_token_missing"),
        // The cookie does not match the field.
        (Some("g_csrf_token=t0ken"), "other", "csrf_token_mismatch"),
        // Two different cookies (one tossed by a sibling host).
        (
            Some("g_csrf_token=t0ken; g_csrf_token=other"),
            "t0ken",
            "csrf_token_missing",
        ),
    ];
    for (cookie, field, code) in refused {
        let reply = post_redirect_form(
            &stack,
            cookie,
            &[("credential", ours.as_str()), ("g_csrf_token", field)],
        )
        .await;
        assert_eq!(reply.status(), 400, "{cookie:?}");
        assert!(reply.headers().get("set-cookie").is_none());
        let page = reply.text().await.unwrap();
        assert!(page.contains(code), "{cookie:?}: {page}");
    }

    // A valid pair, but a credential issued to another app.
    let theirs = credential("another-app");
    let reply = post_redirect_form(
        &stack,
        Some("g_csrf_token=t0ken"),
        &[("credential", &theirs), ("g_csrf_token", "t0ken")],
    )
    .await;
    assert_eq!(reply.status(), 401);
    assert!(reply.headers().get("set-cookie").is_none());

    // Fields repeated or missing.
    for fields in [
        &[("g_csrf_token", "t0ken")][..],
        &[
            ("credential", ours.as_str()),
            ("credential", ours.as_str()),
            ("g_csrf_token", "t0ken"),
        ][..],
    ] {
        let reply = post_redirect_form(&stack, Some("g_csrf_token=t0ken"), fields).await;
        assert_eq!(reply.status(), 400);
        assert!(reply.text().await.unwrap().contains("invalid_form"));
    }

    // The real thing: a session, and the browser sent to the start page.
    let reply = post_redirect_form(
        &stack,
        Some("g_csrf_token=t0ken"),
        &[
            ("credential", ours.as_str()),
            ("g_csrf_token", "t0ken"),
            ("select_by", "btn"),
        ],
    )
    .await;
    assert_eq!(reply.status(), 303);
    assert_eq!(reply.headers()["location"], "/");
    let session = set_cookie(&reply, &stack.session_cookie).expect("a session cookie");
    let session = cookie_value(session).to_owned();
    let spent = set_cookie(&reply, "g_csrf_token").expect("the CSRF cookie removed");
    assert_eq!(cookie_value(spent), "", "{spent}");
    let me = stack.get_json("/auth/me", &session).await;
    assert_eq!(me["user"]["email"], "alice@example.com", "{me}");
}

#[tokio::test]
async fn without_the_table_there_is_no_page() {
    let stack = TestStack::start().await;
    assert_eq!(stack.get("/auth/google-sign-in").await.status(), 404);
    assert_eq!(stack.get("/auth/google-sign-in.js").await.status(), 404);
}
