//! The api-gateway binary: load and validate the configuration, bind, print
//! the address, serve until SIGINT/SIGTERM.

use clap::Parser;
use common::startup::{bind_and_announce, load_config};
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
    match api_gateway::run(listener, config, common::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("api-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
