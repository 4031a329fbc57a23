//! Per-route authorization: which configured route a path belongs to
//! (longest prefix, on segment boundaries) and whether the caller may use it.
//! 401 when a route needs a login and there is none; 403 when the user is
//! logged in but no allow-list admits them.

use common::config::{RouteConfig, RoutePolicy};
use common::proto::User;

/// The outcome of a policy check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Log in first (401).
    Unauthenticated,
    /// Logged in, but not admitted (403).
    Forbidden,
}

/// Applies a route's policy to the caller (`None`: anonymous).
pub fn evaluate(route: &RouteConfig, user: Option<&User>) -> Decision {
    if route.policy == RoutePolicy::Public {
        return Decision::Allow;
    }
    let Some(user) = user else {
        return Decision::Unauthenticated;
    };
    let unrestricted = route.allow_user_ids.is_empty()
        && route.allow_emails.is_empty()
        && route.allow_email_domains.is_empty()
        && route.allow_roles.is_empty();
    if unrestricted || admitted(route, user) {
        Decision::Allow
    } else {
        Decision::Forbidden
    }
}

/// Any match of any allow-list admits. E-mail rules only look at an e-mail
/// address the provider verified (an unverified address proves nothing).
fn admitted(route: &RouteConfig, user: &User) -> bool {
    if route.allow_user_ids.contains(&user.id) {
        return true;
    }
    if route
        .allow_roles
        .iter()
        .any(|role| user.roles.iter().any(|r| r == role))
    {
        return true;
    }
    if !user.email_verified || user.email.is_empty() {
        return false;
    }
    let email = user.email.to_ascii_lowercase();
    if route
        .allow_emails
        .iter()
        .any(|e| e.eq_ignore_ascii_case(&email))
    {
        return true;
    }
    match email.rsplit_once('@') {
        Some((_, domain)) => route
            .allow_email_domains
            .iter()
            .any(|d| d.trim_start_matches('@').eq_ignore_ascii_case(domain)),
        None => false,
    }
}

/// Whether `path` falls under `prefix`: `/api/` covers `/api/x`; `/api`
/// covers `/api` and `/api/x` but not `/apix`.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The configured route with the longest prefix covering `path`.
pub fn find_route<'a>(routes: &'a [RouteConfig], path: &str) -> Option<&'a RouteConfig> {
    routes
        .iter()
        .filter(|r| prefix_matches(&r.path_prefix, path))
        .max_by_key(|r| r.path_prefix.len())
}

/// Whether a request path is safe to match against prefixes at all. An
/// upstream may normalise `..`, `.` or encoded slashes after we matched
/// (`/public/..%2Fadmin`), which would let a path escape its route's policy,
/// so such paths are refused outright.
pub fn path_is_canonical(path: &str) -> bool {
    if !path.starts_with('/') || path.contains("//") || path.contains('\\') {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"]
        .iter()
        .any(|bad| lower.contains(bad))
    {
        return false;
    }
    !path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::config::RouteTarget;

    fn route(policy: RoutePolicy) -> RouteConfig {
        RouteConfig {
            path_prefix: "/api/".into(),
            policy,
            allow_user_ids: vec![],
            allow_emails: vec![],
            allow_email_domains: vec![],
            allow_roles: vec![],
            target: RouteTarget::Handler("whoami".into()),
        }
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

    #[test]
    fn public_admits_everyone() {
        assert_eq!(evaluate(&route(RoutePolicy::Public), None), Decision::Allow);
    }

    #[test]
    fn authenticated_needs_a_login_401() {
        let r = route(RoutePolicy::Authenticated);
        assert_eq!(evaluate(&r, None), Decision::Unauthenticated);
        assert_eq!(
            evaluate(&r, Some(&user("u1", "", false, &[]))),
            Decision::Allow
        );
    }

    #[test]
    fn allow_lists_403_when_nothing_matches() {
        let mut r = route(RoutePolicy::Authenticated);
        r.allow_roles = vec!["admin".into()];
        r.allow_user_ids = vec!["u7".into()];
        r.allow_emails = vec!["Boss@Example.com".into()];
        r.allow_email_domains = vec!["corp.example".into()];
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
        ];
        for (u, expected) in cases {
            assert_eq!(evaluate(&r, Some(&u)), expected, "{u:?}");
        }
        assert_eq!(evaluate(&r, None), Decision::Unauthenticated);
    }

    #[test]
    fn longest_prefix_on_segment_boundaries() {
        let mut a = route(RoutePolicy::Public);
        a.path_prefix = "/api".into();
        let mut b = route(RoutePolicy::Authenticated);
        b.path_prefix = "/api/admin/".into();
        let routes = vec![a, b];
        assert_eq!(
            find_route(&routes, "/api/admin/x").unwrap().path_prefix,
            "/api/admin/"
        );
        assert_eq!(
            find_route(&routes, "/api/users").unwrap().path_prefix,
            "/api"
        );
        assert_eq!(find_route(&routes, "/api").unwrap().path_prefix, "/api");
        assert!(find_route(&routes, "/apix").is_none());
        assert!(find_route(&routes, "/other").is_none());
    }

    #[test]
    fn non_canonical_paths_are_refused() {
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
            assert!(!path_is_canonical(bad), "{bad}");
        }
        for good in ["/", "/api/users/123", "/a.b/c..d", "/files/%20x"] {
            assert!(path_is_canonical(good), "{good}");
        }
    }
}
