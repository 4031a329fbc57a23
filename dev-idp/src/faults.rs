//! Deliberate misbehaviour, switched on at runtime by tests so the provider
//! breaks in exactly one way and the relying party's defence can be checked.
//! Everything is off by default: a default `Faults` is a correct provider.

use crate::SigningKey;
use jsonwebtoken::Header;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Edits the header and claims of an ID token the token endpoint is about
/// to sign.
pub type IdTokenMutator = Arc<dyn Fn(&mut Header, &mut Value) + Send + Sync>;

/// The provider's current faults; see [`crate::DevIdp::update_faults`].
#[derive(Clone, Default)]
pub struct Faults {
    /// The discovery document reports this `issuer` instead of the real one
    /// (OpenID Connect Discovery 1.0 section 4.3 says to refuse it).
    pub discovery_issuer: Option<String>,
    /// Applied to ID tokens from the token endpoint before signing (change
    /// `nonce` or `aud`, drop `sub`, set a `kid`, ...).
    pub id_token_mutator: Option<IdTokenMutator>,
    /// The key that signs the token endpoint's ID tokens.
    pub id_token_signing: SigningKey,
    /// The token endpoint's ID tokens are unsigned (`alg: none`).
    pub id_token_alg_none: bool,
    /// The token response carries no `id_token`.
    pub omit_id_token: bool,
    /// The userinfo endpoint reports this `sub` instead of the user's.
    pub userinfo_sub: Option<String>,
    /// The `iss` parameter on the authorization response (RFC 9207) is this
    /// instead of the real issuer.
    pub authorization_response_iss: Option<String>,
    /// The JWKS publishes keys without `kid`.
    pub jwks_omit_kid: bool,
    /// The JWKS endpoint answers with this HTTP status and no key set.
    pub jwks_status: Option<u16>,
    /// The token endpoint answers 400 `{"error": <this>}`.
    pub token_error: Option<String>,
    /// Every endpoint waits this long before answering.
    pub delay: Option<Duration>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("discovery_issuer", &self.discovery_issuer)
            .field(
                "id_token_mutator",
                &self.id_token_mutator.as_ref().map(|_| "Fn(..)"),
            )
            .field("id_token_signing", &self.id_token_signing)
            .field("id_token_alg_none", &self.id_token_alg_none)
            .field("omit_id_token", &self.omit_id_token)
            .field("userinfo_sub", &self.userinfo_sub)
            .field(
                "authorization_response_iss",
                &self.authorization_response_iss,
            )
            .field("jwks_omit_kid", &self.jwks_omit_kid)
            .field("jwks_status", &self.jwks_status)
            .field("token_error", &self.token_error)
            .field("delay", &self.delay)
            .finish()
    }
}
