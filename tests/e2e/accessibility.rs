//! The pages users see, checked in headless Chromium with axe-core (the
//! accessibility engine behind Lighthouse and most audit tools): the
//! sign-in page with a branded and a plain provider button, the signed-in
//! page with its session list, an error page and the Google sign-in page,
//! in the light and the dark colour scheme, with no serious or critical
//! violation; the same pages at a phone's width without sideways
//! scrolling; and a login and logout with JavaScript off.
//!
//! axe-core comes from the npm registry, pinned in `tests/axe`
//! (`npm ci --prefix tests/axe`; `.ci/run` does it). Without it the test
//! fails and says so: it never skips.

use crate::browser::Browser;
use portcullis_tests::{DEV_CLIENT_ID, StackOptions, TestStack};
use std::path::Path;

/// axe-core's browser bundle.
fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("axe/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} ({e}): install axe-core with `npm ci --prefix tests/axe` (.ci/run does this)",
            path.display()
        )
    })
}

/// Runs axe on the current page (WCAG 2.x A and AA rules, best practices)
/// and returns its serious and critical violations as readable lines.
async fn serious_violations(browser: &Browser, axe: &str) -> Vec<String> {
    // The bundle defines `window.axe`; WebDriver runs the script outside
    // the page's CSP, which allows no script of its own.
    let script = format!(
        "{axe}\n;return axe.run(document, {{ runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', \
         'wcag21aa', 'best-practice'] }}).then(function (r) {{ return r.violations.map(function \
         (v) {{ return {{ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(function \
         (n) {{ return n.target.join(' '); }}) }}; }}); }});"
    );
    let violations = browser.run(&script).await;
    violations
        .as_array()
        .unwrap_or_else(|| panic!("axe returned {violations}"))
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            format!(
                "{} ({}): {} at {}",
                v["id"], v["impact"], v["help"], v["nodes"]
            )
        })
        .collect()
}

/// Whether the page is wider than the window (a phone would scroll
/// sideways).
async fn scrolls_sideways(browser: &Browser) -> bool {
    let wider = browser
        .run("return document.documentElement.scrollWidth > window.innerWidth;")
        .await;
    wider.as_bool().unwrap_or(true)
}

/// A stack with the Google sign-in page, so that every page has a brand
/// button, and the dev-idp's plain one beside it.
async fn pages_stack() -> TestStack {
    TestStack::start_with(StackOptions {
        public_port: true,
        gateway_settings: format!(
            "[gateway.google_sign_in]\nprovider = \"devgoogle\"\nclient_id = \"{DEV_CLIENT_ID}\"\n\
             client_script = \"{{issuer}}/gsi/client\"\n"
        ),
        ..StackOptions::default()
    })
    .await
}

