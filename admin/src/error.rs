//! Everything that can stop a command, each with its exit status: 2 for
//! what the operator must fix in the invocation (flags, files, the
//! environment), 1 for what auth-service said or could not say (not found,
//! refused, unreachable). A gRPC failure is classified once, here
//! ([`AdminError::from_status`]); the message names what to check and never
//! holds the token.

use tonic::{Code, Status};

/// Exit status for "not found", "refused" and "unreachable".
pub const FAILED: u8 = 1;
/// Exit status for a usage or configuration error (clap's own as well).
pub const USAGE: u8 = 2;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The invocation cannot work as given (a file, a flag, the environment).
    #[error("{0}")]
    Config(String),
    /// No connection to auth-service (refused, timed out, TLS handshake).
    #[error("cannot reach auth-service at {url}: {cause}")]
    Unreachable {
        /// The URL dialled.
        url: String,
        /// The transport's error chain.
        cause: String,
    },
    /// auth-service refused the caller's credentials.
    #[error("auth-service refused the {credential}: {message}")]
    CallerRefused {
        /// What was presented ("service token", "client certificate", ...).
        credential: &'static str,
        /// auth-service's message.
        message: String,
    },
    /// auth-service wants a credential that was not given.
    #[error(
        "auth-service requires caller authentication, and no service token or client \
         certificate was given: use --service-token-file or $PORTCULLIS_SERVICE_TOKEN \
         (auth-service said: {message})"
    )]
    CredentialMissing {
        /// auth-service's message.
        message: String,
    },
    /// The user, session or e-mail asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// auth-service refused the request itself (INVALID_ARGUMENT and the like).
    #[error("auth-service refused the request: {0}")]
    Refused(String),
    /// auth-service could not serve the call (UNAVAILABLE, INTERNAL, ...).
    #[error("auth-service failed: {0}")]
    Failed(String),
}

/// What the caller presented, so a refusal can say which credential failed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials {
    /// A service token is sent with every call.
    pub token: bool,
    /// A client certificate is presented (mutual TLS).
    pub client_cert: bool,
}

impl AdminError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => USAGE,
            _ => FAILED,
        }
    }

    /// Classifies a failed call. `what` names the thing a NOT_FOUND is
    /// about (`user u_123`), as auth-service's message does not.
    pub(crate) fn from_status(status: &Status, what: &str, sent: Credentials) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::Unauthenticated => match (sent.token, sent.client_cert) {
                (false, false) => Self::CredentialMissing { message },
                (true, false) => Self::CallerRefused {
                    credential: "service token",
                    message,
                },
                (false, true) => Self::CallerRefused {
                    credential: "client certificate",
                    message,
                },
                (true, true) => Self::CallerRefused {
                    credential: "service token or client certificate",
                    message,
                },
            },
            Code::NotFound => Self::NotFound(format!("{what} not found")),
            Code::InvalidArgument | Code::PermissionDenied | Code::FailedPrecondition => {
                Self::Refused(message)
            }
            code => Self::Failed(format!("{code:?}: {message}")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_clear_errors_and_exit_codes() {
        let token = Credentials {
            token: true,
            client_cert: false,
        };
        let wrong = Status::unauthenticated("caller authentication failed: wrong service token");
        let err = AdminError::from_status(&wrong, "user u1", token);
        assert_eq!(
            err.to_string(),
            "auth-service refused the service token: caller authentication failed: wrong service token"
        );
        assert_eq!(err.exit_code(), 1);

        let err = AdminError::from_status(&wrong, "user u1", Credentials::default());
        assert!(err.to_string().contains("--service-token-file"), "{err}");

        let err = AdminError::from_status(&Status::not_found("user not found"), "user u1", token);
        assert_eq!(err.to_string(), "user u1 not found");
        assert_eq!(err.exit_code(), 1);

        let err = AdminError::from_status(&Status::invalid_argument("bad page"), "users", token);
        assert_eq!(
            err.to_string(),
            "auth-service refused the request: bad page"
        );

        let err = AdminError::from_status(&Status::unavailable("store unavailable"), "x", token);
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("store unavailable"), "{err}");

        assert_eq!(AdminError::Config("x".into()).exit_code(), 2);
    }
}
