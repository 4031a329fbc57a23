//! Prints the configuration's JSON Schema:
//! `cargo run -p common --example config_schema > docs/configuration.schema.json`
//! (`common/tests/config_schema.rs` fails until the file matches).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

fn main() {
    println!(
        "{}",
        serde_json::to_string_pretty(&common::config::json_schema()).unwrap()
    );
}
