//! Which request headers a client may send through to an upstream, by
//! name: one pure decision ([`verdict`]) used by the dispatcher (refusals)
//! and the proxy (stripping).
//!
//! The gateway sets `X-Auth-*` identity headers and `X-Forwarded-*`, and an
//! upstream may trust `Forwarded`, `X-Real-IP`, or take its path from
//! `X-Original-URL` / `X-Rewrite-URL` (IIS, Symfony, Laminas). A client
//! must not supply any of them, in any spelling: CGI, WSGI and PHP turn
//! header names into variables by upper-casing them and reading `-` as
//! `_`, so `X_Auth_User_Id` and `X-Auth-User-Id` both become
//! `HTTP_X_AUTH_USER_ID`, and an upstream could see the forged value (or
//! both). So every name is compared with `_` read as `-` and without case,
//! and:
//!
//! * a name containing `_` is refused (400 `invalid_header`), as nginx
//!   drops them by default (`underscores_in_headers off`), unless
//!   `gateway.allow_underscore_headers` is set; a client that sends one is
//!   either confused or probing, and a refusal says so plainly;
//! * a name that folds to one we set or an upstream trusts is removed
//!   (browsers and proxies legitimately send `X-Forwarded-For`, so these are
//!   stripped rather than refused), also with `allow_underscore_headers`.

use axum::http::HeaderMap;

/// What happens to one client header on its way to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Passed through.
    Keep,
    /// Removed: the gateway sets it, or an upstream would trust it.
    Strip,
    /// The whole request is refused: the name contains `_`.
    Refuse,
}

/// Header families the gateway sets itself (`X-Auth-*` identity,
/// `X-Forwarded-*`), matched as the name or the name followed by `-...`.
const RESERVED_FAMILIES: [&str; 2] = ["x-auth", "x-forwarded"];

/// Single names an upstream may trust for the client's address or the
/// request's path.
const RESERVED_NAMES: [&str; 5] = [
    "forwarded",
    "x-real-ip",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
];

/// The verdict on a client header called `name`.
pub(crate) fn verdict(name: &str, allow_underscores: bool) -> Verdict {
    if name.contains('_') && !allow_underscores {
        return Verdict::Refuse;
    }
    if is_reserved(name) {
        Verdict::Strip
    } else {
        Verdict::Keep
    }
}

