//! The gRPC edge: `auth.v1.AuthService` on top of the domain. Each method
//! converts proto → domain call → proto; errors map to status codes in one
//! place ([`status`]). Spans skip all fields so tokens never reach the log.

use crate::domain::clock::UnixTime;
use crate::domain::error::AuthError;
use crate::domain::login::{Callback, LoggedIn, ProviderToken};
use crate::domain::sessions::SessionRef;
use crate::domain::{Auth, ClientMeta};
use crate::revocation_stream;
use crate::storage::{SessionRecord, UserRecord};
use common::proto::{
    self, BackchannelLogoutRequest, BackchannelLogoutResponse, BeginLoginRequest,
    BeginLoginResponse, CompleteLoginRequest, ExchangeTokenRequest, FindUserByEmailRequest,
    FindUserByEmailResponse, GetUserRequest, GetUserResponse, ListProvidersRequest,
    ListProvidersResponse, ListSessionsRequest, ListSessionsResponse, ListUsersRequest,
    ListUsersResponse, LoginResponse, RevokeSessionRequest, RevokeSessionResponse,
    RevokeUserSessionsRequest, RevokeUserSessionsResponse, ValidateSessionRequest,
    ValidateSessionResponse, WatchRevocationsRequest, auth_service_server::AuthService,
    exchange_token_request, revoke_session_request,
};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};
use tracing::instrument;

/// Metadata key carrying the machine-readable reason of a rejection
/// (`bad_signature`, `state_unknown`, ...), for the gateway's error codes.
pub const REASON_METADATA: &str = "portcullis-reason";

/// The tonic service.
pub struct GrpcService {
    auth: Arc<Auth>,
    /// Cancelled when shutdown begins, so open `WatchRevocations` streams
    /// end instead of holding the graceful shutdown open.
    shutdown: CancellationToken,
}

impl GrpcService {
    /// Wraps the domain.
    pub fn new(auth: Arc<Auth>, shutdown: CancellationToken) -> Self {
        Self { auth, shutdown }
    }
}

/// The one mapping from domain errors to gRPC statuses.
pub fn status(error: AuthError) -> Status {
    let reason = error.reason();
    let mut status = match error {
        AuthError::InvalidSession => Status::unauthenticated("session unknown, expired or revoked"),
        AuthError::TokenRejected(r) => Status::unauthenticated(r.to_string()),
        AuthError::InvalidArgument(msg) => Status::invalid_argument(msg),
        AuthError::NotFound(what) => Status::not_found(format!("{what} not found")),
        AuthError::ProviderUnavailable(msg) => {
            tracing::warn!(detail = %msg, "identity provider unavailable");
            Status::unavailable(format!("identity provider unavailable: {msg}"))
        }
        // Not acknowledged and not lost: the caller may retry, and the
        // gateway answers 503 rather than pretending the revoke worked.
        AuthError::Storage(e @ crate::storage::StorageError::NotDurable(_)) => {
            tracing::error!(error = %e, "store write not confirmed durable");
            Status::unavailable("store unavailable: write not confirmed durable")
        }
        AuthError::Storage(e @ crate::storage::StorageError::Unavailable(_)) => {
            tracing::error!(error = %e, "store unavailable");
            Status::unavailable("store unavailable")
        }
        e @ (AuthError::Storage(_) | AuthError::Random(_)) => {
            tracing::error!(error = ?e, "internal error");
            Status::internal("internal error")
        }
    };
    if let Some(reason) = reason {
        status
            .metadata_mut()
            .insert(REASON_METADATA, MetadataValue::from_static(reason.code()));
    }
    status
}

fn timestamp(t: UnixTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t,
        nanos: 0,
    })
}

fn client_meta(client: Option<proto::ClientInfo>) -> ClientMeta {
    client
        .map(|c| ClientMeta {
            user_agent: c.user_agent,
            ip: c.ip,
        })
        .unwrap_or_default()
}

impl GrpcService {
    fn user(&self, user: &UserRecord) -> proto::User {
        proto::User {
            id: user.id.clone(),
            provider_id: user.provider_id.clone(),
            issuer: user.issuer.clone(),
            subject: user.subject.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            name: user.name.clone(),
            picture: user.picture.clone(),
            roles: self.auth.roles(user),
            created_at: timestamp(user.created_at),
            last_login_at: timestamp(user.last_login_at),
            groups: user.groups.clone(),
        }
    }

