//! The auth-service binary: load and validate the configuration, bind, serve
//! until SIGINT/SIGTERM.

use clap::Parser;
use common::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// Portcullis auth-service (gRPC).
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
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("auth-service: {e}");
            return ExitCode::from(2);
        }
    };
    common::telemetry::init(config.auth_service.log_format, "info");
    let listener = match tokio::net::TcpListener::bind(config.auth_service.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "auth-service: cannot listen on {}: {e}",
                config.auth_service.listen
            );
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        // Tests and scripts read this line to learn the port.
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => {
            eprintln!("auth-service: {e}");
            return ExitCode::FAILURE;
        }
    }
    match auth_service::run(listener, config, common::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auth-service: {e}");
            ExitCode::FAILURE
        }
    }
}
