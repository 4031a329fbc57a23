//! Crash under load: while clients log in and out concurrently through the
//! real gateway, auth-service (or the gateway) is SIGKILLed and restarted on
//! the same data. Afterwards:
//! - every logout acknowledged (204) before the kill stays refused;
//! - every login acknowledged (200 with a cookie) and never logged out
//!   still works;
//! - no request sent and answered while auth-service was down got a 200.
//!
//! Calls in flight at the kill have no acknowledged outcome and are not
//! judged, as a client that saw no answer cannot know either.

use crate::client::{Client, UNLIMITED_LOGINS};
use portcullis_tests::{StackOptions, TestStack, wait_until};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Concurrent clients churning through logins and logouts.
const CLIENTS: usize = 16;

/// What the clients were told, to be checked after each restart.
#[derive(Default)]
struct Ledger {
    /// Sessions whose logout was acknowledged.
    logged_out: Vec<String>,
    /// Sessions whose login was acknowledged and that were never logged out.
    live: Vec<String>,
    /// Calls that answered 200 although sent and answered during downtime.
    answered_while_down: Vec<String>,
    /// Calls that answered during downtime at all (proves the window was
    /// exercised).
    refused_while_down: usize,
}

/// Shared between the test and its clients.
#[derive(Clone, Default)]
struct Shared {
    ledger: Arc<Mutex<Ledger>>,
    /// auth-service is dead (set after the kill returns, cleared before the
    /// restart starts).
    down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    /// Records a call's status, judging it if it ran entirely in downtime.
    fn judge(&self, what: &str, down_at_send: bool, status: Option<u16>) {
        if !(down_at_send && self.down.load(Ordering::SeqCst)) {
            return;
        }
        let mut ledger = self.ledger.lock().unwrap();
        match status {
            Some(200) => ledger.answered_while_down.push(what.to_owned()),
            Some(_) => ledger.refused_while_down += 1,
            None => {}
        }
    }
}

/// One client: log in, use the session, and log out every other time,
/// until told to stop.
async fn churn(client: Client, shared: Shared) {
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    let mut n = 0u32;
    while !shared.stop.load(Ordering::SeqCst) {
        ticker.tick().await;
        n += 1;
        let down = shared.down.load(Ordering::SeqCst);
        let token = match client.try_login().await {
            Ok(token) => {
                shared.judge("login", down, Some(200));
                token
            }
            Err(e) => {
                let status = e
                    .strip_prefix("answered ")
                    .and_then(|s| s.get(..3)?.parse().ok());
                shared.judge("login", down, status);
                continue;
            }
        };
        let down = shared.down.load(Ordering::SeqCst);
        let me = client.try_me(&token).await.ok();
        shared.judge("GET /auth/me", down, me);
        if n.is_multiple_of(2) {
            shared.ledger.lock().unwrap().live.push(token);
            continue;
        }
        let down = shared.down.load(Ordering::SeqCst);
        let logout = client.try_post(&token, "/auth/logout").await.ok();
        shared.judge("POST /auth/logout", down, logout);
        if logout == Some(204) {
            shared.ledger.lock().unwrap().logged_out.push(token);
        }
        // Not acknowledged: the session may or may not be revoked, and is
        // judged neither way.
    }
}

/// Waits until the stack has acknowledged at least `more` further logouts.
async fn more_logouts(shared: &Shared, more: usize) {
    let target = shared.ledger.lock().unwrap().logged_out.len() + more;
    wait_until(Duration::from_secs(30), "clients log in and out", || {
        let done = shared.ledger.lock().unwrap().logged_out.len() >= target;
        async move { done }
    })
    .await;
}

