//! The request a reverse proxy asks `/auth/check` about (forward
//! authentication): its method and its path and query, as the proxy
//! describes them in headers.
//!
//! * nginx `auth_request`: `X-Original-URL` (absolute, `$scheme://$host$request_uri`,
//!   or just `$request_uri`) and `X-Original-Method`, as the recipe sets them;
//! * Traefik ForwardAuth and Caddy `forward_auth`: `X-Forwarded-Uri` and
//!   `X-Forwarded-Method`, with `X-Forwarded-Proto` and `X-Forwarded-Host`.
//!
//! A security rule of its own: these headers choose which route's policy
//! applies, so only a proxy the gateway trusts may send them. From any other
//! peer they are refused, never ignored: ignoring them would apply the
//! default policy to a request whose route may be stricter. Each header may
//! appear once; when both spellings are sent they must agree. The path is
//! taken as the proxy sent it (no URL normalisation here), so the policy
//! reads it exactly as the upstream will, through
//! [`crate::request_path::CanonicalPath`].

use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderName, Method, Uri};

static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
static X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The proxied request, as the proxy described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OriginalRequest {
    /// Its method.
    pub(crate) method: Method,
    /// Its path and query, as sent (origin form).
    pub(crate) target: PathAndQuery,
    /// Its whole URL, when the proxy said which scheme and host: unchecked
    /// text, for a return URL that `return_to` validates.
    pub(crate) url: Option<String>,
}

/// Why the headers describing the proxied request were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OriginalRequestError {
    /// They came from a peer not in `trusted_proxies`.
    #[error(
        "{0} was sent by a peer that is not in gateway.trusted_proxies; \
         only a trusted proxy may say which request it is asking about"
    )]
    Untrusted(&'static str),
    /// A header appears more than once.
    #[error("{0} appears more than once")]
    Repeated(&'static str),
    /// A header's value is not what it should be.
    #[error("{0} is not valid: {1}")]
    Malformed(&'static str, &'static str),
    /// Both spellings were sent and they disagree.
    #[error("{0} and {1} disagree")]
    Conflicting(&'static str, &'static str),
}

/// The single value of `name`, as text; `None` when absent.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &'static HeaderName,
) -> Result<Option<&'a str>, OriginalRequestError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OriginalRequestError::Repeated(name.as_str()));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| OriginalRequestError::Malformed(name.as_str(), "not visible ASCII"))
}

