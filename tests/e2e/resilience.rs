//! auth-service dies (SIGKILL) and comes back: the gateway fails closed
//! meanwhile and recovers without a restart.

use crate::upstream::Echo;
use portcullis_tests::{TestStack, bare_client, wait_until};
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
    let client = bare_client();
    let base = stack.gateway_url.clone();
    let status = |path: &'static str| {
        let client = client.clone();
        let url = format!("{base}{path}");
        let token = token.clone();
        async move {
            client
                .get(url)
                .header("cookie", format!("portcullis={token}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("/echo/x").await, 200);
    assert_eq!(status("/readyz").await, 200);
    let hits = echo.hits();

    stack.kill_auth_service();
    let me = status("/auth/me").await;
    assert_eq!(me, 503);
    let body: Value = client
        .get(stack.url("/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"], "auth_unavailable");
    assert_eq!(status("/echo/x").await, 503);
    assert_eq!(status("/auth/check").await, 503);
    assert_eq!(
        echo.hits(),
        hits,
        "nothing passed through while auth-service was down"
    );
    assert_eq!(status("/readyz").await, 503);
    assert_eq!(status("/healthz").await, 200);

    stack.restart_auth_service();
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
    let echoed = client
        .get(stack.url("/echo/x"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.status(), 200);
}
