//! `gateway.cors_allowed_origins`: the web origins whose pages may call the
//! gateway from scripts with the user's cookies (CORS with credentials).
//!
//! Each entry is one exact origin. `*` and patterns are refused: a
//! credentialed answer must name the one origin it trusts, and a reflected
//! or wildcard origin would let any site read the user's data.

/// The origins as the browser sends them in `Origin`
/// (`https://spa.example.com`, default ports omitted, lower case), or why
/// an entry is refused.
pub(super) fn parse_origins(entries: &[String]) -> Result<Vec<String>, String> {
    entries.iter().map(|entry| parse_origin(entry)).collect()
}

fn parse_origin(entry: &str) -> Result<String, String> {
    if entry.contains('*') {
        return Err(format!(
            "{entry:?}: wildcards are not allowed; list each origin (credentials are sent only to \
             listed origins)"
        ));
    }
    let url = url::Url::parse(entry).map_err(|e| format!("{entry:?} is not an origin: {e}"))?;
    if !super::is_https_or_loopback_http(&url) {
        return Err(format!(
            "{entry:?} must be https (plain http is allowed only for localhost)"
        ));
    }
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!(
            "{entry:?} must be an origin only, like https://spa.example.com"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        let parsed = parse_origins(&[
            "https://SPA.example.com".into(),
            "https://spa.example.com:443/".into(),
            "https://spa.example.com:8443".into(),
            "http://localhost:5173".into(),
        ])
        .unwrap();
        assert_eq!(
            parsed,
            [
                "https://spa.example.com",
                "https://spa.example.com",
                "https://spa.example.com:8443",
                "http://localhost:5173",
            ]
        );
    }

    #[test]
    fn anything_but_an_exact_origin_is_refused() {
        for bad in [
            "*",
            "https://*.example.com",
            "null",
            "spa.example.com",
            "http://spa.example.com",
            "https://spa.example.com/app",
            "https://spa.example.com/?x",
            "https://spa.example.com//",
            "https://user@spa.example.com",
            "ftp://spa.example.com",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
