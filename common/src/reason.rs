//! Why a login or a session was refused: one closed list of stable,
//! machine-readable reason codes shared by auth-service (which decides, sends
//! the code in `portcullis-reason` gRPC metadata and writes it to the audit
//! log) and the gateway (which answers it as the JSON `error` code).
//!
//! A closed enum rather than free strings, so a typo cannot invent a code,
//! and the gateway only ever repeats a code it knows: metadata that is not
//! on this list is never echoed to a client.

/// Declares [`Reason`] with each variant's code and meaning in one place.
macro_rules! reasons {
    ($($(#[doc = $doc:literal])+ $variant:ident => $code:literal,)+) => {
        /// A stable reason code; see the module documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)+];

            /// The code as sent on the wire and written to logs.
            pub fn code(self) -> &'static str {
                match self {
                    $(Reason::$variant => $code,)+
                }
            }

            /// The reason for `code`, if it is one of ours.
            pub fn from_code(code: &str) -> Option<Reason> {
                match code {
                    $($code => Some(Reason::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    /// The token's signature does not verify with the provider's key.
    BadSignature => "bad_signature",
    /// The token is not a well-formed JWT (or a field has the wrong type).
    MalformedToken => "malformed_token",
    /// The token is larger than we ever parse; refused before any crypto.
    TokenTooLarge => "token_too_large",
    /// `alg` is `none`, symmetric, or not advertised by the provider.
    UnsupportedAlg => "unsupported_alg",
    /// No key in the provider's JWKS has the token's `kid`.
    UnknownKey => "unknown_key",
    /// The token has no `kid` and the JWKS holds several keys.
    KidRequired => "kid_required",
    /// `aud` does not contain our client id, or holds an untrusted audience.
    AudienceMismatch => "audience_mismatch",
    /// Several audiences and no `azp`.
    AzpMissing => "azp_missing",
    /// `azp` is not our client id.
    AzpMismatch => "azp_mismatch",
    /// `iss` (or the authorization response's `iss`) is not the provider's.
    IssuerMismatch => "issuer_mismatch",
    /// The provider advertises RFC 9207 `iss` but the response lacks it.
    IssuerMissing => "issuer_missing",
    /// The discovery document names another issuer than the configured one.
    DiscoveryIssuerMismatch => "discovery_issuer_mismatch",
    /// The token has no `sub`.
    MissingSub => "missing_sub",
    /// The token has no `iat`.
    MissingIat => "missing_iat",
    /// The token has no `exp`.
    MissingExp => "missing_exp",
    /// The token has no `aud`.
    MissingAud => "missing_aud",
    /// The token has no `iss`.
    MissingIss => "missing_iss",
    /// `exp` has passed (beyond the allowed clock skew).
    Expired => "expired",
    /// `iat` is in the future beyond the allowed clock skew.
    IssuedInFuture => "issued_in_future",
    /// `nbf` is in the future beyond the allowed clock skew.
    NotYetValid => "not_yet_valid",
    /// The ID token's `nonce` is missing or not the one we sent.
    NonceMismatch => "nonce_mismatch",
    /// The provider has not verified the user's e-mail address.
    EmailNotVerified => "email_not_verified",
    /// The Google account is not in the required Workspace domain.
    HostedDomainMismatch => "hosted_domain_mismatch",
    /// The provider's groups are not a flat list of strings, or hold too
    /// many or too long names.
    GroupsMalformed => "groups_malformed",
    /// The user is in none of the groups, organisations or teams the
    /// provider's configuration allows.
    GroupNotAllowed => "group_not_allowed",
    /// The `state` is unknown, already used or expired and purged.
    StateUnknown => "state_unknown",
    /// The `state` belongs to another browser's flow.
    StateMismatch => "state_mismatch",
    /// The flow is older than its lifetime.
    StateExpired => "state_expired",
    /// The callback is for another provider than the flow started with.
    ProviderMismatch => "provider_mismatch",
    /// An OpenID provider's token response has no ID token.
    MissingIdToken => "missing_id_token",
    /// The token response has no access token (GitHub).
    MissingAccessToken => "missing_access_token",
    /// The userinfo `sub` differs from the ID token's.
    UserinfoSubMismatch => "userinfo_sub_mismatch",
    /// The provider refused the authorization code.
    CodeExchangeFailed => "code_exchange_failed",
    /// The provider does not vouch for the access token (or not for us).
    InvalidAccessToken => "invalid_access_token",
    /// The provider offers no way to confirm which client a token was
    /// issued to (X), so tokens from a front-end are refused.
    TokenNotVerifiable => "token_not_verifiable",
    /// The provider could not be reached or answered something unusable.
    ProviderUnavailable => "provider_unavailable",
    /// A back-channel logout token breaks a rule of its own (no back-channel
    /// event, a nonce, no `jti`, neither `sub` nor `sid`, too old).
    InvalidLogoutToken => "invalid_logout_token",
    /// A back-channel logout token's `jti` was seen before.
    LogoutTokenReplayed => "logout_token_replayed",
    /// The session token is unknown, expired, revoked or malformed.
    InvalidSession => "invalid_session",
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = HashSet::new();
        for &reason in Reason::ALL {
            let code = reason.code();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(
                !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert_eq!(Reason::from_code(code), Some(reason));
        }
        assert_eq!(Reason::from_code("made_up"), None);
        assert_eq!(Reason::from_code("Bad_Signature"), None);
    }
}
