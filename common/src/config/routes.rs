//! The `[[routes]]` array: the gateway's per-route policies and targets.
//!
//! Each entry is read as a [`RouteSection`] and parsed into a
//! [`RouteConfig`] whose [`Policy`] cannot be wrong: a public route has no
//! allow-lists (the type has no place for them), and e-mail addresses and
//! domains are lower-cased once, here, so a request compares them as they
//! are.

use super::ConfigError;
use serde::Deserialize;
use std::collections::HashSet;
use url::Url;

/// `policy = ...` as written: who may use a route.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum PolicyKind {
    /// Anyone, logged in or not.
    Public,
    /// Any logged-in user, further restricted by the route's `allow_*` lists
    /// when any is non-empty.
    #[default]
    Authenticated,
}

/// Where a route's requests go.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RouteTarget {
    /// A built-in business handler, by name.
    Handler(String),
    /// An upstream base URL the gateway reverse-proxies to.
    Upstream(Url),
}

/// One `[[routes]]` entry as written. Routes match by longest path prefix.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteSection {
    /// Path prefix, starting with `/` (e.g. `/api/`).
    path_prefix: String,
    /// `public` or `authenticated` (default).
    #[serde(default)]
    policy: PolicyKind,
    /// Allowed user ids (any match of any `allow_*` list admits).
    #[serde(default)]
    allow_user_ids: Vec<String>,
    /// Allowed verified e-mail addresses.
    #[serde(default)]
    allow_emails: Vec<String>,
    /// Allowed verified e-mail domains (`example.com`).
    #[serde(default)]
    allow_email_domains: Vec<String>,
    /// Allowed roles.
    #[serde(default)]
    allow_roles: Vec<String>,
    /// Allowed groups, as the provider names them (exact match).
    #[serde(default)]
    allow_groups: Vec<String>,
    /// Whether `;` path parameters (`/app/x;jsessionid=1/y`) may reach
    /// this route's target. Default `false`: Tomcat, Jetty and Spring strip
    /// them before routing while other servers keep them, so a path with
    /// them means different things to different servers and is refused
    /// with 400 `invalid_path`. Turn it on only for an upstream that needs
    /// them; the route is then still chosen as if they were stripped and as
    /// if they were kept, and a path for which the two disagree is refused.
    #[serde(default)]
    allow_path_params: bool,
    /// The target: `{ handler = "users" }` or `{ upstream = "http://..." }`.
    target: RouteTarget,
}

/// One route, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// Path prefix as written: `/`, or `/`-separated segments of RFC 3986
    /// unreserved characters (see [`is_canonical_prefix`]).
    pub path_prefix: String,
    /// Who may use the route.
    pub policy: Policy,
    /// Whether `;` path parameters may reach the target
    /// (`allow_path_params`).
    pub allow_path_params: bool,
    /// Where its requests go.
    pub target: RouteTarget,
}

/// Who may use a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, logged in or not.
    Public,
    /// A logged-in user; when the list is not empty, one it admits.
    Authenticated(AllowList),
}

/// The `allow_*` lists of an authenticated route: any match of any list
/// admits. E-mail addresses and domains are ASCII lower case, domains
/// without a leading `@`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// `allow_user_ids`.
    pub user_ids: Vec<String>,
    /// `allow_emails`, lower case.
    pub emails: Vec<String>,
    /// `allow_email_domains`, lower case, without `@`.
    pub email_domains: Vec<String>,
    /// `allow_roles`.
    pub roles: Vec<String>,
    /// `allow_groups`, compared exactly: group names are the provider's
    /// (GitHub's are lower case already, see the provider documentation).
    pub groups: Vec<String>,
}

impl AllowList {
    /// The lists as written, normalised for comparison.
    pub fn new(
        user_ids: Vec<String>,
        emails: Vec<String>,
        email_domains: Vec<String>,
        roles: Vec<String>,
        groups: Vec<String>,
    ) -> Self {
        Self {
            user_ids,
            emails: emails.iter().map(|e| e.to_ascii_lowercase()).collect(),
            email_domains: email_domains
                .iter()
                .map(|d| d.trim_start_matches('@').to_ascii_lowercase())
                .collect(),
            roles,
            groups,
        }
    }

    /// Whether no list restricts the route (any logged-in user may use it).
    pub fn is_empty(&self) -> bool {
        self.user_ids.is_empty()
            && self.emails.is_empty()
            && self.email_domains.is_empty()
            && self.roles.is_empty()
            && self.groups.is_empty()
    }
}

/// Parses every route; the key of an error is `routes[i].field`.
pub(super) fn parse(sections: Vec<RouteSection>) -> Result<Vec<RouteConfig>, ConfigError> {
    let mut prefixes = HashSet::new();
    let mut routes = Vec::with_capacity(sections.len());
    for (i, section) in sections.into_iter().enumerate() {
        let key = format!("routes[{i}]");
        let route = section.parse(&key)?;
        // Routes match whole segments without case (see
        // `api-gateway/src/policy.rs`), so `/api` and `/API/` are one
        // route; two of them would leave the choice to file order.
        if !prefixes.insert(prefix_identity(&route.path_prefix)) {
            return Err(ConfigError::invalid(
                format!("{key}.path_prefix"),
                format!(
                    "{:?} covers the same paths as an earlier route (case and a trailing slash do not count)",
                    route.path_prefix
                ),
            ));
        }
        routes.push(route);
    }
    Ok(routes)
}

