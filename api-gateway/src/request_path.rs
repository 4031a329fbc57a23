//! The one canonical form of a request path, decided before any route is
//! matched; the upstream then receives exactly this text.
//!
//! A gateway's policy is only as good as its agreement with the server
//! behind it. Servers normalise paths in their own ways: RFC 3986 §6.2.2.2
//! decoding of unreserved characters (`/api/%61dmin` is `/api/admin`),
//! Tomcat, Jetty and Spring stripping `;` path parameters and reading `..;`
//! as `..`, IIS stripping trailing dots and spaces and comparing without
//! case, nginx merging `//`, and everyone resolving dot segments. So this
//! module decodes what RFC 3986 says is equivalent (percent-encoded
//! unreserved characters, hex digits in upper case as §6.2.2.1 says) and
//! refuses every path whose meaning differs between common servers:
//!
//! * dot segments (`.`, `..`, `..;`), and any percent-encoded `.`;
//! * empty segments (`//`), except one trailing slash;
//! * raw backslashes and encoded `/`, `\`, `;`, `%` (double encoding) and
//!   control characters (`%00`-`%1F`, `%7F`);
//! * raw control characters, spaces and non-ASCII bytes;
//! * a `%` not followed by two hex digits (IIS reads `%u002e` as `.`);
//! * percent-encoded bytes that are not UTF-8 (overlong `%C0%AE` was `.`
//!   in old decoders), and characters whose Unicode case mapping is ASCII
//!   (the Kelvin sign `K` matches `k` in a case-insensitive server);
//! * a segment ending in `.` or a space (`%20`), which Windows strips.
//!
//! `;` path parameters are kept and reported ([`CanonicalPath::has_params`]):
//! whether they are allowed depends on the route (`allow_path_params`), which
//! is only known after matching (see [`crate::policy::resolve`]).

use std::fmt;

/// Why a request path was refused: it could mean something else to the
/// upstream than to the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathError {
    /// It does not start with `/` (e.g. `*` or an absolute URI's leftovers).
    NotAbsolute,
    /// `//` inside the path, or a segment that is only `;params`.
    EmptySegment,
    /// A `.` or `..` segment, also as `..;params`.
    DotSegment,
    /// A segment ends with `.` or a space, which Windows strips.
    TrailingDotOrSpace,
    /// A raw `\`, which IIS and others read as `/`.
    Backslash,
    /// `%2E`: an encoded dot only hides a dot segment or a trailing dot.
    EncodedDot,
    /// `%2F` or `%5C`: an encoded separator.
    EncodedSeparator,
    /// `%3B` or `%25`: an encoded `;` or a double encoding.
    EncodedDelimiter,
    /// `%00`-`%1F` or `%7F`.
    EncodedControl,
    /// A raw control character, space or non-ASCII byte.
    ForbiddenCharacter,
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
    /// The percent-encoded bytes are not UTF-8.
    NotUtf8,
    /// A character whose Unicode upper or lower case is ASCII.
    CaseFoldsToAscii,
}

impl PathError {
    /// The text shown to the client (fixed, never echoes the path).
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::NotAbsolute => "The request path must start with '/'.",
            Self::EmptySegment => "The request path contains an empty segment ('//').",
            Self::DotSegment => "The request path contains a '.' or '..' segment (also as '..;').",
            Self::TrailingDotOrSpace => "A request path segment ends with a dot or a space.",
            Self::Backslash => "The request path contains a backslash.",
            Self::EncodedDot => "The request path contains a percent-encoded dot.",
            Self::EncodedSeparator => "The request path contains a percent-encoded '/' or '\\'.",
            Self::EncodedDelimiter => {
                "The request path contains a percent-encoded ';' or '%' (double encoding)."
            }
            Self::EncodedControl => {
                "The request path contains a percent-encoded control character."
            }
            Self::ForbiddenCharacter => {
                "The request path contains a control character, a space or a raw non-ASCII byte."
            }
            Self::BadPercentEncoding => {
                "The request path contains a '%' not followed by two hex digits."
            }
            Self::NotUtf8 => "The request path's percent-encoded bytes are not UTF-8.",
            Self::CaseFoldsToAscii => {
                "The request path contains a character whose case mapping is ASCII."
            }
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for PathError {}

/// A request path in canonical form: starts with `/`, no empty segment but
/// an optional trailing slash, unreserved characters never encoded, every
/// other `%XX` in upper case, nothing a common server reads differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CanonicalPath {
    text: String,
    has_params: bool,
}

