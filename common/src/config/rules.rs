//! The rules that several places check, each written once so a fix to one
//! reaches all of them: "https, or http to a loopback host" (configuration,
//! provider discovery, login redirect URIs), what a loopback host is (also
//! the dev-idp's redirect URIs) and the provider-id shape (configuration and
//! the gateway's `/auth/login/{provider}` paths).

/// Whether `url` is safe to send credentials or codes to: `https`, or plain
/// `http` only to this machine (local development and tests), where there
/// is no network for an attacker to listen on.
pub fn is_https_or_loopback_http(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => is_loopback_host(url),
        _ => false,
    }
}

/// Whether the URL's host is `localhost`, a name under `.localhost` (RFC
/// 6761 section 6.3: always this machine) or a loopback address.
pub fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether `id` has the shape of a provider id: 1-32 characters of a-z,
/// 0-9, '-' or '_'. The shape is narrow because the id lands in URL paths
/// and redirect URIs, where nothing odd may reach.
pub fn is_valid_provider_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        for ok in [
            "https://example.com/x",
            "http://localhost:8080/",
            "http://app.localhost/",
            "http://127.0.0.1:9000",
            "http://127.1.2.3/",
            "http://[::1]:8080/",
        ] {
            assert!(is_https_or_loopback_http(&url(ok)), "{ok}");
        }
        for bad in [
            "http://example.com/",
            "http://localhost.example.com/",
            "http://10.0.0.1/",
            "ftp://localhost/",
            "file:///etc/passwd",
        ] {
            assert!(!is_https_or_loopback_http(&url(bad)), "{bad}");
        }
    }

    #[test]
    fn provider_ids_are_shaped() {
        assert!(is_valid_provider_id("dev"));
        assert!(is_valid_provider_id("google-2"));
        assert!(is_valid_provider_id("a_b"));
        assert!(is_valid_provider_id(&"x".repeat(32)));
        for bad in [
            "",
            "Dev",
            "a/b",
            "a%2f",
            "x".repeat(33).as_str(),
            "a b",
            "é",
        ] {
            assert!(!is_valid_provider_id(bad), "{bad}");
        }
    }
}
