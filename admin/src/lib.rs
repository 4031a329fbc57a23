//! `portcullis-admin`: an operator's command line for auth-service, over
//! the same gRPC API and the same caller authentication (service token
//! and/or client certificate) as the gateway. Find users by id or e-mail,
//! list and revoke their sessions, list the providers; tables for people,
//! `--json` for scripts.
//!
//! Modules: `cli` (the flags), `connect` (reading the credentials and
//! dialling), `commands` (the calls each subcommand makes), `render` (tables
//! and JSON), `error` (what can fail, with its exit status).

mod cli;
mod commands;
mod connect;
mod error;
mod render;

pub use cli::{Cli, Command, ConnectionArgs, SessionsCommand, UsersCommand};
pub use commands::Outcome;
pub use connect::{SERVICE_TOKEN_ENV, Target};
pub use error::{AdminError, Credentials, FAILED, USAGE};

/// Runs the command `cli` names against the auth-service `target` reaches.
pub async fn run(cli: &Cli, target: &Target) -> Result<Outcome, AdminError> {
    let client = target.connect().await?;
    commands::run(&client, &cli.command, cli.json, target.credentials).await
}
