//! The rules that several places check, each written once so a fix to one
//! reaches all of them: "https, or http to a loopback host" (configuration,
//! provider discovery, login redirect URIs), what a loopback host is (also
//! the dev-idp's redirect URIs) and the provider-id shape (configuration and
//! the gateway's `/auth/login/{provider}` paths), and what can name a Unix
//! socket (auth-service's `listen_socket`, the gateway's `unix:` URL).

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

/// The longest path a Unix socket address holds on Linux (`sun_path` is
/// 108 bytes with its terminating NUL): a longer one fails at `bind`.
const MAX_SOCKET_PATH: usize = 107;

/// Whether `path` can name a Unix socket: absolute (a relative one would
/// depend on the directory the binary happens to start in) and short
/// enough for `sun_path`.
pub(super) fn check_socket_path(path: &std::path::Path) -> Result<(), String> {
    if !path.is_absolute() {
        return Err(format!(
            "{} must be an absolute path, e.g. /run/portcullis/auth.sock",
            path.display()
        ));
    }
    let length = path.as_os_str().len();
    if length > MAX_SOCKET_PATH {
        return Err(format!(
            "{} is {length} bytes long; a Unix socket path holds at most {MAX_SOCKET_PATH}",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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

    #[test]
    fn socket_paths_are_absolute_and_fit_sun_path() {
        assert_eq!(
            check_socket_path(Path::new("/run/portcullis/auth.sock")),
            Ok(())
        );
        let longest = format!("/{}", "s".repeat(MAX_SOCKET_PATH - 1));
        assert_eq!(check_socket_path(Path::new(&longest)), Ok(()));
        let too_long = format!("{longest}s");
        let err = check_socket_path(Path::new(&too_long)).unwrap_err();
        assert!(err.contains("108 bytes long"), "{err}");
        let err = check_socket_path(Path::new("run/auth.sock")).unwrap_err();
        assert!(err.contains("must be an absolute path"), "{err}");
        assert!(check_socket_path(Path::new("")).is_err());
    }
}
