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
    /// One endpoint answers as it normally would, but with its JSON body
    /// padded to [`HugeResponse::bytes`], e.g.
    /// `idp.update_faults(|f| f.huge_response = Some(HugeResponse::chunked(Endpoint::Jwks)))`.
    pub huge_response: Option<HugeResponse>,
    /// One endpoint answers 200 with a body a relying party cannot use, e.g.
    /// `idp.update_faults(|f| f.malformed_response = Some(MalformedResponse::not_json(Endpoint::Token)))`.
    /// Takes precedence over `huge_response` on the same endpoint.
    pub malformed_response: Option<MalformedResponse>,
}

/// The endpoints the response faults can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/.well-known/openid-configuration`.
    Discovery,
    /// `/jwks`.
    Jwks,
    /// `/token`.
    Token,
    /// `/userinfo`.
    Userinfo,
    /// `/tokeninfo`.
    Tokeninfo,
    /// `/github/user`.
    GithubUser,
    /// `/github/user/emails`.
    GithubEmails,
    /// `/github/applications/{client_id}/token`.
    GithubTokenCheck,
}

/// How big [`HugeResponse`]s are by default: 8 MiB, far beyond any sane
/// provider answer.
pub const HUGE_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// The huge-response fault: the endpoint still runs (codes are redeemed,
/// fetches counted), and its JSON body is padded to at least `bytes` bytes
/// while staying valid JSON (an object gains a `"padding"` string member;
/// anything else is followed by whitespace), so a client without a size
/// cap would read and accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HugeResponse {
    /// The endpoint that answers huge.
    pub endpoint: Endpoint,
    /// The body's minimum size.
    pub bytes: usize,
    /// `false`: no `Content-Length`, the body is streamed with chunked
    /// transfer encoding, so only a cap on the bytes actually read stops
    /// it. `true`: an honest `Content-Length` announces the size.
    pub content_length: bool,
}

impl HugeResponse {
    /// [`HUGE_RESPONSE_BYTES`] streamed without a `Content-Length`.
    pub fn chunked(endpoint: Endpoint) -> Self {
        HugeResponse {
            endpoint,
            bytes: HUGE_RESPONSE_BYTES,
            content_length: false,
        }
    }

    /// [`HUGE_RESPONSE_BYTES`] announced by an honest `Content-Length`.
    pub fn with_content_length(endpoint: Endpoint) -> Self {
        HugeResponse {
            content_length: true,
            ..Self::chunked(endpoint)
        }
    }
}

/// What a malformed answer contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// An HTML error page (`text/html`), as a proxy or captive portal would
    /// send: not JSON at all.
    NotJson,
    /// Well-formed JSON of the wrong shape for the endpoint (e.g. a JWKS
    /// `{"keys": "nope"}`, a userinfo `sub` that is a number).
    WrongShape,
}

/// The malformed-response fault: the endpoint still runs (codes are
/// redeemed, fetches counted), then answers 200 with `body` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedResponse {
    /// The endpoint that answers malformed.
    pub endpoint: Endpoint,
    /// What it answers.
    pub body: Malformed,
}

impl MalformedResponse {
    /// `endpoint` answers 200 with an HTML page.
    pub fn not_json(endpoint: Endpoint) -> Self {
        MalformedResponse {
            endpoint,
            body: Malformed::NotJson,
        }
    }

    /// `endpoint` answers 200 with JSON of the wrong shape.
    pub fn wrong_shape(endpoint: Endpoint) -> Self {
        MalformedResponse {
            endpoint,
            body: Malformed::WrongShape,
        }
    }
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
            .field("huge_response", &self.huge_response)
            .field("malformed_response", &self.malformed_response)
            .finish()
    }
}
