//! The command line: global connection options and the subcommands, as
//! clap reads them. A usage error is clap's, exit status 2.
//!
//! The service token itself is never a flag (a flag shows in `ps` and in
//! shell history): it comes from a file (`--service-token-file`) or from
//! `$PORTCULLIS_SERVICE_TOKEN`, read in [`crate::connect`].

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Administer a Portcullis auth-service over gRPC: find users, list and
/// revoke their sessions, show the providers.
///
/// The caller authenticates as auth-service's other callers do: with the
/// service token (`--service-token-file` or $PORTCULLIS_SERVICE_TOKEN)
/// and/or a client certificate (`--client-cert`/`--client-key`, mutual TLS).
/// Exit status: 0 done, 1 not found or refused (the reason on stderr),
/// 2 usage or configuration error.
#[derive(Debug, Parser)]
#[command(name = "portcullis-admin", version)]
pub struct Cli {
    /// How to reach auth-service.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Print one JSON document instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where auth-service is and how to prove who we are.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// auth-service's gRPC URL: http:// (loopback, or inside a trusted
    /// network) or https://.
    #[arg(
        long,
        env = "PORTCULLIS_ADMIN_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub auth_service_url: url::Url,
    /// File holding the service token (a mounted secret; one trailing
    /// newline is ignored). Instead, the token itself may be in
    /// $PORTCULLIS_SERVICE_TOKEN; not both.
    #[arg(long, env = "PORTCULLIS_SERVICE_TOKEN_FILE", global = true)]
    pub service_token_file: Option<PathBuf>,
    /// PEM CA certificate(s) to trust for an https URL, instead of the
    /// public web PKI roots (auth-service's certificate is usually from an
    /// internal CA).
    #[arg(long, global = true)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --client-key).
    #[arg(long, global = true)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, global = true)]
    pub client_key: Option<PathBuf>,
    /// The name auth-service's certificate must carry, when the URL's host
    /// is not that name (e.g. `https://127.0.0.1:50051` through `kubectl
    /// port-forward`, to a certificate for `portcullis-auth-service`).
    #[arg(long, global = true)]
    pub tls_server_name: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Users: list, show one, find by e-mail.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Sessions of a user: list, revoke one, revoke all.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// The configured identity providers.
    Providers,
}

/// `users ...`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users, ordered by id, one page at a time (or --all).
    List {
        /// Users per page (1 to 1000; auth-service's default is 100).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        page_size: Option<u32>,
        /// Continue from a previous page's next page token.
        #[arg(long, conflicts_with = "all")]
        page_token: Option<String>,
        /// Every page, one after the other, as one list.
        #[arg(long)]
        all: bool,
    },
    /// Show one user by id.
    Show {
        /// The user id (`u_...`).
        user_id: String,
    },
    /// Find the users with an e-mail address (case-insensitive; one per
    /// provider identity, so there may be several). Exit status 1 when none.
    Find {
        /// The e-mail address.
        #[arg(long)]
        email: String,
    },
}

/// `sessions ...`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List a user's live sessions, newest first.
    List {
        /// The user id.
        user_id: String,
    },
    /// Revoke one session by its public id.
    Revoke {
        /// The session id (from `sessions list`).
        session_id: String,
        /// Only if the session is this user's (NOT_FOUND otherwise, and
        /// nothing is revoked).
        #[arg(long = "user")]
        user_id: Option<String>,
    },
    /// Revoke every session of a user ("log out everywhere").
    RevokeAll {
        /// The user id.
        user_id: String,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_are_clap_errors_with_status_2() {
        for args in [
            vec!["portcullis-admin", "users", "list", "--page-size", "0"],
            vec!["portcullis-admin", "users", "list", "--page-size", "1001"],
            vec![
                "portcullis-admin",
                "users",
                "list",
                "--all",
                "--page-token",
                "x",
            ],
            vec!["portcullis-admin", "users", "find"],
            vec!["portcullis-admin", "sessions", "revoke"],
            vec![
                "portcullis-admin",
                "--auth-service-url",
                "not a url",
                "providers",
            ],
        ] {
            let err = Cli::try_parse_from(&args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
        let cli = Cli::try_parse_from([
            "portcullis-admin",
            "sessions",
            "revoke",
            "s_1",
            "--user",
            "u_1",
            "--json",
        ])
        .unwrap();
        assert!(cli.json);
        assert!(matches!(
            cli.command,
            Command::Sessions(SessionsCommand::Revoke { ref session_id, user_id: Some(ref u) })
                if session_id == "s_1" && u == "u_1"
        ));
    }
}
