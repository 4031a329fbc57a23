//! The `portcullis` binary: auth-service and the gateway in one process
//! (one node, usually on sled). Loads one configuration file with both
//! sections, binds every listener, prints the addresses (the gateway's
//! public one first, then `grpc listening on` for auth-service's `listen`,
//! then the optional ones, each on a line of its own), and serves until
//! SIGINT/SIGTERM.

use clap::Parser;
use common::startup::{
    CONFIG_ERROR, bind_and_announce, bind_and_announce_as, bind_and_announce_secondary, load_config,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Portcullis on one node: auth-service and api-gateway in one process.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML, both services' sections); falls back to
    /// $PORTCULLIS_CONFIG.
    #[arg(long, env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration (with its PORTCULLIS__* overrides, secrets
    /// and TLS files) and exit: 0 when it is usable, 2 with the key and the
    /// reason when it is not. Nothing is bound or served.
    #[arg(long)]
    check_config: bool,
}

/// mimalloc, as in the two services' own binaries (BENCHMARKS.md, "The
/// allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BINARY: &str = "portcullis";

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match load_config(BINARY, args.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut checked = config
        .check_single_node()
        .map_err(|e| e.to_string())
        .and_then(|()| auth_service::check_tls(&config.auth_service).map_err(|e| e.to_string()));
    // What the gateway builds is checked again as it starts; here only on
    // request, as the api-gateway binary does.
    if args.check_config {
        checked = checked.and_then(|()| api_gateway::check(&config).map_err(|e| e.to_string()));
    }
    if let Err(e) = checked {
        eprintln!("{BINARY}: {e}");
        return ExitCode::from(CONFIG_ERROR);
    }
    if args.check_config {
        println!("{BINARY}: configuration OK");
        return ExitCode::SUCCESS;
    }
    let telemetry = match common::telemetry::init(config.gateway.log_format, "info", BINARY) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{BINARY}: {e}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    let listeners = match bind(&config).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let served = portcullis::run(listeners, config, common::shutdown::signal()).await;
    telemetry.shutdown().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{BINARY}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Binds every listener, announcing each: the public address first (the
/// line scripts and tests read), auth-service's gRPC address second.
async fn bind(config: &common::config::Config) -> Result<portcullis::Listeners, ExitCode> {
    let gateway = &config.gateway;
    let auth_service = &config.auth_service;
    let scheme = if gateway.serves_tls() {
        "https://"
    } else {
        "http://"
    };
    let public = bind_and_announce(BINARY, gateway.listen, scheme).await?;
    let grpc = bind_and_announce_as(BINARY, "grpc listening on", auth_service.listen, "").await?;
    let metrics =
        bind_and_announce_secondary(BINARY, "metrics listening on", gateway.metrics_listen).await?;
    let ext_authz =
        bind_and_announce_secondary(BINARY, "ext_authz listening on", gateway.ext_authz_listen)
            .await?;
    let auth_metrics = bind_and_announce_secondary(
        BINARY,
        "auth-service metrics listening on",
        auth_service.metrics_listen,
    )
    .await?;
    let socket = match &auth_service.listen_socket {
        Some(path) => Some(auth_service::grpc_socket::bind_and_announce(BINARY, path).await?),
        None => None,
    };
    Ok(portcullis::Listeners {
        gateway: api_gateway::Listeners {
            public,
            metrics,
            ext_authz,
            in_process_auth: None,
        },
        auth_service: auth_service::Listeners {
            grpc,
            metrics: auth_metrics,
            socket,
            in_process: None,
        },
    })
}
