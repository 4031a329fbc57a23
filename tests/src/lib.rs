//! End-to-end test support: [`TestStack`] starts the real `auth-service`
//! and `api-gateway` binaries (built once with escargot) on `127.0.0.1:0`,
//! each with its own temporary directory and configuration, learns their
//! addresses from the one `listening on ...` line each prints, keeps their
//! log lines (see [`TestStack::audit_events`]) and kills them in `Drop`. The
//! development provider runs in the test process (see [`Provider`]) so a
//! test can make it misbehave. Helpers read like the API:
//! `stack.login_as(&client, "alice")`, `assert_redirect(&resp, "/")`.
//!
//! The gateway's `public_url` is `http://127.0.0.1` (no port), because its
//! real port is only known once it is bound; [`TestStack::follow`] maps
//! redirects to that origin onto the gateway's real address, and requests
//! that need an `Origin` send the public one.
//!
//! The modules, in the order a stack comes up: `process` (the binaries as
//! child processes), `idp` (the provider in process), `config` (their
//! configuration files; `auth_config`, auth-service's, is shared with that
//! crate's integration tests), `stack` ([`TestStack`] itself), `login`
//! (logging in), `http` (clients, URLs, requests, assertions on answers),
//! `wait` (bounded polls); `watchdog` guards the stress tests;
//! `front_proxy` runs real nginx and Caddy in front of a stack.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth_config;
mod config;
pub mod front_proxy;
mod http;
mod idp;
pub mod image;
mod login;
mod process;
mod stack;
mod wait;
pub mod watchdog;

pub use http::{assert_redirect, cookie_value, location, set_cookie};
pub use idp::Provider;
pub use process::{Proc, run_to_exit, workspace_binary};
pub use stack::{PUBLIC_ORIGIN, StackOptions, TestStack};
pub use wait::wait_until;

/// The OAuth client id the stack's providers are registered with at the
/// dev-idp.
pub const DEV_CLIENT_ID: &str = auth_config::DEV_CLIENT_ID;
