//! The proxy edge, as an attacker tries it (issue 9): the policy must see the
//! path the upstream serves, identity headers must not reach the upstream in
//! any spelling, and two session cookies must not let a sibling subdomain
//! choose the session. Requests are written on raw sockets, byte for byte,
//! because HTTP clients normalise exactly the paths under test (`%2e%2e`,
//! `..`, `\`); the upstream fixture records what it received.

use crate::upstream::{Echo, seen};
use portcullis_tests::TestStack;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The issue's route table, on the echo upstream: `/pub/` public,
/// `/svc/admin/` admins only, `/svc/` any logged-in user. (`/api/admin/` is
/// the stack's built-in admin handler.)
async fn stack_with_upstream(echo: &Echo) -> TestStack {
    TestStack::start_with_routes(&format!(
        r#"
[[routes]]
path_prefix = "/pub/"
policy = "public"
target = {{ upstream = "{url}" }}

[[routes]]
path_prefix = "/svc/admin/"
allow_roles = ["admin"]
target = {{ upstream = "{url}" }}

[[routes]]
path_prefix = "/svc/"
target = {{ upstream = "{url}" }}
"#,
        url = echo.url
    ))
    .await
}

/// A response read off a raw socket.
struct Raw {
    status: u16,
    body: Value,
}

/// Sends `GET {target}` with `headers` exactly as written and reads the
/// whole answer (the connection is closed after it).
async fn raw_get(stack: &TestStack, target: &str, headers: &[(&str, &str)]) -> Raw {
    let addr = stack.gateway_url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        socket.read_to_end(&mut answer),
    )
    .await
    .expect("the gateway answered in time")
    .unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
    Raw { status, body }
}

/// The payload of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Issue 9, item 1: one canonical path for policy and upstream.
#[tokio::test]
async fn the_policy_sees_the_path_the_upstream_serves() {
    let echo = Echo::start().await;
    let stack = stack_with_upstream(&echo).await;
    let alice = stack.session_token("alice").await; // admin
    let bob = stack.session_token("bob").await;
    let (alice, bob) = (bearer(&alice), bearer(&bob));
    let as_bob = [("Authorization", bob.as_str())];
    let as_alice = [("Authorization", alice.as_str())];

    // `/svc/%61dmin/x` is the admin area once decoded: bob is refused and
    // the upstream never hears of it.
    let r = raw_get(&stack, "/svc/%61dmin/x", &as_bob).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(echo.hits(), 0);
    // Alice gets it, and the upstream sees the canonical path it was
    // matched as, the query string untouched.
    let r = raw_get(&stack, "/svc/%61dmin/x?q=%2e%2e/;x", &as_alice).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["path"], "/svc/admin/x?q=%2e%2e/;x");
    assert_eq!(echo.hits(), 1);

    // A prefix without its trailing slash belongs to its route.
    let r = raw_get(&stack, "/svc/admin", &as_bob).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = raw_get(&stack, "/svc/admin", &as_alice).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["path"], "/svc/admin");
    // ... on whole segments only.
    let r = raw_get(&stack, "/svc/adminx", &as_bob).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["path"], "/svc/adminx");
    let hits = echo.hits();

    // Everything a server could read as another path is a 400, for bob,
    // for alice and anonymously, and never reaches the upstream.
    for target in [
        "/svc/admin;x/y",
        "/svc/x/..;/admin/x",
        "/pub/..;/svc/admin/x",
        "/svc/admin./x",
        "/svc/admin%20/x",
        "/svc/ADMIN/x",
        "/SVC/admin/x",
        "/svc//admin/x",
        "/svc/%2e%2e/svc/admin/x",
        "/svc/x/%2E%2E/admin/x",
        "/pub/../svc/admin/x",
        "/pub/./x",
        "/pub/a%2fb",
        "/pub/a%5cb",
        "/pub/a\\..\\svc\\admin",
        "/pub/a%00",
        "/pub/%252e%252e/svc/admin",
        "/pub/%c0%ae%c0%ae/svc/admin",
        "/pub/x;jsessionid=1",
    ] {
        for headers in [&as_bob[..], &as_alice[..], &[][..]] {
            let r = raw_get(&stack, target, headers).await;
            assert_eq!(r.status, 400, "{target}: {}", r.body);
            assert_eq!(r.body["error"], "invalid_path", "{target}");
        }
    }
    assert_eq!(echo.hits(), hits, "a refused path reached the upstream");

    // Built-in handlers get the same canonical path and policy: the admin
    // handler behind `/api/admin/`.
    let me: Value = stack
        .get_json("/auth/me", alice.trim_start_matches("Bearer "))
        .await;
    let alice_id = me["user"]["id"].as_str().unwrap().to_owned();
    let sessions = format!("/api/%61dmin/users/{alice_id}/sessions");
    assert_eq!(raw_get(&stack, &sessions, &as_bob).await.status, 403);
    let r = raw_get(&stack, &sessions, &as_alice).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.is_array(), "{}", r.body);
    assert_eq!(raw_get(&stack, "/api/admin", &as_bob).await.status, 403);
}

