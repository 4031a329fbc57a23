//! The api-gateway binary: load and validate the configuration, bind, print
//! the address (then the metrics and ext_authz addresses, when on, each on
//! a line of its own), serve until SIGINT/SIGTERM.

use clap::Parser;
use common::startup::{bind_and_announce, bind_and_announce_secondary, load_config};
use std::path::PathBuf;
use std::process::ExitCode;

/// Portcullis api-gateway (HTTP).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML); falls back to $PORTCULLIS_CONFIG.
    #[arg(long, env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration (with its PORTCULLIS__* overrides, secrets
    /// and TLS files) and exit: 0 when it is usable, 2 with the key and the
    /// reason when it is not. Nothing is bound or served.
    #[arg(long)]
    check_config: bool,
}

/// mimalloc, not glibc's malloc: a request's buffers are often allocated on
/// one worker thread and freed on another, which glibc pays for in arena
/// locks and consolidation (BENCHMARKS.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match load_config("api-gateway", args.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if args.check_config {
        return match api_gateway::check(&config) {
            Ok(()) => {
                println!("api-gateway: configuration OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("api-gateway: {e}");
                ExitCode::from(common::startup::CONFIG_ERROR)
            }
        };
    }
    let telemetry = match common::telemetry::init(
        config.gateway.log_format,
        "info",
        "portcullis-api-gateway",
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("api-gateway: {e}");
            return ExitCode::from(common::startup::CONFIG_ERROR);
        }
    };
    let scheme = if config.gateway.serves_tls() {
        "https://"
    } else {
        "http://"
    };
    let listener = match bind_and_announce("api-gateway", config.gateway.listen, scheme).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    // Announced second: the first stdout line stays the public address.
    let metrics_listener = match bind_and_announce_secondary(
        "api-gateway",
        "metrics listening on",
        config.gateway.metrics_listen,
    )
    .await
    {
        Ok(l) => l,
        Err(code) => return code,
    };
    // Announced last, so the lines before keep their places.
    let ext_authz_listener = match bind_and_announce_secondary(
        "api-gateway",
        "ext_authz listening on",
        config.gateway.ext_authz_listen,
    )
    .await
    {
        Ok(l) => l,
        Err(code) => return code,
    };
    let listeners = api_gateway::Listeners {
        public: listener,
        metrics: metrics_listener,
        ext_authz: ext_authz_listener,
        in_process_auth: None,
    };
    let served =
        api_gateway::run_with_listeners(listeners, config, common::shutdown::signal()).await;
    telemetry.shutdown().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("api-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
