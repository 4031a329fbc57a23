//! Signing keys: the RSA key pairs, the published JSON Web Key Set, and
//! signing with `jsonwebtoken` (never by hand), including the deliberately
//! wrong signatures negative tests need.
//!
//! Three kinds of key exist at any time:
//! * the *current* key, which signs and is published in the JWKS;
//! * older keys still published after `rotate_key(true)`, so tokens they
//!   signed keep verifying during a rotation;
//! * one *unpublished* key, generated at start and never put in the JWKS, so
//!   a token it signs is well-formed but carries a bad signature.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;

/// 2048 bits: the smallest size RS256 verifiers commonly accept (RFC 7518
/// section 3.3 requires at least 2048).
const RSA_BITS: usize = 2048;

/// Which key signs a token minted with [`crate::DevIdp::sign_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SigningKey {
    /// The current key, published in the JWKS: a valid signature.
    #[default]
    Current,
    /// A key that is never published: the signature cannot verify.
    Unpublished,
    /// The algorithm-confusion attack: an HS256 HMAC keyed with the current
    /// public key's PEM text, which a verifier that lets the token pick the
    /// algorithm would accept.
    Hs256WithPublicKeyPem,
}

/// One RSA key pair, kept in the forms signing and publishing need.
pub(crate) struct RsaKey {
    /// RFC 7638 JWK thumbprint, so the id is stable for the key and unique.
    pub(crate) kid: String,
    encoding: EncodingKey,
    /// Modulus and exponent, base64url without padding (RFC 7518 6.3.1).
    n: String,
    e: String,
    /// SubjectPublicKeyInfo PEM of the public key, for the HS256 attack.
    public_pem: String,
}

impl RsaKey {
    /// Generates a fresh key. Slow (tens to hundreds of milliseconds), so it
    /// runs on the blocking pool, never on a runtime worker.
    pub(crate) async fn generate() -> anyhow::Result<Arc<RsaKey>> {
        tokio::task::spawn_blocking(Self::generate_blocking)
            .await
            .context("RSA key generation task failed")?
    }

    fn generate_blocking() -> anyhow::Result<Arc<RsaKey>> {
        let private = rsa::RsaPrivateKey::new(&mut rand_core_06::OsRng, RSA_BITS)
            .context("cannot generate an RSA key")?;
        Self::from_private(&private)
    }

    /// The key in `pem`: a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`) RSA private key of at least 2048 bits.
    pub(crate) fn from_pem(pem: &str) -> anyhow::Result<Arc<RsaKey>> {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .context("the signing key is not a PEM RSA private key (PKCS#8 or PKCS#1)")?;
        anyhow::ensure!(
            private.size() * 8 >= RSA_BITS,
            "the signing key has {} bits; RS256 needs at least {RSA_BITS}",
            private.size() * 8
        );
        Self::from_private(&private)
    }

    fn from_private(private: &rsa::RsaPrivateKey) -> anyhow::Result<Arc<RsaKey>> {
        let der = private
            .to_pkcs1_der()
            .context("cannot encode the RSA private key")?;
        let public = private.to_public_key();
        let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .context("cannot encode the RSA public key")?;
        Ok(Arc::new(RsaKey {
            kid: thumbprint(&n, &e),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            n,
            e,
            public_pem,
        }))
    }

    /// The key as a JWK (RFC 7517 section 4, RFC 7518 section 6.3).
    fn jwk(&self, with_kid: bool) -> Value {
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "n": self.n,
            "e": self.e,
        });
        if with_kid {
            jwk["kid"] = json!(self.kid);
        }
        jwk
    }
}

/// RFC 7638 section 3: SHA-256 over the required members in lexicographic
/// order, without whitespace.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The provider's keys.
pub(crate) struct Keyring {
    current: Arc<RsaKey>,
    /// Published keys, newest first; always contains `current`.
    published: Vec<Arc<RsaKey>>,
    unpublished: Arc<RsaKey>,
}

impl Keyring {
    /// The current key from `pem` when given (else generated) and a fresh
    /// unpublished key, in parallel.
    pub(crate) async fn generate(pem: Option<&str>) -> anyhow::Result<Keyring> {
        let current = async {
            match pem {
                Some(pem) => RsaKey::from_pem(pem),
                None => RsaKey::generate().await,
            }
        };
        let (current, unpublished) = tokio::try_join!(current, RsaKey::generate())?;
        Ok(Keyring {
            published: vec![current.clone()],
            current,
            unpublished,
        })
    }

    pub(crate) fn current_kid(&self) -> &str {
        &self.current.kid
    }

    /// Makes `key` current; older keys stay published only if `keep_old`.
    pub(crate) fn rotate(&mut self, key: Arc<RsaKey>, keep_old: bool) {
        if !keep_old {
            self.published.clear();
        }
        self.published.insert(0, key.clone());
        self.current = key;
    }

    /// The JWK Set document (RFC 7517 section 5).
    pub(crate) fn jwks(&self, with_kid: bool) -> Value {
        let keys: Vec<Value> = self.published.iter().map(|k| k.jwk(with_kid)).collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` under `header`. The header is used as given (so tests
    /// can drop or fake `kid`, add `jku`, ...), except that an `alg` of the
    /// wrong family for `key` is replaced by the key's natural algorithm,
    /// because `jsonwebtoken` refuses to sign a mismatch.
    pub(crate) fn sign(
        &self,
        mut header: Header,
        claims: &Value,
        key: SigningKey,
    ) -> jsonwebtoken::errors::Result<String> {
        let (encoding, family, natural) = match key {
            SigningKey::Current => (
                self.current.encoding.clone(),
                AlgorithmFamily::Rsa,
                Algorithm::RS256,
            ),
            SigningKey::Unpublished => (
                self.unpublished.encoding.clone(),
                AlgorithmFamily::Rsa,
                Algorithm::RS256,
            ),
            SigningKey::Hs256WithPublicKeyPem => (
                EncodingKey::from_secret(self.current.public_pem.as_bytes()),
                AlgorithmFamily::Hmac,
                Algorithm::HS256,
            ),
        };
        if header.alg.family() != family {
            header.alg = natural;
        }
        jsonwebtoken::encode(&header, claims, &encoding)
    }
}

/// An unsigned `alg: none` JWT (RFC 7519 section 6.1) carrying `claims`, for
/// tests that check a relying party refuses it. Built by hand because no JWT
/// library will produce one; this is a forgery helper, not a signer.
pub fn unsigned_token(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}
