//! Load generator for the gateway: what authentication costs per request.
//!
//! Starts the real binaries (release build: run with `--release`) through
//! [`TestStack`], logs alice in, and measures in one run, interleaved so
//! machine noise hits every case alike:
//!
//! * `/api/whoami`, an authenticated built-in route (cookie → gRPC
//!   `ValidateSession` → policy → handler), against `/healthz`, a public
//!   built-in route of the same gateway;
//! * the same small upstream behind an authenticated route and behind a
//!   public route, so the difference is exactly the session check;
//! * both authenticated routes again on a second stack whose gateway has
//!   the session cache on (`[gateway.session_cache]`), once its revocation
//!   feed is synced, so repeat validations are answered in the gateway.
//!
//! Everything stays on 127.0.0.1 and the run is bounded in time.
//!
//! `cargo run --release -p portcullis-tests --example gateway_load -- --seconds 5 [--redis] [--auth-socket | --single-node]`

use portcullis_tests::{StackOptions, TestStack, wait_until};

// The tests' redis-server, which fails loudly as a test helper should.
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
#[path = "../../auth-service/src/storage/test_redis.rs"]
mod test_redis;
use std::time::{Duration, Instant};
use test_redis::RedisServer;

#[derive(clap::Parser)]
struct Args {
    /// Seconds per measurement round (each case runs two rounds).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Both stacks keep sessions on a redis-server of their own (started
    /// here, durable settings) instead of sled.
    #[arg(long)]
    redis: bool,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Start both stacks, print their URLs, cookies and process ids, and
    /// wait for Ctrl-C instead of measuring: for an outside load generator
    /// (`wrk`) and a profiler (`perf record -p PID`).
    #[arg(long)]
    hold: bool,
    /// Drive the load with `wrk` (Debian's package; must be on PATH)
    /// instead of this process's own HTTP client. wrk costs far less CPU
    /// per request than a reqwest client, so on a small machine it leaves
    /// the gateway and auth-service the cores the figures are about.
    #[arg(long)]
    wrk: bool,
    /// Both gateways reach their auth-service over its Unix socket
    /// (`auth_service_url = "unix:..."`, a co-located sidecar) instead of
    /// loopback TCP.
    #[arg(long)]
    auth_socket: bool,
    /// Both stacks run as the single-node binary (`portcullis`):
    /// auth-service in the gateway's process, called in memory.
    #[arg(long, conflicts_with = "auth_socket")]
    single_node: bool,
}

/// One measurement round of one case.
struct Round {
    requests: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

struct Case {
    name: &'static str,
    /// Whether the case runs on the stack with the session cache on.
    cached: bool,
    path: &'static str,
    authenticated: bool,
    rounds: Vec<Round>,
}

/// A round driven by this process's own client.
async fn round(
    url: String,
    cookie: Option<String>,
    concurrency: usize,
    seconds: u64,
) -> Result<Round, Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, cookie) = (client.clone(), url.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let mut request = client.get(&url);
                if let Some(cookie) = &cookie {
                    request = request.header("cookie", cookie);
                }
                let start = Instant::now();
                let response = request.send().await.map_err(|e| e.to_string())?;
                let status = response.status();
                response.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("{url} answered {status}"));
                }
                latencies.push(start.elapsed());
            }
            Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed();
    all.sort();
    let n = all.len();
    if n == 0 {
        return Err(format!("{url}: no request completed").into());
    }
    let pct = |p: f64| all[((n as f64 * p) as usize).min(n - 1)];
    Ok(Round {
        requests: n as u64,
        elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
    })
}

/// A round driven by `wrk` (one thread, `concurrency` connections).
async fn wrk_round(
    url: String,
    cookie: Option<String>,
    concurrency: usize,
    seconds: u64,
) -> Result<Round, Box<dyn std::error::Error>> {
    let mut command = tokio::process::Command::new("wrk");
    command
        .args(["-t1", "--latency"])
        .arg(format!("-c{concurrency}"))
        .arg(format!("-d{seconds}s"));
    if let Some(cookie) = cookie {
        command.arg("-H").arg(format!("Cookie: {cookie}"));
    }
    let output = command.arg(&url).output().await?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx") {
        return Err(format!("wrk against {url} failed or saw errors:\n{text}").into());
    }
    parse_wrk(&text).ok_or_else(|| format!("unexpected wrk output:\n{text}").into())
}

