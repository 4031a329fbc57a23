//! Portcullis on one node: auth-service and the api-gateway in one
//! process. The gateway calls auth-service's gRPC services directly
//! ([`common::in_process`]) instead of over a socket, which is what lets an
//! uncached authenticated request cost little more than a public one
//! (BENCHMARKS.md, "One process: the single-node binary"). Everything else is the two services as
//! they are: the same configuration file, the same listeners (auth-service
//! still serves `listen` for internal services and `portcullis-admin`).
//!
//! The gateway starts serving once auth-service does, and shutdown runs in
//! the order a request needs: the gateway stops taking
//! requests and drains those in flight, which may still call auth-service;
//! then auth-service stops and flushes its store. Either one failing stops
//! the other.

use common::config::Config;
use std::future::Future;
use tokio_util::sync::CancellationToken;

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The gateway could not start or failed while serving.
    #[error("api-gateway: {0}")]
    Gateway(#[source] api_gateway::StartError),
    /// auth-service could not start or failed while serving.
    #[error("auth-service: {0}")]
    AuthService(#[source] auth_service::StartError),
}

/// Both services' bound listeners; what joins them in memory is made by
/// [`run`].
pub struct Listeners {
    /// The gateway's (its `in_process_auth` is set by [`run`]).
    pub gateway: api_gateway::Listeners,
    /// auth-service's (its `in_process` is set by [`run`]).
    pub auth_service: auth_service::Listeners,
}

/// Serves both services until `shutdown` resolves or one of them fails,
/// then stops the gateway first and auth-service after it.
pub async fn run(
    mut listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let slot = common::in_process::Slot::new();
    listeners.gateway.in_process_auth = Some(slot.clone());
    listeners.auth_service.in_process = Some(slot.clone());

    let stop_gateway = CancellationToken::new();
    let stop_auth_service = CancellationToken::new();
    tokio::spawn({
        let stop_gateway = stop_gateway.clone();
        async move {
            shutdown.await;
            stop_gateway.cancel();
        }
    });
    let auth_service = {
        let config = config.clone();
        let stop_gateway = stop_gateway.clone();
        let stop_auth_service = stop_auth_service.clone();
        async move {
            let served = auth_service::run_with_listeners(
                listeners.auth_service,
                config,
                auth_service::Deps::default(),
                stop_auth_service.cancelled_owned(),
            )
            .await;
            // Without auth-service the gateway can only refuse.
            stop_gateway.cancel();
            served
        }
    };
    let gateway = async move {
        // Serve only once auth-service does (its store open): a request
        // taken earlier could only be refused. Meanwhile connections wait
        // in the listener's backlog.
        tokio::select! {
            () = slot.serving() => {}
            () = stop_gateway.cancelled() => {
                stop_auth_service.cancel();
                return Ok(());
            }
        }
        let served = api_gateway::run_with_listeners(
            listeners.gateway,
            config,
            stop_gateway.cancelled_owned(),
        )
        .await;
        // After the gateway's last request: nothing calls auth-service now.
        stop_auth_service.cancel();
        served
    };
    let (auth_service, gateway) = tokio::join!(auth_service, gateway);
    gateway.map_err(RunError::Gateway)?;
    auth_service.map_err(RunError::AuthService)
}
