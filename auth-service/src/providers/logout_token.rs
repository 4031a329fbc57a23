//! OpenID Connect Back-Channel Logout 1.0, section 2.6: the claim checks of
//! a logout token, run after `jsonwebtoken` has verified its signature with
//! the provider's keys. A logout token must not pass for an ID token or
//! the other way round: it carries the back-channel event and never a
//! nonce, and an ID token carries no such event.

use super::Checks;
use super::claims::Audience;
use crate::domain::error::AuthError;
use common::reason::Reason;
use serde::Deserialize;

/// The event a logout token announces (section 2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long after its `iat` a logout token is accepted (beyond the clock
/// skew). Logout tokens are sent at once; a short window also bounds the
/// replay cache.
pub const MAX_AGE_SECS: i64 = 300;

/// The longest `jti`, `sub` or `sid` accepted, in bytes.
const MAX_ID_BYTES: usize = 255;

/// The claims read; everything optional so a missing one is a specific
/// rejection.
#[derive(Debug, Deserialize)]
pub(super) struct LogoutClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    iat: Option<i64>,
    exp: Option<i64>,
    jti: Option<String>,
    sub: Option<String>,
    sid: Option<String>,
    events: Option<serde_json::Map<String, serde_json::Value>>,
    /// Present only to be refused (section 2.4: a nonce is prohibited).
    nonce: Option<serde_json::Value>,
}

/// A verified logout: whose sessions end, and the token's identity for the
/// replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logout {
    /// The provider's issuer (canonical form, the configured one).
    pub issuer: String,
    /// The provider's subject, when the token names one.
    pub subject: Option<String>,
    /// The provider session, when the token names one.
    pub sid: Option<String>,
    /// The token's unique id.
    pub jti: String,
    /// When the token was issued.
    pub issued_at: i64,
}

fn invalid(detail: &str) -> AuthError {
    AuthError::rejected(Reason::InvalidLogoutToken, detail)
}

/// A non-empty identifier of at most [`MAX_ID_BYTES`], or `None`.
fn identifier(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty() && v.len() <= MAX_ID_BYTES)
}

/// Runs the checks of section 2.6, steps 3 to 7 (the signature is step 2).
pub(super) fn check(
    claims: LogoutClaims,
    issuers: &[String],
    issuer: &str,
    client_id: &str,
    checks: Checks,
) -> Result<Logout, AuthError> {
    let reject = AuthError::rejected;
    match &claims.iss {
        None => return Err(reject(Reason::MissingIss, "the logout token has no issuer")),
        Some(iss) if !issuers.iter().any(|i| i == iss) => {
            return Err(reject(
                Reason::IssuerMismatch,
                "the logout token comes from another issuer",
            ));
        }
        Some(_) => {}
    }
    match &claims.aud {
        None => {
            return Err(reject(
                Reason::MissingAud,
                "the logout token has no audience",
            ));
        }
        Some(aud) if !aud.contains(client_id) => {
            return Err(reject(
                Reason::AudienceMismatch,
                "the logout token was issued to another client",
            ));
        }
        Some(_) => {}
    }
    let issued_at = match claims.iat {
        None => {
            return Err(reject(
                Reason::MissingIat,
                "the logout token has no issue time",
            ));
        }
        Some(iat) if iat > checks.now.saturating_add(checks.skew) => {
            return Err(reject(
                Reason::IssuedInFuture,
                "the logout token is issued in the future",
            ));
        }
        Some(iat) if iat.saturating_add(MAX_AGE_SECS + checks.skew) < checks.now => {
            return Err(invalid("the logout token is more than five minutes old"));
        }
        Some(iat) => iat,
    };
    if claims
        .exp
        .is_some_and(|exp| checks.now >= exp.saturating_add(checks.skew))
    {
        return Err(reject(Reason::Expired, "the logout token has expired"));
    }
    let announces_logout = claims
        .events
        .as_ref()
        .and_then(|events| events.get(BACKCHANNEL_EVENT))
        .is_some_and(serde_json::Value::is_object);
    if !announces_logout {
        return Err(invalid("the token carries no back-channel logout event"));
    }
    if claims.nonce.is_some() {
        return Err(invalid("a logout token must not carry a nonce"));
    }
    let jti =
        identifier(claims.jti).ok_or_else(|| invalid("the logout token has no usable jti"))?;
    let subject = identifier(claims.sub);
    let sid = identifier(claims.sid);
    if subject.is_none() && sid.is_none() {
        return Err(invalid(
            "the logout token names neither a subject nor a session",
        ));
    }
    Ok(Logout {
        issuer: issuer.to_owned(),
        subject,
        sid,
        jti,
        issued_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> serde_json::Value {
        json!({
            "iss": "https://idp", "aud": "cid", "iat": 1000, "jti": "j1",
            "sub": "u1", "sid": "s1",
            "events": { BACKCHANNEL_EVENT: {} },
        })
    }

    fn run(v: serde_json::Value) -> Result<Logout, String> {
        let claims: LogoutClaims = serde_json::from_value(v).unwrap();
        let issuers = vec!["https://idp".to_owned()];
        check(
            claims,
            &issuers,
            "https://idp",
            "cid",
            Checks {
                now: 1010,
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
    fn a_good_token_names_its_subject_and_session() {
        let logout = run(base()).unwrap();
        assert_eq!(logout.subject.as_deref(), Some("u1"));
        assert_eq!(logout.sid.as_deref(), Some("s1"));
        assert_eq!(logout.jti, "j1");
        assert_eq!(logout.issued_at, 1000);
        assert_eq!(run(without("sid")).unwrap().sid, None);
        assert_eq!(run(without("sub")).unwrap().subject, None);
        assert!(run(with("aud", json!(["other", "cid"]))).is_ok());
        assert!(run(with("exp", json!(1100))).is_ok());
    }

    #[test]
    fn each_rule_has_its_code() {
        let cases = [
            (without("iss"), "missing_iss"),
            (with("iss", json!("https://evil")), "issuer_mismatch"),
            (without("aud"), "missing_aud"),
            (with("aud", json!("other")), "audience_mismatch"),
            (without("iat"), "missing_iat"),
            (with("iat", json!(1100)), "issued_in_future"),
            (
                with("iat", json!(1010 - MAX_AGE_SECS - 61)),
                "invalid_logout_token",
            ),
            (with("exp", json!(900)), "expired"),
            (without("events"), "invalid_logout_token"),
            (with("events", json!({})), "invalid_logout_token"),
            (
                with("events", json!({ BACKCHANNEL_EVENT: "yes" })),
                "invalid_logout_token",
            ),
            (with("nonce", json!("n")), "invalid_logout_token"),
            (without("jti"), "invalid_logout_token"),
            (with("jti", json!("")), "invalid_logout_token"),
            (with("jti", json!("j".repeat(256))), "invalid_logout_token"),
        ];
        for (claims, code) in cases {
            assert_eq!(run(claims.clone()).unwrap_err(), code, "{claims}");
        }
        let mut neither = without("sub");
        neither.as_object_mut().unwrap().remove("sid");
        assert_eq!(run(neither).unwrap_err(), "invalid_logout_token");
        // Within the window and the skew, its edges included: accepted.
        assert!(run(with("iat", json!(1010 - MAX_AGE_SECS - 60))).is_ok());
        assert!(run(with("iat", json!(1010 - MAX_AGE_SECS - 59))).is_ok());
        assert!(run(with("iat", json!(1060))).is_ok());
        assert!(run(with("iat", json!(1070))).is_ok());
    }
}
