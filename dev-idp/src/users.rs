//! The fake people who can log in at the development provider.
//!
//! There are no passwords: picking a user on the consent page (or naming one
//! in `login_hint`) is the whole login. The defaults cover the cases the
//! relying parties care about: two verified users and one whose e-mail
//! address is *not* verified, so "refuse unverified e-mail" paths get
//! exercised.

/// One development user. The same person appears as an OpenID Connect
/// subject (`sub`) and as a GitHub-like account (`github_id`, `login`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevUser {
    /// Short name shown on the consent page and used as `login_hint`,
    /// e.g. `"alice"`; also the GitHub `login`.
    pub login: String,
    /// The stable OpenID Connect subject identifier.
    pub sub: String,
    /// The numeric id the GitHub-like API reports.
    pub github_id: u64,
    /// The e-mail address in ID tokens, userinfo, tokeninfo and the GitHub API.
    pub email: String,
    /// Whether the provider vouches for `email`.
    pub email_verified: bool,
    /// Display name.
    pub name: String,
    /// Avatar URL.
    pub picture: String,
    /// The groups the provider reports in the `groups` claim (ID token and
    /// userinfo), as a directory-backed OpenID provider does; absent when
    /// empty.
    pub groups: Vec<String>,
}

/// alice (groups `admins`, `staff`) and bob (`staff`), both with a
/// verified e-mail, and mallory (unverified e-mail, no groups).
pub fn default_users() -> Vec<DevUser> {
    [
        (
            "alice",
            "Alice Example",
            1001,
            true,
            &["admins", "staff"][..],
        ),
        ("bob", "Bob Example", 1002, true, &["staff"][..]),
        ("mallory", "Mallory Example", 1003, false, &[][..]),
    ]
    .into_iter()
    .map(|(login, name, github_id, email_verified, groups)| DevUser {
        login: login.to_owned(),
        sub: format!("dev-{login}"),
        github_id,
        email: format!("{login}@example.com"),
        email_verified,
        name: name.to_owned(),
        picture: format!("https://example.com/avatars/{login}.png"),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    })
    .collect()
}

/// A stand-in for a login the configuration does not know, so the minting
/// API can make tokens for arbitrary subjects without configuring users.
/// Its e-mail is unverified: nothing should trust it by accident.
pub(crate) fn synthetic_user(login: &str) -> DevUser {
    DevUser {
        login: login.to_owned(),
        sub: login.to_owned(),
        github_id: 0,
        email: format!("{login}@example.com"),
        email_verified: false,
        name: login.to_owned(),
        picture: String::new(),
        groups: Vec::new(),
    }
}
