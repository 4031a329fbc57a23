//! Users: one per provider identity `(issuer, subject)`, never matched by
//! e-mail (an e-mail can change hands or be unverified). The profile is
//! refreshed at each login; roles are derived from configuration on every
//! read, so a config change applies without touching stored users.
//!
//! The administration reads (`GetUser`, `ListUsers`, `FindUserByEmail`, for
//! `portcullis-admin`) live here too: a lookup by e-mail only ever shows
//! users to an operator, it never links or logs anyone in.

use super::error::AuthError;
use super::{Auth, truncate};
use crate::providers::Identity;
use crate::storage::UserRecord;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::token::random_text;

/// Users per `ListUsers` page when the caller names no size.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The most users one `ListUsers` page holds, whatever the caller asks:
/// a page is one store read and one answer in memory.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// What the page token says before the id: a version, so the token's form
/// can change without old tokens being read as something else.
const PAGE_TOKEN_VERSION: &str = "v1:";

/// The longest user id a page token may carry (ours are 24 bytes).
const MAX_TOKEN_ID_LEN: usize = 256;

/// The longest e-mail address a lookup accepts (RFC 5321's path limit;
/// stored e-mails are cut to the same length).
const MAX_EMAIL_LEN: usize = 320;

/// One page of `ListUsers`.
#[derive(Debug)]
pub struct UsersPage {
    /// The users, ordered by id.
    pub users: Vec<UserRecord>,
    /// Where the next page starts (opaque); empty on the last page.
    pub next_page_token: String,
}

/// The page size a request gets: 0 means the default, and no page is
/// larger than the maximum.
pub(crate) fn page_size(requested: u32) -> usize {
    let size = match requested {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    };
    // u32 to usize cannot truncate on the platforms we build for.
    usize::try_from(size).unwrap_or(DEFAULT_PAGE_SIZE as usize)
}

/// The opaque token of the page that starts after user `after`. It is not
/// a secret: it only spares callers from relying on its form.
pub(crate) fn page_token(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PAGE_TOKEN_VERSION}{after}"))
}

/// The user id a page token continues after; `None` for the first page
/// (an empty token). A token this service did not make is
/// `InvalidArgument`, never a silent restart from the first page.
pub(crate) fn page_after(token: &str) -> Result<Option<String>, AuthError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        AuthError::InvalidArgument(
            "page_token is not one ListUsers returned: pass next_page_token back unchanged, \
             or leave it empty for the first page"
                .into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match text.strip_prefix(PAGE_TOKEN_VERSION) {
        Some(id) if !id.is_empty() && id.len() <= MAX_TOKEN_ID_LEN => Ok(Some(id.to_owned())),
        _ => Err(invalid()),
    }
}

impl Auth {
    /// Creates the user for `identity`, or refreshes the existing one.
    pub(crate) async fn save_user(
        &self,
        provider_id: &str,
        identity: Identity,
    ) -> Result<UserRecord, AuthError> {
        let now = self.clock.now();
        let store = &self.store;
        let (id, created_at) = match store
            .user_by_identity(&identity.issuer, &identity.subject)
            .await?
        {
            Some(existing) => (existing.id, existing.created_at),
            None => {
                let candidate = format!("u_{}", random_text::<16>()?);
                let id = store
                    .link_identity(&identity.issuer, &identity.subject, &candidate)
                    .await?;
                // Lost a race with a concurrent first login: join that user.
                let created_at = match store.user(&id).await? {
                    Some(existing) if id != candidate => existing.created_at,
                    _ => now,
                };
                (id, created_at)
            }
        };
        let user = UserRecord {
            id,
            provider_id: provider_id.to_owned(),
            issuer: identity.issuer,
            subject: identity.subject,
            email: truncate(identity.email, 320),
            email_verified: identity.email_verified,
            name: truncate(identity.name, 256),
            picture: truncate(identity.picture, 2048),
            created_at,
            last_login_at: now,
            groups: identity.groups,
        };
        store.put_user(&user).await?;
        Ok(user)
    }

    /// The roles configuration grants this user (verified e-mail only).
    pub fn roles(&self, user: &UserRecord) -> Vec<String> {
        self.settings.roles_for(&user.email, user.email_verified)
    }
}

/// The administration reads.
impl Auth {
    /// One user by internal id.
    pub async fn user(&self, user_id: &str) -> Result<UserRecord, AuthError> {
        if user_id.is_empty() {
            return Err(AuthError::InvalidArgument("user_id is required".into()));
        }
        self.store
            .user(user_id)
            .await?
            .ok_or(AuthError::NotFound("user"))
    }

    /// One page of every user, ordered by id ([`page_size`],
    /// [`page_after`]).
    pub async fn list_users(
        &self,
        requested_size: u32,
        page_token_text: &str,
    ) -> Result<UsersPage, AuthError> {
        let after = page_after(page_token_text)?;
        let page = self
            .store
            .list_users(after.as_deref(), page_size(requested_size))
            .await?;
        Ok(UsersPage {
            users: page.users,
            next_page_token: page
                .next_after
                .as_deref()
                .map(page_token)
                .unwrap_or_default(),
        })
    }

    /// The users whose e-mail is `email`, without regard to case.
    pub async fn find_users_by_email(&self, email: &str) -> Result<Vec<UserRecord>, AuthError> {
        let email = email.trim();
        if email.is_empty() {
            return Err(AuthError::InvalidArgument("email is required".into()));
        }
        if email.len() > MAX_EMAIL_LEN {
            return Err(AuthError::InvalidArgument(format!(
                "email is longer than {MAX_EMAIL_LEN} bytes"
            )));
        }
        Ok(self.store.users_by_email(email).await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size(0), 100);
        assert_eq!(page_size(1), 1);
        assert_eq!(page_size(1000), 1000);
        assert_eq!(page_size(1001), 1000);
        assert_eq!(page_size(u32::MAX), 1000);
    }

    #[test]
    fn page_tokens_round_trip_and_strangers_are_invalid() {
        assert_eq!(page_after("").unwrap(), None);
        for id in ["u_abc", "u1", "ü-ñ"] {
            assert_eq!(page_after(&page_token(id)).unwrap().as_deref(), Some(id));
        }
        let long = URL_SAFE_NO_PAD.encode(format!("v1:{}", "x".repeat(257)));
        for bad in [
            "u_abc".to_owned(),
            "!!!".to_owned(),
            URL_SAFE_NO_PAD.encode("v1:"),
            URL_SAFE_NO_PAD.encode("v2:u1"),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
            long,
        ] {
            let err = page_after(&bad).unwrap_err();
            assert!(
                matches!(&err, AuthError::InvalidArgument(m) if m.contains("page_token")),
                "{bad}: {err:?}"
            );
        }
    }
}
