//! The generated `auth.v1` protobuf and tonic code, plus redacting `Debug`
//! implementations for the messages that carry tokens (generated with
//! `skip_debug` in `build.rs`), so a `?request` in a log line never leaks one.

#![allow(clippy::all, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The `auth.v1` package.
pub mod auth {
    pub mod v1 {
        tonic::include_proto!("auth.v1");
    }
}

pub use auth::v1::*;

/// Encoded file descriptor set of `proto/`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("auth_descriptor");

use std::fmt;
use tonic::Code;

/// Which status a message that fails to decode gets ([`crate::grpc_codec`]):
/// a request is the caller's fault, a response the server's.
macro_rules! decode_failure {
    ($code:expr => $($message:ty),+ $(,)?) => {
        $(impl crate::grpc_codec::DecodeFailure for $message {
            const CODE: Code = $code;
        })+
    };
}

decode_failure!(Code::InvalidArgument =>
    ListProvidersRequest, BeginLoginRequest, CompleteLoginRequest, ExchangeTokenRequest,
    ValidateSessionRequest, RevokeSessionRequest, RevokeUserSessionsRequest, ListSessionsRequest,
    WatchRevocationsRequest, BackchannelLogoutRequest, GetUserRequest, ListUsersRequest,
    FindUserByEmailRequest,
);
decode_failure!(Code::Internal =>
    ListProvidersResponse, BeginLoginResponse, LoginResponse, ValidateSessionResponse,
    RevokeSessionResponse, RevokeUserSessionsResponse, ListSessionsResponse, RevocationEvent,
    BackchannelLogoutResponse, GetUserResponse, ListUsersResponse, FindUserByEmailResponse,
);

const REDACTED: &str = "<redacted>";

impl fmt::Debug for BeginLoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BeginLoginResponse")
            .field("authorization_url", &REDACTED)
            .field("flow_handle", &REDACTED)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl fmt::Debug for RevokeSessionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end_session_url = if self.end_session_url.is_empty() {
            ""
        } else {
            REDACTED
        };
        f.debug_struct("RevokeSessionResponse")
            .field("session_id", &self.session_id)
            .field("end_session_url", &end_session_url)
            .finish()
    }
}

impl fmt::Debug for BackchannelLogoutRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackchannelLogoutRequest")
            .field("provider_id", &self.provider_id)
            .field("logout_token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for CompleteLoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompleteLoginRequest")
            .field("provider_id", &self.provider_id)
            .field("code", &REDACTED)
            .field("state", &REDACTED)
            .field("flow_handle", &REDACTED)
            .field("iss", &self.iss)
            .field("client", &self.client)
            .finish()
    }
}

impl fmt::Debug for ExchangeTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.token {
            Some(exchange_token_request::Token::IdToken(_)) => "id_token",
            Some(exchange_token_request::Token::AccessToken(_)) => "access_token",
            None => "none",
        };
        f.debug_struct("ExchangeTokenRequest")
            .field("provider_id", &self.provider_id)
            .field("token", &kind)
            .field("client", &self.client)
            .finish()
    }
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("session_token", &REDACTED)
            .field("session", &self.session)
            .field("user", &self.user)
            .field("return_to", &self.return_to)
            .finish()
    }
}

impl fmt::Debug for ValidateSessionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateSessionRequest")
            .field("session_token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for RevokeSessionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Some(revoke_session_request::Target::SessionToken(_)) => REDACTED.to_owned(),
            Some(revoke_session_request::Target::SessionId(id)) => format!("session_id={id}"),
            None => "none".to_owned(),
        };
        f.debug_struct("RevokeSessionRequest")
            .field("target", &target)
            .field("user_id", &self.user_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_tokens() {
        let secret = "very-secret-token-value";
        let printed = [
            format!(
                "{:?}",
                ValidateSessionRequest {
                    session_token: secret.into()
                }
            ),
            format!(
                "{:?}",
                LoginResponse {
                    session_token: secret.into(),
                    ..Default::default()
                }
            ),
            format!(
                "{:?}",
                ExchangeTokenRequest {
                    provider_id: "p".into(),
                    token: Some(exchange_token_request::Token::IdToken(secret.into())),
                    client: None,
                }
            ),
            format!(
                "{:?}",
                CompleteLoginRequest {
                    code: secret.into(),
                    state: secret.into(),
                    flow_handle: secret.into(),
                    ..Default::default()
                }
            ),
            format!(
                "{:?}",
                RevokeSessionRequest {
                    target: Some(revoke_session_request::Target::SessionToken(secret.into())),
                    user_id: String::new(),
                }
            ),
            format!(
                "{:?}",
                BeginLoginResponse {
                    flow_handle: secret.into(),
                    ..Default::default()
                }
            ),
        ];
        for line in printed {
            assert!(!line.contains(secret), "leaked in {line}");
        }
    }
}
