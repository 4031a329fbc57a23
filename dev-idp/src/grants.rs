//! What the provider has handed out: authorization codes and access tokens.
//!
//! Both are 256-bit values from the OS CSPRNG. Codes are single use, live 60
//! seconds and remember everything the token endpoint must check them
//! against (RFC 6749 section 4.1.3, RFC 7636 section 4.6). Access tokens are
//! opaque and remembered so userinfo, tokeninfo and the GitHub-like API can
//! answer for them.

use crate::DevUser;
use crate::clock::unix_now;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core_06::RngCore as _;
use std::collections::HashMap;
use tokio::time::{Duration, Instant};

/// RFC 6749 section 4.1.2 recommends at most 10 minutes; one is plenty for
/// a redirect that happens immediately.
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long a presented code is remembered to detect reuse: longer than any
/// code lives, so every reuse within a flow's lifetime is caught.
const SPENT_CODE_MEMORY: Duration = Duration::from_secs(600);
/// Access and ID token lifetime, in seconds.
pub(crate) const TOKEN_LIFETIME_SECS: i64 = 3600;

/// 256 random bits, base64url: unguessable, URL- and header-safe.
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand_core_06::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What an authorization code was issued for.
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    /// The S256 challenge, base64url of SHA-256 of the verifier.
    pub(crate) code_challenge: String,
    pub(crate) nonce: Option<String>,
    pub(crate) scope: String,
    pub(crate) user: DevUser,
    expires_at: Instant,
}

/// What an access token was issued for.
#[derive(Clone)]
pub(crate) struct AccessGrant {
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) user: DevUser,
    /// Unix seconds.
    pub(crate) expires_at: i64,
}

/// Why a code cannot be redeemed; all are `invalid_grant` on the wire.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CodeRejected {
    Unknown,
    Expired,
    /// Presented before; the tokens it bought have been revoked.
    Reused,
}

/// A code that has been presented once, remembered until it would have
/// expired so a second presentation is recognised as reuse.
struct SpentCode {
    expires_at: Instant,
    access_token: Option<String>,
}

#[derive(Default)]
pub(crate) struct Grants {
    codes: HashMap<String, CodeGrant>,
    spent: HashMap<String, SpentCode>,
    access_tokens: HashMap<String, AccessGrant>,
}

/// The parts of an authorization request a code is bound to.
pub(crate) struct CodeRequest {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) nonce: Option<String>,
    pub(crate) scope: String,
    pub(crate) user: DevUser,
}

impl Grants {
    pub(crate) fn issue_code(&mut self, request: CodeRequest) -> String {
        self.prune();
        let code = random_secret();
        self.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: request.client_id,
                redirect_uri: request.redirect_uri,
                code_challenge: request.code_challenge,
                nonce: request.nonce,
                scope: request.scope,
                user: request.user,
                expires_at: Instant::now() + CODE_LIFETIME,
            },
        );
        code
    }

    /// Takes the code out: whatever happens next, it can never be redeemed
    /// again. A second presentation revokes the access token the first one
    /// obtained (RFC 6749 section 4.1.2: "SHOULD revoke ... all tokens
    /// previously issued based on that authorization code").
    pub(crate) fn redeem_code(&mut self, code: &str) -> Result<CodeGrant, CodeRejected> {
        if let Some(spent) = self.spent.get_mut(code) {
            if let Some(token) = spent.access_token.take() {
                self.access_tokens.remove(&token);
            }
            return Err(CodeRejected::Reused);
        }
        let grant = self.codes.remove(code).ok_or(CodeRejected::Unknown)?;
        self.spent.insert(
            code.to_owned(),
            SpentCode {
                expires_at: Instant::now() + SPENT_CODE_MEMORY,
                access_token: None,
            },
        );
        if Instant::now() >= grant.expires_at {
            return Err(CodeRejected::Expired);
        }
        Ok(grant)
    }

    /// Remembers which access token a redeemed code bought, for revocation
    /// on reuse.
    pub(crate) fn link_code_to_token(&mut self, code: &str, access_token: &str) {
        if let Some(spent) = self.spent.get_mut(code) {
            spent.access_token = Some(access_token.to_owned());
        }
    }

    pub(crate) fn issue_access_token(
        &mut self,
        user: DevUser,
        client_id: &str,
        scope: &str,
    ) -> String {
        self.prune();
        let token = random_secret();
        self.access_tokens.insert(
            token.clone(),
            AccessGrant {
                client_id: client_id.to_owned(),
                scope: scope.to_owned(),
                user,
                expires_at: unix_now() + TOKEN_LIFETIME_SECS,
            },
        );
        token
    }

    /// The grant behind a live access token.
    pub(crate) fn access_token(&self, token: &str) -> Option<AccessGrant> {
        self.access_tokens
            .get(token)
            .filter(|grant| grant.expires_at > unix_now())
            .cloned()
    }

    /// Forgets expired codes and tokens so a long-running dev server does
    /// not grow without bound.
    fn prune(&mut self) {
        let now = Instant::now();
        let unix = unix_now();
        self.codes.retain(|_, grant| grant.expires_at > now);
        self.spent.retain(|_, spent| spent.expires_at > now);
        self.access_tokens
            .retain(|_, grant| grant.expires_at > unix);
    }
}