impl CanonicalPath {
    /// Canonicalises `raw` (the path of the request target, without query),
    /// or says why it is refused.
    pub(crate) fn parse(raw: &str) -> Result<Self, PathError> {
        let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
        let mut text = String::with_capacity(raw.len());
        let mut has_params = false;
        let mut segments = rest.split('/').peekable();
        while let Some(segment) = segments.next() {
            text.push('/');
            if segment.is_empty() {
                // One trailing slash is fine (`/api/`); `//` is not.
                if segments.peek().is_none() {
                    break;
                }
                return Err(PathError::EmptySegment);
            }
            let canonical = canonical_segment(segment)?;
            has_params |= canonical.contains(';');
            text.push_str(&canonical);
        }
        Ok(Self { text, has_params })
    }

    /// The canonical text, as matched and as forwarded.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether any segment carries `;` path parameters.
    pub(crate) fn has_params(&self) -> bool {
        self.has_params
    }

    /// The segments as they are, parameters included; a trailing slash adds
    /// no segment (`/api/` and `/api` have the same segments).
    pub(crate) fn segments(&self) -> impl Iterator<Item = &str> {
        self.text.split('/').filter(|s| !s.is_empty())
    }

    /// The segments with their `;` parameters removed, as Tomcat, Jetty and
    /// Spring match them.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.segments().map(segment_name)
    }
}

/// A segment without its `;` parameters.
fn segment_name(segment: &str) -> &str {
    segment.split(';').next().unwrap_or(segment)
}

/// Whether `byte` is an RFC 3986 §2.3 unreserved character other than `.`
/// (an encoded dot is refused, never decoded).
fn is_unreserved_not_dot(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~')
}

/// The value of an ASCII hex digit.
fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// One segment (no `/` inside) in canonical form.
fn canonical_segment(segment: &str) -> Result<String, PathError> {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    // Every byte the segment stands for, to check the encoding as a whole.
    let mut decoded = Vec::with_capacity(segment.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'%' => {
                let value = match (
                    bytes.get(i + 1).copied().and_then(hex_value),
                    bytes.get(i + 2).copied().and_then(hex_value),
                ) {
                    (Some(high), Some(low)) => high * 16 + low,
                    _ => return Err(PathError::BadPercentEncoding),
                };
                match value {
                    b'.' => return Err(PathError::EncodedDot),
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    b';' | b'%' => return Err(PathError::EncodedDelimiter),
                    0..=0x1f | 0x7f => return Err(PathError::EncodedControl),
                    v if is_unreserved_not_dot(v) => out.push(char::from(v)),
                    v => out.push_str(&format!("%{v:02X}")),
                }
                decoded.push(value);
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            0x21..=0x7e => {
                out.push(char::from(byte));
                decoded.push(byte);
                i += 1;
            }
            _ => return Err(PathError::ForbiddenCharacter),
        }
    }
    let text = std::str::from_utf8(&decoded).map_err(|_| PathError::NotUtf8)?;
    if text.chars().any(folds_to_ascii) {
        return Err(PathError::CaseFoldsToAscii);
    }
    let name = segment_name(&out);
    if name.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if name == "." || name == ".." {
        return Err(PathError::DotSegment);
    }
    if name.ends_with('.') || name.ends_with("%20") {
        return Err(PathError::TrailingDotOrSpace);
    }
    Ok(out)
}

