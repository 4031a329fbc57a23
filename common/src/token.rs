//! Secret and identifier types shared by both services.
//!
//! Session tokens are 256 bits from the operating system's CSPRNG, written as
//! unpadded URL-safe base64 (43 characters). Only their SHA-256 hash is ever
//! stored; the token itself goes to the client once. `Debug` redacts it, and
//! there is deliberately no `Display`, so it cannot end up in a log line by
//! accident.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Length in characters of a 32-byte value in unpadded URL-safe base64.
pub const TOKEN_TEXT_LEN: usize = 43;

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the OS random number generator failed: {0}")]
pub struct RandomError(String);

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| RandomError(e.to_string()))?;
    Ok(buf)
}

/// A random URL-safe string carrying `N` bytes of entropy: ids, `state`,
/// `nonce`, PKCE verifiers (RFC 7636 4.1 allows exactly these characters).
pub fn random_text<const N: usize>() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<N>()?))
}

/// SHA-256 of a secret, as stored at rest instead of the secret itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// Hashes any secret text (session tokens, flow handles, `state`).
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Compares two hashes in constant time.
    pub fn ct_eq(&self, other: &SecretHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// Why a presented session token was refused before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// The text is not 43 URL-safe base64 characters.
    #[error("session token is malformed")]
    Malformed,
}

/// A bearer session token. Never logged, never displayed.
#[derive(Clone)]
pub struct SessionToken(String);

impl SessionToken {
    /// A fresh token: 256 bits from the OS CSPRNG.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(random_text::<32>()?))
    }

    /// Accepts exactly the shape `generate` produces, so garbage is refused
    /// before it reaches the store.
    pub fn parse(text: &str) -> Result<Self, TokenFormatError> {
        if text.len() != TOKEN_TEXT_LEN {
            return Err(TokenFormatError::Malformed);
        }
        match URL_SAFE_NO_PAD.decode(text) {
            Ok(bytes) if bytes.len() == 32 => Ok(Self(text.to_owned())),
            _ => Err(TokenFormatError::Malformed),
        }
    }

    /// The token text, to hand to the client exactly once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the session is stored.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert_eq!(a.expose().len(), TOKEN_TEXT_LEN);
        assert_ne!(a.expose(), b.expose());
        assert!(SessionToken::parse(a.expose()).is_ok());
        assert!(a.hash() != b.hash());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &"!".repeat(43),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert_eq!(
                SessionToken::parse(bad).unwrap_err(),
                TokenFormatError::Malformed
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let t = SessionToken::generate().unwrap();
        assert!(!format!("{t:?}").contains(t.expose()));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_canonical_tokens(text in ".{0,100}") {
            if let Ok(token) = SessionToken::parse(&text) {
                prop_assert_eq!(token.expose(), text.as_str());
                prop_assert_eq!(text.len(), TOKEN_TEXT_LEN);
            }
        }

        #[test]
        fn generated_shape_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
            let text = URL_SAFE_NO_PAD.encode(bytes);
            prop_assert!(SessionToken::parse(&text).is_ok());
        }
    }
}
