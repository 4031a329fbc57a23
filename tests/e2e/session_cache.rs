//! The gateway's session cache (`[gateway.session_cache]`) against the real
//! binaries: a revocation through one gateway is refused by another whose
//! cache holds the session, within 100 ms of the first gateway's answer; a
//! lost or frozen auth-service turns the cache off instead of letting it
//! serve what it can no longer keep exact.

use portcullis_tests::{Proc, StackOptions, TestStack, wait_until};
use std::time::{Duration, Instant};

/// Both gateways cache; logins are many (50 rounds) and from one address.
pub(crate) const CACHED: &str = "session_cache = { enabled = true, ttl = \"30s\" }\n\
                      login_rate_limit_per_minute = 100000\n\
                      login_rate_limit_burst = 100000\n";

/// How soon another gateway must refuse a revoked session.
pub(crate) const PROPAGATION_BOUND: Duration = Duration::from_millis(100);

/// `http://ADDR` of a gateway's metrics listener, once it has said it.
pub(crate) async fn metrics_url(gateway: &Proc) -> String {
    let find = || {
        gateway.logs().iter().find_map(|line| {
            line.strip_prefix("metrics listening on ")
                .map(str::to_owned)
        })
    };
    wait_until(Duration::from_secs(10), "metrics are announced", || {
        let found = find().is_some();
        async move { found }
    })
    .await;
    find().unwrap()
}

/// The value of the metric line that starts with `series ` (0 if absent).
pub(crate) async fn metric(metrics: &str, series: &str) -> u64 {
    let text = reqwest::get(format!("{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{series} ")))
        .map_or(0, |value| value.trim().parse().unwrap())
}

pub(crate) async fn wait_for_feed(metrics: &str, state: &str, within: Duration) {
    let series = format!("portcullis_gateway_session_cache_feed_state{{state=\"{state}\"}}");
    wait_until(within, &format!("the session cache is {state}"), || {
        let series = series.clone();
        async move { metric(metrics, &series).await == 1 }
    })
    .await;
}