/// Whether a non-ASCII character has an ASCII upper or lower case (the
/// Kelvin sign, the long s, the dotted capital I), so that a server
/// comparing without case would take it for an ASCII letter.
fn folds_to_ascii(c: char) -> bool {
    !c.is_ascii()
        && c.to_lowercase()
            .chain(c.to_uppercase())
            .any(|m| m.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(raw: &str) -> String {
        match CanonicalPath::parse(raw) {
            Ok(p) => p.as_str().to_owned(),
            Err(e) => panic!("{raw}: {e:?}"),
        }
    }

    fn refused(raw: &str) -> PathError {
        match CanonicalPath::parse(raw) {
            Ok(p) => panic!("{raw} accepted as {}", p.as_str()),
            Err(e) => e,
        }
    }

    #[test]
    fn the_issue_examples() {
        // Unreserved characters are decoded, so the policy sees the admin
        // area the upstream would serve.
        assert_eq!(canonical("/api/%61dmin/x"), "/api/admin/x");
        // `;` parameters are kept, and reported, for the route to decide.
        let p = CanonicalPath::parse("/api/admin;x/y").unwrap();
        assert!(p.has_params());
        assert_eq!(p.names().collect::<Vec<_>>(), vec!["api", "admin", "y"]);
        assert_eq!(refused("/api/x/..;/admin/x"), PathError::DotSegment);
        assert_eq!(refused("/pub/..;/api/admin/x"), PathError::DotSegment);
        assert_eq!(refused("/api/admin./x"), PathError::TrailingDotOrSpace);
        // No trailing slash: same segments as the `/api/admin/` prefix.
        let p = CanonicalPath::parse("/api/admin").unwrap();
        assert_eq!(p.segments().collect::<Vec<_>>(), vec!["api", "admin"]);
    }

    #[test]
    fn old_policy_cases_are_still_refused_and_accepted() {
        // The cases of the former `policy::path_is_canonical` test.
        for bad in [
            "/public/../admin",
            "/public/./x",
            "/public/..%2Fadmin",
            "/public/%2e%2e/admin",
            "//admin",
            "/a\\b",
            "/a%5cb",
            "/a%00",
        ] {
            assert!(CanonicalPath::parse(bad).is_err(), "{bad}");
        }
        for good in ["/", "/api/users/123", "/a.b/c..d", "/files/%20x"] {
            assert!(CanonicalPath::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn each_refusal_has_its_reason() {
        for (raw, expected) in [
            ("", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("api/x", PathError::NotAbsolute),
            ("//", PathError::EmptySegment),
            ("//api", PathError::EmptySegment),
            ("/api//admin", PathError::EmptySegment),
            ("/api/;x/admin", PathError::EmptySegment),
            ("/.", PathError::DotSegment),
            ("/..", PathError::DotSegment),
            ("/a/./b", PathError::DotSegment),
            ("/a/../b", PathError::DotSegment),
            ("/a/.;x/b", PathError::DotSegment),
            ("/a/..;/b", PathError::DotSegment),
            ("/a/..;x=1/b", PathError::DotSegment),
            ("/admin.", PathError::TrailingDotOrSpace),
            ("/admin../x", PathError::TrailingDotOrSpace),
            ("/admin...", PathError::TrailingDotOrSpace),
            ("/admin%20/x", PathError::TrailingDotOrSpace),
            ("/admin.;x/y", PathError::TrailingDotOrSpace),
            ("/admin%20;x/y", PathError::TrailingDotOrSpace),
            ("/a\\b", PathError::Backslash),
            ("/a/\\", PathError::Backslash),
            ("/%2e", PathError::EncodedDot),
            ("/%2E%2E/x", PathError::EncodedDot),
            ("/.%2e/x", PathError::EncodedDot),
            ("/admin%2e/x", PathError::EncodedDot),
            ("/a%2fb", PathError::EncodedSeparator),
            ("/a%2Fb", PathError::EncodedSeparator),
            ("/a%5Cb", PathError::EncodedSeparator),
            ("/a%5cb", PathError::EncodedSeparator),
            ("/a%3bb", PathError::EncodedDelimiter),
            ("/a%3Bb", PathError::EncodedDelimiter),
            ("/a%25", PathError::EncodedDelimiter),
            ("/a%252e", PathError::EncodedDelimiter),
            ("/a%00", PathError::EncodedControl),
            ("/a%0a", PathError::EncodedControl),
            ("/a%1F", PathError::EncodedControl),
            ("/a%7f", PathError::EncodedControl),
            ("/a b", PathError::ForbiddenCharacter),
            ("/a\tb", PathError::ForbiddenCharacter),
            ("/a\u{7f}", PathError::ForbiddenCharacter),
            ("/a\u{0}", PathError::ForbiddenCharacter),
            ("/caf\u{e9}", PathError::ForbiddenCharacter),
            ("/a%", PathError::BadPercentEncoding),
            ("/a%4", PathError::BadPercentEncoding),
            ("/a%zz", PathError::BadPercentEncoding),
            ("/a%4g", PathError::BadPercentEncoding),
            ("/a%g4", PathError::BadPercentEncoding),
            ("/%u002e%u002e/x", PathError::BadPercentEncoding),
            ("/%c0%ae%c0%ae/x", PathError::NotUtf8),
            ("/a%C3", PathError::NotUtf8),
            ("/a%ff", PathError::NotUtf8),
            // The Kelvin sign (U+212A) lower-cases to `k`.
            ("/%E2%84%AAeys", PathError::CaseFoldsToAscii),
            // The long s (U+017F) upper-cases to `S`.
            ("/%C5%BFecret", PathError::CaseFoldsToAscii),
        ] {
            assert_eq!(refused(raw), expected, "{raw}");
        }
    }

    #[test]
    fn unreserved_characters_are_decoded_and_the_rest_upper_cased() {
        for (raw, expected) in [
            ("/", "/"),
            ("/api/", "/api/"),
            ("/api", "/api"),
            ("/%41%5a%61%7A%30%39%2D%5F%7E", "/AZaz09-_~"),
            ("/%41%5A%61%7a", "/AZaz"),
            ("/a%20b", "/a%20b"),
            ("/a%2ab", "/a%2Ab"),
            ("/a%3fb", "/a%3Fb"),
            ("/a%23b", "/a%23b"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/%20admin", "/%20admin"),
            ("/a.b/.c/c..d", "/a.b/.c/c..d"),
            ("/a;b=1/c", "/a;b=1/c"),
            ("/a;%61=%62", "/a;a=b"),
            ("/x!$&'()*+,=:@", "/x!$&'()*+,=:@"),
        ] {
            assert_eq!(canonical(raw), expected, "{raw}");
        }
    }

    #[test]
    fn segments_and_names() {
        let p = CanonicalPath::parse("/app;v=1/x;jsessionid=2/y/").unwrap();
        assert!(p.has_params());
        assert_eq!(
            p.segments().collect::<Vec<_>>(),
            vec!["app;v=1", "x;jsessionid=2", "y"]
        );
        assert_eq!(p.names().collect::<Vec<_>>(), vec!["app", "x", "y"]);
        let p = CanonicalPath::parse("/").unwrap();
        assert!(!p.has_params());
        assert_eq!(p.segments().count(), 0);
        assert!(!CanonicalPath::parse("/a/b").unwrap().has_params());
        assert!(CanonicalPath::parse("/a/b;").unwrap().has_params());
    }

    #[test]
    fn messages_never_echo_the_path() {
        let e = refused("/secret-token-like/..;/x");
        assert!(!e.to_string().contains("secret"));
        assert_eq!(e.to_string(), e.message());
    }

    #[test]
    fn every_reason_has_its_own_message() {
        let all = [
            PathError::NotAbsolute,
            PathError::EmptySegment,
            PathError::DotSegment,
            PathError::TrailingDotOrSpace,
            PathError::Backslash,
            PathError::EncodedDot,
            PathError::EncodedSeparator,
            PathError::EncodedDelimiter,
            PathError::EncodedControl,
            PathError::ForbiddenCharacter,
            PathError::BadPercentEncoding,
            PathError::NotUtf8,
            PathError::CaseFoldsToAscii,
        ];
        let messages: std::collections::HashSet<_> = all.iter().map(|e| e.message()).collect();
        assert_eq!(messages.len(), all.len());
        for m in messages {
            assert!(
                m.starts_with("The request path") || m.starts_with("A request path"),
                "{m}"
            );
            assert!(m.ends_with('.'), "{m}");
        }
        assert!(PathError::DotSegment.message().contains(".."));
    }

    #[test]
    fn hex_values() {
        for (c, v) in [
            (b'0', 0),
            (b'9', 9),
            (b'a', 10),
            (b'f', 15),
            (b'A', 10),
            (b'F', 15),
        ] {
            assert_eq!(hex_value(c), Some(v));
        }
        for c in [b'g', b'G', b'/', b':', b'@', b'`', b' '] {
            assert_eq!(hex_value(c), None);
        }
    }

    #[test]
    fn unicode_case_folding() {
        assert!(folds_to_ascii('\u{212A}'));
        assert!(folds_to_ascii('\u{17F}'));
        assert!(folds_to_ascii('\u{130}'));
        assert!(!folds_to_ascii('\u{e9}'));
        assert!(!folds_to_ascii('k'));
    }
}
