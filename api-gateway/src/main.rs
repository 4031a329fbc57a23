//! The api-gateway binary: load and validate the configuration, bind, print
//! the address, serve until SIGINT/SIGTERM.

use clap::Parser;
use common::config::Config;
use std::io::Write as _;
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
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("api-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    common::telemetry::init(config.gateway.log_format, "info");
    let listener = match tokio::net::TcpListener::bind(config.gateway.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "api-gateway: cannot listen on {}: {e}",
                config.gateway.listen
            );
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("api-gateway: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scheme = if config.gateway.serves_tls() {
        "https"
    } else {
        "http"
    };
    // Tests and scripts read this one line to learn the port.
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "listening on {scheme}://{addr}").and_then(|()| stdout.flush())
    {
        eprintln!("api-gateway: cannot write to stdout: {e}");
        return ExitCode::FAILURE;
    }
    drop(stdout);
    match api_gateway::run(listener, config, common::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("api-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
