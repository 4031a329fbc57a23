//! The api-gateway binary: load and validate the configuration, bind, print
//! the address (then the metrics address, on the next line), serve until
//! SIGINT/SIGTERM.

use clap::Parser;
use common::startup::{bind_and_announce, bind_and_announce_as, load_config};
use std::path::PathBuf;
use std::process::ExitCode;

/// Portcullis api-gateway (HTTP).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML); falls back to $PORTCULLIS_CONFIG.
    #[arg(long, env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match load_config("api-gateway", args.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    common::telemetry::init(config.gateway.log_format, "info");
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
    let metrics_listener = match config.gateway.metrics_listen {
        Some(addr) => {
            match bind_and_announce_as("api-gateway", "metrics listening on", addr, "http://").await
            {
                Ok(l) => Some(l),
                Err(code) => return code,
            }
        }
        None => None,
    };
    match api_gateway::run_with_metrics(
        listener,
        metrics_listener,
        config,
        common::shutdown::signal(),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("api-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
