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

use common::config::Config;
use common::proto::auth_service_client::AuthServiceClient;
use common::proto::{ExchangeTokenRequest, ValidateSessionRequest, exchange_token_request::Token};
use dev_idp::{DevClient, DevIdp, DevIdpConfig};
use std::time::{Duration, Instant};

#[derive(clap::Parser)]
struct Args {
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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Args = clap::Parser::parse();
    let idp = DevIdp::start(DevIdpConfig {
        listen: "127.0.0.1:0".parse()?,
        issuer: None,
        clients: vec![DevClient {
            client_id: "portcullis-dev".into(),
            client_secret: None,
        }],
        users: Vec::new(),
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let text = format!(
        r#"
[auth_service]
data_dir = "{}"
[[providers]]
id = "dev"
kind = "oidc"
client_id = "portcullis-dev"
token_endpoint_auth = "none"
issuer = "{}"
"#,
        dir.path().join("data").display(),
        idp.issuer()
    );
    let config = Config::from_toml(&text, &|_| None)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(auth_service::run(listener, config, async {
        let _ = stop_rx.await;
    }));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?.connect_lazy();
    let mut client = AuthServiceClient::new(channel);

    let mut tokens = Vec::with_capacity(args.sessions);
    for i in 0..args.sessions {
        let user = ["alice", "bob"][i % 2];
        let id_token = idp.sign(&idp.id_token_claims(user, "portcullis-dev", None));
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
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}
