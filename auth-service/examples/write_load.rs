//! Load generator for durable writes: logins (`ExchangeToken`, each new
//! session on disk before its answer), logouts (`RevokeSession`, durable
//! before the answer) and `ValidateSession` while those writes run.
//!
//! Starts auth-service (sled in a temporary directory) and the development
//! provider on 127.0.0.1, then runs three phases of `--seconds` each:
//! 1. validators alone: the idle `ValidateSession` p99;
//! 2. `--writers` tasks logging in and out as fast as they can: durable
//!    logins per second and logout latency;
//! 3. both at once: `ValidateSession` p99 under writes, and its ratio to
//!    phase 1 (target ≤ 1.5).
//!
//! Everything stays on loopback and the run is bounded in time.
//!
//! `cargo run --release -p auth-service --example write_load -- --seconds 5`

use common::proto::auth_service_client::AuthServiceClient;
use common::proto::revoke_session_request::Target;
use common::proto::{
    ExchangeTokenRequest, RevokeSessionRequest, ValidateSessionRequest,
    exchange_token_request::Token,
};
mod support;

use std::time::{Duration, Instant};
use support::{Bench, BoxError};
use tonic::transport::Channel;

#[derive(clap::Parser)]
struct Args {
    /// Run against the Redis server at this URL instead of sled.
    #[arg(long)]
    redis_url: Option<String>,
    /// Length of each phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent writers (each: log in, then log out).
    #[arg(long, default_value_t = 32)]
    writers: usize,
    /// Concurrent validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Logins (each followed by its logout) per second in the paced part
    /// of phase 3: a busy site's login rate rather than a saturating one.
    #[arg(long, default_value_t = 100)]
    paced_logins: u32,
    /// Validations per second in all (spread over the validators); 0 runs
    /// them closed-loop, as fast as they go, which saturates the CPU and
    /// makes the p99 a queueing figure.
    #[arg(long, default_value_t = 0)]
    validate_rate: u32,
}

type Client = AuthServiceClient<Channel>;

/// Latencies of one kind of call.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    fn pct(&mut self, p: f64) -> f64 {
        self.0.sort();
        let i = ((self.0.len() as f64 * p) as usize).min(self.0.len().saturating_sub(1));
        self.0.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Args = clap::Parser::parse();
    let bench = Bench::start(args.redis_url.as_deref()).await?;
    let client = bench.client.clone();
    // One ID token per writer: users are keyed by subject, and "alice"
    // is a verified dev-idp user, so every writer is alice.
    let id_token = bench.id_token("alice");
    let mut sessions = Vec::new();
    for _ in 0..100 {
        sessions.push(login(&mut client.clone(), &id_token).await?);
    }
    let phase = Duration::from_secs(args.seconds);

    let mut idle = run_validators(
        &client,
        &sessions,
        args.validators,
        phase,
        args.validate_rate,
    )
    .await?;
    println!(
        "phase 1, validators alone: {} calls, p50 {:.0} µs, p99 {:.0} µs",
        idle.0.len(),
        idle.pct(0.50),
        idle.pct(0.99)
    );

    let (logins, mut login_lat, _) =
        run_writers(&client, &id_token, args.writers, phase, false, None).await?;
    println!(
        "phase 2a, {} writers logging in: {:.0} durable logins/s (login p50 {:.0} µs, p99 {:.0} µs)",
        args.writers,
        logins as f64 / phase.as_secs_f64(),
        login_lat.pct(0.50),
        login_lat.pct(0.99),
    );
    let (logins, _, mut logout_lat) =
        run_writers(&client, &id_token, args.writers, phase, true, None).await?;
    println!(
        "phase 2b, {} writers logging in and out: {:.0} durable writes/s; \
         logout p50 {:.0} µs, p99 {:.0} µs",
        args.writers,
        2.0 * logins as f64 / phase.as_secs_f64(),
        logout_lat.pct(0.50),
        logout_lat.pct(0.99),
    );

    let paced = Duration::from_secs_f64(args.writers as f64 / f64::from(args.paced_logins.max(1)));
    for (name, pace) in [("saturating", None), ("paced", Some(paced))] {
        let writers = {
            let client = client.clone();
            let id_token = id_token.clone();
            tokio::spawn(async move {
                run_writers(&client, &id_token, args.writers, phase, true, pace).await
            })
        };
        let mut busy = run_validators(
            &client,
            &sessions,
            args.validators,
            phase,
            args.validate_rate,
        )
        .await?;
        let (logins, _, mut logout_lat) = writers.await??;
        println!(
            "phase 3, validators with {name} writers: validate p50 {:.0} µs, p99 {:.0} µs \
             ({} calls) with {:.0} durable writes/s and logout p99 {:.0} µs alongside; \
             validate p99 under writes / idle = {:.2}",
            busy.pct(0.50),
            busy.pct(0.99),
            busy.0.len(),
            2.0 * logins as f64 / phase.as_secs_f64(),
            logout_lat.pct(0.99),
            busy.pct(0.99) / idle.pct(0.99),
        );
    }

    bench.stop().await?;
    Ok(())
}