/// Reads the request count, duration and 50th/99th percentiles from wrk's
/// `--latency` report.
fn parse_wrk(text: &str) -> Option<Round> {
    let duration = |value: &str| -> Option<Duration> {
        let (number, unit) = value.split_at(value.find(|c: char| c.is_ascii_alphabetic())?);
        let number: f64 = number.parse().ok()?;
        let seconds = match unit {
            "us" => number / 1e6,
            "ms" => number / 1e3,
            "s" => number,
            "m" => number * 60.0,
            _ => return None,
        };
        Some(Duration::from_secs_f64(seconds))
    };
    let percentile = |label: &str| {
        text.lines()
            .map(str::split_whitespace)
            .find_map(|mut words| {
                (words.next() == Some(label))
                    .then(|| words.next())
                    .flatten()
            })
            .and_then(duration)
    };
    // "  123456 requests in 4.00s, 17.1MB read"
    let summary = text.lines().find(|line| line.contains(" requests in "))?;
    let mut words = summary.split_whitespace();
    let requests = words.next()?.parse().ok()?;
    let elapsed = duration(words.nth(2)?.trim_end_matches(','))?;
    Some(Round {
        requests,
        elapsed,
        p50: percentile("50%")?,
        p99: percentile("99%")?,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Args = clap::Parser::parse();
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream_addr = upstream.local_addr()?;
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "upstream says hello" });
        axum::serve(upstream, app).await
    });
    let routes = format!(
        r#"
[[routes]]
path_prefix = "/bench/public/"
policy = "public"
target = {{ upstream = "http://{upstream_addr}" }}

[[routes]]
path_prefix = "/bench/private/"
target = {{ upstream = "http://{upstream_addr}" }}
"#
    );
    // One server per stack, kept alive for the run.
    let servers = if args.redis {
        vec![RedisServer::start().await, RedisServer::start().await]
    } else {
        Vec::new()
    };
    let redis_url = |i: usize| servers.get(i).map(RedisServer::url);
    let stack = TestStack::start_with(StackOptions {
        routes: routes.clone(),
        redis_url: redis_url(0),
        gateway_settings: "session_cache = { enabled = false }\n".to_owned(),
        auth_socket: args.auth_socket,
        single_node: args.single_node,
        ..StackOptions::default()
    })
    .await;
    let cached_stack = TestStack::start_with(StackOptions {
        routes,
        redis_url: redis_url(1),
        gateway_settings: "session_cache = { enabled = true }\n".to_owned(),
        auth_socket: args.auth_socket,
        single_node: args.single_node,
        ..StackOptions::default()
    })
    .await;
    let metrics = cached_stack.metrics_url().await;
    wait_until(
        Duration::from_secs(10),
        "the session cache's feed is synced",
        || {
            let metrics = metrics.clone();
            async move {
                let text = match reqwest::get(format!("{metrics}/metrics")).await {
                    Ok(response) => response.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                text.contains("session_cache_feed_state{state=\"on\"} 1")
            }
        },
    )
    .await;
    let cookie = format!(
        "{}={}",
        stack.session_cookie,
        stack.session_token("alice").await
    );
    let cached_cookie = format!(
        "{}={}",
        cached_stack.session_cookie,
        cached_stack.session_token("alice").await
    );

    if args.hold {
        for (name, stack, cookie) in [
            ("uncached", &stack, &cookie),
            ("cached", &cached_stack, &cached_cookie),
        ] {
            println!(
                "{name}: {} cookie {cookie:?} gateway pid {} auth-service pid {}",
                stack.url("/"),
                stack.gateway.pid(),
                stack.auth.pid()
            );
        }
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }

    let case = |name, path, authenticated, cached| Case {
        name,
        cached,
        path,
        authenticated,
        rounds: Vec::new(),
    };
    let mut cases = vec![
        case(
            "authenticated built-in /api/whoami",
            "/api/whoami",
            true,
            false,
        ),
        case("public built-in /healthz", "/healthz", false, false),
        case(
            "authenticated upstream /bench/private/",
            "/bench/private/x",
            true,
            false,
        ),
        case(
            "public upstream /bench/public/",
            "/bench/public/x",
            false,
            false,
        ),
        case(
            "cached: authenticated /api/whoami",
            "/api/whoami",
            true,
            true,
        ),
        case(
            "cached: authenticated /bench/private/",
            "/bench/private/x",
            true,
            true,
        ),
    ];
    // Redis commands the cached stack's store ran during the cached cases,
    // and the requests those cases made.
    let mut cached_redis_commands = 0;
    let mut cached_requests = 0;
    for _ in 0..2 {
        for case in &mut cases {
            let (stack, cookie) = if case.cached {
                (&cached_stack, &cached_cookie)
            } else {
                (&stack, &cookie)
            };
            let cached_redis = servers.get(1).filter(|_| case.cached);
            let commands_before = match cached_redis {
                Some(server) => redis_commands(server).await?,
                None => 0,
            };
            let cookie = case.authenticated.then(|| cookie.clone());
            let url = stack.url(case.path);
            let measured = if args.wrk {
                wrk_round(url, cookie, args.concurrency, args.seconds).await?
            } else {
                round(url, cookie, args.concurrency, args.seconds).await?
            };
            if let Some(server) = cached_redis {
                cached_redis_commands += redis_commands(server).await? - commands_before;
                cached_requests += measured.requests;
            }
            case.rounds.push(measured);
        }
    }

    println!(
        "store {}, gateway to auth-service over {}, concurrency {}, {} s x 2 rounds per case, load from {}",
        if args.redis { "redis" } else { "sled" },
        if args.auth_socket {
            "a Unix socket"
        } else if args.single_node {
            "memory (one process)"
        } else {
            "loopback TCP"
        },
        args.concurrency,
        args.seconds,
        if args.wrk { "wrk" } else { "this process" }
    );
    let mut rps = Vec::new();
    for case in &cases {
        let requests: u64 = case.rounds.iter().map(|r| r.requests).sum();
        let elapsed: Duration = case.rounds.iter().map(|r| r.elapsed).sum();
        let r = requests as f64 / elapsed.as_secs_f64();
        rps.push(r);
        // Percentiles: the mean of the rounds' own.
        let mean_us = |pick: fn(&Round) -> Duration| {
            case.rounds
                .iter()
                .map(|r| pick(r).as_secs_f64())
                .sum::<f64>()
                * 1e6
                / case.rounds.len() as f64
        };
        println!(
            "{:<40} {:>8.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs",
            case.name,
            r,
            mean_us(|r| r.p50),
            mean_us(|r| r.p99)
        );
    }
    if cached_requests > 0 {
        // The reading itself (one INFO before, one after) is counted too.
        println!(
            "Redis commands per request with the cache on: {:.4} ({cached_redis_commands} commands for {cached_requests} requests, the feed's blocking XREAD and these INFO readings included)",
            cached_redis_commands as f64 / cached_requests as f64
        );
    }
    for (what, authenticated, public) in [
        ("authenticated/public, built-in", 0, 1),
        ("authenticated/public, upstream", 2, 3),
        ("cached authenticated/public, built-in", 4, 1),
        ("cached authenticated/public, upstream", 5, 3),
    ] {
        println!("ratio {what}: {:.2}", rps[authenticated] / rps[public]);
    }
    Ok(())
}

/// Commands the Redis server has run so far: the sum of `calls=` over
/// `INFO commandstats`.
async fn redis_commands(server: &RedisServer) -> Result<u64, Box<dyn std::error::Error>> {
    let client = redis::Client::open(server.url())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await?;
    Ok(info
        .lines()
        .filter_map(|line| {
            line.split_once("calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum())
}
