//! End-to-end tests: the real auth-service and api-gateway binaries and the
//! development provider, talking over real sockets. One test binary, one module per flow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accessibility;
mod admin_cli;
mod browser;
mod code_flow;
mod compose;
mod compose_run;
mod configuration;
mod connections;
mod cors;
mod edge_paths;
mod ext_authz;
mod forward_auth;
mod framing;
mod front_proxies;
mod google_sign_in;
mod identity;
mod kubernetes;
mod monitoring;
mod pages_and_headers;
mod provider_conformance;
mod proxy;
mod raw_upstream;
mod replicas;
mod resilience;
mod session_cache;
mod sessions;
mod single_node;
mod token_flow;
mod traces;
mod transport;
mod upstream;
mod websockets;

// A real redis-server per test, shared with auth-service's own tests.
#[path = "../../auth-service/src/storage/test_redis.rs"]
mod test_redis;
