//! Does validation stay fast with a million live sessions? Measures
//! `ValidateSession` against the real auth-service binary (release build:
//! run with `--release`) with 1,000 live sessions and again with
//! 1,000,000, on sled or on Redis, and reads auth-service's resident
//! memory at each size.
//!
//! The sessions are written straight into the store through auth-service's
//! own storage layer (the same records a login writes; logging a million
//! users in through a provider would measure the provider), 64 writes in
//! flight, while auth-service is stopped (sled allows one process; Redis
//! is treated alike). auth-service is started again before each
//! measurement, so both sizes start equally cold, then warmed for
//! `--warmup` seconds. Each call validates a session drawn
//! at random from all of them, so the million-session run reads all over
//! the store rather than a hot few.
//!
//! ```sh
//! cargo run --release -p portcullis-tests --example session_scale -- [--redis]
//! ```
//!
//! Everything stays on 127.0.0.1 and the run is bounded in time.

use auth_service::domain::clock::{Clock, SystemClock};
use auth_service::storage::redis::RedisStore;
use auth_service::storage::{SessionRecord, SessionStore, UserRecord};
use common::config::RedisConfig;
use common::proto::ValidateSessionRequest;
use common::proto::auth_service_client::AuthServiceClient;
use common::token::SessionToken;
use portcullis_tests::{StackOptions, TestStack};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The tests' redis-server, which fails loudly as a test helper should.
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
#[path = "../../auth-service/src/storage/test_redis.rs"]
mod test_redis;
use test_redis::RedisServer;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(clap::Parser)]
struct Args {
    /// Keep sessions on a redis-server started here (AOF, fsync always)
    /// instead of sled.
    #[arg(long)]
    redis: bool,
    /// Live sessions at each measurement, ascending.
    #[arg(long, value_delimiter = ',', default_value = "1000,1000000")]
    sizes: Vec<usize>,
    /// Seconds of measured load at each size.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Seconds of unmeasured load first.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Concurrent callers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

/// Where the sessions go: the stack's sled directory (auth-service
/// stopped) or its Redis server.
enum Store {
    Sled,
    Redis(RedisConfig),
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Args = clap::Parser::parse();
    let redis = if args.redis {
        Some(RedisServer::start().await)
    } else {
        None
    };
    let mut stack = TestStack::start_with(StackOptions {
        redis_url: redis.as_ref().map(RedisServer::url),
        ..StackOptions::default()
    })
    .await;
    let store = match &redis {
        Some(server) => Store::Redis(RedisConfig {
            url: Some(server.url()),
            ..RedisConfig::default()
        }),
        None => Store::Sled,
    };
    println!(
        "store {}, {} callers, {} s warm-up + {} s measured per size",
        if args.redis { "redis" } else { "sled" },
        args.concurrency,
        args.warmup,
        args.seconds
    );