/// Visits each page in `browser` (logging alice in on the way) and returns
/// the problems found: axe's serious violations, and sideways scrolling
/// when `phone`.
async fn audit(stack: &TestStack, browser: &Browser, phone: bool) -> Vec<String> {
    let axe = axe_source();
    let mut problems = Vec::new();
    let mut check = async |page: &str| {
        for violation in serious_violations(browser, &axe).await {
            problems.push(format!("{page}: {violation}"));
        }
        if phone && scrolls_sideways(browser).await {
            problems.push(format!("{page}: scrolls sideways at a phone's width"));
        }
    };

    browser.goto(&stack.url("/auth/login")).await;
    browser.wait_for_text("Sign in with Google").await;
    check("sign-in page").await;

    browser.goto(&stack.url("/auth/google-sign-in")).await;
    browser.wait_for_text("Sign in with Google as alice").await;
    check("Google sign-in page").await;

    browser.goto(&stack.url("/auth/no-such-page")).await;
    browser.wait_for_text("Error code").await;
    check("error page").await;

    browser.goto(&stack.url("/auth/login")).await;
    browser.click(r#"a[href="/auth/login/dev"]"#).await;
    browser
        .click(r#"button[name="login_hint"][value="alice"]"#)
        .await;
    browser.wait_for_url(&stack.url("/")).await;
    browser.wait_for_text("this session").await;
    check("signed-in page").await;
    problems
}

#[tokio::test]
async fn every_page_passes_axe_in_light_and_dark_and_fits_a_phone() {
    let stack = pages_stack().await;

    let light = Browser::start().await;
    light.goto(&stack.url("/auth/login")).await;
    let dark_there = light
        .run("return matchMedia('(prefers-color-scheme: dark)').matches;")
        .await;
    assert_eq!(
        dark_there.as_bool(),
        Some(false),
        "the default browser should be light"
    );
    let mut problems = audit(&stack, &light, false).await;
    light.close().await;

    let dark = Browser::start_with(&["--force-dark-mode"]).await;
    dark.goto(&stack.url("/auth/login")).await;
    let dark_there = dark
        .run("return matchMedia('(prefers-color-scheme: dark)').matches;")
        .await;
    assert_eq!(
        dark_there.as_bool(),
        Some(true),
        "--force-dark-mode did not select the dark scheme"
    );
    // At a phone's width too.
    dark.resize(375, 812).await;
    problems.extend(audit(&stack, &dark, true).await);
    dark.close().await;

    assert!(
        problems.is_empty(),
        "accessibility problems:\n{}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn pages_carry_the_configured_branding() {
    let dir = tempfile::tempdir().unwrap();
    let css = dir.path().join("brand.css");
    std::fs::write(&css, "main { border-radius: 0 }").unwrap();
    let stack = TestStack::start_with(StackOptions {
        gateway_settings: format!(
            "[gateway.branding]\nproduct_name = \"Acme Login\"\naccent_color = \"#7a1f9e\"\n\
             logo_url = \"https://cdn.example.com/acme.svg\"\ncustom_css_file = {css:?}\n"
        ),
        ..StackOptions::default()
    })
    .await;
    let page = stack.get_html("/auth/login").await.text().await.unwrap();
    assert!(
        page.contains("<title>Sign in · Acme Login</title>"),
        "{page}"
    );
    assert!(page.contains("Sign in to Acme Login"), "{page}");
    assert!(page.contains(":root{--accent:#7a1f9e}"), "{page}");
    assert!(
        page.contains("src=\"https://cdn.example.com/acme.svg\""),
        "{page}"
    );
    assert!(
        page.contains("<style>main { border-radius: 0 }</style>"),
        "{page}"
    );
    // Error pages too, with a way back.
    let error = stack.get_html("/auth/nothing-here").await;
    assert_eq!(error.status(), 404);
    let error = error.text().await.unwrap();
    assert!(error.contains("· Acme Login</title>"), "{error}");
    assert!(error.contains("href=\"/\""), "{error}");
}

#[tokio::test]
async fn every_step_works_with_javascript_off() {
    let stack = pages_stack().await;
    let browser = Browser::start_with(&["--blink-settings=scriptEnabled=false"]).await;

    // The Google page's no-script fallback, the provider's code flow: a
    // link inside <noscript> is an element only when scripts are off, so
    // clicking it also proves they are.
    browser.goto(&stack.url("/auth/google-sign-in")).await;
    browser.wait_for_text("needs JavaScript").await;
    browser.click(r#"a[href="/auth/login/devgoogle"]"#).await;
    browser
        .click(r#"button[name="login_hint"][value="alice"]"#)
        .await;
    browser.wait_for_url(&stack.url("/")).await;
    browser.wait_for_text("alice@example.com").await;

    // Logging out is a plain form.
    browser.click(r#"form[action="/auth/logout"] button"#).await;
    browser.wait_for_text("Sign in to Portcullis").await;
    assert!(!browser.has_cookie(&stack.session_cookie).await);
    browser.close().await;
}
