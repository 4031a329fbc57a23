//! Concurrent logins, validations, logouts and logouts-everywhere through
//! the real gateway and auth-service binaries: the load that hung sled's
//! `flush_async` (issue 8). Every call must answer, correctly, within
//! [`CALL_DEADLINE`].

use crate::client::Client;
use portcullis_tests::{StackOptions, TestStack};
use std::time::{Duration, Instant};

/// Concurrent clients (the issue asks for at least 16).
const CLIENTS: usize = 20;
/// Rounds per client: five calls each, plus five more every fourth round.
const ROUNDS: usize = 30;

#[test]
fn every_call_answers_under_concurrent_logins_and_logouts() {
    crate::run_alone(
        "login stress",
        Duration::from_secs(300),
        logins_and_logouts(),
    );
}

async fn logins_and_logouts() {
    let stack = TestStack::start_with(StackOptions {
        gateway_settings: crate::client::UNLIMITED_LOGINS.into(),
        ..StackOptions::default()
    })
    .await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let client = Client::new(&stack, &format!("stress-{n}"));
            tokio::spawn(async move { client_rounds(client).await })
        })
        .collect();
    let mut calls = 0;
    for task in tasks {
        calls += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    eprintln!("{calls} calls from {CLIENTS} clients in {elapsed:?}");
    assert!(calls >= 3000, "only {calls} calls");
}

/// One client's rounds; returns how many calls it made.
async fn client_rounds(client: Client) -> usize {
    let mut calls = 0;
    for round in 0..ROUNDS {
        let token = client.login().await;
        assert_eq!(client.me(&token).await, 200, "a new session is refused");
        assert_eq!(client.me(&token).await, 200, "a new session is refused");
        client.logout(&token).await;
        assert_eq!(client.me(&token).await, 401, "a logged-out session works");
        calls += 5;
        if round % 4 == 3 {
            let a = client.login().await;
            let b = client.login().await;
            client.logout_all(&a).await;
            assert_eq!(client.me(&a).await, 401, "logout-all left a session");
            assert_eq!(client.me(&b).await, 401, "logout-all left a session");
            calls += 5;
        }
    }
    calls
}
