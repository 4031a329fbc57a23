//! The server-side code flow: login → provider → callback → session cookie,
//! and every way the callback must refuse to create a session.

use portcullis_tests::{
    PUBLIC_ORIGIN, StackOptions, TestStack, assert_redirect, cookie_value, location, set_cookie,
};
use serde_json::Value;

#[tokio::test]
async fn code_flow_sets_a_session_cookie_and_me_answers() {
    let stack = TestStack::start().await;
    let client = stack.browser();

    let login = stack
        .get_in(&client, "/auth/login/dev?return_to=/api/whoami")
        .await;
    assert_eq!(login.status(), 302);
    let flow = set_cookie(&login, "portcullis_flow").expect("flow cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(flow.contains(attr), "{attr} missing: {flow}");
    }
    assert!(!flow.contains("Secure"), "plain-http test stack: {flow}");
    let authorize = location(&login);
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(
        authorize.contains(&format!(
            "redirect_uri={}",
            url::form_urlencoded::byte_serialize(
                format!("{PUBLIC_ORIGIN}/auth/callback/dev").as_bytes()
            )
            .collect::<String>()
        )),
        "{authorize}"
    );

    let consent = client
        .get(format!("{authorize}&login_hint=alice"))
        .send()
        .await
        .unwrap();
    let callback = client
        .get(stack.follow(&location(&consent)))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 303);
    assert_redirect(&callback, "/api/whoami");
    let session = set_cookie(&callback, "portcullis").expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    let max_age: u64 = session
        .split("Max-Age=")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.parse().ok())
        .expect("Max-Age");
    assert!(
        max_age > 6 * 24 * 3600 && max_age <= 7 * 24 * 3600,
        "{max_age}"
    );
    let cleared = set_cookie(&callback, "portcullis_flow").expect("flow cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    let me = stack.get_in(&client, "/auth/me").await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["cache-control"], "no-store");
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["user"]["provider"], "dev");
    assert_eq!(me["user"]["name"], "Alice Example");
    assert_eq!(me["user"]["roles"], serde_json::json!(["admin"]));
    assert!(me["user"]["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        me["session"]["id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    for field in ["created_at", "expires_at"] {
        let ts = me["session"][field].as_str().expect(field);
        assert!(ts.ends_with('Z') && ts.contains('T'), "{field}: {ts}");
    }

    let whoami = stack.get_json_in(&client, "/api/whoami").await;
    assert_eq!(whoami["user"]["id"], me["user"]["id"]);
}

#[tokio::test]
async fn open_redirects_in_return_to_end_at_root() {
    let stack = TestStack::start_with(StackOptions {
        // One login per variant, from one address.
        gateway_settings: "login_rate_limit_burst = 1000\n".into(),
        ..StackOptions::default()
    })
    .await;
    for evil in [
        "//evil.com",
        "/\\evil.com",
        "https://evil.com",
        "%2F%2Fevil.com",
        "/%2F%2Fevil.com",
        "/%5Cevil.com",
        "/\t/evil.com",
        "/\r\nLocation: https://evil.com",
        "javascript:alert(1)",
        // Encoded variants: lower case, double and triple encoding,
        // encoded control characters, backslashes and schemes.
        "%2f%2fevil.com",
        "/%2f%2fevil.com",
        "/%252F%252Fevil.com",
        "/%25252F%25252Fevil.com",
        "/%2525252F%2525252Fevil.com",
        "%5C%5Cevil.com",
        "/%5c%5cevil.com",
        "/%09/evil.com",
        "/%0d%0aLocation:%20https://evil.com",
        "/%00/evil.com",
        "%68ttps://evil.com",
        "https%3A%2F%2Fevil.com",
        "///evil.com",
        "\\\\evil.com",
        "http:evil.com",
        "/\u{3000}/evil.com",
    ] {
        let client = stack.browser();
        let callback = stack.authorize(&client, "bob", evil).await;
        let response = client.get(callback).send().await.unwrap();
        assert_eq!(response.status(), 303, "{evil:?}");
        assert_redirect(&response, "/");
    }
    let client = stack.browser();
    let callback = stack.authorize(&client, "bob", "/app/page?x=1").await;
    let response = client.get(callback).send().await.unwrap();
    assert_redirect(&response, "/app/page?x=1");
}

#[tokio::test]
async fn tampered_state_creates_no_session() {
    let stack = TestStack::start().await;
    let client = stack.browser();
    let callback = stack.authorize(&client, "alice", "/").await;
    let mut url = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let response = client.get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(set_cookie(&response, "portcullis").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "state_unknown");
    let me = stack.get_in(&client, "/auth/me").await;
    assert_eq!(me.status(), 401);
}

#[tokio::test]
async fn replayed_callback_creates_no_session() {
    let stack = TestStack::start().await;
    let client = stack.browser();
    let login = stack.get_in(&client, "/auth/login/dev").await;
    let flow = cookie_value(set_cookie(&login, "portcullis_flow").unwrap()).to_owned();
    let consent = client
        .get(format!("{}&login_hint=alice", location(&login)))
        .send()
        .await
        .unwrap();
    let callback = stack.follow(&location(&consent));
    let first = client.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 303);

    // The attacker replays the exact callback, with the flow cookie.
    let replay = stack
        .bare_client()
        .get(&callback)
        .header("cookie", format!("portcullis_flow={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    assert!(set_cookie(&replay, "portcullis").is_none());

    // Without the flow cookie (another browser): refused before anything.
    let stolen = stack.bare_client().get(&callback).send().await.unwrap();
    assert_eq!(stolen.status(), 400);
    let body: Value = stolen.json().await.unwrap();
    assert_eq!(body["error"], "flow_cookie_missing");
}

#[tokio::test]
async fn provider_errors_and_unverified_users_get_no_session() {
    let stack = TestStack::start().await;
    let client = stack.browser();
    let _ = stack.get_in(&client, "/auth/login/dev").await;
    let page = client
        .get(stack.url("/auth/callback/dev?error=access_denied&state=x"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(set_cookie(&page, "portcullis").is_none());
    assert!(
        set_cookie(&page, "portcullis_flow").is_some_and(|c| c.contains("Max-Age=0")),
        "flow cookie cleared on error too"
    );
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    assert!(html.contains("provider_error"), "{html}");

    // mallory's e-mail is not verified: the provider said who, but we refuse.
    let client = stack.browser();
    let callback = stack.authorize(&client, "mallory", "/").await;
    let response = client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(set_cookie(&response, "portcullis").is_none());
}
