//! The gateway's only way to auth-service: one shared tonic `Channel`,
//! created with `connect_lazy` so the gateway starts while auth-service is
//! down and reconnects by itself after it restarts; over TLS for an
//! `https` `auth_service_url`, with a client certificate for mutual TLS
//! when one is configured, over auth-service's Unix socket for a `unix:`
//! URL; or, when auth-service runs in the same process (the single-node
//! binary), no channel: its services are called directly. Every call has
//! the
//! `gateway.auth_timeout` deadline, carries the service token when one is
//! configured, is timed for `/metrics`, and has its failure classified
//! once, here, into an [`AuthCallError`]: which call failed and how
//! ([`AuthFailure`]). Callers branch on that enum; the HTTP answer is made
//! from it at the edge (`From<AuthCallError> for ApiError` in `error.rs`),
//! so this module knows nothing of HTTP.

use crate::auth_endpoints;
use crate::metrics::Metrics;
use common::config::GatewayConfig;
use common::error_chain::error_chain;
use common::in_process::{CallError, Slot};
use common::proto::auth_service_client::AuthServiceClient;
use common::proto::{
    BackchannelLogoutRequest, BeginLoginRequest, BeginLoginResponse, ClientInfo,
    CompleteLoginRequest, ExchangeTokenRequest, ListProvidersRequest, ListSessionsRequest,
    LoginResponse, Provider, RevocationEvent, RevokeSessionRequest, RevokeUserSessionsRequest,
    Session, ValidateSessionRequest, ValidateSessionResponse, WatchRevocationsRequest,
    exchange_token_request, revoke_session_request,
};
use common::reason::Reason;
use common::service_token::ServiceToken;
use common::telemetry::trace_context::WithTrace;
use http::Uri;
use hyper_util::rt::TokioIo;
use session_cache::{ValidationCache, token_hash};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UnixStream;
use tokio::sync::Notify;
use tonic::body::Body;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status, Streaming};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

/// A channel, or auth-service's services in this process, behind one
/// type.
type Transport = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, CallError>;

/// Every call carries the caller's trace and the service token.
type Service = InterceptedService<Transport, WithTrace<ServiceToken>>;

/// `channel` as a [`Transport`].
fn over(channel: Channel) -> Transport {
    BoxCloneSyncService::new(channel.map_err(CallError::new))
}

/// A provider token for the front-end token flow.
pub(crate) enum ProviderToken {
    /// An OpenID Connect ID token.
    Id(String),
    /// An OAuth 2.0 access token.
    Access(String),
}

/// The gRPC metadata key in which auth-service names why it refused.
const REASON_METADATA: &str = "portcullis-reason";

/// Which auth-service call failed: what a failure means differs per call (a
/// bad session token is a 401, never a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthCall {
    ListProviders,
    BeginLogin,
    CompleteLogin,
    ExchangeToken,
    ValidateSession,
    RevokeSession,
    RevokeUserSessions,
    ListSessions,
    BackchannelLogout,
    Health,
}

impl AuthCall {
    /// The RPC name, used as a metrics label.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::ListProviders => "ListProviders",
            Self::BeginLogin => "BeginLogin",
            Self::CompleteLogin => "CompleteLogin",
            Self::ExchangeToken => "ExchangeToken",
            Self::ValidateSession => "ValidateSession",
            Self::RevokeSession => "RevokeSession",
            Self::RevokeUserSessions => "RevokeUserSessions",
            Self::ListSessions => "ListSessions",
            Self::BackchannelLogout => "BackchannelLogout",
            Self::Health => "Health",
        }
    }

    /// Whether the call completes a login (code flow callback or token
    /// exchange).
    pub(crate) fn completes_login(self) -> bool {
        matches!(self, Self::CompleteLogin | Self::ExchangeToken)
    }

    /// Whether the call is part of a login, its start included.
    pub(crate) fn is_login(self) -> bool {
        self.completes_login() || self == Self::BeginLogin
    }
}

