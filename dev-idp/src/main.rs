//! The `dev-idp` binary: parses the command line, refuses non-loopback
//! addresses, starts [`dev_idp::DevIdp`] and stops it on SIGINT/SIGTERM.
//! Everything else lives in the library.

use clap::Parser;
use dev_idp::{DevClient, DevIdp, DevIdpConfig};
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

/// A local OpenID Connect provider for development and tests.
/// NOT FOR PRODUCTION: anyone who can reach it can log in as anyone.
#[derive(Debug, Parser)]
#[command(name = "dev-idp", version)]
struct Args {
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Issuer to sign and advertise (default: http://<bound address>).
    #[arg(long)]
    issuer: Option<url::Url>,
    /// A client as `ID` (public, PKCE only) or `ID:SECRET_ENV_VAR`
    /// (confidential; the secret is read from that environment variable).
    /// Repeatable. Default: one public client `portcullis-dev`.
    #[arg(long = "client", value_name = "ID[:SECRET_ENV_VAR]")]
    clients: Vec<String>,
    /// Accept a non-loopback --listen address. Only for a private container
    /// network whose port is published on the host's loopback (the
    /// docker-compose `dev` profile); never on a reachable network.
    #[arg(long)]
    allow_container_network: bool,
    /// Sign with the RSA private key in this PEM file (PKCS#8 or PKCS#1,
    /// at least 2048 bits) instead of a fresh one, so tokens can also be
    /// signed with other tools (`openssl genpkey -algorithm RSA`).
    #[arg(long, value_name = "FILE")]
    signing_key: Option<std::path::PathBuf>,
}

/// Exit status for a configuration error, as clap uses for usage errors.
const CONFIG_ERROR: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let telemetry = match common::telemetry::init(
        common::telemetry::LogFormat::Text,
        "info",
        "portcullis-dev-idp",
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("dev-idp: {e}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };

    if !args.allow_container_network
        && let Err(e) = dev_idp::check_listen(args.listen)
    {
        eprintln!("dev-idp: {e}");
        return ExitCode::from(CONFIG_ERROR);
    }
    let clients = match parse_clients(&args.clients, |name| std::env::var(name).ok()) {
        Ok(clients) => clients,
        Err(e) => {
            eprintln!("dev-idp: {e}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    let signing_key_pem = match &args.signing_key {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                eprintln!("dev-idp: --signing-key {}: {e}", path.display());
                return ExitCode::from(CONFIG_ERROR);
            }
        },
    };
    let config = DevIdpConfig {
        listen: args.listen,
        issuer: args.issuer,
        clients,
        users: Vec::new(),
        signing_key_pem,
    };
    let started = if args.allow_container_network {
        DevIdp::start_in_container_network(config).await
    } else {
        DevIdp::start(config).await
    };
    let idp = match started {
        Ok(idp) => idp,
        Err(e) => {
            eprintln!("dev-idp: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // The one line on stdout: tests started with port 0 read it to find us.
    let mut stdout = std::io::stdout().lock();
    let announced =
        writeln!(stdout, "listening on http://{}", idp.addr()).and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = announced {
        eprintln!("dev-idp: cannot write to stdout: {e}");
        return ExitCode::FAILURE;
    }
    // DevIdp::start has already logged the not-for-production warning.

    common::shutdown::signal().await;
    idp.shutdown().await;
    telemetry.shutdown().await;
    ExitCode::SUCCESS
}

/// Turns `ID` / `ID:SECRET_ENV_VAR` arguments into clients, reading secrets
/// through `env` so they never appear on the command line.
fn parse_clients(
    specs: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<DevClient>, String> {
    if specs.is_empty() {
        return Ok(DevIdpConfig::default().clients);
    }
    specs
        .iter()
        .map(|spec| {
            let (id, secret_var) = match spec.split_once(':') {
                Some((id, var)) => (id, Some(var)),
                None => (spec.as_str(), None),
            };
            if id.is_empty() {
                return Err(format!("--client {spec:?}: the client id is empty"));
            }
            let client_secret = match secret_var {
                None => None,
                Some(var) => match env(var) {
                    Some(secret) if !secret.is_empty() => Some(secret),
                    _ => {
                        return Err(format!(
                            "--client {id}: environment variable {var} (the client secret) is not set"
                        ));
                    }
                },
            };
            Ok(DevClient {
                client_id: id.to_owned(),
                client_secret,
            })
        })
        .collect()
}