/// Whether `name`, with `_` read as `-` and case ignored, is one the
/// gateway sets or an upstream trusts.
fn is_reserved(name: &str) -> bool {
    let folded: String = name
        .chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    RESERVED_NAMES.contains(&folded.as_str())
        || RESERVED_FAMILIES.iter().any(|family| {
            folded
                .strip_prefix(family)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
}

/// A request header whose name contains `_` (and the switch is off).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request header {name:?} contains '_'")]
pub(crate) struct UnderscoreHeader {
    /// The header's name (names are not secret; values are never kept).
    pub name: String,
}

/// The first header of the request that must be refused, if any.
pub(crate) fn check(headers: &HeaderMap, allow_underscores: bool) -> Result<(), UnderscoreHeader> {
    match headers
        .keys()
        .find(|name| verdict(name.as_str(), allow_underscores) == Verdict::Refuse)
    {
        Some(name) => Err(UnderscoreHeader {
            name: name.as_str().to_owned(),
        }),
        None => Ok(()),
    }
}

/// Removes every header that must not reach an upstream, in any spelling.
/// Underscore names that fold to nothing reserved stay: refusing them is
/// [`check`]'s job, done before the policy.
pub(crate) fn strip(headers: &mut HeaderMap) {
    let reserved: Vec<_> = headers
        .keys()
        .filter(|name| is_reserved(name.as_str()))
        .cloned()
        .collect();
    for name in reserved {
        headers.remove(name);
    }
}

/// [`strip`] for a request Envoy forwards ([`crate::ext_authz`]): every
/// reserved name in any spelling except the `X-Forwarded-*` family, which
/// Envoy writes itself by its own trust settings (`use_remote_address`,
/// `xff_num_trusted_hops`) before it asks us.
pub(crate) fn strip_all_but_forwarding(headers: &mut HeaderMap) {
    let reserved: Vec<_> = headers
        .keys()
        .filter(|name| is_reserved(name.as_str()) && !is_forwarding(name.as_str()))
        .cloned()
        .collect();
    for name in reserved {
        headers.remove(name);
    }
}

/// Whether `name` is `X-Forwarded-*` as spelled on the wire (with `-`: an
/// underscore spelling is a client's, and is stripped).
fn is_forwarding(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "x-forwarded" || lower.starts_with("x-forwarded-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    #[test]
    fn behind_envoy_only_envoy_s_own_forwarding_headers_stay() {
        let mut headers = HeaderMap::new();
        for name in [
            "x-forwarded-for",
            "x-forwarded-proto",
            "x_forwarded_for",
            "x-auth-user-id",
            "x_auth_user_id",
            "x-real-ip",
            "x-original-url",
            "forwarded",
            "accept",
        ] {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        strip_all_but_forwarding(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-forwarded-for", "x-forwarded-proto"]);
    }

    #[test]
    fn every_spelling_of_identity_and_forwarding_headers_is_caught() {
        for name in [
            "x-auth-user-id",
            "X-Auth-User-Id",
            "x-auth-roles",
            "x-auth-email",
            "x-auth-session-id",
            "x-auth-anything-new",
            "x-auth",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-forwarded-prefix",
            "x-forwarded",
            "forwarded",
            "x-real-ip",
            "X-Original-URL",
            "x-original-uri",
            "x-rewrite-url",
        ] {
            assert_eq!(verdict(name, false), Verdict::Strip, "{name}");
            assert_eq!(verdict(name, true), Verdict::Strip, "{name}");
        }
        for name in [
            "X_Auth_User_Id",
            "x_auth_roles",
            "x-auth_user-id",
            "X_FORWARDED_FOR",
            "x_real_ip",
            "x_original_url",
            "X_Rewrite_URL",
            "x_auth",
        ] {
            assert_eq!(verdict(name, false), Verdict::Refuse, "{name}");
            assert_eq!(verdict(name, true), Verdict::Strip, "{name}");
        }
    }

    #[test]
    fn other_headers_pass_and_underscores_need_the_switch() {
        for name in [
            "x-custom",
            "accept",
            "x-authorization",
            "x-authx",
            "x-forwardedfor",
            "forwarded-for",
            "x-real-ipx",
            "x-original-urls",
            "authorization",
            "cookie",
        ] {
            assert_eq!(verdict(name, false), Verdict::Keep, "{name}");
        }
        assert_eq!(verdict("x_custom", false), Verdict::Refuse);
        assert_eq!(verdict("x_custom", true), Verdict::Keep);
    }

    #[test]
    fn check_names_the_first_refused_header_and_strip_removes_the_rest() {
        let mut h = HeaderMap::new();
        h.insert("x-custom", HeaderValue::from_static("kept"));
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        assert_eq!(check(&h, false), Ok(()));
        h.insert("x_auth_user_id", HeaderValue::from_static("u_alice"));
        assert_eq!(
            check(&h, false),
            Err(UnderscoreHeader {
                name: "x_auth_user_id".into()
            })
        );
        assert_eq!(check(&h, true), Ok(()));
        h.insert("x_custom", HeaderValue::from_static("kept too"));
        strip(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, vec!["x-custom", "x_custom"]);
    }

    /// A reserved name, re-spelled: each `-` possibly `_`, each letter in
    /// either case, possibly with a suffix for the families.
    fn respelled() -> impl Strategy<Value = String> {
        (
            proptest::sample::select(vec![
                "x-auth-user-id",
                "x-auth-roles",
                "x-auth-email",
                "x-auth-session-id",
                "x-forwarded-for",
                "x-forwarded-host",
                "forwarded",
                "x-real-ip",
                "x-original-url",
                "x-rewrite-url",
            ]),
            proptest::collection::vec(any::<(bool, bool)>(), 20),
        )
            .prop_map(|(name, flips)| {
                name.chars()
                    .zip(flips.into_iter().cycle())
                    .map(|(c, (underscore, upper))| match c {
                        '-' if underscore => '_',
                        c if upper => c.to_ascii_uppercase(),
                        c => c,
                    })
                    .collect()
            })
    }

    proptest! {
        /// No spelling of a reserved name is ever kept, with or without the
        /// underscore switch.
        #[test]
        fn no_spelling_of_a_reserved_name_is_kept(name in respelled(), allow in any::<bool>()) {
            prop_assert_ne!(verdict(&name, allow), Verdict::Keep, "{}", name);
        }

        /// Any header names: after `check` passes and `strip` runs, no name
        /// left folds to a reserved one, and without the switch none has
        /// `_`; what is kept is exactly what `verdict` keeps.
        #[test]
        fn whatever_is_left_is_harmless(
            names in proptest::collection::vec(
                prop_oneof![respelled(), "[a-zA-Z0-9_-]{1,20}"],
                0..8,
            ),
            allow in any::<bool>(),
        ) {
            let mut h = HeaderMap::new();
            for name in &names {
                if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                    h.append(n, HeaderValue::from_static("v"));
                }
            }
            let refused = h.keys().any(|n| verdict(n.as_str(), allow) == Verdict::Refuse);
            prop_assert_eq!(check(&h, allow).is_err(), refused);
            strip(&mut h);
            for name in h.keys() {
                let folded = name.as_str().replace('_', "-");
                prop_assert!(
                    folded != "x-auth" && !folded.starts_with("x-auth-")
                        && folded != "x-forwarded" && !folded.starts_with("x-forwarded-")
                        && folded != "forwarded" && folded != "x-real-ip"
                        && folded != "x-original-url" && folded != "x-rewrite-url",
                    "{} survived", name
                );
                if !refused {
                    prop_assert_eq!(verdict(name.as_str(), allow), Verdict::Keep);
                }
            }
        }
    }
}
