//! Which host a request names, by the HTTP/1.1 framing rules, before any
//! other part of the gateway looks at it.
//!
//! RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
//! code to any HTTP/1.1 request message that lacks a Host header field and
//! to any request message that contains more than one Host header field
//! line or a Host header field with an invalid field value." hyper parses
//! the request line and framing (`Content-Length`, `Transfer-Encoding`) but
//! takes `Host` as just another header, so the gateway enforces it here.
//! Two hosts, or a Host that disagrees with an absolute-form target
//! (`GET http://a/ HTTP/1.1` + `Host: b`, §3.2.2) or with HTTP/2's
//! `:authority` (RFC 9113 §8.3.1), are ambiguous: servers behind us and
//! caches in front of us may each pick a different one, so they are
//! refused rather than resolved.
//!
//! HTTP/1.0 predates `Host` and may omit it; HTTP/2 and later may carry the
//! authority in `:authority` (the request URI) instead.

use axum::http::uri::Authority;
use axum::http::{HeaderMap, Uri, Version, header};

/// Why a request's host is refused (each is a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HostError {
    /// An HTTP/1.1 (or HTTP/2 without `:authority`) request without `Host`.
    #[error("the request has no Host header")]
    Missing,
    /// More than one `Host` field line.
    #[error("the request has more than one Host header")]
    Duplicate,
    /// `Host` is not `host[:port]` (RFC 9110 §7.2), e.g. empty, with
    /// user info, a path or a bad port.
    #[error("the Host header is not a valid host[:port]")]
    Invalid,
    /// `Host` and the authority of the request target differ.
    #[error("the Host header differs from the request target's authority")]
    Conflicting,
}

/// Checks the host a request names; `Ok` means exactly one, well formed.
pub(crate) fn check_host(
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), HostError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::Duplicate);
    }
    let target = uri.authority();
    let Some(host) = host else {
        return match (version, target) {
            (Version::HTTP_09 | Version::HTTP_10, _) => Ok(()),
            // HTTP/2 and 3 name the host in `:authority`.
            (Version::HTTP_2 | Version::HTTP_3, Some(_)) => Ok(()),
            _ => Err(HostError::Missing),
        };
    };
    let host = host
        .to_str()
        .ok()
        .and_then(parse_host)
        .ok_or(HostError::Invalid)?;
    match target {
        Some(target) if !same_authority(target, &host) => Err(HostError::Conflicting),
        _ => Ok(()),
    }
}

/// `host[:port]` as RFC 9110 §7.2 allows it in `Host`: no user info, no
/// path, a numeric port if any, and not empty.
fn parse_host(text: &str) -> Option<Authority> {
    if text.is_empty() || text.contains('@') {
        return None;
    }
    let authority: Authority = text.parse().ok()?;
    if authority.host().is_empty() {
        return None;
    }
    // `Authority` keeps a port it cannot parse (`host:x`); refuse it.
    let port_text = authority
        .as_str()
        .strip_prefix(authority.host())
        .and_then(|rest| rest.strip_prefix(':'));
    if port_text.is_some_and(|p| authority.port_u16().is_none() && !p.is_empty()) {
        return None;
    }
    Some(authority)
}

/// Host names compare case-insensitively (RFC 3986 §3.2.2), ports exactly.
fn same_authority(a: &Authority, b: &Authority) -> bool {
    a.host().eq_ignore_ascii_case(b.host()) && a.port_u16() == b.port_u16()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(hosts: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for host in hosts {
            h.append(header::HOST, HeaderValue::from_str(host).unwrap());
        }
        h
    }

    fn check(version: Version, target: &str, hosts: &[&str]) -> Result<(), HostError> {
        check_host(version, &target.parse().unwrap(), &headers(hosts))
    }

    #[test]
    fn http11_needs_exactly_one_valid_host() {
        let v = Version::HTTP_11;
        assert_eq!(check(v, "/x", &["app.example.com"]), Ok(()));
        assert_eq!(check(v, "/x", &["127.0.0.1:8080"]), Ok(()));
        assert_eq!(check(v, "/x", &["[::1]:8080"]), Ok(()));
        assert_eq!(check(v, "/x", &[]), Err(HostError::Missing));
        assert_eq!(check(v, "/x", &["a", "a"]), Err(HostError::Duplicate));
        assert_eq!(check(v, "/x", &["a", "b"]), Err(HostError::Duplicate));
        for bad in [
            "", "a b", "user@a", "a/b", "a:port", "a:99999", ":80", "a?x",
        ] {
            assert_eq!(check(v, "/x", &[bad]), Err(HostError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn an_absolute_target_must_agree_with_host() {
        let v = Version::HTTP_11;
        assert_eq!(check(v, "http://a.example/x", &["a.example"]), Ok(()));
        assert_eq!(check(v, "http://A.Example/x", &["a.example"]), Ok(()));
        assert_eq!(check(v, "http://a:8080/x", &["a:8080"]), Ok(()));
        assert_eq!(
            check(v, "http://a.example/x", &["b.example"]),
            Err(HostError::Conflicting)
        );
        assert_eq!(
            check(v, "http://a:8080/x", &["a:8081"]),
            Err(HostError::Conflicting)
        );
        assert_eq!(
            check(v, "http://a:8080/x", &["a"]),
            Err(HostError::Conflicting)
        );
        // An absolute target does not stand in for Host in HTTP/1.1.
        assert_eq!(check(v, "http://a.example/x", &[]), Err(HostError::Missing));
    }

    #[test]
    fn http10_may_omit_host_but_not_double_it() {
        let v = Version::HTTP_10;
        assert_eq!(check(v, "/x", &[]), Ok(()));
        assert_eq!(check(v, "/x", &["a", "b"]), Err(HostError::Duplicate));
        assert_eq!(check(v, "/x", &[""]), Err(HostError::Invalid));
        assert_eq!(check(Version::HTTP_09, "/x", &[]), Ok(()));
    }

    #[test]
    fn http2_uses_the_authority_and_host_must_agree() {
        let v = Version::HTTP_2;
        assert_eq!(check(v, "https://a.example/x", &[]), Ok(()));
        assert_eq!(check(v, "https://a.example/x", &["a.example"]), Ok(()));
        assert_eq!(
            check(v, "https://a.example/x", &["b.example"]),
            Err(HostError::Conflicting)
        );
        assert_eq!(check(v, "/x", &[]), Err(HostError::Missing));
        assert_eq!(check(Version::HTTP_3, "https://a/x", &[]), Ok(()));
    }
}
