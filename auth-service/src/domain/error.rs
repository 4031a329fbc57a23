//! The domain's error type, mapped once to a gRPC status in `grpc.rs`.

use crate::storage::StorageError;
use common::reason::Reason;
use common::token::RandomError;

/// Why a provider token, authorization response or login was refused.
///
/// `code` is a stable machine-readable reason (`bad_signature`,
/// `nonce_mismatch`, ...) that reaches the gateway and the audit log; `detail`
/// is human text. Neither ever contains a token, code or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable reason code.
    pub code: Reason,
    /// Human-readable explanation.
    pub detail: String,
}

impl Rejection {
    /// A rejection with a reason code and explanation.
    pub fn new(code: Reason, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// Everything that can go wrong in auth-service.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The session token is unknown, expired, revoked or malformed.
    #[error("session unknown, expired or revoked")]
    InvalidSession,
    /// A provider token or authorization response failed verification.
    #[error("token rejected: {0}")]
    TokenRejected(Rejection),
    /// The request itself is malformed.
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    /// The named thing does not exist (or is not the caller's).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An identity provider could not be reached or answered nonsense.
    #[error("identity provider unavailable: {0}")]
    ProviderUnavailable(String),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The OS random number generator failed.
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl AuthError {
    /// Shorthand for a token rejection.
    pub fn rejected(code: Reason, detail: impl Into<String>) -> Self {
        Self::TokenRejected(Rejection::new(code, detail))
    }

    /// The reason code this error carries to the gateway and the audit log,
    /// if it has one (malformed requests and internal failures have none).
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Self::InvalidSession => Some(Reason::InvalidSession),
            Self::TokenRejected(r) => Some(r.code),
            Self::ProviderUnavailable(_) => Some(Reason::ProviderUnavailable),
            Self::InvalidArgument(_) | Self::NotFound(_) | Self::Storage(_) | Self::Random(_) => {
                None
            }
        }
    }
}
