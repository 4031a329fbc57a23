//! Portcullis auth-service: provider-token verification, the code + PKCE
//! flow, users, sessions and revocation, served over gRPC (`auth.v1`), with
//! the standard health service and server reflection.
//!
//! [`run`] takes an already-bound listener and a shutdown future (as
//! mini-redis does), so tests start it on port 0 and stop it cleanly.

pub mod caller_auth;
pub mod domain;
pub mod grpc;
pub mod providers;
pub mod storage;
mod sweeper;

use common::config::{Config, StoreKind};
use common::proto::auth_service_server::AuthServiceServer;
use domain::Auth;
use domain::clock::{Clock, SystemClock};
use std::future::Future;
use std::sync::Arc;
use storage::Store;
use storage::sled::SledStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;

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
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
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
    match config.auth_service.store {
        StoreKind::Sled => {
            let dir = config.auth_service.data_dir.clone();
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
    }
}

/// Serves auth-service on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with(listener, config, Deps::default(), shutdown).await
}

/// [`run`] with injected dependencies.
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    deps: Deps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let store = open_store(&config).await?;
    let providers =
        providers::Providers::new(&config.providers, config.auth_service.provider_timeout)
            .map_err(|e| StartError::Providers(e.to_string()))?;
    let sweep_interval = config.auth_service.sweep_interval;
    let caller_auth = caller_auth::CallerAuth::new(config.auth_service.service_token.as_ref());
    if config.auth_service.insecure_listen && config.auth_service.service_token.is_none() {
        tracing::warn!(
            listen = %config.auth_service.listen,
            "INSECURE: insecure_listen is set and no service token is configured; \
             anyone who can reach this port can validate and revoke sessions"
        );
    }
    let auth = Arc::new(Auth::new(store, providers, deps.clock, config.auth_service));

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<AuthServiceServer<grpc::GrpcService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(common::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| StartError::Reflection(e.to_string()))?;

    let cancel = CancellationToken::new();
    let sweeper = tokio::spawn(sweeper::run(auth.clone(), sweep_interval, cancel.clone()));

    let served = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(AuthServiceServer::with_interceptor(
            grpc::GrpcService::new(auth.clone()),
            move |request| caller_auth.check(request),
        ))
        // No Nagle: small gRPC replies must not wait for delayed ACKs.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;

    cancel.cancel();
    if let Err(e) = sweeper.await {
        tracing::error!(error = %e, "sweeper task failed");
    }
    if let Err(e) = auth.flush().await {
        tracing::error!(error = %e, "final flush failed");
    }
    tracing::info!("auth-service stopped");
    served.map_err(StartError::from)
}
