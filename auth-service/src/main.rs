//! The auth-service binary: load and validate the configuration, bind, print
//! the gRPC address (then the metrics address, when on, on a line of its
//! own), serve until SIGINT/SIGTERM.

use clap::Parser;
use common::startup::{bind_and_announce, bind_and_announce_secondary, load_config};
use std::path::PathBuf;
use std::process::ExitCode;

/// Portcullis auth-service (gRPC).
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
    let config = match load_config("auth-service", args.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let telemetry = match common::telemetry::init(
        config.auth_service.log_format,
        "info",
        "portcullis-auth-service",
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("auth-service: {e}");
            return ExitCode::from(common::startup::CONFIG_ERROR);
        }
    };
    if let Err(e) = auth_service::check_tls(&config.auth_service) {
        eprintln!("auth-service: {e}");
        return if args.check_config {
            ExitCode::from(common::startup::CONFIG_ERROR)
        } else {
            ExitCode::FAILURE
        };
    }
    if args.check_config {
        println!("auth-service: configuration OK");
        return ExitCode::SUCCESS;
    }
    let listener = match bind_and_announce("auth-service", config.auth_service.listen, "").await {
        Ok(l) => l,
        Err(code) => return code,
    };
    // Announced second: the first stdout line stays the gRPC address.
    let metrics_listener = match bind_and_announce_secondary(
        "auth-service",
        "metrics listening on",
        config.auth_service.metrics_listen,
    )
    .await
    {
        Ok(l) => l,
        Err(code) => return code,
    };
    let socket = match &config.auth_service.listen_socket {
        Some(path) => {
            match auth_service::grpc_socket::bind_and_announce("auth-service", path).await {
                Ok(socket) => Some(socket),
                Err(code) => return code,
            }
        }
        None => None,
    };
    let listeners = auth_service::Listeners {
        grpc: listener,
        metrics: metrics_listener,
        socket,
        in_process: None,
    };
    let served = auth_service::run_with_listeners(
        listeners,
        config,
        auth_service::Deps::default(),
        common::shutdown::signal(),
    )
    .await;
    telemetry.shutdown().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auth-service: {e}");
            ExitCode::FAILURE
        }
    }
}
