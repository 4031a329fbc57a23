//! Per-route authorization: which configured route a canonical path
//! ([`crate::request_path`]) belongs to (longest prefix, whole segments,
//! the same route under every reading of the path) and whether the caller
//! may use it.
//! 401 when a route needs a login and there is none; 403 when the user is
//! logged in but no allow-list admits them.

use crate::request_path::CanonicalPath;
use common::config::{AllowList, Policy, RouteConfig};
use common::proto::User;

/// A configured route, compiled once at start-up: its prefix, its policy
/// (allow-lists already normalised by the configuration) and its target,
/// one value, so a match yields everything needed to serve it.
#[derive(Debug)]
pub(crate) struct Route<T> {
    /// The prefix as configured (also the route's metrics label).
    pub(crate) prefix: String,
    /// Who may use it.
    pub(crate) policy: Policy,
    /// Whether `;` path parameters may reach the target.
    pub(crate) allow_path_params: bool,
    /// Where its requests go.
    pub(crate) target: T,
}

impl<T> Route<T> {
    /// The route `config` describes, with its target resolved.
    pub(crate) fn compile(config: &RouteConfig, target: T) -> Self {
        Self {
            prefix: config.path_prefix.clone(),
            policy: config.policy.clone(),
            allow_path_params: config.allow_path_params,
            target,
        }
    }
}

/// The outcome of a policy check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Go ahead.
    Allow,
    /// Log in first (401).
    Unauthenticated,
    /// Logged in, but not admitted (403).
    Forbidden,
}

/// Applies a route's policy to the caller (`None`: anonymous).
pub(crate) fn evaluate(policy: &Policy, user: Option<&User>) -> Decision {
    let allow = match policy {
        Policy::Public => return Decision::Allow,
        Policy::Authenticated(allow) => allow,
    };
    let Some(user) = user else {
        return Decision::Unauthenticated;
    };
    if allow.is_empty() || admitted(allow, user) {
        Decision::Allow
    } else {
        Decision::Forbidden
    }
}

/// Any match of any allow-list admits. E-mail rules only look at an e-mail
/// address the provider verified (an unverified address proves nothing).
/// Groups are the provider's, as of login, and compare exactly.
/// The lists are lower case already; the user's address is compared
/// without case.
fn admitted(allow: &AllowList, user: &User) -> bool {
    if allow.user_ids.contains(&user.id) {
        return true;
    }
    if allow
        .roles
        .iter()
        .any(|role| user.roles.iter().any(|r| r == role))
    {
        return true;
    }
    if allow
        .groups
        .iter()
        .any(|group| user.groups.iter().any(|g| g == group))
    {
        return true;
    }
    if !user.email_verified || user.email.is_empty() {
        return false;
    }
    if allow
        .emails
        .iter()
        .any(|e| e.eq_ignore_ascii_case(&user.email))
    {
        return true;
    }
    match user.email.rsplit_once('@') {
        Some((_, domain)) => allow
            .email_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain)),
        None => false,
    }
}

/// Why a canonical request path is not served by a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// No route covers the path (404).
    NotFound,
    /// The path lands under different routes depending on how a server
    /// reads it (with or without its `;` parameters, with or without
    /// case), so no single policy can be applied (400).
    Ambiguous,
    /// The path carries `;` parameters and its route does not allow them
    /// (`allow_path_params`, 400).
    PathParameters,
}

/// The segments of a route prefix: `/api/admin/` and `/api/admin` both
/// give `api`, `admin`; `/` gives none.
fn prefix_segments(prefix: &str) -> impl Iterator<Item = &str> {
    prefix.split('/').filter(|s| !s.is_empty())
}

/// Whether `prefix` covers a path with these segments: each of its
/// segments equals the path's segment at the same place (without ASCII
/// case when `fold_case`). Whole segments only, so `/api/admin/` covers
/// `/api/admin` and `/api/admin/x` but never `/api/adminx`.
fn covers(prefix: &str, segments: &[&str], fold_case: bool) -> bool {
    let mut path = segments.iter();
    prefix_segments(prefix).all(|want| match path.next() {
        Some(have) if fold_case => have.eq_ignore_ascii_case(want),
        Some(have) => *have == want,
        None => false,
    })
}