/// Checks every acknowledged outcome against the restarted stack.
async fn verify(stack: &TestStack, shared: &Shared, round: &str) {
    let (logged_out, live, while_down) = {
        let ledger = shared.ledger.lock().unwrap();
        (
            ledger.logged_out.clone(),
            ledger.live.clone(),
            ledger.answered_while_down.clone(),
        )
    };
    assert!(
        while_down.is_empty(),
        "{round}: answered 200 while auth-service was down: {while_down:?}"
    );
    let checker = Client::new(stack, "checker");
    for token in &logged_out {
        assert_eq!(
            checker.me(token).await,
            401,
            "{round}: an acknowledged logout came back after the crash"
        );
    }
    for token in &live {
        assert_eq!(
            checker.me(token).await,
            200,
            "{round}: an acknowledged login was lost in the crash"
        );
    }
    eprintln!(
        "{round}: {} acknowledged logouts refused, {} acknowledged logins alive",
        logged_out.len(),
        live.len()
    );
}

#[test]
fn acknowledged_logins_and_logouts_survive_sigkill_under_load() {
    crate::run_alone(
        "crash under load",
        Duration::from_secs(400),
        crash_under_load(),
    );
}

/// Starts the churning clients.
fn start_clients(stack: &TestStack, shared: &Shared) -> Vec<tokio::task::JoinHandle<()>> {
    shared.stop.store(false, Ordering::SeqCst);
    (0..CLIENTS)
        .map(|n| {
            let client = Client::new(stack, &format!("crash-{n}"));
            tokio::spawn(churn(client, shared.clone()))
        })
        .collect()
}

/// Stops the clients and waits for them, so the round's ledger is final.
async fn stop_clients(shared: &Shared, clients: Vec<tokio::task::JoinHandle<()>>) {
    shared.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
}

/// One round: load, SIGKILL auth-service mid-load, wait until the gateway
/// has refused calls, restart it on the same data, more load, then check
/// every acknowledged outcome of the round.
async fn auth_service_round(stack: &mut TestStack, round: &str) {
    let shared = Shared::default();
    let clients = start_clients(stack, &shared);
    more_logouts(&shared, 30).await;
    stack.kill_auth_service();
    shared.down.store(true, Ordering::SeqCst);
    wait_until(Duration::from_secs(10), "the gateway refuses calls", || {
        let refused = shared.ledger.lock().unwrap().refused_while_down >= 10;
        async move { refused }
    })
    .await;
    shared.down.store(false, Ordering::SeqCst);
    stack.restart_auth_service();
    more_logouts(&shared, 10).await;
    stop_clients(&shared, clients).await;
    verify(stack, &shared, round).await;
}

async fn crash_under_load() {
    let mut stack = TestStack::start_with(StackOptions {
        gateway_settings: UNLIMITED_LOGINS.into(),
        ..StackOptions::default()
    })
    .await;
    for round in 1..=3 {
        auth_service_round(&mut stack, &format!("auth-service SIGKILL round {round}")).await;
    }

    // A logout and a logout-everywhere acknowledged just before the kill,
    // with no other write after them: nothing but their own flush can have
    // made them durable.
    let shared = Shared::default();
    let clients = start_clients(&stack, &shared);
    more_logouts(&shared, 30).await;
    stop_clients(&shared, clients).await;
    let everywhere = Client::new(&stack, "everywhere");
    let sessions = [
        everywhere.login().await,
        everywhere.login().await,
        everywhere.login().await,
    ];
    let single = Client::new(&stack, "single");
    let (kept, logged_out) = (single.login().await, single.login().await);
    single.logout(&logged_out).await;
    everywhere.logout_all(&sessions[0]).await;
    stack.kill_auth_service();
    stack.restart_auth_service();
    for token in &sessions {
        assert_eq!(
            everywhere.me(token).await,
            401,
            "a session survived a logout-everywhere acknowledged before the crash"
        );
    }
    assert_eq!(single.me(&logged_out).await, 401, "a logout was lost");
    assert_eq!(single.me(&kept).await, 200, "a login was lost");
    verify(&stack, &shared, "logout-all round").await;

    // The gateway dies instead, under the same load: it holds nothing, so
    // nothing acknowledged is lost.
    let shared = Shared::default();
    let clients = start_clients(&stack, &shared);
    more_logouts(&shared, 30).await;
    stack.restart_gateway();
    more_logouts(&shared, 10).await;
    stop_clients(&shared, clients).await;
    verify(&stack, &shared, "gateway SIGKILL round").await;
}
