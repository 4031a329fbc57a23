//! Portcullis auth-service: provider-token verification, the code + PKCE
//! flow, users, sessions and revocation, served over gRPC (`auth.v1`), with
//! the standard health service and (opt-in, authenticated) server reflection.
//! Prometheus metrics (`metrics.rs`) are served on a listener of their own
//! (`metrics_server.rs`, `metrics_listen`).
//!
//! [`run`] takes an already-bound listener and a shutdown future (as
//! mini-redis does), so tests start it on port 0 and stop it cleanly;
//! [`run_with_listeners`] adds the metrics listener and the optional Unix
//! socket (`grpc_socket.rs`, `listen_socket`).

pub mod caller_auth;
pub mod domain;
pub mod grpc;
pub mod grpc_socket;
pub mod metrics;
mod metrics_server;
pub mod providers;
pub mod revocation_feed;
mod revocation_stream;
mod rpc_span;
pub mod storage;
mod store_watchdog;
mod sweeper;

use common::config::{AuthServiceConfig, Config, StoreConfig};
use common::error_chain::error_chain;
use common::in_process::CallError;
use common::proto::auth_service_server::AuthServiceServer;
use domain::Auth;
use domain::clock::{Clock, SystemClock};
use futures::TryFutureExt as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use storage::Store;
use storage::redis::RedisStore;
use storage::sled::SledStore;
use tokio::net::TcpListener;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::pb::health_server::{Health, HealthServer};
use tower::ServiceExt as _;
use tracing::Instrument as _;

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("cannot open the store in {path}: {reason}")]
    Store { path: String, reason: String },
    /// Providers could not be set up.
    #[error("cannot set up providers: {0}")]
    Providers(String),
    /// Reflection could not be built from the descriptor set.
    #[error("cannot build gRPC reflection: {0}")]
    Reflection(String),
    /// A TLS file could not be read or used; names the key(s) and path(s).
    #[error("{0}")]
    Tls(String),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The metrics listener failed.
    #[error("metrics server failed: {0}")]
    Metrics(#[source] std::io::Error),
}

/// What tests may replace.
pub struct Deps {
    /// The clock every expiry decision reads.
    pub clock: Arc<dyn Clock>,
}

impl Default for Deps {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
        }
    }
}

/// Opens the configured store. Blocking work runs off the runtime.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    match &config.auth_service.store {
        StoreConfig::Sled { data_dir } => {
            let dir = data_dir.clone();
            let path = dir.display().to_string();
            let opened = tokio::task::spawn_blocking(move || SledStore::open(&dir))
                .await
                .map_err(|e| StartError::Store {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            let store = opened.map_err(|e| StartError::Store {
                path,
                reason: e.to_string(),
            })?;
            Ok(Arc::new(store))
        }
        StoreConfig::Redis(redis) => {
            // Named by section, not URL: a URL may carry a password.
            let store = RedisStore::open(redis)
                .await
                .map_err(|e| StartError::Store {
                    path: "[auth_service.redis]".into(),
                    reason: e.to_string(),
                })?;
            Ok(Arc::new(store))
        }
    }
}

/// How long a client has to complete the TLS handshake: a peer that opens
/// connections and never finishes them must not hold resources forever.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The gRPC server builder: plaintext h2c, or TLS with `tls_cert`/`tls_key`,
/// and mutual TLS with `client_ca` (a client certificate is then mandatory:
/// `client_auth_optional` stays false, so a connection without one, or
/// with one from another CA, fails in the handshake and never reaches a
/// service). The files were read and checked when the configuration loaded
/// ([`common::tls`]); a failure left here names the keys and paths (never
/// the files' content).
fn server_builder(config: &AuthServiceConfig) -> Result<Server, StartError> {
    let Some(identity) = &config.tls else {
        return Ok(Server::builder());
    };
    let (cert, key) = identity.pem();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .timeout(TLS_HANDSHAKE_TIMEOUT);
    // Built once without the client CA so that an error is blamed on the
    // right file: the certificate and key first, then the CA.
    let server_tls_only = Server::builder().tls_config(tls.clone()).map_err(|e| {
        StartError::Tls(format!(
            "auth_service.tls_cert / auth_service.tls_key ({}, {}): {}",
            identity.files().cert.display(),
            identity.files().key.display(),
            error_chain(&e)
        ))
    })?;
    let Some(ca) = &config.client_ca else {
        return Ok(server_tls_only);
    };
    let tls = tls
        .client_ca_root(Certificate::from_pem(ca.pem()))
        .client_auth_optional(false);
    Server::builder().tls_config(tls).map_err(|e| {
        StartError::Tls(format!(
            "auth_service.client_ca ({}): {}",
            ca.path().display(),
            error_chain(&e)
        ))
    })
}

