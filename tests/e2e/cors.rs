//! CORS for single-page apps on `cors_allowed_origins`: preflights answered
//! without a session, credentialed answers naming the listed origin only,
//! the CSRF check trusting it, and `/auth/check` passing its preflights.

use portcullis_tests::{StackOptions, TestStack};
use reqwest::Method;

const SPA: &str = "https://spa.example.net";
const EVIL: &str = "https://evil.example.net";

#[tokio::test]
async fn listed_origins_get_credentialed_cors_and_no_other_does() {
    let stack = TestStack::start_with(StackOptions {
        gateway_settings: format!(
            "cors_allowed_origins = [\"{SPA}\"]\ntrusted_proxies = [\"127.0.0.1/32\"]\n"
        ),
        ..StackOptions::default()
    })
    .await;
    let token = stack.session_token("alice").await;
    let cookie = format!("{}={token}", stack.session_cookie);
    let client = stack.bare_client();
    let preflight = |origin: &str| {
        client
            .request(Method::OPTIONS, stack.url("/api/whoami"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-app-version",
            )
            .send()
    };

    // Preflights need no session.
    let ok = preflight(SPA).await.unwrap();
    assert_eq!(ok.status(), 200);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], SPA);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-app-version")
    );
    let other = preflight(EVIL).await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // A credentialed call from the listed origin may be read by its page;
    // one from any other origin may not.
    let call = |origin: &'static str| {
        client
            .get(stack.url("/api/whoami"))
            .header("origin", origin)
            .header("cookie", &cookie)
            .send()
    };
    let read = call(SPA).await.unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["access-control-allow-origin"], SPA);
    assert_eq!(read.headers()["access-control-allow-credentials"], "true");
    assert!(read.headers()["vary"].to_str().unwrap().contains("origin"));
    let unread = call(EVIL).await.unwrap();
    assert!(
        unread
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // Forward-auth passes the listed origin's preflights to the app.
    let check = |origin: &'static str| {
        client
            .get(stack.url("/auth/check"))
            .header("x-forwarded-uri", "/app/data")
            .header("x-forwarded-method", "OPTIONS")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    assert_eq!(check(SPA).await.unwrap().status(), 200);
    assert_eq!(check(EVIL).await.unwrap().status(), 401);

    // Unsafe cookie calls: the listed origin passes the CSRF check from
    // another site; any other origin does not.
    let logout = |origin: &'static str| {
        client
            .post(stack.url("/auth/logout"))
            .header("origin", origin)
            .header("sec-fetch-site", "cross-site")
            .header("cookie", &cookie)
            .send()
    };
    let refused = logout(EVIL).await.unwrap();
    assert_eq!(refused.status(), 403);
    let done = logout(SPA).await.unwrap();
    assert_eq!(done.status(), 204);
    assert_eq!(done.headers()["access-control-allow-origin"], SPA);
    assert_eq!(
        stack.get_with_session("/api/whoami", &token).await.status(),
        401
    );
}
