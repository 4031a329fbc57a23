//! The gateway's only way to auth-service: one shared tonic `Channel`,
//! created with `connect_lazy` so the gateway starts while auth-service is
//! down and reconnects by itself after it restarts. Every call has the
//! `gateway.auth_timeout` deadline, carries the service token when one is
//! configured, is timed for `/metrics`, and has its failure mapped to an
//! [`ApiError`] once, in [`ApiError::from_status`] (fail closed).

use crate::error::{ApiError, AuthCall};
use crate::metrics::Metrics;
use common::config::GatewayConfig;
use common::proto::auth_service_client::AuthServiceClient;
use common::proto::{
    BeginLoginRequest, BeginLoginResponse, ClientInfo, CompleteLoginRequest, ExchangeTokenRequest,
    ListProvidersRequest, ListSessionsRequest, LoginResponse, Provider, RevokeSessionRequest,
    RevokeUserSessionsRequest, Session, ValidateSessionRequest, ValidateSessionResponse,
    exchange_token_request, revoke_session_request,
};
use secrecy::ExposeSecret;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Adds `authorization: Bearer <service token>` to every call.
#[derive(Clone)]
pub struct ServiceToken(Option<MetadataValue<Ascii>>);

impl Interceptor for ServiceToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Service = InterceptedService<Channel, ServiceToken>;