/// Checks that the TLS files of `config` make a usable server
/// configuration, so the binary can refuse them before it binds and
/// announces its address ([`run`] builds the same configuration again).
pub fn check_tls(config: &AuthServiceConfig) -> Result<(), StartError> {
    server_builder(config).map(|_| ())
}

/// The gRPC reflection service (v1) over our descriptor sets. It is only
/// added with `auth_service.grpc_reflection`, and then behind the same
/// caller authentication as `AuthService`: reflection describes the whole
/// API, so it is no more public than the API itself.
fn reflection_service() -> Result<
    tonic_reflection::pb::v1::server_reflection_server::ServerReflectionServer<
        impl tonic_reflection::pb::v1::server_reflection_server::ServerReflection,
    >,
    StartError,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(common::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| StartError::Reflection(e.to_string()))
}

/// Serves auth-service on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with(listener, config, Deps::default(), shutdown).await
}

/// [`run`] with injected dependencies. No metrics listener: see
/// [`run_with_listeners`].
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    deps: Deps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with_listeners(
        Listeners {
            grpc: listener,
            metrics: None,
            socket: None,
            in_process: None,
        },
        config,
        deps,
        shutdown,
    )
    .await
}

/// What an extra gRPC server ended with: a task that panicked has been
/// logged and counts as stopped.
async fn join_server(
    name: &'static str,
    server: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
) -> Result<(), tonic::transport::Error> {
    match server {
        Some(task) => task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, task = name, "background task failed");
            Ok(())
        }),
        None => Ok(()),
    }
}

/// The services the gateway in the same process calls directly (see
/// [`common::in_process`]): health and `AuthService`, each call in the
/// span a connection would have given it.
fn in_process_services(
    health: HealthServer<impl Health>,
    auth: AuthServiceServer<grpc::GrpcService>,
) -> common::in_process::GrpcServices {
    let routes = Routes::new(health).add_service(auth).prepare();
    tower::util::BoxCloneSyncService::new(tower::service_fn(
        move |request: tonic::codegen::http::Request<tonic::body::Body>| {
            let span = rpc_span::for_call(request.uri().path(), request.headers());
            routes
                .clone()
                .oneshot(request)
                .map_err(|never: std::convert::Infallible| -> CallError { match never {} })
                .instrument(span)
        },
    ))
}

/// auth-service's bound listeners.
pub struct Listeners {
    /// The gRPC listener (`listen`).
    pub grpc: TcpListener,
    /// `metrics_listen`: `GET /metrics` only.
    pub metrics: Option<TcpListener>,
    /// `listen_socket`: the same gRPC services, in plain text.
    pub socket: Option<grpc_socket::GrpcSocket>,
    /// The gateway in the same process (the single-node binary): the same
    /// services, called directly, with no caller check, as nothing outside
    /// the process can reach them.
    pub in_process: Option<common::in_process::Slot>,
}

