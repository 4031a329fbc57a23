//! Load generator for `ValidateSession`, the hot path every request of the
//! gateway and of internal services takes.
//!
//! Starts auth-service (sled in a temporary directory) and the development
//! provider on 127.0.0.1, logs in a few users, then calls `ValidateSession`
//! from `--concurrency` tasks over one HTTP/2 channel for `--seconds`, and
//! prints calls per second with p50/p99 latency. Everything stays on
//! loopback and the run is bounded in time.
//!
//! `cargo run --release -p auth-service --example validate_load -- --seconds 10`

use common::proto::{ExchangeTokenRequest, ValidateSessionRequest, exchange_token_request::Token};
mod support;

use std::time::{Duration, Instant};
use support::{Bench, BoxError};

#[derive(clap::Parser)]
struct Args {
    /// Run against the Redis server at this URL instead of sled.
    #[arg(long)]
    redis_url: Option<String>,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent callers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Distinct sessions validated round-robin.
    #[arg(long, default_value_t = 100)]
    sessions: usize,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Args = clap::Parser::parse();
    let bench = Bench::start(args.redis_url.as_deref()).await?;
    let mut client = bench.client.clone();

    let mut tokens = Vec::with_capacity(args.sessions);
    for i in 0..args.sessions {
        let user = ["alice", "bob"][i % 2];
        let id_token = bench.id_token(user);
        let login = client
            .exchange_token(ExchangeTokenRequest {
                provider_id: "dev".into(),
                token: Some(Token::IdToken(id_token)),
                client: None,
            })
            .await?
            .into_inner();
        tokens.push(login.session_token);
    }

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let mut client = client.clone();
        let tokens = tokens.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = worker;
            while Instant::now() < deadline {
                let token = tokens[i % tokens.len()].clone();
                i += 1;
                let start = Instant::now();
                let ok = client
                    .validate_session(ValidateSessionRequest {
                        session_token: token,
                    })
                    .await
                    .is_ok();
                if !ok {
                    return Err("a valid session was refused");
                }
                latencies.push(start.elapsed());
            }
            Ok(latencies)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "ValidateSession: {} calls in {:.1} s = {:.0} calls/s, p50 {:.0} µs, p99 {:.0} µs (concurrency {}, {} sessions)",
        all.len(),
        elapsed,
        all.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        args.concurrency,
        args.sessions,
    );
    bench.stop().await?;
    Ok(())
}
