//! The single-node binary (`portcullis`): auth-service and the gateway in
//! one process, the gateway calling auth-service in memory. Logins,
//! validation with the session cache and its revocation feed, revocation
//! through auth-service's own listener (as `portcullis-admin` and internal
//! services use it), the one log, the shutdown order, and a failing
//! auth-service taking the process down rather than leaving a gateway that
//! can only refuse.

use crate::admin_cli::admin;
use portcullis_tests::watchdog::Watchdog;
use portcullis_tests::{StackOptions, TestStack, run_to_exit, wait_until, workspace_binary};
use std::process::Command;
use std::time::Duration;

async fn me_status(stack: &TestStack, client: &reqwest::Client) -> u16 {
    stack.get_in(client, "/auth/me").await.status().as_u16()
}

#[tokio::test]
async fn one_process_logs_in_validates_revokes_and_stops_in_order() {
    let mut stack = TestStack::start_with(StackOptions {
        single_node: true,
        service_token: true,
        gateway_settings: "session_cache = { enabled = true }\n".to_owned(),
        ..StackOptions::default()
    })
    .await;
    let _watchdog = Watchdog::arm(
        "one_process_logs_in_validates_revokes_and_stops_in_order",
        Duration::from_secs(120),
    );
    assert_eq!(stack.gateway.pid(), stack.auth.pid(), "one process");

    // The gateway's calls go in memory: login, a session, a policy route,
    // readiness, and the revocation feed that keeps its cache exact.
    let alice = stack.browser();
    stack.login_as(&alice, "alice").await;
    let me = stack.get_json_in(&alice, "/auth/me").await;
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(stack.get_in(&alice, "/api/whoami").await.status(), 200);
    assert_eq!(stack.get("/readyz").await.status(), 200);
    let metrics = stack.metrics_url().await;
    crate::session_cache::wait_for_feed(&metrics, "on", Duration::from_secs(10)).await;
    // Served from the cache now; a revocation must still reach it.
    assert_eq!(me_status(&stack, &alice).await, 200);

    // auth-service's own listener still serves, with the service token:
    // a revocation made there (portcullis-admin) reaches the gateway's
    // cache through the feed.
    let found = admin(
        &stack,
        &["users", "find", "--email", "alice@example.com", "--json"],
    )
    .await
    .json();
    let alice_id = found["users"][0]["id"].as_str().unwrap().to_owned();
    let bob = stack.browser();
    stack.login_as(&bob, "bob").await;
    let revoked = admin(&stack, &["sessions", "revoke-all", &alice_id, "--json"])
        .await
        .json();
    assert_eq!(revoked["revoked"], 1, "{revoked}");
    wait_until(
        Duration::from_secs(2),
        "the gateway refuses alice's revoked session",
        || async { me_status(&stack, &alice).await == 401 },
    )
    .await;
    assert_eq!(me_status(&stack, &bob).await, 200, "bob is untouched");

    // Logging out through the gateway: refused at once.
    let logout = bob
        .post(stack.url("/auth/logout"))
        .header("origin", &stack.public_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(me_status(&stack, &bob).await, 401);

    // One log holds both services' lines, the audit trail among them.
    let logins = stack
        .audit_events()
        .iter()
        .filter(|e| e["event"] == "login")
        .count();
    assert_eq!(logins, 2, "{:?}", stack.audit_events());

    // SIGTERM: the gateway drains first, then auth-service stops (and
    // flushes), and the process exits cleanly.
    assert!(stack.gateway.terminate().success());
    let logs = stack.service_logs();
    let line_of = |needle: &str| {
        logs.iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in the log"))
    };
    assert!(
        line_of("draining open connections") < line_of("auth-service stopped"),
        "auth-service stopped before the gateway drained"
    );
}

/// A store that cannot be opened stops auth-service, and the process with
/// it: a gateway left alone could only answer 503.
#[test]
fn an_auth_service_that_cannot_start_takes_the_gateway_down() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the store's directory should be.
    let not_a_dir = dir.path().join("data");
    std::fs::write(&not_a_dir, "not a directory").unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "[auth_service]\nlisten = \"127.0.0.1:0\"\ndata_dir = {not_a_dir:?}\n\
             metrics_listen = \"off\"\n[gateway]\nlisten = \"127.0.0.1:0\"\n\
             metrics_listen = \"off\"\n"
        ),
    )
    .unwrap();
    let out = run_to_exit(
        Command::new(workspace_binary("portcullis").unwrap())
            .arg("--config")
            .arg(&config)
            .env_remove("PORTCULLIS_CONFIG"),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("listening on http://127.0.0.1:"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("portcullis: auth-service: cannot open the store"),
        "{stderr}"
    );
}
