//! ID token claim checks, OpenID Connect Core 3.1.3.7 steps 2-11, run after
//! `jsonwebtoken` has verified the signature. Each failure has its own
//! reason code, so the audit log and the client say exactly which rule broke.

use super::Checks;
use crate::domain::error::AuthError;
use common::reason::Reason;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// `aud` is a string or an array of strings (RFC 7519 4.1.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    fn as_slice(&self) -> &[String] {
        match self {
            Self::One(a) => std::slice::from_ref(a),
            Self::Many(v) => v,
        }
    }

    /// Whether `client_id` is one of the audiences.
    pub(super) fn contains(&self, client_id: &str) -> bool {
        self.as_slice().iter().any(|a| a == client_id)
    }
}

/// Some providers send booleans as strings (`"true"`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub(super) enum Flag {
    /// A JSON boolean.
    Bool(bool),
    /// A string, true only when `"true"`.
    Text(#[serde(deserialize_with = "flag_text")] bool),
}

fn flag_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    Ok(s.eq_ignore_ascii_case("true"))
}

impl Flag {
    /// The flag's value.
    pub(super) fn value(self) -> bool {
        match self {
            Self::Bool(b) | Self::Text(b) => b,
        }
    }
}

/// The ID token claims we read. Everything is optional here so a missing
/// claim becomes a specific rejection rather than a parse error.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct IdTokenClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<Audience>,
    pub azp: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub nonce: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<Flag>,
    pub name: Option<String>,
    pub picture: Option<String>,
    /// The provider's session id (OpenID Connect Back-Channel Logout 1.0
    /// section 2.1), kept with the session so a logout token can name it.
    pub sid: Option<String>,
    /// Google Workspace hosted domain.
    pub hd: Option<String>,
    /// Every other claim, for the configured `groups_claim`.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// What the claims must satisfy.
pub(super) struct Expected<'a> {
    /// Issuer spellings accepted (Google has two).
    pub issuers: &'a [String],
    /// Our client id.
    pub client_id: &'a str,
    /// The nonce sent in the authorization request (code flow only).
    pub nonce: Option<&'a str>,
}

