//! `docs/configuration.schema.json` is the schema the configuration's types
//! generate (`common::config::json_schema`), so editors complete and check
//! exactly the keys the binaries accept.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn the_shipped_schema_is_the_generated_one() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.schema.json");
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = serde_json::to_string_pretty(&common::config::json_schema()).unwrap();
    assert!(
        shipped.trim_end() == generated,
        "{} is stale: run `cargo run -p common --example config_schema > docs/configuration.schema.json`",
        path.display()
    );
    // It describes every section, with the doc comments as descriptions.
    let schema: serde_json::Value = serde_json::from_str(&generated).unwrap();
    for section in ["auth_service", "gateway", "providers", "routes"] {
        assert!(schema["properties"].get(section).is_some(), "{section}");
    }
    assert!(
        generated.contains("\"additionalProperties\": false"),
        "unknown keys are errors"
    );
    assert!(generated.contains("The origin browsers use to reach the gateway"));
}