/// Every header name the upstream saw, with `_` read as `-`, lower case.
fn folded_names(echo: &Value) -> Vec<String> {
    echo["headers"]
        .as_object()
        .map(|h| {
            h.keys()
                .map(|k| k.to_ascii_lowercase().replace('_', "-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Issue 9, item 2: no identity header reaches an upstream in any spelling.
#[tokio::test]
async fn forged_identity_headers_never_reach_the_upstream_in_any_spelling() {
    let echo = Echo::start().await;
    let stack = stack_with_upstream(&echo).await;
    let bob = bearer(&stack.session_token("bob").await);
    let forged = [("X_Auth_User_Id", "u_alice"), ("X_Auth_Roles", "admin")];

    // Underscore names are refused before the policy, anonymous or not,
    // and the upstream never hears of the request.
    for (route, auth) in [("/pub/x", None), ("/svc/x", Some(bob.as_str()))] {
        for (name, value) in forged {
            let mut headers = vec![(name, value)];
            if let Some(auth) = auth {
                headers.push(("Authorization", auth));
            }
            let r = raw_get(&stack, route, &headers).await;
            assert_eq!(r.status, 400, "{route} {name}: {}", r.body);
            assert_eq!(r.body["error"], "invalid_header");
        }
        let r = raw_get(&stack, route, &[("x_custom", "1")]).await;
        assert_eq!(r.status, 400, "{}", r.body);
    }
    assert_eq!(echo.hits(), 0);

    // Dash spellings of every reserved name are stripped, ours added.
    let r = raw_get(
        &stack,
        "/svc/x",
        &[
            ("Authorization", &bob),
            ("X-AUTH-USER-ID", "u_alice"),
            ("x-auth-roles", "admin"),
            ("X-Original-URL", "/svc/admin/x"),
            ("X-Rewrite-URL", "/svc/admin/x"),
            ("X-Real-IP", "6.6.6.6"),
            ("Forwarded", "for=6.6.6.6"),
            ("X-Custom", "kept"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text = r.body["headers"].to_string();
    assert!(
        !text.contains("u_alice") && !text.contains("6.6.6.6"),
        "{text}"
    );
    assert!(
        seen(&r.body, "x-auth-roles")
            .iter()
            .all(|v| !v.contains("admin"))
    );
    for gone in ["x-original-url", "x-rewrite-url", "x-real-ip", "forwarded"] {
        assert!(!folded_names(&r.body).contains(&gone.to_owned()), "{gone}");
    }
    assert_eq!(seen(&r.body, "x-custom"), vec!["kept"]);
}

/// With `allow_underscore_headers = true`, underscore names pass, but never
/// one that folds to a reserved name.
#[tokio::test]
async fn allowed_underscore_headers_still_never_forge_identity() {
    let echo = Echo::start().await;
    let stack = TestStack::start_with(portcullis_tests::StackOptions {
        routes: format!(
            "[[routes]]\npath_prefix = \"/svc/\"\ntarget = {{ upstream = \"{}\" }}\n",
            echo.url
        ),
        gateway_settings: "allow_underscore_headers = true\n".into(),
        ..Default::default()
    })
    .await;
    let token = stack.session_token("bob").await;
    let me: Value = stack.get_json("/auth/me", &token).await;
    let bob_id = me["user"]["id"].as_str().unwrap().to_owned();
    let bob = bearer(&token);
    let r = raw_get(
        &stack,
        "/svc/x",
        &[
            ("Authorization", &bob),
            ("X_Auth_User_Id", "u_alice"),
            ("x-auth_roles", "admin"),
            ("X_AUTH_EMAIL", "ceo@example.com"),
            ("X_Forwarded_For", "6.6.6.6"),
            ("x_original_url", "/svc/admin/x"),
            ("X_Rewrite_Url", "/svc/admin/x"),
            ("x_custom", "kept"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text = r.body["headers"].to_string();
    for forged in ["u_alice", "ceo@example.com", "6.6.6.6", "/svc/admin/x"] {
        assert!(
            !text.contains(forged),
            "{forged} reached the upstream: {text}"
        );
    }
    assert_eq!(seen(&r.body, "x-auth-user-id"), vec![bob_id.as_str()]);
    assert_eq!(seen(&r.body, "x-auth-email"), vec!["bob@example.com"]);
    assert_eq!(seen(&r.body, "x-forwarded-for"), vec!["127.0.0.1"]);
    let names = folded_names(&r.body);
    assert_eq!(
        names
            .iter()
            .filter(|n| n.as_str() == "x-auth-user-id")
            .count(),
        1,
        "{names:?}"
    );
    assert_eq!(seen(&r.body, "x_custom"), vec!["kept"]);
}

/// Sends `GET path` with `cookies` as separate `Cookie` headers; returns
/// the status and the `error` code.
async fn get_with_cookies(
    stack: &TestStack,
    client: &reqwest::Client,
    path: &str,
    cookies: &[String],
) -> (u16, Value) {
    let mut request = client.get(stack.url(path));
    for cookie in cookies {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Issue 9, item 5 (the cookie bullet): with two session cookies the
/// gateway never chooses one; a cookie tossed from a sibling subdomain
/// cannot pick the session. Plain-HTTP names.
#[tokio::test]
async fn two_session_cookies_are_refused_never_chosen() {
    let echo = Echo::start().await;
    let stack = stack_with_upstream(&echo).await;
    let victim = stack.session_token("alice").await;
    let attacker = stack.session_token("bob").await;
    let name = &stack.session_cookie;
    let client = stack.bare_client();
    let tossed = format!("{name}={attacker}");
    let own = format!("{name}={victim}");

    for cookies in [
        vec![format!("{tossed}; {own}")],
        vec![format!("{own}; {tossed}")],
        vec![own.clone(), tossed.clone()],
        vec![format!("theme=dark; {tossed}"), format!("{own}; lang=en")],
    ] {
        for path in ["/svc/x", "/pub/x", "/auth/me", "/api/whoami"] {
            let (status, body) = get_with_cookies(&stack, &client, path, &cookies).await;
            assert_eq!(status, 400, "{path} {cookies:?}: {body}");
            assert_eq!(body["error"], "ambiguous_cookie", "{path}");
        }
    }
    assert_eq!(echo.hits(), 0, "an ambiguous request reached the upstream");

    // Logout with both does not pick one to revoke: both still work.
    let logout = client
        .post(stack.url("/auth/logout"))
        .header("cookie", format!("{tossed}; {own}"))
        .header("origin", &stack.public_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 400);
    for token in [&victim, &attacker] {
        let (status, _) =
            get_with_cookies(&stack, &client, "/auth/me", &[format!("{name}={token}")]).await;
        assert_eq!(status, 200);
    }

    // The same cookie twice, or a removed (empty) one beside it, is no
    // choice: the request is served as that session.
    for cookies in [
        vec![format!("{own}; {own}")],
        vec![format!("{name}=; {own}")],
    ] {
        let (status, body) = get_with_cookies(&stack, &client, "/svc/x", &cookies).await;
        assert_eq!(status, 200, "{cookies:?}: {body}");
        assert_eq!(seen(&body, "x-auth-email"), vec!["alice@example.com"]);
    }
}

/// The same rule for the `__Host-` name on HTTPS.
#[tokio::test]
async fn two_host_prefixed_session_cookies_are_refused() {
    let stack = TestStack::start_with(portcullis_tests::StackOptions {
        tls: true,
        ..Default::default()
    })
    .await;
    assert_eq!(stack.session_cookie, "__Host-portcullis");
    let victim = stack.session_token("alice").await;
    let attacker = stack.session_token("bob").await;
    let client = stack.bare_client();
    let cookies = [format!(
        "__Host-portcullis={attacker}; __Host-portcullis={victim}"
    )];
    for path in ["/auth/me", "/api/whoami"] {
        let (status, body) = get_with_cookies(&stack, &client, path, &cookies).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "ambiguous_cookie");
    }
    let (status, _) = get_with_cookies(
        &stack,
        &client,
        "/auth/me",
        &[format!("__Host-portcullis={victim}")],
    )
    .await;
    assert_eq!(status, 200);
}
