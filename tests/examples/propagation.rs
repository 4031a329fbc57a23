//! Revocation propagation: how long after gateway A answers a logout does
//! gateway B, whose session cache holds that session, refuse it?
//!
//! Starts the real binaries (release build: run with `--release`) through
//! [`TestStack`] with the session cache on, a second gateway on the same
//! auth-service, and for each round logs a session in, warms B's cache with
//! it, logs it out through A and polls B until it answers 401. The figure
//! is an upper bound: it includes one poll's round trip. With `--load N`,
//! N connections keep B busy with another session's requests meanwhile.
//! Everything stays on 127.0.0.1.
//!
//! `cargo run --release -p portcullis-tests --example propagation -- --rounds 200 --load 16`

use portcullis_tests::{Proc, StackOptions, TestStack, wait_until};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Parser)]
struct Args {
    /// Logouts measured.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Connections loading gateway B meanwhile.
    #[arg(long, default_value_t = 0)]
    load: usize,
}

async fn status(client: &reqwest::Client, url: &str, cookie: &str) -> u16 {
    match client.get(url).header("cookie", cookie).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

async fn feed_on(metrics: &str) -> bool {
    let Ok(response) = reqwest::get(format!("{metrics}/metrics")).await else {
        return false;
    };
    response
        .text()
        .await
        .unwrap_or_default()
        .contains("session_cache_feed_state{state=\"on\"} 1")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Args = clap::Parser::parse();
    let stack = TestStack::start_with(StackOptions {
        gateway_settings: "session_cache = { enabled = true }\n\
                           login_rate_limit_per_minute = 100000\n\
                           login_rate_limit_burst = 100000\n"
            .to_owned(),
        ..StackOptions::default()
    })
    .await;
    let gateway_b = stack.spawn_gateway("gateway-b.toml", false);
    let announced = |gateway: &Proc| {
        gateway
            .logs()
            .iter()
            .find_map(|l| l.strip_prefix("metrics listening on ").map(str::to_owned))
    };
    wait_until(Duration::from_secs(10), "B announces metrics", || {
        let found = announced(&gateway_b).is_some();
        async move { found }
    })
    .await;
    let metrics_b = announced(&gateway_b).ok_or("no metrics address")?;
    let metrics_a = stack.metrics_url().await;
    wait_until(Duration::from_secs(10), "both feeds synced", || {
        let (a, b) = (metrics_a.clone(), metrics_b.clone());
        async move { feed_on(&a).await && feed_on(&b).await }
    })
    .await;

    let b_me = format!("{}/auth/me", gateway_b.addr);
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let mut loaders = Vec::new();
    if args.load > 0 {
        let cookie = format!(
            "{}={}",
            stack.session_cookie,
            stack.session_token("bob").await
        );
        for _ in 0..args.load {
            let (client, url, cookie, stop) =
                (client.clone(), b_me.clone(), cookie.clone(), stop.clone());
            loaders.push(tokio::spawn(async move {
                let mut served = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if status(&client, &url, &cookie).await == 200 {
                        served += 1;
                    }
                }
                served
            }));
        }
    }

    let started = Instant::now();
    let mut delays = Vec::with_capacity(args.rounds);
    for round in 0..args.rounds {
        let token = stack.session_token("alice").await;
        let cookie = format!("{}={token}", stack.session_cookie);
        for _ in 0..2 {
            if status(&client, &b_me, &cookie).await != 200 {
                return Err(format!("round {round}: B does not serve the session").into());
            }
        }
        let logout = stack
            .post_with_session("/auth/logout", &token, &[("sec-fetch-site", "same-origin")])
            .await;
        let answered = Instant::now();
        if !(logout.status().is_success() || logout.status().is_redirection()) {
            return Err(format!("round {round}: logout answered {}", logout.status()).into());
        }
        loop {
            match status(&client, &b_me, &cookie).await {
                401 => break,
                200 => {}
                other => return Err(format!("round {round}: B answered {other}").into()),
            }
            if answered.elapsed() > Duration::from_secs(5) {
                return Err(format!("round {round}: B still serves after 5 s").into());
            }
        }
        delays.push(answered.elapsed());
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut load_served = 0;
    for loader in loaders {
        load_served += loader.await?;
    }

    delays.sort();
    let pct = |p: f64| delays[((delays.len() as f64 * p) as usize).min(delays.len() - 1)];
    println!(
        "{} logouts, load {} connections ({:.0} req/s on B meanwhile)",
        delays.len(),
        args.load,
        load_served as f64 / elapsed.as_secs_f64()
    );
    println!(
        "refused on B after A's answer: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        delays[delays.len() - 1].as_secs_f64() * 1e3
    );
    Ok(())
}