impl RouteSection {
    fn parse(self, key: &str) -> Result<RouteConfig, ConfigError> {
        if !self.path_prefix.starts_with('/') {
            return Err(ConfigError::invalid(
                format!("{key}.path_prefix"),
                "must start with '/'",
            ));
        }
        if !is_canonical_prefix(&self.path_prefix) {
            return Err(ConfigError::invalid(
                format!("{key}.path_prefix"),
                "must be '/'-separated segments of letters, digits, '-', '.', '_' and '~' \
                 (no empty, '.' or '..' segment, none ending in '.'), as request paths are \
                 matched in canonical form",
            ));
        }
        let identity = prefix_identity(&self.path_prefix);
        if identity == "/auth" || identity.starts_with("/auth/") {
            return Err(ConfigError::invalid(
                format!("{key}.path_prefix"),
                "/auth is reserved for the gateway's own routes",
            ));
        }
        let allow = AllowList::new(
            self.allow_user_ids,
            self.allow_emails,
            self.allow_email_domains,
            self.allow_roles,
            self.allow_groups,
        );
        let policy = match self.policy {
            PolicyKind::Public if !allow.is_empty() => {
                return Err(ConfigError::invalid(
                    format!("{key}.policy"),
                    "a public route cannot have allow_* lists",
                ));
            }
            PolicyKind::Public => Policy::Public,
            PolicyKind::Authenticated => Policy::Authenticated(allow),
        };
        if let RouteTarget::Upstream(url) = &self.target {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::invalid(
                    format!("{key}.target.upstream"),
                    "must be an http or https URL",
                ));
            }
            // The upstream URL appears in logs; credentials must not live
            // in it (and the proxy would not send them anyway).
            if !url.username().is_empty() || url.password().is_some() {
                return Err(ConfigError::invalid(
                    format!("{key}.target.upstream"),
                    "must not contain a user name or password",
                ));
            }
        }
        Ok(RouteConfig {
            path_prefix: self.path_prefix,
            policy,
            allow_path_params: self.allow_path_params,
            target: self.target,
        })
    }
}

/// Whether `prefix` is `/` or `/`-separated segments of RFC 3986 unreserved
/// characters, none empty (but an optional trailing slash), `.`, `..` or
/// ending in `.`. Request paths are matched against prefixes in canonical
/// form, segment by segment; a prefix outside this shape could never match
/// one, or could match one only in some servers' reading of it.
fn is_canonical_prefix(prefix: &str) -> bool {
    let Some(rest) = prefix.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/').all(|segment| {
        !segment.is_empty()
            && !segment.ends_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    })
}

/// A prefix as route matching compares it: ASCII lower case, without its
/// trailing slash (`/API/` and `/api` cover the same paths).
fn prefix_identity(prefix: &str) -> String {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    trimmed.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn env(_: &str) -> Option<String> {
        None
    }

    fn err(text: &str) -> String {
        Config::from_toml(text, &env).unwrap_err().to_string()
    }

    #[test]
    fn route_prefixes_must_be_canonical_and_distinct() {
        let route = |prefix: &str| {
            format!("[[routes]]\npath_prefix = {prefix:?}\ntarget = {{ handler = \"x\" }}\n")
        };
        for bad in [
            "/api//x",
            "/api/./x",
            "/api/../x",
            "/api/x./",
            "/a%2fb/",
            "/a;b/",
            "/a b/",
            "/a\\b/",
            "//",
            "/auth/",
            "/AUTH",
            "/Auth/x",
        ] {
            let e = err(&route(bad));
            assert!(e.contains("routes[0].path_prefix"), "{bad}: {e}");
        }
        for good in ["/", "/api", "/api/", "/a.b/c~d_e-f/", "/authx/"] {
            let c = Config::from_toml(&route(good), &env).unwrap();
            assert!(!c.routes[0].allow_path_params, "{good}");
        }
        for (first, second) in [("/api/", "/api"), ("/api", "/API/"), ("/", "/")] {
            let e = err(&format!("{}{}", route(first), route(second)));
            assert!(e.contains("routes[1].path_prefix"), "{first} {second}: {e}");
        }
        let c = Config::from_toml(
            "[[routes]]\npath_prefix = \"/app/\"\nallow_path_params = true\ntarget = { handler = \"x\" }\n",
            &env,
        )
        .unwrap();
        assert!(c.routes[0].allow_path_params);
    }

    #[test]
    fn allow_lists_are_normalised_once() {
        let c = Config::from_toml(
            "[[routes]]\npath_prefix = \"/x\"\nallow_emails = [\"Boss@Example.com\"]\n\
             allow_email_domains = [\"@CORP.example\"]\ntarget = { handler = \"x\" }\n",
            &env,
        )
        .unwrap();
        let super::Policy::Authenticated(allow) = &c.routes[0].policy else {
            panic!("{:?}", c.routes[0].policy);
        };
        assert_eq!(allow.emails, vec!["boss@example.com"]);
        assert_eq!(allow.email_domains, vec!["corp.example"]);
    }
}
