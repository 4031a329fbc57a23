//! auth-service integration tests: the real gRPC server on 127.0.0.1:0 in
//! process (with an injected clock), against the real development OpenID
//! provider on 127.0.0.1:0; the crash test runs the real binary.
//! One test binary for the crate (see STYLE.md).

// Test code panics on purpose when an expectation fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod admin_reads;
mod backchannel;
mod code_flow;
mod durability;
mod github;
mod groups;
mod grpc_surface;
mod id_token;
mod jwks;
mod mtls;
mod provider_responses;
mod replicas;
mod revocation_watch;
mod rp_logout;
mod sessions;
mod token_flow;
mod twitter;