async fn login(client: &mut Client, id_token: &str) -> Result<String, BoxError> {
    Ok(client
        .exchange_token(ExchangeTokenRequest {
            provider_id: "dev".into(),
            token: Some(Token::IdToken(id_token.to_owned())),
            client: None,
        })
        .await?
        .into_inner()
        .session_token)
}

/// `n` tasks validating `sessions` round-robin for `phase`.
async fn run_validators(
    client: &Client,
    sessions: &[String],
    n: usize,
    phase: Duration,
    rate: u32,
) -> Result<Samples, BoxError> {
    let deadline = Instant::now() + phase;
    let pace = (rate > 0).then(|| Duration::from_secs_f64(n as f64 / f64::from(rate)));
    let tasks: Vec<_> = (0..n)
        .map(|worker| {
            let mut client = client.clone();
            let sessions = sessions.to_vec();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut i = worker;
                let mut ticker = pace.map(|pace| staggered(pace, worker, n));
                while Instant::now() < deadline {
                    if let Some(ticker) = &mut ticker {
                        ticker.tick().await;
                    }
                    let start = Instant::now();
                    client
                        .validate_session(ValidateSessionRequest {
                            session_token: sessions[i % sessions.len()].clone(),
                        })
                        .await?;
                    samples.0.push(start.elapsed());
                    i += 1;
                }
                Ok::<_, BoxError>(samples)
            })
        })
        .collect();
    let mut all = Samples::default();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// `n` tasks logging in (and out, with `logout`) for `phase`, each at
/// most once per `pace` if given: the number of logins and the login and
/// logout latencies.
async fn run_writers(
    client: &Client,
    id_token: &str,
    n: usize,
    phase: Duration,
    logout: bool,
    pace: Option<Duration>,
) -> Result<(usize, Samples, Samples), BoxError> {
    let deadline = Instant::now() + phase;
    let tasks: Vec<_> = (0..n)
        .map(|worker| {
            let mut client = client.clone();
            let id_token = id_token.to_owned();
            tokio::spawn(async move {
                let (mut logins, mut logouts) = (Samples::default(), Samples::default());
                let mut ticker = pace.map(|pace| staggered(pace, worker, n));
                while Instant::now() < deadline {
                    if let Some(ticker) = &mut ticker {
                        ticker.tick().await;
                    }
                    let start = Instant::now();
                    let token = login(&mut client, &id_token).await?;
                    logins.0.push(start.elapsed());
                    if !logout {
                        continue;
                    }
                    let start = Instant::now();
                    client
                        .revoke_session(RevokeSessionRequest {
                            target: Some(Target::SessionToken(token)),
                            user_id: String::new(),
                        })
                        .await?;
                    logouts.0.push(start.elapsed());
                }
                Ok::<_, BoxError>((logins, logouts))
            })
        })
        .collect();
    let (mut logins, mut logouts) = (Samples::default(), Samples::default());
    for task in tasks {
        let (l, o) = task.await??;
        logins.extend(l);
        logouts.extend(o);
    }
    Ok((logins.0.len(), logins, logouts))
}

/// A ticker of period `pace` for task `i` of `n`, its first tick offset by
/// `i/n` of the period: paced tasks arrive spread out, as independent
/// clients do, instead of all `n` in one burst every period.
fn staggered(pace: Duration, i: usize, n: usize) -> tokio::time::Interval {
    let offset = pace.mul_f64(i as f64 / n.max(1) as f64);
    tokio::time::interval_at(tokio::time::Instant::now() + offset, pace)
}