/// The path and query of a URI header: origin form (`/p?q`) for either
/// header, or an absolute `http`/`https` URL for `X-Original-URL`.
fn target_of(
    value: &str,
    name: &'static HeaderName,
    absolute_allowed: bool,
) -> Result<PathAndQuery, OriginalRequestError> {
    let malformed = |why| OriginalRequestError::Malformed(name.as_str(), why);
    if value.starts_with('/') {
        return value
            .parse::<PathAndQuery>()
            .map_err(|_| malformed("not a path and query"));
    }
    if !absolute_allowed {
        return Err(malformed("must start with /"));
    }
    let uri: Uri = value.parse().map_err(|_| malformed("not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(malformed("not an absolute http(s) URL or a path"));
    }
    match uri.path_and_query() {
        Some(target) if target.as_str().starts_with('/') => Ok(target.clone()),
        Some(_) => Err(malformed("has no path")),
        None => Ok(PathAndQuery::from_static("/")),
    }
}

/// One value from two spellings of a header, which must agree when both
/// are sent.
fn agreed<T: PartialEq>(
    first: (Option<T>, &'static HeaderName),
    second: (Option<T>, &'static HeaderName),
) -> Result<Option<T>, OriginalRequestError> {
    match (first.0, second.0) {
        (Some(a), Some(b)) if a != b => Err(OriginalRequestError::Conflicting(
            first.1.as_str(),
            second.1.as_str(),
        )),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

/// The proxied request `headers` describe, if any: `None` when no URI
/// header is present (the check is then about the session alone). The
/// method defaults to `own_method`, the check request's. `from_trusted`
/// says whether the peer is one of `trusted_proxies`.
pub(crate) fn original_request(
    headers: &HeaderMap,
    own_method: &Method,
    from_trusted: bool,
) -> Result<Option<OriginalRequest>, OriginalRequestError> {
    if !from_trusted {
        for name in [
            &X_FORWARDED_URI,
            &X_ORIGINAL_URL,
            &X_FORWARDED_METHOD,
            &X_ORIGINAL_METHOD,
        ] {
            if headers.contains_key(name) {
                return Err(OriginalRequestError::Untrusted(name.as_str()));
            }
        }
        return Ok(None);
    }
    let forwarded = single(headers, &X_FORWARDED_URI)?
        .map(|v| target_of(v, &X_FORWARDED_URI, false))
        .transpose()?;
    let original = single(headers, &X_ORIGINAL_URL)?
        .map(|v| target_of(v, &X_ORIGINAL_URL, true))
        .transpose()?;
    let method_of = |name: &'static HeaderName| {
        single(headers, name)?
            .map(|v| {
                Method::from_bytes(v.as_bytes())
                    .map_err(|_| OriginalRequestError::Malformed(name.as_str(), "not a method"))
            })
            .transpose()
    };
    let method = agreed(
        (method_of(&X_FORWARDED_METHOD)?, &X_FORWARDED_METHOD),
        (method_of(&X_ORIGINAL_METHOD)?, &X_ORIGINAL_METHOD),
    )?;
    let Some(target) = agreed((forwarded, &X_FORWARDED_URI), (original, &X_ORIGINAL_URL))? else {
        return Ok(None);
    };
    let url = match single(headers, &X_ORIGINAL_URL)? {
        Some(absolute) if !absolute.starts_with('/') => Some(absolute.to_owned()),
        _ => match (
            single(headers, &X_FORWARDED_PROTO)?,
            single(headers, &X_FORWARDED_HOST)?,
        ) {
            (Some(proto), Some(host)) => Some(format!("{proto}://{host}{target}")),
            _ => None,
        },
    };
    Ok(Some(OriginalRequest {
        method: method.unwrap_or_else(|| own_method.clone()),
        target,
        url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn parse(
        pairs: &[(&'static str, &str)],
    ) -> Result<Option<OriginalRequest>, OriginalRequestError> {
        original_request(&headers(pairs), &Method::GET, true)
    }

    fn target(pairs: &[(&'static str, &str)]) -> String {
        parse(pairs).unwrap().unwrap().target.as_str().to_owned()
    }

    #[test]
    fn each_proxy_spelling_names_the_request() {
        assert_eq!(target(&[("x-forwarded-uri", "/a/b?c=d")]), "/a/b?c=d");
        assert_eq!(
            target(&[("x-original-url", "https://app.example/a/%2e%2e/b?c")]),
            "/a/%2e%2e/b?c"
        );
        assert_eq!(target(&[("x-original-url", "/a?b")]), "/a?b");
        assert_eq!(target(&[("x-original-url", "http://app.example")]), "/");
        let both = [("x-forwarded-uri", "/x"), ("x-original-url", "https://h/x")];
        assert_eq!(target(&both), "/x");
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&[("x-forwarded-method", "POST")]).unwrap(), None);
    }

    #[test]
    fn the_whole_url_is_known_when_the_proxy_names_scheme_and_host() {
        let url = |pairs: &[(&'static str, &str)]| parse(pairs).unwrap().unwrap().url;
        assert_eq!(
            url(&[("x-original-url", "https://app.example/a?b")]).as_deref(),
            Some("https://app.example/a?b")
        );
        let forwarded = [
            ("x-forwarded-uri", "/a?b"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example:8443"),
        ];
        assert_eq!(
            url(&forwarded).as_deref(),
            Some("https://app.example:8443/a?b")
        );
        assert_eq!(url(&[("x-original-url", "/a")]), None);
        assert_eq!(
            url(&[("x-forwarded-uri", "/a"), ("x-forwarded-host", "h")]),
            None
        );
        assert_eq!(
            url(&[("x-forwarded-uri", "/a"), ("x-forwarded-proto", "https")]),
            None
        );
        let twice = [
            ("x-forwarded-uri", "/a"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "a"),
            ("x-forwarded-host", "b"),
        ];
        assert_eq!(
            parse(&twice),
            Err(OriginalRequestError::Repeated("x-forwarded-host"))
        );
    }

    #[test]
    fn the_method_comes_from_the_proxy_or_the_check_itself() {
        let request = |pairs: &[(&'static str, &str)]| {
            original_request(&headers(pairs), &Method::HEAD, true)
                .unwrap()
                .unwrap()
                .method
        };
        assert_eq!(request(&[("x-forwarded-uri", "/")]), Method::HEAD);
        let sent = [("x-forwarded-uri", "/"), ("x-forwarded-method", "DELETE")];
        assert_eq!(request(&sent), Method::DELETE);
        let sent = [("x-original-url", "/"), ("x-original-method", "PUT")];
        assert_eq!(request(&sent), Method::PUT);
        let sent = [
            ("x-original-url", "/"),
            ("x-forwarded-method", "POST"),
            ("x-original-method", "POST"),
        ];
        assert_eq!(request(&sent), Method::POST);
    }

    #[test]
    fn an_untrusted_peer_may_not_name_the_request() {
        for name in [
            "x-forwarded-uri",
            "x-original-url",
            "x-forwarded-method",
            "x-original-method",
        ] {
            let sent = headers(&[(name, "/admin")]);
            assert_eq!(
                original_request(&sent, &Method::GET, false),
                Err(OriginalRequestError::Untrusted(name)),
            );
        }
        assert_eq!(
            original_request(&HeaderMap::new(), &Method::GET, false),
            Ok(None)
        );
    }

    #[test]
    fn repeated_malformed_or_conflicting_headers_are_refused() {
        use OriginalRequestError::*;
        let cases: &[(&[(&'static str, &str)], OriginalRequestError)] = &[
            (
                &[("x-forwarded-uri", "/a"), ("x-forwarded-uri", "/b")],
                Repeated("x-forwarded-uri"),
            ),
            (
                &[
                    ("x-original-method", "GET"),
                    ("x-original-method", "GET"),
                    ("x-original-url", "/"),
                ],
                Repeated("x-original-method"),
            ),
            (
                &[("x-forwarded-uri", "https://h/a")],
                Malformed("x-forwarded-uri", "must start with /"),
            ),
            (
                &[("x-forwarded-uri", "admin")],
                Malformed("x-forwarded-uri", "must start with /"),
            ),
            (
                &[("x-original-url", "ftp://h/a")],
                Malformed("x-original-url", "not an absolute http(s) URL or a path"),
            ),
            (
                &[("x-original-url", "h/a")],
                Malformed("x-original-url", "not a URL"),
            ),
            (
                &[("x-original-url", "http://app.example?q")],
                Malformed("x-original-url", "has no path"),
            ),
            (
                &[("x-original-url", "app.example:443")],
                Malformed("x-original-url", "not an absolute http(s) URL or a path"),
            ),
            (
                &[("x-original-url", "https://h/a b")],
                Malformed("x-original-url", "not a URL"),
            ),
            (
                &[("x-forwarded-uri", "/a b")],
                Malformed("x-forwarded-uri", "not a path and query"),
            ),
            (
                &[("x-forwarded-uri", "/"), ("x-forwarded-method", "G T")],
                Malformed("x-forwarded-method", "not a method"),
            ),
            (
                &[
                    ("x-forwarded-uri", "/public"),
                    ("x-original-url", "https://h/admin"),
                ],
                Conflicting("x-forwarded-uri", "x-original-url"),
            ),
            (
                &[
                    ("x-forwarded-uri", "/"),
                    ("x-forwarded-method", "GET"),
                    ("x-original-method", "POST"),
                ],
                Conflicting("x-forwarded-method", "x-original-method"),
            ),
        ];
        for (sent, want) in cases {
            assert_eq!(parse(sent).as_ref(), Err(want), "{sent:?}");
        }
        let mut raw = HeaderMap::new();
        raw.insert(
            "x-forwarded-uri",
            HeaderValue::from_bytes(b"/caf\xc3\xa9").unwrap(),
        );
        assert_eq!(
            original_request(&raw, &Method::GET, true),
            Err(Malformed("x-forwarded-uri", "not visible ASCII"))
        );
    }

    proptest::proptest! {
        /// Whatever a proxy sends, the answer is a request whose target is
        /// an origin-form path, or one of the errors; never a panic.
        #[test]
        fn any_description_is_a_path_or_an_error(
            uri in "\\PC{0,40}",
            url in "(https?://[a-z.]{1,8}|)\\PC{0,40}",
            method in "\\PC{0,8}",
            proto in "\\PC{0,6}",
            host in "\\PC{0,12}",
        ) {
            let mut headers = HeaderMap::new();
            for (name, value) in [
                ("x-forwarded-uri", &uri),
                ("x-original-url", &url),
                ("x-forwarded-method", &method),
                ("x-forwarded-proto", &proto),
                ("x-forwarded-host", &host),
            ] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    headers.insert(name, value);
                }
            }
            if let Ok(Some(request)) = original_request(&headers, &Method::GET, true) {
                proptest::prop_assert!(request.target.as_str().starts_with('/'));
            }
        }
    }
}