/// A provider token for the front-end token flow.
pub enum ProviderToken {
    /// An OpenID Connect ID token.
    Id(String),
    /// An OAuth 2.0 access token.
    Access(String),
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthClientError {
    /// `gateway.auth_service_url` is not usable by tonic.
    #[error("gateway.auth_service_url: {0}")]
    Url(String),
    /// The service token cannot be sent as gRPC metadata.
    #[error("gateway.service_token_env: the token is not a valid header value")]
    Token,
}

/// Cheap to clone: every clone shares the one channel.
#[derive(Clone)]
pub struct AuthClient {
    auth: AuthServiceClient<Service>,
    health: HealthClient<Service>,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl AuthClient {
    /// Builds the lazy channel; nothing connects until the first call.
    pub fn new(config: &GatewayConfig, metrics: Arc<Metrics>) -> Result<Self, AuthClientError> {
        let url = config
            .auth_service_url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let mut endpoint = Endpoint::from_shared(url)
            .map_err(|e| AuthClientError::Url(e.to_string()))?
            .connect_timeout(config.auth_timeout)
            .timeout(config.auth_timeout)
            .tcp_nodelay(true)
            // Notice a dead auth-service between calls, not on the next one.
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        if config.auth_service_url.scheme() == "https" {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_webpki_roots())
                .map_err(|e| AuthClientError::Url(e.to_string()))?;
        }
        let channel = endpoint.connect_lazy();
        let token = match &config.service_token {
            Some(secret) => {
                let mut value: MetadataValue<Ascii> = format!("Bearer {}", secret.expose_secret())
                    .parse()
                    .map_err(|_| AuthClientError::Token)?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let interceptor = ServiceToken(token);
        Ok(Self {
            auth: AuthServiceClient::with_interceptor(channel.clone(), interceptor.clone()),
            health: HealthClient::with_interceptor(channel, interceptor),
            timeout: config.auth_timeout,
            metrics,
        })
    }

    async fn call<T>(
        &self,
        call: AuthCall,
        future: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        // The channel has the same deadline; this one also bounds waiting
        // for a connection slot.
        let result = match tokio::time::timeout(self.timeout, future).await {
            Ok(result) => result,
            Err(_) => Err(Status::deadline_exceeded(
                "auth-service did not answer in time",
            )),
        };
        let elapsed = started.elapsed();
        match result {
            Ok(response) => {
                self.metrics.record_auth_call(call.name(), elapsed, None);
                Ok(response.into_inner())
            }
            Err(status) => {
                let code = format!("{:?}", status.code());
                self.metrics
                    .record_auth_call(call.name(), elapsed, Some(&code));
                Err(ApiError::from_status(call, &status))
            }
        }
    }

    /// `ListProviders`.
    pub async fn list_providers(&self) -> Result<Vec<Provider>, ApiError> {
        let mut c = self.auth.clone();
        let r = self
            .call(
                AuthCall::ListProviders,
                c.list_providers(ListProvidersRequest {}),
            )
            .await?;
        Ok(r.providers)
    }

    /// `BeginLogin`.
    pub async fn begin_login(
        &self,
        provider_id: &str,
        redirect_uri: String,
        return_to: String,
    ) -> Result<BeginLoginResponse, ApiError> {
        let mut c = self.auth.clone();
        let request = BeginLoginRequest {
            provider_id: provider_id.to_owned(),
            redirect_uri,
            return_to,
        };
        self.call(AuthCall::BeginLogin, c.begin_login(request))
            .await
    }

    /// `CompleteLogin`.
    pub async fn complete_login(
        &self,
        request: CompleteLoginRequest,
    ) -> Result<LoginResponse, ApiError> {
        let mut c = self.auth.clone();
        self.call(AuthCall::CompleteLogin, c.complete_login(request))
            .await
    }

    /// `ExchangeToken`.
    pub async fn exchange_token(
        &self,
        provider_id: String,
        token: ProviderToken,
        client: ClientInfo,
    ) -> Result<LoginResponse, ApiError> {
        let mut c = self.auth.clone();
        let token = match token {
            ProviderToken::Id(t) => exchange_token_request::Token::IdToken(t),
            ProviderToken::Access(t) => exchange_token_request::Token::AccessToken(t),
        };
        let request = ExchangeTokenRequest {
            provider_id,
            token: Some(token),
            client: Some(client),
        };
        self.call(AuthCall::ExchangeToken, c.exchange_token(request))
            .await
    }

    /// `ValidateSession`.
    pub async fn validate_session(&self, token: &str) -> Result<ValidateSessionResponse, ApiError> {
        let mut c = self.auth.clone();
        let request = ValidateSessionRequest {
            session_token: token.to_owned(),
        };
        self.call(AuthCall::ValidateSession, c.validate_session(request))
            .await
    }

    /// `RevokeSession` by token (logout).
    pub async fn revoke_session_by_token(&self, token: &str) -> Result<(), ApiError> {
        let mut c = self.auth.clone();
        let request = RevokeSessionRequest {
            target: Some(revoke_session_request::Target::SessionToken(
                token.to_owned(),
            )),
            user_id: String::new(),
        };
        self.call(AuthCall::RevokeSession, c.revoke_session(request))
            .await
            .map(|_| ())
    }

    /// `RevokeSession` by public id, only if it belongs to `user_id`.
    pub async fn revoke_session_by_id(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> Result<(), ApiError> {
        let mut c = self.auth.clone();
        let request = RevokeSessionRequest {
            target: Some(revoke_session_request::Target::SessionId(
                session_id.to_owned(),
            )),
            user_id: user_id.to_owned(),
        };
        self.call(AuthCall::RevokeSession, c.revoke_session(request))
            .await
            .map(|_| ())
    }

    /// `RevokeUserSessions`: how many were revoked.
    pub async fn revoke_user_sessions(&self, user_id: &str) -> Result<u32, ApiError> {
        let mut c = self.auth.clone();
        let request = RevokeUserSessionsRequest {
            user_id: user_id.to_owned(),
        };
        let r = self
            .call(
                AuthCall::RevokeUserSessions,
                c.revoke_user_sessions(request),
            )
            .await?;
        Ok(r.revoked)
    }

    /// `ListSessions`.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, ApiError> {
        let mut c = self.auth.clone();
        let request = ListSessionsRequest {
            user_id: user_id.to_owned(),
        };
        let r = self
            .call(AuthCall::ListSessions, c.list_sessions(request))
            .await?;
        Ok(r.sessions)
    }

    /// Whether auth-service answers *us*: the standard gRPC health check
    /// (skipped when the service has none) and then `ListProviders`, which
    /// also proves the service token is accepted (the health service does
    /// not check callers).
    pub async fn ready(&self) -> bool {
        let mut h = self.health.clone();
        let request = HealthCheckRequest {
            service: String::new(),
        };
        match self.call(AuthCall::Health, h.check(request)).await {
            Ok(r) if r.status != ServingStatus::Serving as i32 => return false,
            Ok(_) => {}
            // Unimplemented (no health service) maps to `internal`.
            Err(e) if e.code != "internal" => return false,
            Err(_) => {}
        }
        self.list_providers().await.is_ok()
    }
}