/// `GET /auth/me` on the gateway at `base` with `token` as the cookie.
pub(crate) async fn me(stack: &TestStack, base: &str, token: &str) -> reqwest::StatusCode {
    stack
        .bare_client()
        .get(format!("{base}/auth/me"))
        .header("cookie", format!("{}={token}", stack.session_cookie))
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls gateway `base` until `token` is refused; fails if that takes
/// longer than [`PROPAGATION_BOUND`] from `answered`.
pub(crate) async fn refused_within_bound(
    stack: &TestStack,
    base: &str,
    token: &str,
    answered: Instant,
    what: &str,
) {
    loop {
        let status = me(stack, base, token).await;
        if status == 401 {
            return;
        }
        assert_eq!(status, 200, "{what}: unexpected answer");
        assert!(
            answered.elapsed() < PROPAGATION_BOUND,
            "{what}: still served {:?} after the revoking gateway's answer",
            answered.elapsed()
        );
    }
}

/// Revokes `token`'s session by its id through the gateway at `base`,
/// signed in with another of alice's sessions. Looking the id up goes
/// through the stack's gateway, which leaves any other gateway's cache
/// warm.
pub(crate) async fn revoke_by_id(stack: &TestStack, base: &str, token: &str) {
    let other = stack.session_token("alice").await;
    let id = stack.get_json("/auth/me", token).await["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = stack
        .bare_client()
        .delete(format!("{base}/auth/sessions/{id}"))
        .header("cookie", format!("{}={other}", stack.session_cookie))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "revoke by id through {base}: {status}");
}

/// Waits until the stack's gateway and `gateway_b` have their feeds
/// synced; B's address and metrics URL.
pub(crate) async fn both_synced(stack: &TestStack, gateway_b: &Proc) -> (String, String) {
    let b_metrics = metrics_url(gateway_b).await;
    let a_metrics = metrics_url(&stack.gateway).await;
    wait_for_feed(&a_metrics, "on", Duration::from_secs(10)).await;
    wait_for_feed(&b_metrics, "on", Duration::from_secs(10)).await;
    (gateway_b.addr.clone(), b_metrics)
}

#[tokio::test]
async fn a_revocation_through_one_gateway_is_refused_by_the_other_within_100_ms() {
    let stack = TestStack::start_with(StackOptions {
        gateway_settings: CACHED.to_owned(),
        ..StackOptions::default()
    })
    .await;
    let a = stack.gateway_url.clone();
    let gateway_b = stack.spawn_gateway("gateway-b.toml", false);
    let (b, b_metrics) = both_synced(&stack, &gateway_b).await;

    let same_origin = [("sec-fetch-site", "same-origin")];
    for round in 0..50 {
        let token = stack.session_token("alice").await;
        // Warm B: the first validation fills its cache, the second is a hit.
        assert_eq!(me(&stack, &b, &token).await, 200);
        let hits = metric(&b_metrics, "portcullis_gateway_session_cache_hits_total").await;
        assert_eq!(me(&stack, &b, &token).await, 200);
        assert!(
            metric(&b_metrics, "portcullis_gateway_session_cache_hits_total").await > hits,
            "round {round}: B did not answer from its cache"
        );
        let (what, answered) = match round % 3 {
            logout @ (0 | 1) => {
                let path = if logout == 0 {
                    "/auth/logout"
                } else {
                    "/auth/logout/all"
                };
                let r = stack.post_with_session(path, &token, &same_origin).await;
                assert!(
                    r.status().is_success() || r.status().is_redirection(),
                    "{path}: {}",
                    r.status()
                );
                (path, Instant::now())
            }
            _ => {
                revoke_by_id(&stack, &a, &token).await;
                ("revoke by id", Instant::now())
            }
        };
        // The gateway that revoked refuses on the very next request.
        assert_eq!(
            me(&stack, &a, &token).await,
            401,
            "round {round}: {what} on A"
        );
        refused_within_bound(
            &stack,
            &b,
            &token,
            answered,
            &format!("round {round}: {what} on B"),
        )
        .await;
    }
    // Every revocation B heard was timed from the store's commit (logouts
    // everywhere count once per event, so at least one per round).
    let timed = metric(
        &b_metrics,
        "portcullis_gateway_session_cache_propagation_seconds_count",
    )
    .await;
    assert!(
        timed >= 50,
        "B timed {timed} revocations, expected one per round at least"
    );
}

#[tokio::test]
async fn a_lost_or_frozen_auth_service_turns_the_cache_off() {
    let mut stack = TestStack::start_with(StackOptions {
        gateway_settings: CACHED.to_owned(),
        ..StackOptions::default()
    })
    .await;
    let metrics = stack.metrics_url().await;
    wait_for_feed(&metrics, "on", Duration::from_secs(10)).await;
    let token = stack.session_token("bob").await;
    let base = stack.gateway_url.clone();
    assert_eq!(me(&stack, &base, &token).await, 200);
    assert_eq!(me(&stack, &base, &token).await, 200);
    assert!(metric(&metrics, "portcullis_gateway_session_cache_hits_total").await >= 1);

    // Frozen: the stream stays open but goes silent. Within three heartbeat
    // intervals (1 s each) the cache is off and nothing is served from it.
    stack.auth.pause();
    wait_for_feed(&metrics, "off", Duration::from_secs(5)).await;
    let hits = metric(&metrics, "portcullis_gateway_session_cache_hits_total").await;
    assert_eq!(me(&stack, &base, &token).await, 503, "frozen auth-service");
    assert_eq!(
        metric(&metrics, "portcullis_gateway_session_cache_hits_total").await,
        hits,
        "a hit was served with the feed off"
    );
    stack.auth.resume();
    wait_for_feed(&metrics, "on", Duration::from_secs(15)).await;
    assert_eq!(me(&stack, &base, &token).await, 200);

    // Killed: the stream ends at once; every request is a 503 until it is
    // back, never a cached pass.
    stack.kill_auth_service();
    wait_for_feed(&metrics, "off", Duration::from_secs(5)).await;
    for _ in 0..3 {
        assert_eq!(me(&stack, &base, &token).await, 503, "auth-service down");
    }
    stack.restart_auth_service();
    wait_for_feed(&metrics, "on", Duration::from_secs(15)).await;
    assert_eq!(me(&stack, &base, &token).await, 200);
}