    fn session(session: &SessionRecord) -> proto::Session {
        proto::Session {
            id: session.id.clone(),
            user_id: session.user.id.clone(),
            created_at: timestamp(session.created_at),
            last_seen_at: timestamp(session.last_seen_at),
            expires_at: timestamp(session.expires_at()),
            absolute_expires_at: timestamp(session.absolute_expires_at),
            user_agent: session.user_agent.clone(),
            client_ip: session.client_ip.clone(),
            provider_id: session.user.provider_id.clone(),
        }
    }

    fn login_response(&self, login: LoggedIn) -> LoginResponse {
        LoginResponse {
            session_token: login.token.expose().to_owned(),
            session: Some(Self::session(&login.session)),
            user: Some(self.user(&login.session.user)),
            return_to: login.return_to,
        }
    }
}

#[tonic::async_trait]
impl AuthService for GrpcService {
    #[instrument(skip_all)]
    async fn list_providers(
        &self,
        _request: Request<ListProvidersRequest>,
    ) -> Result<Response<ListProvidersResponse>, Status> {
        let providers = self
            .auth
            .providers()
            .iter()
            .map(|p| {
                let c = p.config();
                proto::Provider {
                    id: c.id.clone(),
                    name: c.display_name().to_owned(),
                    kind: c.kind.as_str().to_owned(),
                }
            })
            .collect();
        Ok(Response::new(ListProvidersResponse { providers }))
    }

    #[instrument(skip_all, fields(provider = %request.get_ref().provider_id))]
    async fn begin_login(
        &self,
        request: Request<BeginLoginRequest>,
    ) -> Result<Response<BeginLoginResponse>, Status> {
        let req = request.into_inner();
        let began = self
            .auth
            .begin_login(&req.provider_id, &req.redirect_uri, &req.return_to)
            .await
            .map_err(status)?;
        Ok(Response::new(BeginLoginResponse {
            authorization_url: began.authorization_url.into(),
            flow_handle: began.flow_handle,
            expires_at: timestamp(began.expires_at),
        }))
    }

    #[instrument(skip_all, fields(provider = %request.get_ref().provider_id))]
    async fn complete_login(
        &self,
        request: Request<CompleteLoginRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        let req = request.into_inner();
        let callback = Callback {
            provider_id: &req.provider_id,
            code: &req.code,
            state: &req.state,
            flow_handle: &req.flow_handle,
            iss: Some(req.iss.as_str()).filter(|i| !i.is_empty()),
        };
        let login = self
            .auth
            .complete_login(callback, client_meta(req.client.clone()))
            .await
            .map_err(status)?;
        Ok(Response::new(self.login_response(login)))
    }

    #[instrument(skip_all, fields(provider = %request.get_ref().provider_id))]
    async fn exchange_token(
        &self,
        request: Request<ExchangeTokenRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        let req = request.into_inner();
        let token = match &req.token {
            Some(exchange_token_request::Token::IdToken(t)) => ProviderToken::Id(t),
            Some(exchange_token_request::Token::AccessToken(t)) => ProviderToken::Access(t),
            None => {
                return Err(Status::invalid_argument(
                    "id_token or access_token is required",
                ));
            }
        };
        let login = self
            .auth
            .exchange_token(&req.provider_id, token, client_meta(req.client.clone()))
            .await
            .map_err(status)?;
        Ok(Response::new(self.login_response(login)))
    }

    #[instrument(skip_all, fields(session_id = tracing::field::Empty))]
    async fn validate_session(
        &self,
        request: Request<ValidateSessionRequest>,
    ) -> Result<Response<ValidateSessionResponse>, Status> {
        let session = self
            .auth
            .validate_session(&request.get_ref().session_token)
            .await
            .map_err(status)?;
        tracing::Span::current().record("session_id", session.id.as_str());
        Ok(Response::new(ValidateSessionResponse {
            user: Some(self.user(&session.user)),
            session: Some(Self::session(&session)),
        }))
    }

