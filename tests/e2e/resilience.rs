//! auth-service dies (SIGKILL) and comes back: the gateway fails closed
//! meanwhile and recovers without a restart.

use crate::session_cache::wait_for_feed;
use crate::upstream::Echo;
use portcullis_tests::{TestStack, wait_until};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn auth_service_outage_fails_closed_and_recovers() {
    let echo = Echo::start().await;
    let mut stack = TestStack::start_with_routes(&format!(
        "[[routes]]\npath_prefix = \"/echo/\"\ntarget = {{ upstream = \"{}\" }}\n",
        echo.url
    ))
    .await;
    let token = stack.session_token("alice").await;
    let status = async |stack: &TestStack, path: &str| {
        stack.get_with_session(path, &token).await.status().as_u16()
    };
    assert_eq!(status(&stack, "/echo/x").await, 200);
    assert_eq!(status(&stack, "/readyz").await, 200);
    let hits = echo.hits();

    // The gateway caches validations (the default), kept exact by
    // auth-service's revocation feed: it serves them until it notices the
    // feed is gone, at once for a closed connection. From then on nothing
    // passes.
    let metrics = stack.metrics_url().await;
    wait_for_feed(&metrics, "on", Duration::from_secs(10)).await;
    stack.kill_auth_service();
    wait_for_feed(&metrics, "off", Duration::from_secs(10)).await;
    let me = status(&stack, "/auth/me").await;
    assert_eq!(me, 503);
    let body: Value = stack.get_json("/auth/me", &token).await;
    assert_eq!(body["error"], "auth_unavailable");
    assert_eq!(status(&stack, "/echo/x").await, 503);
    assert_eq!(status(&stack, "/auth/check").await, 503);
    assert_eq!(
        echo.hits(),
        hits,
        "nothing passed through while auth-service was down"
    );
    assert_eq!(status(&stack, "/readyz").await, 503);
    assert_eq!(status(&stack, "/healthz").await, 200);

    stack.restart_auth_service();
    let client = stack.bare_client();
    let url = stack.url("/readyz");
    wait_until(
        Duration::from_secs(20),
        "the gateway reaches auth-service again",
        || {
            let client = client.clone();
            let url = url.clone();
            async move {
                client
                    .get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        },
    )
    .await;
    // auth-service flushes revocations before answering, but not new
    // sessions, so the session from before the SIGKILL may be gone: a
    // session created after the restart works through the same gateway.
    let fresh = stack.session_token("bob").await;
    let echoed = stack.get_with_bearer("/echo/x", &fresh).await;
    assert_eq!(echoed.status(), 200);
}

#[tokio::test]
async fn provider_outage_keeps_sessions_and_fails_logins_clearly() {
    let mut stack = TestStack::start().await;
    let token = stack.session_token("alice").await;
    let access_token = stack.access_token("bob").await;
    stack.idp.stop().await;

    // Sessions are ours, not the provider's: they keep working.
    let me = stack.get_with_bearer("/auth/me", &token).await;
    assert_eq!(me.status(), 200);

    // A new code flow cannot start: a clear page, not a 503 blaming us.
    // (`devgoogle` has not been used, so its discovery is not cached.)
    let seen = stack.audit_events().len();
    let login = stack.get_html("/auth/login/devgoogle").await;
    assert_eq!(login.status(), 502);
    assert!(login.headers().get("set-cookie").is_none());
    let page = login.text().await.unwrap();
    assert!(page.contains("provider_unavailable"), "{page}");
    assert!(
        page.contains("identity provider could not be reached"),
        "{page}"
    );

    // An access token can only be checked by the provider.
    let exchange = stack
        .post_json(
            "/auth/session",
            &serde_json::json!({"provider": "devgoogle", "access_token": access_token}),
        )
        .await;
    assert_eq!(exchange.status(), 502);
    assert!(exchange.headers().get("set-cookie").is_none());
    let body: Value = exchange.json().await.unwrap();
    assert_eq!(body["error"], "provider_unavailable");

    wait_until(Duration::from_secs(5), "both failures are audited", || {
        let n = stack.audit_events().len();
        async move { n >= seen + 2 }
    })
    .await;
    let events = stack.audit_events().split_off(seen);
    assert_eq!(events.len(), 2, "{events:?}");
    for event in &events {
        assert_eq!(event["event"], "login_failed", "{event}");
        assert_eq!(event["reason"], "provider_unavailable", "{event}");
    }
}