/// How an auth-service call failed: its `tonic::Status` classified once.
/// Every sign that auth-service is unreachable or slow is [`Unavailable`],
/// so a caller cannot mistake an outage for a refusal (fail closed).
///
/// [`Unavailable`]: AuthFailure::Unavailable
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// `UNAUTHENTICATED`: the session or the login was refused, with the
    /// reason auth-service gave when it is on our closed list.
    Unauthenticated(Option<Reason>),
    /// `PERMISSION_DENIED`: the caller may not do this.
    PermissionDenied,
    /// `INVALID_ARGUMENT`, with the reason as for `Unauthenticated`.
    InvalidArgument(Option<Reason>),
    /// `NOT_FOUND` (e.g. revoking a session that is not the caller's).
    NotFound,
    /// `UNAVAILABLE` with reason `provider_unavailable`: auth-service
    /// answered, but the identity provider could not be reached.
    ProviderUnavailable,
    /// auth-service could not be reached or did not answer in time:
    /// `UNAVAILABLE` (for any other reason), `DEADLINE_EXCEEDED`,
    /// `CANCELLED` (our timeout), `UNKNOWN` (transport failures),
    /// `RESOURCE_EXHAUSTED`.
    Unavailable,
    /// Any other code (`INTERNAL`, `UNIMPLEMENTED`, ...): a bug or an
    /// answer we do not expect.
    Internal,
}

