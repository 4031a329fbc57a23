//! Two auth-service replicas on one Redis and two caching gateways, the
//! real binaries end to end: a session logged in through one gateway is
//! served by the other, a revocation through either is refused by both, a
//! replica killed mid-run leaves both gateways serving, and an acknowledged
//! logout survives Redis being SIGKILLed and restarted from its log.

use crate::session_cache::{CACHED, both_synced, me, metric, refused_within_bound, revoke_by_id};

const REPLICAS_UP: &str = "portcullis_gateway_auth_service_replicas_up";
use crate::test_redis::RedisServer;
use portcullis_tests::{StackOptions, TestStack, wait_until};
use std::time::{Duration, Instant};

#[tokio::test]
async fn two_replicas_on_redis_behind_two_gateways() {
    let mut redis = RedisServer::start().await;
    let stack = TestStack::start_with(StackOptions {
        redis_url: Some(redis.url()),
        gateway_settings: CACHED.to_owned(),
        ..StackOptions::default()
    })
    .await;
    let mut replica = stack.spawn_auth_replica("auth-2.toml");
    // Gateway A talks to the first replica only, B to both.
    let a = stack.gateway_url.clone();
    let gateway_b = stack.spawn_gateway_to("gateway-b.toml", &[&stack.auth.addr, &replica.addr]);
    let (b, b_metrics) = both_synced(&stack, &gateway_b).await;
    let same_origin = [("sec-fetch-site", "same-origin")];
    let post_b = |path: &'static str, token: String| {
        let client = stack.bare_client();
        let url = format!("{b}{path}");
        let cookie = format!("{}={token}", stack.session_cookie);
        async move {
            client
                .post(url)
                .header("cookie", cookie)
                .header("sec-fetch-site", "same-origin")
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    for round in 0..6 {
        // Logged in through A (replica 1), used through B (either replica).
        let token = stack.session_token("alice").await;
        for _ in 0..3 {
            assert_eq!(me(&stack, &b, &token).await, 200, "round {round}: B");
        }
        assert_eq!(me(&stack, &a, &token).await, 200, "round {round}: A");
        let (what, answered, other) = match round % 3 {
            0 => {
                let status = post_b("/auth/logout", token.clone()).await;
                assert!(
                    status.is_success() || status.is_redirection(),
                    "logout on B: {status}"
                );
                ("logout through B", Instant::now(), a.clone())
            }
            1 => {
                let r = stack
                    .post_with_session("/auth/logout/all", &token, &same_origin)
                    .await;
                assert!(
                    r.status().is_success() || r.status().is_redirection(),
                    "{}",
                    r.status()
                );
                ("logout everywhere through A", Instant::now(), b.clone())
            }
            _ => {
                revoke_by_id(&stack, &b, &token).await;
                ("revoke by id through B", Instant::now(), a.clone())
            }
        };
        refused_within_bound(
            &stack,
            &other,
            &token,
            answered,
            &format!("round {round}: {what}"),
        )
        .await;
        assert_eq!(me(&stack, &a, &token).await, 401);
        assert_eq!(me(&stack, &b, &token).await, 401);
    }
    // B timed the revocations it heard from the Redis stream's entries.
    let timed = metric(
        &b_metrics,
        "portcullis_gateway_session_cache_propagation_seconds_count",
    )
    .await;
    assert!(timed > 0, "B timed no revocation from the Redis feed");

    // One replica killed mid-run: B stops sending calls to it (calls in
    // flight may fail) and serves uncached validations from the other.
    assert_eq!(metric(&b_metrics, REPLICAS_UP).await, 2);
    let token = stack.session_token("bob").await;
    replica.kill();
    wait_until(
        Duration::from_secs(5),
        "B drops the dead replica",
        || async { metric(&b_metrics, REPLICAS_UP).await == 1 },
    )
    .await;
    for _ in 0..10 {
        let fresh = stack.session_token("bob").await;
        assert_eq!(me(&stack, &b, &fresh).await, 200, "uncached call on B");
    }
    assert_eq!(
        me(&stack, &a, &token).await,
        200,
        "A was never on the killed replica"
    );

    // An acknowledged logout survives Redis killed right after it and
    // restarted from its append-only file.
    let status = post_b("/auth/logout", token.clone()).await;
    assert!(
        status.is_success() || status.is_redirection(),
        "logout: {status}"
    );
    redis.restart().await;
    wait_until(
        Duration::from_secs(15),
        "both gateways answer again",
        || {
            let (stack, a, b) = (&stack, a.clone(), b.clone());
            async move {
                // Any answer but 503 means auth-service reached Redis again.
                me(stack, &a, "probe").await != 503 && me(stack, &b, "probe").await != 503
            }
        },
    )
    .await;
    assert_eq!(
        me(&stack, &a, &token).await,
        401,
        "logged-out session back on A"
    );
    assert_eq!(
        me(&stack, &b, &token).await,
        401,
        "logged-out session back on B"
    );
    let fresh = stack.session_token("bob").await;
    assert_eq!(me(&stack, &b, &fresh).await, 200);
}
