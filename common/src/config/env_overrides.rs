//! Configuration from the environment, the twelve-factor way: a variable
//! `PORTCULLIS__SECTION__KEY` overrides `key` of `[section]` in the file
//! (`PORTCULLIS__GATEWAY__LISTEN=0.0.0.0:8080`), before anything is
//! checked, so an override is held to every rule a file value is.
//!
//! * Segments are separated by `__` and lower-cased; keys keep their single
//!   underscores (`PORTCULLIS__GATEWAY__SESSION_CACHE__TTL`).
//! * A numeric segment indexes an array of tables that the file already has
//!   (`PORTCULLIS__PROVIDERS__0__CLIENT_ID`); tables are created as needed.
//! * The value is read as a TOML value when it is one (`30`, `true`,
//!   `"7d"`, `["a", "b"]`), and as a string otherwise
//!   (`127.0.0.1:8080`, `https://app.example.com`); quote a string that
//!   would read as something else (`'"123"'`).
//!
//! Precedence: environment over file; a key named twice in the
//! environment is an error rather than a guess.

use super::ConfigError;
use toml::{Table, Value};

/// The prefix of an override (two underscores: `PORTCULLIS_CONFIG`, the
/// file's path, is not one).
pub(super) const PREFIX: &str = "PORTCULLIS__";

/// Applies every `PORTCULLIS__*` variable of `vars` to `table`.
pub(super) fn apply(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    let mut overrides: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    // The same result whatever order the environment lists them in.
    overrides.sort();
    for (name, value) in overrides {
        let path: Vec<String> = name[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path
            .iter()
            .any(|s| s.is_empty() || s.starts_with('_') || s.ends_with('_'))
        {
            return Err(ConfigError::invalid(
                name,
                "an empty segment (three underscores, or a trailing `__`)",
            ));
        }
        if !seen.insert(path.clone()) {
            return Err(ConfigError::invalid(
                name,
                "names the same key as another variable",
            ));
        }
        set(table, &path, parse_value(&value))
            .map_err(|reason| ConfigError::invalid(&name, reason))?;
    }
    Ok(())
}

/// The value as TOML when it is one, otherwise as a string.
fn parse_value(text: &str) -> Value {
    toml::from_str::<Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

/// Sets `value` at `path` under `table`.
fn set(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("names no key".into());
    };
    let mut here = table;
    let mut walked = Vec::new();
    let mut segments = parents.iter().peekable();
    while let Some(segment) = segments.next() {
        walked.push(segment.as_str());
        let entry = here
            .entry(segment.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        here = match entry {
            Value::Table(t) => t,
            Value::Array(items) => {
                let index = segments.next().ok_or_else(|| {
                    format!(
                        "{} is a list of tables: name an index and a key",
                        walked.join(".")
                    )
                })?;
                walked.push(index.as_str());
                let i: usize = index.parse().map_err(|_| {
                    format!(
                        "{} is a list: {index:?} is not an index",
                        walked[..walked.len() - 1].join(".")
                    )
                })?;
                let len = items.len();
                match items.get_mut(i) {
                    Some(Value::Table(t)) => t,
                    Some(_) => return Err(format!("{} is not a table", walked.join("."))),
                    None => {
                        return Err(format!(
                            "the file has {len} entries in {}; index {i} does not exist",
                            walked[..walked.len() - 1].join(".")
                        ));
                    }
                }
            }
            _ => return Err(format!("{} is a value, not a table", walked.join("."))),
        };
    }
    match here.get(last) {
        Some(Value::Table(_)) => {
            return Err(format!("{} is a table: name a key in it", path.join(".")));
        }
        Some(Value::Array(items)) if items.iter().any(Value::is_table) => {
            return Err(format!(
                "{} is a list of tables: name an index and a key",
                path.join(".")
            ));
        }
        _ => {}
    }
    here.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(file: &str, vars: &[(&str, &str)]) -> Result<Table, String> {
        let mut table: Table = toml::from_str(file).unwrap();
        apply(
            &mut table,
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .map_err(|e| e.to_string())?;
        Ok(table)
    }

    #[test]
    fn variables_override_and_add_keys() {
        let table = applied(
            "[gateway]\nlisten = \"127.0.0.1:8080\"\n",
            &[
                ("PORTCULLIS__GATEWAY__LISTEN", "0.0.0.0:9000"),
                ("PORTCULLIS__GATEWAY__MAX_CONNECTIONS", "100"),
                ("PORTCULLIS__GATEWAY__SESSION_CACHE__TTL", "\"10s\""),
                ("PORTCULLIS__AUTH_SERVICE__LOG_FORMAT", "json"),
                ("PORTCULLIS__GATEWAY__TRUSTED_PROXIES", "[\"10.0.0.0/8\"]"),
                ("PORTCULLIS_CONFIG", "/etc/portcullis.toml"),
                ("OTHER", "x"),
            ],
        )
        .unwrap();
        let gateway = table["gateway"].as_table().unwrap();
        assert_eq!(gateway["listen"].as_str(), Some("0.0.0.0:9000"));
        assert_eq!(gateway["max_connections"].as_integer(), Some(100));
        assert_eq!(gateway["session_cache"]["ttl"].as_str(), Some("10s"));
        assert_eq!(gateway["trusted_proxies"][0].as_str(), Some("10.0.0.0/8"));
        assert_eq!(table["auth_service"]["log_format"].as_str(), Some("json"));
        assert_eq!(table.len(), 2, "{table:?}");
    }

    #[test]
    fn array_entries_are_named_by_index() {
        let file = "[[providers]]\nid = \"a\"\n[[providers]]\nid = \"b\"\n";
        let table = applied(file, &[("PORTCULLIS__PROVIDERS__1__CLIENT_ID", "xyz")]).unwrap();
        assert_eq!(table["providers"][1]["client_id"].as_str(), Some("xyz"));
        assert!(table["providers"][0].get("client_id").is_none());
        for (name, why) in [
            (
                "PORTCULLIS__PROVIDERS__2__CLIENT_ID",
                "index 2 does not exist",
            ),
            ("PORTCULLIS__PROVIDERS__X__CLIENT_ID", "is not an index"),
            ("PORTCULLIS__PROVIDERS__0__ID__X", "is a value"),
            ("PORTCULLIS__PROVIDERS", "list of tables"),
            ("PORTCULLIS__PROVIDERS__0", "name an index and a key"),
            ("PORTCULLIS__GATEWAY___LISTEN", "empty segment"),
            ("PORTCULLIS__", "empty segment"),
        ] {
            let error = applied(file, &[(name, "v")]).unwrap_err();
            assert!(
                error.contains(name) && error.contains(why),
                "{name}: {error}"
            );
        }
    }

    #[test]
    fn a_key_named_twice_is_refused() {
        let error = applied(
            "",
            &[
                ("PORTCULLIS__GATEWAY__LISTEN", "a"),
                ("PORTCULLIS__gateway__listen", "b"),
            ],
        )
        .unwrap_err();
        assert!(error.contains("same key"), "{error}");
    }
}