impl AuthFailure {
    /// Classifies `status`. Only a reason on the closed list
    /// ([`Reason::from_code`]) is kept: it may be repeated to a client.
    pub(crate) fn classify(status: &Status) -> Self {
        let reason = status
            .metadata()
            .get(REASON_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(Reason::from_code);
        match status.code() {
            Code::Unauthenticated => Self::Unauthenticated(reason),
            Code::PermissionDenied => Self::PermissionDenied,
            Code::InvalidArgument => Self::InvalidArgument(reason),
            Code::NotFound => Self::NotFound,
            Code::Unavailable if reason == Some(Reason::ProviderUnavailable) => {
                Self::ProviderUnavailable
            }
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

/// A failed auth-service call. `Display` is for the log only: it holds
/// auth-service's status message and raw reason (never a secret, but not
/// for clients either).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub(crate) struct AuthCallError {
    /// The call that failed.
    pub call: AuthCall,
    /// How it failed.
    pub failure: AuthFailure,
    /// Call name, status code, message and raw reason.
    detail: String,
}

impl AuthCallError {
    /// The failure of `call` answered with `status`.
    pub(crate) fn from_status(call: AuthCall, status: &Status) -> Self {
        let raw_reason = status
            .metadata()
            .get(REASON_METADATA)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Self {
            call,
            failure: AuthFailure::classify(status),
            detail: format!(
                "{} failed: {:?} {} {raw_reason}",
                call.name(),
                status.code(),
                status.message()
            ),
        }
    }
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthClientError {
    /// An auth-service URL is not usable by tonic.
    #[error("gateway.auth_service_url(s): {0}")]
    Url(String),
    /// A TLS file for the connection to auth-service could not be read or
    /// parsed: names the configuration key(s) and path(s), never content.
    #[error("{0}")]
    Tls(String),
    /// The service token cannot be sent as gRPC metadata.
    #[error("gateway.service_token_env: the token is not a valid header value")]
    Token,
}

/// The TLS settings for an `https` `auth_service_url`: trust only
/// `auth_service_ca` when it is set (an internal CA must not be mixed with
/// the public roots, or any publicly issued certificate for the name would
/// do), the public web PKI roots otherwise; present the client certificate
/// when one is configured (mutual TLS). The files were read and checked when
/// the configuration loaded ([`common::tls`]).
fn client_tls(config: &GatewayConfig) -> ClientTlsConfig {
    let tls = ClientTlsConfig::new().timeout(config.auth_timeout);
    let tls = match &config.auth_service_ca {
        Some(ca) => tls.ca_certificate(Certificate::from_pem(ca.pem())),
        None => tls.with_webpki_roots(),
    };
    match &config.auth_service_client {
        Some(identity) => {
            let (cert, key) = identity.pem();
            tls.identity(Identity::from_pem(cert, key))
        }
        None => tls,
    }
}

/// One auth-service endpoint with the gateway's timeouts, keep-alives and,
/// for `https`, its TLS settings.
fn endpoint(config: &GatewayConfig, url: &url::Url) -> Result<Endpoint, AuthClientError> {
    let endpoint = Endpoint::from_shared(url.as_str().trim_end_matches('/').to_owned())
        .map_err(|e| AuthClientError::Url(format!("{url}: {e}")))?;
    let endpoint = with_timeouts(endpoint, config).tcp_nodelay(true);
    if !config.auth_service_tls() {
        return Ok(endpoint);
    }
    endpoint.tls_config(client_tls(config)).map_err(|e| {
        // Every file was checked when the configuration loaded; whatever is
        // left, name them all.
        let ca = config
            .auth_service_ca
            .as_ref()
            .map(|ca| format!("gateway.auth_service_ca {}", ca.path().display()));
        let client = config.auth_service_client.as_ref().map(|identity| {
            format!(
                "gateway.auth_service_client_cert {}, gateway.auth_service_client_key {}",
                identity.files().cert.display(),
                identity.files().key.display()
            )
        });
        let files = ca.into_iter().chain(client).collect::<Vec<_>>().join(", ");
        AuthClientError::Tls(format!(
            "TLS to auth-service ({files}): {}",
            error_chain(&e)
        ))
    })
}

/// The gateway's deadlines and keep-alives on `endpoint`.
fn with_timeouts(endpoint: Endpoint, config: &GatewayConfig) -> Endpoint {
    endpoint
        .connect_timeout(config.auth_timeout)
        .timeout(config.auth_timeout)
        // Notice a dead auth-service between calls, not on the next one.
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
}

/// A lazy channel to auth-service's Unix socket at `path`: HTTP/2 in
/// plain text (the URI only fills in `:authority`; the connector ignores
/// it), reconnecting on the next call after auth-service restarts.
fn socket_channel(config: &GatewayConfig, path: PathBuf) -> Channel {
    let path = Arc::new(path);
    let connector = tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move { UnixStream::connect(path.as_path()).await.map(TokioIo::new) }
    });
    with_timeouts(Endpoint::from_static("http://localhost"), config)
        .connect_with_connector_lazy(connector)
}

/// The gateway's validation cache (`[gateway.session_cache]`).
pub(crate) type SessionCache = ValidationCache<ValidateSessionResponse>;

/// Cheap to clone: every clone shares the one channel (and the cache).
#[derive(Clone)]
pub(crate) struct AuthClient {
    auth: AuthServiceClient<Service>,
    health: HealthClient<Service>,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// Successful validations, kept exact by the revocation feed; `None`
    /// when `session_cache.enabled` is off.
    cache: Option<Arc<SessionCache>>,
    /// With several replicas: asks for a health probe at once when a call
    /// could not reach one ([`auth_endpoints`]).
    probe_now: Option<Arc<Notify>>,
}

impl AuthClient {
    /// Builds the lazy channel; nothing connects until the first call.
    /// With several `auth_service_urls`, calls are balanced across the
    /// replicas that answer ([`auth_endpoints`]); with a `unix:` URL they
    /// go over auth-service's socket; with `in_process`, to auth-service in
    /// this process, whatever the URL.
    pub(crate) fn new(
        config: &GatewayConfig,
        in_process: Option<Slot>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, AuthClientError> {
        let (channel, probe_now) = match (in_process, config.auth_service_socket()) {
            (Some(slot), _) => {
                metrics.set_replicas_up(1);
                (BoxCloneSyncService::new(slot.client()), None)
            }
            (None, Some(path)) => {
                metrics.set_replicas_up(1);
                (over(socket_channel(config, path)), None)
            }
            (None, None) => {
                let (channel, probe_now) = Self::tcp_channel(config, &metrics)?;
                (over(channel), probe_now)
            }
        };
        let interceptor = WithTrace(
            ServiceToken::new(config.service_token.as_ref()).map_err(|_| AuthClientError::Token)?,
        );
        Ok(Self {
            auth: AuthServiceClient::with_interceptor(channel.clone(), interceptor.clone()),
            health: HealthClient::with_interceptor(channel, interceptor),
            timeout: config.auth_timeout,
            metrics,
            cache: None,
            probe_now,
        })
    }

    /// The channel over TCP: one endpoint, or several balanced.
    fn tcp_channel(
        config: &GatewayConfig,
        metrics: &Arc<Metrics>,
    ) -> Result<(Channel, Option<Arc<Notify>>), AuthClientError> {
        let mut endpoints = config
            .auth_service_urls
            .iter()
            .map(|url| endpoint(config, url))
            .collect::<Result<Vec<_>, _>>()?;
        metrics.set_replicas_up(endpoints.len());
        let (channel, probe_now) = match endpoints.pop() {
            Some(only) if endpoints.is_empty() => (only.connect_lazy(), None),
            Some(last) => {
                endpoints.push(last);
                let (channel, probe_now) =
                    auth_endpoints::balanced(endpoints, config.auth_timeout, metrics.clone());
                (channel, Some(probe_now))
            }
            None => return Err(AuthClientError::Url("no endpoint".to_owned())),
        };
        Ok((channel, probe_now))
    }

    /// Serves repeat validations from `cache`. Its feed watcher must run
    /// ([`Self::watch_revocations`]), or the cache stays `Off` and serves
    /// nothing.
    pub(crate) fn with_session_cache(mut self, cache: Arc<SessionCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Opens a `WatchRevocations` stream, for the cache's watcher. No
    /// deadline: the stream lives as long as the feed is healthy, and the
    /// watcher ends it on a missed heartbeat.
    pub(crate) async fn watch_revocations(&self) -> Result<Streaming<RevocationEvent>, Status> {
        let mut c = self.auth.clone();
        let response = c
            .watch_revocations(WatchRevocationsRequest::default())
            .await?;
        Ok(response.into_inner())
    }

    /// Drops whatever the cache holds for `token` or `user_id` after this
    /// gateway asked for a revocation, whatever the answer (a revocation
    /// that timed out may still have happened; evicting early costs a
    /// miss). The feed would bring the same event a moment later; this
    /// makes the next request through this gateway refused for certain.
    fn evict(&self, token: Option<&str>, user_id: Option<&str>) {
        let Some(cache) = &self.cache else { return };
        if let Some(token) = token {
            cache.session_revoked(token_hash(token));
        }
        if let Some(user_id) = user_id {
            cache.user_revoked(user_id);
        }
    }

    async fn call<T>(
        &self,
        call: AuthCall,
        future: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, AuthCallError> {
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
                // A status with a source was made on our side: the
                // connection failed, the replica may be gone.
                if let Some(probe_now) = &self.probe_now
                    && std::error::Error::source(&status).is_some()
                {
                    probe_now.notify_one();
                }
                let code = format!("{:?}", status.code());
                self.metrics
                    .record_auth_call(call.name(), elapsed, Some(&code));
                Err(AuthCallError::from_status(call, &status))
            }
        }
    }

    /// `ListProviders`.
    pub(crate) async fn list_providers(&self) -> Result<Vec<Provider>, AuthCallError> {
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
    pub(crate) async fn begin_login(
        &self,
        provider_id: &str,
        redirect_uri: String,
        return_to: String,
    ) -> Result<BeginLoginResponse, AuthCallError> {
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
    pub(crate) async fn complete_login(
        &self,
        request: CompleteLoginRequest,
    ) -> Result<LoginResponse, AuthCallError> {
        let mut c = self.auth.clone();
        self.call(AuthCall::CompleteLogin, c.complete_login(request))
            .await
    }

    /// `ExchangeToken`.
    pub(crate) async fn exchange_token(
        &self,
        provider_id: String,
        token: ProviderToken,
        client: ClientInfo,
    ) -> Result<LoginResponse, AuthCallError> {
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

    /// `ValidateSession`, answered from the cache when it may be.
    pub(crate) async fn validate_session(
        &self,
        token: &str,
    ) -> Result<ValidateSessionResponse, AuthCallError> {
        let Some(cache) = &self.cache else {
            return self.validate_uncached(token).await;
        };
        let hash = token_hash(token);
        if let Some(hit) = cache.get(&hash) {
            return Ok(hit);
        }
        let ticket = cache.ticket();
        let answer = self.validate_uncached(token).await?;
        cache.insert_answer(ticket, hash, &answer);
        Ok(answer)
    }

    async fn validate_uncached(
        &self,
        token: &str,
    ) -> Result<ValidateSessionResponse, AuthCallError> {
        let mut c = self.auth.clone();
        let request = ValidateSessionRequest {
            session_token: token.to_owned(),
        };
        self.call(AuthCall::ValidateSession, c.validate_session(request))
            .await
    }

    /// `RevokeSession` by token (logout): where the browser goes next to be
    /// logged out at the provider too, when its provider says so.
    pub(crate) async fn revoke_session_by_token(
        &self,
        token: &str,
    ) -> Result<Option<String>, AuthCallError> {
        let mut c = self.auth.clone();
        let request = RevokeSessionRequest {
            target: Some(revoke_session_request::Target::SessionToken(
                token.to_owned(),
            )),
            user_id: String::new(),
        };
        let result = self
            .call(AuthCall::RevokeSession, c.revoke_session(request))
            .await;
        self.evict(Some(token), None);
        result.map(|r| Some(r.end_session_url).filter(|u| !u.is_empty()))
    }

    /// `RevokeSession` by public id, only if it belongs to `user_id`.
    pub(crate) async fn revoke_session_by_id(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> Result<(), AuthCallError> {
        let mut c = self.auth.clone();
        let request = RevokeSessionRequest {
            target: Some(revoke_session_request::Target::SessionId(
                session_id.to_owned(),
            )),
            user_id: user_id.to_owned(),
        };
        let result = self
            .call(AuthCall::RevokeSession, c.revoke_session(request))
            .await;
        // The gateway does not know that session's token: evicting the
        // user's entries covers it (their other sessions merely miss once).
        self.evict(None, Some(user_id));
        result.map(|_| ())
    }

    /// `RevokeUserSessions`: how many were revoked.
    pub(crate) async fn revoke_user_sessions(&self, user_id: &str) -> Result<u32, AuthCallError> {
        let mut c = self.auth.clone();
        let request = RevokeUserSessionsRequest {
            user_id: user_id.to_owned(),
        };
        let result = self
            .call(
                AuthCall::RevokeUserSessions,
                c.revoke_user_sessions(request),
            )
            .await;
        self.evict(None, Some(user_id));
        Ok(result?.revoked)
    }

    /// `BackchannelLogout`: how many sessions the logout token ended. The
    /// revocation feed evicts them from every cache, this one included.
    pub(crate) async fn backchannel_logout(
        &self,
        provider_id: &str,
        logout_token: &str,
    ) -> Result<u32, AuthCallError> {
        let mut c = self.auth.clone();
        let request = BackchannelLogoutRequest {
            provider_id: provider_id.to_owned(),
            logout_token: logout_token.to_owned(),
        };
        let result = self
            .call(AuthCall::BackchannelLogout, c.backchannel_logout(request))
            .await;
        Ok(result?.revoked)
    }

    /// `ListSessions`.
    pub(crate) async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, AuthCallError> {
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
    pub(crate) async fn ready(&self) -> bool {
        let mut h = self.health.clone();
        let request = HealthCheckRequest {
            service: String::new(),
        };
        match self.call(AuthCall::Health, h.check(request)).await {
            Ok(r) if r.status != ServingStatus::Serving as i32 => return false,
            Ok(_) => {}
            // No health service (`UNIMPLEMENTED`): ask `ListProviders`.
            Err(AuthCallError {
                failure: AuthFailure::Internal,
                ..
            }) => {}
            Err(_) => return false,
        }
        self.list_providers().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/grpc-tls")
            .join(name)
    }

    /// An https config with the fixture CA and the client `cert`/`key`.
    fn config(cert: &str, key: &str) -> GatewayConfig {
        let text = format!(
            "[gateway]\nauth_service_url = \"https://127.0.0.1:50051\"\n\
             auth_service_ca = {:?}\nauth_service_client_cert = {:?}\n\
             auth_service_client_key = {:?}\n",
            fixture("ca.pem"),
            fixture(cert),
            fixture(key),
        );
        common::config::Config::from_toml(&text, &|_| None)
            .unwrap()
            .gateway
    }

    fn new(config: &GatewayConfig) -> Result<AuthClient, AuthClientError> {
        AuthClient::new(config, None, Arc::new(Metrics::new()))
    }

    fn with_reason(code: Code, reason: &'static str) -> Status {
        let mut status = Status::new(code, "x");
        status
            .metadata_mut()
            .insert(REASON_METADATA, MetadataValue::from_static(reason));
        status
    }

    #[test]
    fn status_codes_are_classified_once() {
        use AuthFailure::*;
        let cases = [
            (Code::Unauthenticated, Unauthenticated(None)),
            (Code::PermissionDenied, PermissionDenied),
            (Code::InvalidArgument, InvalidArgument(None)),
            (Code::NotFound, NotFound),
            (Code::Unavailable, Unavailable),
            (Code::DeadlineExceeded, Unavailable),
            (Code::Cancelled, Unavailable),
            (Code::Unknown, Unavailable),
            (Code::ResourceExhausted, Unavailable),
            (Code::Internal, Internal),
            (Code::Unimplemented, Internal),
            (Code::FailedPrecondition, Internal),
            (Code::Aborted, Internal),
        ];
        for (code, failure) in cases {
            assert_eq!(
                AuthFailure::classify(&Status::new(code, "x")),
                failure,
                "{code:?}"
            );
        }
    }

    #[test]
    fn only_known_reasons_are_kept() {
        let cases = [
            (
                with_reason(Code::Unauthenticated, "nonce_mismatch"),
                AuthFailure::Unauthenticated(Some(Reason::NonceMismatch)),
            ),
            (
                with_reason(Code::InvalidArgument, "bad_signature"),
                AuthFailure::InvalidArgument(Some(Reason::BadSignature)),
            ),
            (
                with_reason(Code::Unauthenticated, "<script>"),
                AuthFailure::Unauthenticated(None),
            ),
            (
                with_reason(Code::Unavailable, "provider_unavailable"),
                AuthFailure::ProviderUnavailable,
            ),
            (
                with_reason(Code::DeadlineExceeded, "provider_unavailable"),
                AuthFailure::Unavailable,
            ),
            (
                with_reason(Code::Unavailable, "nonce_mismatch"),
                AuthFailure::Unavailable,
            ),
        ];
        for (status, failure) in cases {
            assert_eq!(AuthFailure::classify(&status), failure, "{status:?}");
        }
    }

    #[test]
    fn the_error_names_the_call_and_the_status_for_the_log() {
        let error = AuthCallError::from_status(
            AuthCall::ValidateSession,
            &with_reason(Code::Unauthenticated, "invalid_session"),
        );
        assert_eq!(error.call, AuthCall::ValidateSession);
        assert_eq!(
            error.to_string(),
            "ValidateSession failed: Unauthenticated x invalid_session"
        );
    }

    #[tokio::test]
    async fn mutual_tls_settings_build_a_client() {
        assert!(new(&config("client.pem", "client.key")).is_ok());
        let public_roots = GatewayConfig {
            auth_service_urls: vec!["https://auth.example.com".parse().unwrap()],
            ..GatewayConfig::default()
        };
        assert!(new(&public_roots).is_ok());
    }
}
