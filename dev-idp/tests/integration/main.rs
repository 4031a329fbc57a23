//! dev-idp integration tests: the provider started in process on
//! 127.0.0.1:0 and driven over real HTTP, plus the binary started as a
//! process. One test binary for the crate (see STYLE.md).

// clippy.toml lets `#[test]` functions unwrap; the shared helpers in
// `support` fail their test the same way.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation should fail the test"
)]

mod support;

mod binary;
mod code_flow;
mod faults;
mod github;
mod keys;
mod token_info;
