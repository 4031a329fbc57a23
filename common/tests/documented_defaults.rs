//! The defaults `docs/configuration.md` states are the defaults the code
//! has: for every `[auth_service]` and `[gateway]` row whose default is one
//! literal value, a file that sets the key to that value must load to the
//! same configuration as an empty file. Docs and `Default` impls therefore
//! cannot drift apart; a row naming a key that does not exist fails too
//! (unknown keys are errors).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use common::config::Config;

/// The reference, read from the repository (this crate's parent folder).
fn configuration_doc() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One documented default: section, key, and the value as TOML.
#[derive(Debug)]
struct Documented {
    section: String,
    key: String,
    toml_value: String,
}

/// The single backticked token a table cell consists of, if it is just that.
fn sole_code(cell: &str) -> Option<&str> {
    let inner = cell.trim().strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

/// A documented value as TOML: literal TOML as written (`"7d"`, `30`,
/// `false`, `[]`), otherwise a bare address or path read as a string.
fn as_toml_value(code: &str) -> String {
    if toml::from_str::<toml::Table>(&format!("v = {code}")).is_ok() {
        code.to_owned()
    } else {
        format!("{code:?}")
    }
}

/// Every row of the `[auth_service]` and `[gateway]` tables with a literal default.
fn documented_defaults(doc: &str) -> Vec<Documented> {
    let mut section = None;
    let mut found = Vec::new();
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = match heading.trim() {
                "`[auth_service]`" => Some("auth_service"),
                "`[gateway]`" => Some("gateway"),
                "`[gateway.session_cache]`" => Some("gateway.session_cache"),
                "`[gateway.branding]`" => Some("gateway.branding"),
                _ => None,
            };
            continue;
        }
        let Some(section) = section else { continue };
        let cells: Vec<&str> = line.split('|').collect();
        // `| key | default | meaning |` splits into five pieces.
        if cells.len() < 5 {
            continue;
        }
        let (Some(key), Some(default)) = (sole_code(cells[1]), sole_code(cells[2])) else {
            continue;
        };
        if key.contains(',') {
            continue;
        }
        found.push(Documented {
            section: section.to_owned(),
            key: key.to_owned(),
            toml_value: as_toml_value(default),
        });
    }
    found
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn every_documented_default_is_the_real_default() {
    let doc = configuration_doc();
    let rows = documented_defaults(&doc);
    // Guards the parser: the tables hold well over this many literal defaults.
    assert!(
        rows.len() >= 30,
        "only {} defaults found: {rows:?}",
        rows.len()
    );

    let defaults = format!("{:?}", Config::from_toml("", &no_env).unwrap());
    let mut wrong = Vec::new();
    for row in &rows {
        let text = format!("[{}]\n{} = {}\n", row.section, row.key, row.toml_value);
        match Config::from_toml(&text, &no_env) {
            // The one field that records whether a key was written (for the
            // single-node binary, which refuses it) differs by design.
            Ok(config)
                if format!("{config:?}").replace(
                    "auth_service_url_written: true",
                    "auth_service_url_written: false",
                ) == defaults => {}
            Ok(_) => wrong.push(format!("{text:?}: differs from the default")),
            Err(e) => wrong.push(format!("{text:?}: {e}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/configuration.md disagrees with the code:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_wrong_documented_default_is_caught() {
    let doc = "## `[gateway]`\n\n| key | default | meaning |\n|---|---|---|\n| `auth_timeout` | `\"6s\"` | x |\n";
    let rows = documented_defaults(doc);
    assert_eq!(rows.len(), 1);
    let defaults = format!("{:?}", Config::from_toml("", &no_env).unwrap());
    let text = format!(
        "[{}]\n{} = {}\n",
        rows[0].section, rows[0].key, rows[0].toml_value
    );
    let config = Config::from_toml(&text, &no_env).unwrap();
    assert_ne!(format!("{config:?}"), defaults);
}
