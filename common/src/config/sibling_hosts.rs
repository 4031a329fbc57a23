//! One login across sibling hosts: `gateway.cookie_domain` (the session
//! cookie is sent to every host under it) and
//! `gateway.allowed_return_hosts` (the hosts a browser may be sent back to
//! after logging in, besides the gateway's own).
//!
//! Both are DNS names, checked here so the gateway never sets a cookie a
//! browser would refuse or return a browser to a host nobody listed.

/// Whether `name` is a DNS host name: dot-separated labels of letters,
/// digits and `-` (not at either end), each 1–63 bytes, lower case.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Whether `allowed_return_hosts` (as parsed) admit `host` (lower case):
/// an entry names it, or a `.domain` entry contains it.
pub fn is_allowed_return_host(entries: &[String], host: &str) -> bool {
    entries.iter().any(|entry| match entry.strip_prefix('.') {
        Some(domain) => is_within(host, domain),
        None => entry == host,
    })
}

/// Whether `host` is `domain` or a name under it.
fn is_within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// `cookie_domain`, lower case without a leading dot, or why it is
/// refused: it must hold at least two labels (browsers refuse a cookie for
/// a top-level domain) and contain `public_host`, the host of `public_url`
/// (browsers refuse a cookie for a domain the setting host is not in).
pub(super) fn parse_cookie_domain(text: &str, public_host: Option<&str>) -> Result<String, String> {
    let domain = text.strip_prefix('.').unwrap_or(text).to_ascii_lowercase();
    if !is_dns_name(&domain) || !domain.contains('.') {
        return Err(format!(
            "{text:?} is not a domain of at least two labels, like \"example.com\""
        ));
    }
    match public_host {
        Some(host) if is_within(host, &domain) => Ok(domain),
        _ => Err(format!(
            "the public_url host must be {domain} or a name under it (browsers refuse a cookie \
             for another domain)"
        )),
    }
}

/// `allowed_return_hosts`, lower case: `app.example.com` (that host) or
/// `.example.com` (example.com and every name under it).
pub(super) fn parse_return_hosts(entries: &[String]) -> Result<Vec<String>, String> {
    entries
        .iter()
        .map(|entry| {
            let lower = entry.to_ascii_lowercase();
            let name = lower.strip_prefix('.').unwrap_or(&lower);
            if is_dns_name(name) {
                Ok(lower)
            } else {
                Err(format!(
                    "{entry:?} is not a host name (\"app.example.com\") or a domain with a leading \
                     dot (\".example.com\"); no ports, schemes or wildcards"
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_are_letters_digits_and_inner_hyphens() {
        for good in [
            "example.com",
            "a-1.example.com",
            "x",
            "123.example",
            &"a".repeat(63),
        ] {
            assert!(is_dns_name(good), "{good}");
        }
        for bad in [
            "",
            "Example.com",
            "a_b.example.com",
            "-a.example.com",
            "a-.example.com",
            "a..example.com",
            "a b.example.com",
            &"a".repeat(64),
            &format!("{}.com", "a.".repeat(126)),
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_cookie_domain_must_contain_the_public_host() {
        let ok = |text: &str, host: &str| parse_cookie_domain(text, Some(host));
        assert_eq!(
            ok("example.com", "auth.example.com").unwrap(),
            "example.com"
        );
        assert_eq!(ok(".Example.COM", "example.com").unwrap(), "example.com");
        assert_eq!(
            ok("portcullis.localhost", "auth.portcullis.localhost").unwrap(),
            "portcullis.localhost"
        );
        for (text, host) in [
            ("example.com", "auth.example.org"),
            ("example.com", "badexample.com"),
            ("auth.example.com", "example.com"),
            ("com", "example.com"),
            ("localhost", "localhost"),
            ("exa mple.com", "exa mple.com"),
            ("-x.example.com", "-x.example.com"),
            ("x-.example.com", "x-.example.com"),
            ("a..com", "a..com"),
            ("", "example.com"),
        ] {
            assert!(ok(text, host).is_err(), "{text} for {host}");
        }
        assert!(parse_cookie_domain("example.com", None).is_err());
        let wide = format!("{}.com", "a".repeat(64));
        assert!(ok(&wide, &wide).is_err());
        let long = format!("{}com", "abcdefghi.".repeat(26));
        assert!(ok(&long, &long).is_err());
    }

    #[test]
    fn return_hosts_are_names_or_dotted_domains() {
        assert_eq!(
            parse_return_hosts(&["App.Example.com".into(), ".example.com".into()]).unwrap(),
            ["app.example.com", ".example.com"]
        );
        for bad in [
            "*.example.com",
            "app.example.com:443",
            "https://app.example.com",
            "",
            ".",
        ] {
            assert!(parse_return_hosts(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn return_hosts_admit_their_host_or_their_domain() {
        let entries = ["app.example.com".to_owned(), ".example.org".to_owned()];
        for host in ["app.example.com", "example.org", "a.b.example.org"] {
            assert!(is_allowed_return_host(&entries, host), "{host}");
        }
        for host in [
            "example.com",
            "x.app.example.com",
            "badexample.org",
            "evil.com",
        ] {
            assert!(!is_allowed_return_host(&entries, host), "{host}");
        }
        assert!(!is_allowed_return_host(&[], "app.example.com"));
    }

    #[test]
    fn within_means_the_domain_or_under_it() {
        assert!(is_within("example.com", "example.com"));
        assert!(is_within("a.b.example.com", "example.com"));
        assert!(!is_within("badexample.com", "example.com"));
        assert!(!is_within("example.com.evil", "example.com"));
        assert!(!is_within("com", "example.com"));
    }
}
