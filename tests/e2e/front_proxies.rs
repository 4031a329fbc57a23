//! Forward authentication through the proxies people already run: real
//! nginx (`auth_request`) and Caddy (`forward_auth`) with the recipes of
//! `docs/http-api.md`, in front of an app and the gateway, driven by
//! headless Chromium. A browser without a session is sent to log in and
//! lands back on the page it wanted; a denied route shows a 403 page; an
//! API client gets 401; identity headers a client forges never reach the
//! app. nginx and Caddy are system packages (`.ci/run` installs them); a
//! missing one fails the test with the install command.

use crate::browser::Browser;
use crate::upstream::{Echo, seen};
use portcullis_tests::front_proxy::{APP_HOST, AUTH_HOST, FrontProxy, Kind, reserve_port};
use portcullis_tests::{StackOptions, TestStack, assert_redirect};
use serde_json::Value;

/// The app, a stack whose public origin is the proxy's, and `kind` in
/// front of both.
async fn behind(kind: Kind) -> (Echo, TestStack, FrontProxy) {
    let app = Echo::start().await;
    let port = reserve_port();
    let stack = TestStack::start_with(StackOptions {
        public_origin: Some(format!("http://127.0.0.1:{port}")),
        gateway_settings: "trusted_proxies = [\"127.0.0.1/32\"]\n".into(),
        routes: format!(
            r#"
[[routes]]
path_prefix = "/staff-only/"
allow_groups = ["nobody"]
target = {{ upstream = "{app}" }}

[[routes]]
path_prefix = "/open/"
policy = "public"
target = {{ upstream = "{app}" }}
"#,
            app = app.url
        ),
        ..StackOptions::default()
    })
    .await;
    let gateway = stack.gateway_url.trim_start_matches("http://").to_owned();
    let app_addr = app.url.trim_start_matches("http://").to_owned();
    let proxy = FrontProxy::start(kind, port, &gateway, &app_addr).await;
    (app, stack, proxy)
}

async fn log_in_through(kind: Kind) {
    let (app, _stack, proxy) = behind(kind).await;
    let origin = &proxy.origin;
    let client = reqwest::Client::new();

    // Identity headers a client sends never reach the app.
    let echo: Value = client
        .get(format!("{origin}/open/x"))
        .header("x-auth-email", "evil@example.com")
        .header("x-auth-user-id", "u_evil")
        .header("x-auth-groups", "admins")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["path"], "/open/x");
    // (nginx drops the empty headers of an anonymous answer; Caddy passes
    // them on empty.)
    for name in ["x-auth-email", "x-auth-user-id", "x-auth-groups"] {
        assert!(
            seen(&echo, name).iter().all(|v| v.is_empty()),
            "{kind:?} passed {name}: {echo}"
        );
    }

    // An API client without a session gets 401; the app is not asked.
    let api = client
        .get(format!("{origin}/app/data"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    assert!(!app.paths().iter().any(|p| p.starts_with("/app/")));

    // A browser is sent to the login page, picks the provider, logs in at
    // the provider and lands back on the page it wanted, as alice.
    let wanted = format!("{origin}/app/page?x=1");
    let browser = Browser::start().await;
    browser.goto(&wanted).await;
    browser
        .click(r#"a[href="/auth/login/dev?return_to=%2Fapp%2Fpage%3Fx%3D1"]"#)
        .await;
    browser
        .click(r#"button[name="login_hint"][value="alice"]"#)
        .await;
    browser.wait_for_url(&wanted).await;
    let page = browser.wait_for_text("alice@example.com").await;
    assert!(page.contains("/app/page?x=1"), "{page}");

    // A route alice may not use: a 403 page, and the app is not asked.
    browser.goto(&format!("{origin}/staff-only/x")).await;
    let page = browser.wait_for_text("403 Forbidden").await;
    assert!(!page.contains("\"path\""), "{page}");
    assert!(
        !app.paths().iter().any(|p| p.starts_with("/staff-only")),
        "{:?}",
        app.paths()
    );

    browser.close().await;
}

#[tokio::test]
async fn nginx_auth_request_sends_browsers_to_log_in_and_back() {
    log_in_through(Kind::Nginx).await;
}

#[tokio::test]
async fn caddy_forward_auth_sends_browsers_to_log_in_and_back() {
    log_in_through(Kind::Caddy).await;
}

/// One login for sibling hosts: the gateway on `auth.portcullis.localhost`,
/// the app on `app.portcullis.localhost`, the session cookie scoped to
/// `portcullis.localhost` (`cookie_domain`), the app's host an
/// `allowed_return_hosts` entry. A browser opening the app is sent to the
/// gateway's login page, logs in there and is sent back to the app, which
/// then sees the session; a host not listed is never returned to.
#[tokio::test]
async fn one_login_covers_sibling_hosts_through_the_cookie_domain() {
    let app = Echo::start().await;
    let port = reserve_port();
    let auth_origin = format!("http://{AUTH_HOST}:{port}");
    let stack = TestStack::start_with(StackOptions {
        public_origin: Some(auth_origin.clone()),
        gateway_settings: "trusted_proxies = [\"127.0.0.1/32\"]\n\
                           cookie_domain = \"portcullis.localhost\"\n\
                           allowed_return_hosts = [\".portcullis.localhost\"]\n"
            .into(),
        ..StackOptions::default()
    })
    .await;
    let gateway = stack.gateway_url.trim_start_matches("http://").to_owned();
    let app_addr = app.url.trim_start_matches("http://").to_owned();
    let _proxy = FrontProxy::start(Kind::NginxSiblingHosts, port, &gateway, &app_addr).await;

    let wanted = format!("http://{APP_HOST}:{port}/page?x=1");
    let browser = Browser::start().await;
    browser.goto(&wanted).await;
    // On the gateway's own host now, at its login page.
    let picker = browser.wait_for_text("Sign in to Portcullis").await;
    assert!(
        browser
            .url()
            .await
            .starts_with(&format!("{auth_origin}/auth/login?")),
        "{}",
        browser.url().await
    );
    assert!(
        picker.contains("return_to=http%3A%2F%2Fapp.portcullis.localhost"),
        "{picker}"
    );
    browser.click(r#"a[href^="/auth/login/dev?"]"#).await;
    browser
        .click(r#"button[name="login_hint"][value="alice"]"#)
        .await;
    browser.wait_for_url(&wanted).await;
    let page = browser.wait_for_text("alice@example.com").await;
    assert!(page.contains("/page?x=1"), "{page}");
    browser.close().await;

    // Back to a listed host, with the public URL's scheme, on any port;
    // never to a host nobody listed, another scheme, or user info.
    let listed = format!("http://{APP_HOST}:{port}/x?y=1");
    for (return_to, lands) in [
        (listed.as_str(), listed.as_str()),
        ("http://evil.localhost/x", "/"),
        ("https://app.portcullis.localhost/x", "/"),
        ("http://user@app.portcullis.localhost/x", "/"),
        ("http://app.portcullis.localhost.evil.localhost/x", "/"),
    ] {
        let client = stack.browser();
        let callback = stack.authorize(&client, "bob", return_to).await;
        let response = client.get(stack.follow(&callback)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{return_to}");
        assert_redirect(&response, lands);
    }
}
