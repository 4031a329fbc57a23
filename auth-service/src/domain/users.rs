//! Users: one per provider identity `(issuer, subject)`, never matched by
//! e-mail (an e-mail can change hands or be unverified). The profile is
//! refreshed at each login; roles are derived from configuration on every
//! read, so a config change applies without touching stored users.

use super::error::AuthError;
use super::{Auth, truncate};
use crate::providers::Identity;
use crate::storage::UserRecord;
use common::token::random_text;

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
