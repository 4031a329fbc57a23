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
//! `cargo run --release -p portcullis-tests --example gateway_load -- --seconds 5 [--redis]`

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
}

struct Case {
    name: &'static str,
    /// Whether the case runs on the stack with the session cache on.
    cached: bool,
    path: &'static str,
    authenticated: bool,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

async fn round(
    url: String,
    cookie: Option<String>,
    concurrency: usize,
    seconds: u64,
) -> Result<(Vec<Duration>, Duration), Box<dyn std::error::Error>> {
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
    Ok((all, started.elapsed()))
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
        ..StackOptions::default()
    })
    .await;
    let cached_stack = TestStack::start_with(StackOptions {
        routes,
        redis_url: redis_url(1),
        gateway_settings: "session_cache = { enabled = true }\n".to_owned(),
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
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
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
    for _ in 0..2 {
        for case in &mut cases {
            let (stack, cookie) = if case.cached {
                (&cached_stack, &cached_cookie)
            } else {
                (&stack, &cookie)
            };
            let cookie = case.authenticated.then(|| cookie.clone());
            let url = stack.url(case.path);
            let (latencies, elapsed) = round(url, cookie, args.concurrency, args.seconds).await?;
            case.latencies.extend(latencies);
            case.elapsed += elapsed;
        }
    }

    println!(
        "store {}, concurrency {}, {} s x 2 rounds per case",
        if args.redis { "redis" } else { "sled" },
        args.concurrency,
        args.seconds
    );
    let mut rps = Vec::new();
    for case in &mut cases {
        case.latencies.sort();
        let n = case.latencies.len();
        let pct = |p: f64| case.latencies[((n as f64 * p) as usize).min(n - 1)];
        let r = n as f64 / case.elapsed.as_secs_f64();
        rps.push(r);
        println!(
            "{:<40} {:>8.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs",
            case.name,
            r,
            pct(0.5).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6
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