    let mut tokens: Vec<String> = Vec::new();
    for &size in &args.sizes {
        let started = Instant::now();
        let added = size.saturating_sub(tokens.len());
        let new_tokens = match &store {
            Store::Sled => {
                let sled = Arc::new(stack.stop_and_open_store().await);
                let new_tokens = seed(sled.clone(), tokens.len(), added).await?;
                // sled lets one process open the directory: close it first.
                drop(sled);
                new_tokens
            }
            Store::Redis(config) => {
                stack.kill_auth_service();
                let store = Arc::new(RedisStore::open(config).await?);
                seed(store, tokens.len(), added).await?
            }
        };
        tokens.extend(new_tokens);
        let seeded_in = started.elapsed();
        stack.restart_auth_service();
        let tokens = Arc::new(tokens.clone());
        let url = format!("http://{}", stack.auth.addr);
        load(&url, &tokens, args.concurrency, args.warmup).await?;
        let (calls, elapsed, p50, p99) =
            load(&url, &tokens, args.concurrency, args.seconds).await?;
        let redis_memory = match &redis {
            Some(server) => format!("  Redis used_memory {} MiB", redis_used_mib(server).await?),
            None => String::new(),
        };
        println!(
            "{:>9} sessions (seeded in {:>5.1} s): {:>7.0} calls/s  p50 {:>5.0} µs  p99 {:>6.0} µs  auth-service RSS {} MiB{redis_memory}",
            tokens.len(),
            seeded_in.as_secs_f64(),
            calls as f64 / elapsed.as_secs_f64(),
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            rss_mib(stack.auth.pid())?,
        );
    }
    Ok(())
}

/// Writes `count` live sessions, numbered from `first`, 64 at a time;
/// returns their tokens.
async fn seed<S: SessionStore>(
    store: Arc<S>,
    first: usize,
    count: usize,
) -> Result<Vec<String>, BoxError> {
    const IN_FLIGHT: usize = 64;
    let now = SystemClock.now();
    let mut tokens = Vec::with_capacity(count);
    let mut writes = tokio::task::JoinSet::new();
    for n in first..first + count {
        let token = SessionToken::generate()?;
        let record = session(n, &token, now);
        tokens.push(token.expose().to_owned());
        let store = store.clone();
        writes.spawn(async move { store.insert_session(&record).await });
        if writes.len() >= IN_FLIGHT
            && let Some(done) = writes.join_next().await
        {
            done??;
        }
    }
    while let Some(done) = writes.join_next().await {
        done??;
    }
    Ok(tokens)
}

/// Session `n`, of one of 1,000 users, live for a day, and seen "just
/// now" for the whole run: `last_seen_at` lies an hour ahead, so no call
/// here is a session's first in a minute, which would also write the
/// session's new idle expiry (a touch). Seeding a million sessions takes
/// minutes, so otherwise nearly every call of the big run, and none of the
/// small one, would write: this measures the read a validation is, which is
/// what the number of sessions can change. Touches cost the same at any
/// size and are `write_load`'s subject.
fn session(n: usize, token: &SessionToken, now: i64) -> SessionRecord {
    let user = n % 1000;
    SessionRecord {
        id: format!("s_scale_{n}"),
        token_hash: token.hash().0,
        user: UserRecord {
            id: format!("u_scale_{user}"),
            provider_id: "dev".into(),
            issuer: "http://127.0.0.1/scale".into(),
            subject: format!("scale-{user}"),
            email: format!("user{user}@example.com"),
            email_verified: true,
            name: format!("User {user}"),
            picture: String::new(),
            created_at: now,
            last_login_at: now,
            groups: Vec::new(),
        },
        created_at: now,
        last_seen_at: now + 3_600,
        absolute_expires_at: now + 86_400,
        idle_expires_at: now + 86_400,
        user_agent: "session_scale".into(),
        client_ip: "127.0.0.1".into(),
        provider_sid: String::new(),
        id_token: Default::default(),
    }
}

/// `ValidateSession` from `concurrency` callers on one channel for
/// `seconds`, each call on a session drawn at random; returns the calls,
/// the time taken and the p50 and p99 latencies.
async fn load(
    url: &str,
    tokens: &Arc<Vec<String>>,
    concurrency: usize,
    seconds: u64,
) -> Result<(usize, Duration, Duration, Duration), BoxError> {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())?.connect_lazy();
    let client = AuthServiceClient::new(channel);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..concurrency {
        let mut client = client.clone();
        let tokens = tokens.clone();
        callers.spawn(async move {
            // A small xorshift per caller: uniform enough to spread the
            // reads, and no shared state between callers.
            let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (caller as u64 + 1);
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let token = &tokens[(state % tokens.len() as u64) as usize];
                let call = Instant::now();
                let answer = client
                    .validate_session(ValidateSessionRequest {
                        session_token: token.clone(),
                    })
                    .await;
                if let Err(status) = answer {
                    return Err(format!("ValidateSession failed: {status}"));
                }
                latencies.push(call.elapsed());
            }
            Ok(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = callers.join_next().await {
        all.extend(done??);
    }
    let elapsed = started.elapsed();
    if all.is_empty() {
        return Err("no call completed".into());
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Ok((all.len(), elapsed, pct(0.5), pct(0.99)))
}

/// Resident memory of process `pid`, from `/proc`.
fn rss_mib(pid: u32) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or("no VmRSS in /proc status")?
        .parse()?;
    Ok(kib / 1024)
}

/// The Redis server's `used_memory`, from `INFO memory`.
async fn redis_used_mib(server: &RedisServer) -> Result<u64, BoxError> {
    let client = redis::Client::open(server.url())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut connection)
        .await?;
    let bytes: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .ok_or("no used_memory in INFO memory")?
        .trim()
        .parse()?;
    Ok(bytes / (1024 * 1024))
}