/// [`run_with`] on every listener of `listeners` until the same
/// `shutdown`: the metrics listener and the Unix socket stop when the TCP
/// gRPC server begins to; in-process calls are refused once it has.
pub async fn run_with_listeners(
    listeners: Listeners,
    config: Config,
    deps: Deps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let listener = listeners.grpc;
    // TLS first: a bad certificate or key stops the service before it
    // opens (and locks) the store.
    let server = server_builder(&config.auth_service)?;
    let store = open_store(&config).await?;
    let metrics = Arc::new(metrics::Metrics::new(
        config.providers.iter().map(|p| p.id.as_str()),
    ));
    let providers = providers::Providers::new(
        &config.providers,
        config.auth_service.provider_timeout,
        &metrics,
    )
    .map_err(|e| StartError::Providers(e.to_string()))?;
    let sweep_interval = config.auth_service.sweep_interval;
    let probing = store_watchdog::Probing {
        interval: config.auth_service.store_probe_interval,
        timeout: config.auth_service.store_probe_timeout,
    };
    let caller_auth = caller_auth::CallerAuth::new(
        config.auth_service.service_token.as_ref(),
        config.auth_service.client_ca.is_some(),
    );
    // No TLS on the socket, so no client certificate to ask for: the
    // socket file's permissions stand in for it. The token still counts.
    let socket_caller_auth =
        caller_auth::CallerAuth::new(config.auth_service.service_token.as_ref(), false);
    if config.auth_service.insecure_listen && !config.auth_service.authenticates_callers() {
        tracing::warn!(
            listen = %config.auth_service.listen,
            "INSECURE: insecure_listen is set and neither a service token nor client_ca is \
             configured; anyone who can reach this port can validate and revoke sessions"
        );
    }
    if !config.auth_service.listen.ip().is_loopback() && !config.auth_service.serves_tls() {
        tracing::warn!(
            listen = %config.auth_service.listen,
            "gRPC is served without TLS on a non-loopback address: the service token and \
             session tokens cross the network in clear; set tls_cert and tls_key"
        );
    }
    let config_reflection = config.auth_service.grpc_reflection;
    let auth = Arc::new(Auth::new(
        store.clone(),
        providers,
        deps.clock,
        config.auth_service,
        metrics.clone(),
    ));

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<AuthServiceServer<grpc::GrpcService>>()
        .await;
    // Only health answers unauthenticated callers.
    let reflection = if config_reflection {
        Some(InterceptedService::new(
            reflection_service()?,
            caller_auth.clone(),
        ))
    } else {
        None
    };

    let cancel = CancellationToken::new();
    let sweeper = tokio::spawn(sweeper::run(auth.clone(), sweep_interval, cancel.clone()));
    let watchdog = tokio::spawn(store_watchdog::run(
        move || {
            let store = store.clone();
            async move { store.probe().await }
        },
        health_reporter,
        probing,
        metrics.clone(),
        cancel.clone(),
    ));
    let metrics_server = listeners.metrics.map(|listener| {
        tokio::spawn(metrics_server::serve(
            listener,
            metrics,
            cancel.clone().cancelled_owned(),
        ))
    });

    // The same services on every listener; only the caller check differs.
    let routes = |server: Server, caller_auth| {
        server
            .trace_fn(|request| rpc_span::for_call(request.uri().path(), request.headers()))
            .add_service(health_service.clone())
            .add_optional_service(reflection.clone())
            .add_service(AuthServiceServer::with_interceptor(
                grpc::GrpcService::new(auth.clone(), cancel.clone()),
                caller_auth,
            ))
    };
    let socket_server = listeners.socket.map(|socket| {
        tracing::info!(
            path = %socket.file.path().display(),
            "gRPC also served on a Unix socket (plain text; its file permissions decide who may call)"
        );
        let served = routes(Server::builder(), socket_caller_auth)
            .serve_with_incoming_shutdown(
                UnixListenerStream::new(socket.listener),
                cancel.clone().cancelled_owned(),
            );
        let file = socket.file;
        tokio::spawn(async move {
            let served = served.await;
            drop(file);
            served
        })
    });
    let in_process = listeners.in_process.map(|slot| {
        slot.serve(in_process_services(
            health_service.clone(),
            AuthServiceServer::new(grpc::GrpcService::new(auth.clone(), cancel.clone())),
        ))
    });

    let served = routes(server, caller_auth)
        // No Nagle: small gRPC replies must not wait for delayed ACKs.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            // Background tasks and watch streams stop as shutdown begins;
            // in-flight calls still finish.
            {
                let cancel = cancel.clone();
                async move {
                    shutdown.await;
                    cancel.cancel();
                }
            },
        )
        .await;

    cancel.cancel();
    for (name, task) in [("sweeper", sweeper), ("store watchdog", watchdog)] {
        if let Err(e) = task.await {
            tracing::error!(error = %e, task = name, "background task failed");
        }
    }
    let socket_served = join_server("socket server", socket_server).await;
    drop(in_process);
    let metrics_served = match metrics_server {
        Some(task) => match task.await {
            Ok(served) => served.map_err(StartError::Metrics),
            Err(e) => {
                tracing::error!(error = %e, task = "metrics server", "background task failed");
                Ok(())
            }
        },
        None => Ok(()),
    };
    if let Err(e) = auth.flush().await {
        tracing::error!(error = %e, "final flush failed");
    }
    tracing::info!("auth-service stopped");
    served
        .and(socket_served)
        .map_err(StartError::from)
        .and(metrics_served)
}