    #[instrument(skip_all)]
    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        let req = request.into_inner();
        let target = match &req.target {
            Some(revoke_session_request::Target::SessionToken(t)) => SessionRef::Token(t),
            Some(revoke_session_request::Target::SessionId(id)) => SessionRef::Id(id),
            None => {
                return Err(Status::invalid_argument(
                    "session_token or session_id is required",
                ));
            }
        };
        let owner = Some(req.user_id.as_str()).filter(|u| !u.is_empty());
        // Only the holder of the token (the user logging out) learns where
        // to go next: the URL carries their ID token.
        let by_token = matches!(target, SessionRef::Token(_));
        let session = self
            .auth
            .revoke_session(target, owner)
            .await
            .map_err(status)?;
        let end_session_url = if by_token {
            self.auth
                .end_session_url(&session)
                .await
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(RevokeSessionResponse {
            session_id: session.id,
            end_session_url,
        }))
    }

    #[instrument(skip_all, fields(user_id = %request.get_ref().user_id))]
    async fn revoke_user_sessions(
        &self,
        request: Request<RevokeUserSessionsRequest>,
    ) -> Result<Response<RevokeUserSessionsResponse>, Status> {
        let revoked = self
            .auth
            .revoke_user_sessions(&request.get_ref().user_id)
            .await
            .map_err(status)?;
        Ok(Response::new(RevokeUserSessionsResponse { revoked }))
    }

    #[instrument(skip_all, fields(provider = %request.get_ref().provider_id))]
    async fn backchannel_logout(
        &self,
        request: Request<BackchannelLogoutRequest>,
    ) -> Result<Response<BackchannelLogoutResponse>, Status> {
        let r = request.get_ref();
        let revoked = self
            .auth
            .backchannel_logout(&r.provider_id, &r.logout_token)
            .await
            .map_err(status)?;
        Ok(Response::new(BackchannelLogoutResponse { revoked }))
    }

    #[instrument(skip_all, fields(user_id = %request.get_ref().user_id))]
    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        let sessions = self
            .auth
            .list_sessions(&request.get_ref().user_id)
            .await
            .map_err(status)?;
        Ok(Response::new(ListSessionsResponse {
            sessions: sessions.iter().map(Self::session).collect(),
        }))
    }

    #[instrument(skip_all, fields(user_id = %request.get_ref().user_id))]
    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        let user = self
            .auth
            .user(&request.get_ref().user_id)
            .await
            .map_err(status)?;
        Ok(Response::new(GetUserResponse {
            user: Some(self.user(&user)),
        }))
    }

    #[instrument(skip_all, fields(page_size = request.get_ref().page_size))]
    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let req = request.get_ref();
        let page = self
            .auth
            .list_users(req.page_size, &req.page_token)
            .await
            .map_err(status)?;
        Ok(Response::new(ListUsersResponse {
            users: page.users.iter().map(|u| self.user(u)).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    // The e-mail stays out of the span: personal data has no place in logs.
    #[instrument(skip_all)]
    async fn find_user_by_email(
        &self,
        request: Request<FindUserByEmailRequest>,
    ) -> Result<Response<FindUserByEmailResponse>, Status> {
        let users = self
            .auth
            .find_users_by_email(&request.get_ref().email)
            .await
            .map_err(status)?;
        Ok(Response::new(FindUserByEmailResponse {
            users: users.iter().map(|u| self.user(u)).collect(),
        }))
    }

    type WatchRevocationsStream = revocation_stream::EventStream;

    #[instrument(skip_all)]
    async fn watch_revocations(
        &self,
        request: Request<WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        let resume = request.get_ref().resume.as_ref();
        let stream = revocation_stream::start(
            &self.auth.revocation_feed(),
            resume.map(|r| (r.epoch.as_str(), r.position.as_str())),
            self.shutdown.clone(),
        )?;
        Ok(Response::new(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::reason::Reason;
    use tonic::Code;

    #[test]
    fn error_mapping_table() {
        let cases = [
            (AuthError::InvalidSession, Code::Unauthenticated),
            (
                AuthError::rejected(Reason::BadSignature, "x"),
                Code::Unauthenticated,
            ),
            (
                AuthError::InvalidArgument("x".into()),
                Code::InvalidArgument,
            ),
            (AuthError::NotFound("session"), Code::NotFound),
            (
                AuthError::ProviderUnavailable("x".into()),
                Code::Unavailable,
            ),
            (
                AuthError::Storage(crate::storage::StorageError::Corrupt("sessions")),
                Code::Internal,
            ),
            (
                AuthError::Storage(crate::storage::StorageError::NotDurable(
                    crate::storage::group_commit::CommitError::TimedOut(
                        std::time::Duration::from_secs(1),
                    ),
                )),
                Code::Unavailable,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(status(error).code(), code);
        }
        let s = status(AuthError::rejected(Reason::BadSignature, "x"));
        assert_eq!(s.metadata().get(REASON_METADATA).unwrap(), "bad_signature");
        let s = status(AuthError::ProviderUnavailable("down".into()));
        assert_eq!(
            s.metadata().get(REASON_METADATA).unwrap(),
            "provider_unavailable"
        );
        let s = status(AuthError::InvalidArgument("x".into()));
        assert!(s.metadata().get(REASON_METADATA).is_none());
        assert_eq!(
            status(AuthError::Storage(crate::storage::StorageError::Corrupt(
                "s"
            )))
            .message(),
            "internal error"
        );
    }
}