/// Runs the claim checks in the order of OIDC Core 3.1.3.7.
pub(super) fn check(
    claims: &IdTokenClaims,
    expected: &Expected<'_>,
    checks: Checks,
) -> Result<(), AuthError> {
    let reject = AuthError::rejected;
    // A Security Event Token (RFC 8417 2.2), such as a back-channel logout
    // token, is signed with the same keys and may carry `sub`, `aud` and
    // `exp`; it must never pass for an ID token (and log someone in).
    if claims.other.contains_key("events") {
        return Err(reject(
            Reason::MalformedToken,
            "the token is a security event token (such as a logout token), not an ID token",
        ));
    }
    // 2. iss exactly equals the provider's issuer.
    match &claims.iss {
        None => return Err(reject(Reason::MissingIss, "the ID token has no issuer")),
        Some(iss) if !expected.issuers.iter().any(|i| i == iss) => {
            return Err(reject(
                Reason::IssuerMismatch,
                "the ID token comes from another issuer",
            ));
        }
        Some(_) => {}
    }
    // 3. aud contains our client id.
    let audiences = match &claims.aud {
        Some(aud) if !aud.as_slice().is_empty() => aud.as_slice(),
        _ => return Err(reject(Reason::MissingAud, "the ID token has no audience")),
    };
    if !audiences.iter().any(|a| a == expected.client_id) {
        return Err(reject(
            Reason::AudienceMismatch,
            "the ID token was issued to another client",
        ));
    }
    // 4./5. azp is required with several audiences, and must be us when present.
    match &claims.azp {
        None if audiences.len() > 1 => {
            return Err(reject(
                Reason::AzpMissing,
                "the ID token has several audiences but no authorized party",
            ));
        }
        Some(azp) if azp != expected.client_id => {
            return Err(reject(
                Reason::AzpMismatch,
                "the ID token's authorized party is another client",
            ));
        }
        _ => {}
    }
    // 9. exp in the future (with skew).
    match claims.exp {
        None => return Err(reject(Reason::MissingExp, "the ID token has no expiry")),
        Some(exp) if checks.now >= exp.saturating_add(checks.skew) => {
            return Err(reject(Reason::Expired, "the ID token has expired"));
        }
        Some(_) => {}
    }
    // 10. iat present and not in the future (with skew).
    match claims.iat {
        None => return Err(reject(Reason::MissingIat, "the ID token has no issue time")),
        Some(iat) if iat > checks.now.saturating_add(checks.skew) => {
            return Err(reject(
                Reason::IssuedInFuture,
                "the ID token is issued in the future",
            ));
        }
        Some(_) => {}
    }
    if let Some(nbf) = claims.nbf
        && nbf > checks.now.saturating_add(checks.skew)
    {
        return Err(reject(Reason::NotYetValid, "the ID token is not valid yet"));
    }
    // 11. nonce equals the one we sent.
    if let Some(sent) = expected.nonce {
        let matches = claims
            .nonce
            .as_deref()
            .is_some_and(|got| bool::from(got.as_bytes().ct_eq(sent.as_bytes())));
        if !matches {
            return Err(reject(
                Reason::NonceMismatch,
                "the ID token's nonce is missing or not the one sent",
            ));
        }
    }
    if claims.sub.as_deref().is_none_or(str::is_empty) {
        return Err(reject(Reason::MissingSub, "the ID token has no subject"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: serde_json::Value) -> IdTokenClaims {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({"iss": "https://idp", "sub": "u1", "aud": "cid", "exp": 2000, "iat": 1000, "nonce": "n"})
    }

    fn run(v: serde_json::Value, nonce: Option<&str>) -> Result<(), String> {
        let issuers = vec!["https://idp".to_owned()];
        let expected = Expected {
            issuers: &issuers,
            client_id: "cid",
            nonce,
        };
        check(
            &claims(v),
            &expected,
            Checks {
                now: 1500,
                skew: 60,
            },
        )
        .map_err(|e| match e {
            AuthError::TokenRejected(r) => r.code.code().to_owned(),
            other => panic!("unexpected {other:?}"),
        })
    }

    fn with(key: &str, value: serde_json::Value) -> serde_json::Value {
        let mut v = base();
        v[key] = value;
        v
    }

    fn without(key: &str) -> serde_json::Value {
        let mut v = base();
        v.as_object_mut().unwrap().remove(key);
        v
    }

    #[test]
    fn each_rule_has_its_code() {
        assert_eq!(run(base(), Some("n")), Ok(()));
        assert_eq!(run(without("iss"), None).unwrap_err(), "missing_iss");
        assert_eq!(
            run(with("iss", json!("https://evil")), None).unwrap_err(),
            "issuer_mismatch"
        );
        assert_eq!(run(without("aud"), None).unwrap_err(), "missing_aud");
        assert_eq!(
            run(with("aud", json!("other")), None).unwrap_err(),
            "audience_mismatch"
        );
        assert_eq!(
            run(with("aud", json!(["cid", "other"])), None).unwrap_err(),
            "azp_missing"
        );
        let mut several = with("aud", json!(["cid", "other"]));
        several["azp"] = json!("cid");
        assert_eq!(run(several, None), Ok(()));
        assert_eq!(
            run(with("azp", json!("other")), None).unwrap_err(),
            "azp_mismatch"
        );
        assert_eq!(run(without("exp"), None).unwrap_err(), "missing_exp");
        assert_eq!(run(with("exp", json!(1400)), None).unwrap_err(), "expired");
        assert_eq!(run(with("exp", json!(1450)), None), Ok(()), "within skew");
        assert_eq!(run(without("iat"), None).unwrap_err(), "missing_iat");
        assert_eq!(
            run(with("iat", json!(1600)), None).unwrap_err(),
            "issued_in_future"
        );
        assert_eq!(run(with("iat", json!(1550)), None), Ok(()), "within skew");
        assert_eq!(
            run(with("nbf", json!(1600)), None).unwrap_err(),
            "not_yet_valid"
        );
        assert_eq!(run(base(), Some("other")).unwrap_err(), "nonce_mismatch");
        assert_eq!(
            run(without("nonce"), Some("n")).unwrap_err(),
            "nonce_mismatch"
        );
        assert_eq!(run(without("sub"), None).unwrap_err(), "missing_sub");
        let logout_event = json!({"http://schemas.openid.net/event/backchannel-logout": {}});
        assert_eq!(
            run(with("events", logout_event), None).unwrap_err(),
            "malformed_token"
        );
        assert_eq!(
            run(with("sub", json!("")), None).unwrap_err(),
            "missing_sub"
        );
    }

    #[test]
    fn email_verified_accepts_strings() {
        let c = claims(with("email_verified", json!("true")));
        assert!(c.email_verified.unwrap().value());
        let c = claims(with("email_verified", json!(false)));
        assert!(!c.email_verified.unwrap().value());
    }
}