/// The index of the route with the most prefix segments covering
/// `segments`.
fn longest<T>(routes: &[Route<T>], segments: &[&str], fold_case: bool) -> Option<usize> {
    routes
        .iter()
        .enumerate()
        .filter(|(_, r)| covers(&r.prefix, segments, fold_case))
        .max_by_key(|(_, r)| prefix_segments(&r.prefix).count())
        .map(|(i, _)| i)
}

/// The configured route with the longest prefix covering `path` (whole
/// segments, exact case). Tests only: requests go through [`resolve`].
#[cfg(test)]
pub(crate) fn find_route<'a, T>(routes: &'a [Route<T>], path: &str) -> Option<&'a Route<T>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    longest(routes, &segments, false).and_then(|i| routes.get(i))
}

/// The route serving `path`, which every reading of the path
/// must agree on: its segments as they are and without their `;`
/// parameters (Tomcat, Jetty, Spring), each compared with and without
/// ASCII case (IIS). Where readings disagree, the policy applied could be
/// another than the one the upstream's reading falls under, so the request
/// is refused; so is a path with parameters on a route that does not allow
/// them.
pub(crate) fn resolve<'a, T>(
    routes: &'a [Route<T>],
    path: &CanonicalPath,
) -> Result<&'a Route<T>, RouteError> {
    let literal: Vec<&str> = path.segments().collect();
    let names: Vec<&str> = path.names().collect();
    let chosen = longest(routes, &literal, false);
    let readings = [
        longest(routes, &names, false),
        longest(routes, &literal, true),
        longest(routes, &names, true),
    ];
    if readings.iter().any(|r| *r != chosen) {
        return Err(RouteError::Ambiguous);
    }
    let route = chosen
        .and_then(|i| routes.get(i))
        .ok_or(RouteError::NotFound)?;
    if path.has_params() && !route.allow_path_params {
        return Err(RouteError::PathParameters);
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Who may use a test route, as the `policy` key spells it.
    #[derive(Clone, Copy)]
    enum RoutePolicy {
        Public,
        Authenticated,
    }

    fn route(policy: RoutePolicy) -> Route<()> {
        Route {
            prefix: "/api/".into(),
            policy: match policy {
                RoutePolicy::Public => Policy::Public,
                RoutePolicy::Authenticated => Policy::Authenticated(AllowList::default()),
            },
            allow_path_params: false,
            target: (),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn user(id: &str, email: &str, verified: bool, roles: &[&str]) -> User {
        User {
            id: id.into(),
            email: email.into(),
            email_verified: verified,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..User::default()
        }
    }

    fn in_groups(groups: &[&str]) -> User {
        User {
            groups: strings(groups),
            ..user("u2", "", false, &[])
        }
    }

    #[test]
    fn public_admits_everyone() {
        assert_eq!(
            evaluate(&route(RoutePolicy::Public).policy, None),
            Decision::Allow
        );
    }

    #[test]
    fn authenticated_needs_a_login_401() {
        let r = route(RoutePolicy::Authenticated).policy;
        assert_eq!(evaluate(&r, None), Decision::Unauthenticated);
        assert_eq!(
            evaluate(&r, Some(&user("u1", "", false, &[]))),
            Decision::Allow
        );
    }

    #[test]
    fn allow_lists_403_when_nothing_matches() {
        let r = Policy::Authenticated(AllowList::new(
            strings(&["u7"]),
            strings(&["Boss@Example.com"]),
            strings(&["corp.example"]),
            strings(&["admin"]),
            strings(&["staff"]),
        ));
        let cases = [
            (
                user("u1", "a@example.com", true, &["admin"]),
                Decision::Allow,
            ),
            (user("u7", "", false, &[]), Decision::Allow),
            (user("u2", "boss@example.com", true, &[]), Decision::Allow),
            (user("u2", "x@CORP.example", true, &[]), Decision::Allow),
            // Unverified addresses never match an e-mail rule.
            (
                user("u2", "boss@example.com", false, &[]),
                Decision::Forbidden,
            ),
            (
                user("u2", "x@corp.example", false, &[]),
                Decision::Forbidden,
            ),
            (
                user("u2", "x@notcorp.example", true, &[]),
                Decision::Forbidden,
            ),
            (
                user("u2", "x@sub.corp.example", true, &[]),
                Decision::Forbidden,
            ),
            (user("u2", "", false, &["user"]), Decision::Forbidden),
            (in_groups(&["other", "staff"]), Decision::Allow),
            // Groups compare exactly: no case folding, no prefix match.
            (in_groups(&["Staff"]), Decision::Forbidden),
            (in_groups(&["staff-x", "other"]), Decision::Forbidden),
            // A role named like a group is not that group, and back.
            (in_groups(&["admin"]), Decision::Forbidden),
            (user("u2", "", false, &["staff"]), Decision::Forbidden),
        ];
        for (u, expected) in cases {
            assert_eq!(evaluate(&r, Some(&u)), expected, "{u:?}");
        }
        assert_eq!(evaluate(&r, None), Decision::Unauthenticated);
    }

    #[test]
    fn longest_prefix_on_segment_boundaries() {
        let mut a = route(RoutePolicy::Public);
        a.prefix = "/api".into();
        let mut b = route(RoutePolicy::Authenticated);
        b.prefix = "/api/admin/".into();
        let routes = vec![a, b];
        assert_eq!(
            find_route(&routes, "/api/admin/x").unwrap().prefix,
            "/api/admin/"
        );
        assert_eq!(find_route(&routes, "/api/users").unwrap().prefix, "/api");
        assert_eq!(find_route(&routes, "/api").unwrap().prefix, "/api");
        assert!(find_route(&routes, "/apix").is_none());
        assert!(find_route(&routes, "/other").is_none());
    }

    /// The route table: `/pub/` public, `/api/admin/` admins only,
    /// `/api/` any logged-in user, plus a route that opts in to `;`
    /// parameters with a stricter one inside it.
    fn table() -> Vec<Route<()>> {
        let mk = |prefix: &str, policy: RoutePolicy, roles: &[&str], params: bool| {
            let mut r = route(policy);
            r.prefix = prefix.into();
            if let Policy::Authenticated(allow) = &mut r.policy {
                allow.roles = strings(roles);
            }
            r.allow_path_params = params;
            r
        };
        vec![
            mk("/pub/", RoutePolicy::Public, &[], false),
            mk("/api/admin/", RoutePolicy::Authenticated, &["admin"], false),
            mk("/api/", RoutePolicy::Authenticated, &[], false),
            mk("/api/whoami", RoutePolicy::Authenticated, &[], false),
            mk("/app/", RoutePolicy::Public, &[], true),
            mk("/app/admin/", RoutePolicy::Authenticated, &["admin"], true),
            mk("/app/private/", RoutePolicy::Authenticated, &[], false),
        ]
    }

    fn resolved(raw: &str) -> Result<String, RouteError> {
        let routes = table();
        let path = CanonicalPath::parse(raw).unwrap();
        resolve(&routes, &path).map(|r| r.prefix.clone())
    }

    #[test]
    fn routes_match_whole_segments_of_the_canonical_path() {
        for (raw, expected) in [
            ("/api/admin", "/api/admin/"),
            ("/api/admin/", "/api/admin/"),
            ("/api/admin/x", "/api/admin/"),
            ("/api/%61dmin/x", "/api/admin/"),
            ("/api/adminx", "/api/"),
            ("/api/admin-x/y", "/api/"),
            ("/api", "/api/"),
            ("/api/whoami", "/api/whoami"),
            ("/api/whoami/", "/api/whoami"),
            ("/api/whoamix", "/api/"),
            ("/pub/x", "/pub/"),
            ("/app/x;jsessionid=1/y", "/app/"),
            ("/app/admin/x;v=1", "/app/admin/"),
        ] {
            assert_eq!(resolved(raw).as_deref(), Ok(expected), "{raw}");
        }
    }

    #[test]
    fn readings_that_disagree_are_refused() {
        for (raw, expected) in [
            // Kept, `admin;x` is a plain `/api/` segment; stripped, it is
            // the admin area.
            ("/api/admin;x/y", RouteError::Ambiguous),
            ("/app;v=1/x", RouteError::Ambiguous),
            ("/app/admin;v=1/x", RouteError::Ambiguous),
            // Parameters where the route does not allow them.
            ("/api/x;y", RouteError::PathParameters),
            ("/pub/x;y", RouteError::PathParameters),
            ("/app/private/x;y", RouteError::PathParameters),
            // Stripped, `private;x` is `/app/private/` (no parameters
            // there); kept, it is a plain `/app/` segment.
            ("/app/private;x/y", RouteError::Ambiguous),
            // Case-insensitive servers read these as the admin area.
            ("/api/ADMIN/x", RouteError::Ambiguous),
            ("/API/admin/x", RouteError::Ambiguous),
            ("/Pub/x", RouteError::Ambiguous),
            ("/nowhere", RouteError::NotFound),
            ("/", RouteError::NotFound),
            ("/apix", RouteError::NotFound),
        ] {
            assert_eq!(resolved(raw), Err(expected), "{raw}");
        }
    }

    #[test]
    fn covers_compares_segment_by_segment() {
        assert!(covers("/", &[], false));
        assert!(covers("/", &["x"], false));
        assert!(covers("/a/b/", &["a", "b"], false));
        assert!(covers("/a/b", &["a", "b", "c"], false));
        assert!(!covers("/a/b/", &["a"], false));
        assert!(!covers("/a/b/", &["a", "bc"], false));
        assert!(!covers("/a/b/", &["A", "b"], false));
        assert!(covers("/a/b/", &["A", "B"], true));
        assert!(!covers("/a/b/", &["A", "C"], true));
        assert!(prefix_segments("/").next().is_none());
        assert_eq!(prefix_segments("/a/b/").collect::<Vec<_>>(), vec!["a", "b"]);
    }

    /// How upstreams re-read a path, each step as some common server does
    /// it; the property below applies every combination of them in this
    /// order.
    mod upstream_readings {
        /// Decodes every `%XX` (most servers, once).
        pub(super) fn decode_all(path: &str) -> String {
            let bytes = path.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match (bytes[i], hex) {
                    (b'%', Some(v)) => {
                        out.push(v);
                        i += 3;
                    }
                    (b, _) => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }

        /// IIS: `\` is `/`.
        pub(super) fn backslash_is_slash(path: &str) -> String {
            path.replace('\\', "/")
        }

        /// Tomcat, Jetty, Spring: `;params` removed from every segment
        /// (so `..;` is `..`).
        pub(super) fn strip_params(path: &str) -> String {
            path.split('/')
                .map(|s| s.split(';').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("/")
        }

        /// Windows: trailing dots and spaces of every segment removed.
        pub(super) fn strip_trailing_dots(path: &str) -> String {
            path.split('/')
                .map(|s| {
                    if s == "." || s == ".." {
                        s
                    } else {
                        s.trim_end_matches(['.', ' '])
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        }

        /// nginx `merge_slashes`.
        pub(super) fn merge_slashes(path: &str) -> String {
            let mut out = String::with_capacity(path.len());
            for c in path.chars() {
                if !(c == '/' && out.ends_with('/')) {
                    out.push(c);
                }
            }
            out
        }

        /// RFC 3986 §5.2.4 `remove_dot_segments`.
        pub(super) fn resolve_dots(path: &str) -> String {
            let mut out: Vec<&str> = Vec::new();
            let segments: Vec<&str> = path.split('/').skip(1).collect();
            for (i, s) in segments.iter().enumerate() {
                let last = i + 1 == segments.len();
                match *s {
                    "." => {
                        if last {
                            out.push("");
                        }
                    }
                    ".." => {
                        out.pop();
                        if last {
                            out.push("");
                        }
                    }
                    s => out.push(s),
                }
            }
            format!("/{}", out.join("/"))
        }

        /// IIS: no case (Unicode lower case, as Windows compares).
        pub(super) fn lower_case(path: &str) -> String {
            path.to_lowercase()
        }

        /// Servers that treat `/x/` and `/x` alike.
        pub(super) fn drop_trailing_slash(path: &str) -> String {
            match path.strip_suffix('/') {
                Some("") | None => path.to_owned(),
                Some(p) => p.to_owned(),
            }
        }

        pub(super) const ALL: [fn(&str) -> String; 8] = [
            decode_all,
            backslash_is_slash,
            strip_params,
            strip_trailing_dots,
            merge_slashes,
            resolve_dots,
            lower_case,
            drop_trailing_slash,
        ];
    }

    /// The oracle, written independently of [`resolve`]: the route a server
    /// that read the path as `path` would say it falls under, by plain
    /// string comparison (the longest prefix `p` with `path == p` or
    /// `path` starting with `p/`; case-insensitive if `fold_case`).
    fn route_of(routes: &[Route<()>], path: &str, fold_case: bool) -> Option<usize> {
        let path = if fold_case {
            path.to_lowercase()
        } else {
            path.to_owned()
        };
        routes
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let p = r.prefix.trim_end_matches('/');
                let p = if fold_case {
                    p.to_lowercase()
                } else {
                    p.to_owned()
                };
                p.is_empty() || path == p || path.starts_with(&format!("{p}/"))
            })
            .max_by_key(|(_, r)| r.prefix.trim_end_matches('/').len())
            .map(|(i, _)| i)
    }

    /// Path pieces: route names in odd spellings, the tricks servers
    /// read differently, and plain text.
    fn piece() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let names = proptest::sample::select(vec![
            "api",
            "admin",
            "Admin",
            "ADMIN",
            "pub",
            "app",
            "private",
            "whoami",
            "x",
            "%61dmin",
            "adm%69n",
            "%41DMIN",
            "%70rivate",
            "%70ub",
            "%7e",
            "%20admin",
            "caf%C3%A9",
            "x;jsessionid=1",
            "private;x",
            "admin;x",
            "app;v=1",
        ]);
        let tricks = proptest::sample::select(vec![
            "",
            ".",
            "..",
            "..;",
            ".;",
            ";x",
            "%2e",
            "%2E%2e",
            ".%2e",
            "admin.",
            "admin..",
            "admin%20",
            "admin;",
            "admin.;x",
            "%2f",
            "%2F",
            "%5c",
            "\\",
            "a%00",
            "%3b",
            "%3Badmin",
            "%25",
            "%252e",
            "%u002e",
            "%c0%ae",
            "%E2%84%AAey",
            "admin%2e",
            "api%2fadmin",
            "%zz",
            "whoami.",
            "pub%20",
            "app.",
        ]);
        prop_oneof![
            6 => names.prop_map(str::to_owned),
            2 => tricks.prop_map(str::to_owned),
            1 => "[a-zA-Z0-9._~;%=-]{0,6}",
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// For any path the gateway would forward, every combination of the
        /// upstream readings above lands under the route whose policy the
        /// gateway applied (or under no route at all only if the gateway
        /// found none either, which never forwards): the canonical form is a
        /// fixed point of how servers normalise. And canonicalising is
        /// idempotent.
        #[test]
        fn forwarded_paths_mean_the_same_route_to_every_upstream(
            pieces in proptest::collection::vec(piece(), 1..6),
            trailing_slash in proptest::prelude::any::<bool>(),
            catch_all in proptest::prelude::any::<bool>(),
        ) {
            let mut routes = table();
            if catch_all {
                let mut root = route(RoutePolicy::Public);
                root.prefix = "/".into();
                routes.push(root);
            }
            let mut raw = format!("/{}", pieces.join("/"));
            if trailing_slash {
                raw.push('/');
            }
            let Ok(path) = CanonicalPath::parse(&raw) else {
                return Ok(());
            };
            let again = CanonicalPath::parse(path.as_str());
            proptest::prop_assert_eq!(again.as_ref(), Ok(&path));
            let Ok(chosen) = resolve(&routes, &path) else {
                return Ok(());
            };
            // Prefixes are distinct, so a route is known by its prefix.
            let chosen = Some(chosen.prefix.as_str());
            let forwarded = path.as_str();
            for mask in 0u32..(1 << upstream_readings::ALL.len()) {
                let mut read = forwarded.to_owned();
                for (bit, step) in upstream_readings::ALL.iter().enumerate() {
                    if mask & (1 << bit) != 0 {
                        read = step(&read);
                    }
                }
                for fold_case in [false, true] {
                    proptest::prop_assert_eq!(
                        route_of(&routes, &read, fold_case).map(|i| routes[i].prefix.as_str()),
                        chosen,
                        "{} forwarded as {} read as {} (fold_case {})",
                        raw, forwarded, read, fold_case
                    );
                }
            }
        }
    }
}
