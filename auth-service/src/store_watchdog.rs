//! The store watchdog: a hung store must be impossible to miss.
//!
//! Every `interval` it writes a marker, reads it back and waits until the
//! write is durable ([`crate::storage::SessionStore::probe`]), bounded by
//! `timeout`. When a probe fails or overruns, `grpc.health.v1` reports
//! `NOT_SERVING` for the whole server and for `auth.v1.AuthService`, so the
//! gateway's `/readyz` fails and an orchestrator restarts or drains the
//! replica; the failure is logged at error level every time. The first
//! successful probe afterwards reports `SERVING` again. Each probe's
//! result is also counted in the metrics (`store_probe_failures_total`,
//! `store_healthy`), so an alert need not read gRPC health.

use crate::metrics::Metrics;
use crate::storage::StorageError;
use common::proto::auth_service_server::AuthServiceServer;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The gRPC service names whose health follows the store's: the whole
/// server (`""`) and the auth service itself.
const SERVICES: [&str; 2] = [
    "",
    <AuthServiceServer<crate::grpc::GrpcService> as NamedService>::NAME,
];

/// How often and how patiently the store is probed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probing {
    /// Time between probes.
    pub interval: Duration,
    /// How long one probe may take before the store counts as hung.
    pub timeout: Duration,
}

/// Calls `probe` every interval until `cancel` fires, reporting health as
/// it goes. `probe` is the store's
/// [`probe`](crate::storage::SessionStore::probe); tests pass their own.
pub(crate) async fn run<P, F>(
    probe: P,
    health: HealthReporter,
    probing: Probing,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) where
    P: Fn() -> F,
    F: Future<Output = Result<(), StorageError>>,
{
    let mut ticker = tokio::time::interval(probing.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy = true;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let failure = match tokio::time::timeout(probing.timeout, probe()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {:?}", probing.timeout)),
        };
        metrics.record_store_probe(failure.is_none());
        match (failure, healthy) {
            (Some(why), _) => {
                tracing::error!(
                    error = %why,
                    "STORE UNHEALTHY: a probe write could not be confirmed durable; \
                     reporting NOT_SERVING so this replica is restarted or drained"
                );
                if healthy {
                    report(&health, ServingStatus::NotServing).await;
                    healthy = false;
                }
            }
            (None, false) => {
                tracing::warn!("store healthy again; reporting SERVING");
                report(&health, ServingStatus::Serving).await;
                healthy = true;
            }
            (None, true) => {}
        }
    }
}

async fn report(health: &HealthReporter, status: ServingStatus) {
    for service in SERVICES {
        health.set_service_status(service, status).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU8, Ordering};
    use tonic::Request;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_server::Health;
    use tonic_health::server::HealthService;

    const OK: u8 = 0;
    const FAILING: u8 = 1;
    const HUNG: u8 = 2;

    async fn status(health: &HealthService, service: &str) -> i32 {
        health
            .check(Request::new(HealthCheckRequest {
                service: service.into(),
            }))
            .await
            .unwrap()
            .into_inner()
            .status
    }

    /// Polls until both services report `want` (bounded).
    async fn wait_for(health: &HealthService, want: ServingStatus) {
        for _ in 0..200 {
            let mut all = true;
            for service in SERVICES {
                all &= status(health, service).await == want as i32;
            }
            if all {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("health never became {want:?}");
    }

    #[tokio::test]
    async fn a_failing_or_hung_store_reports_not_serving_until_it_recovers() {
        let (reporter, _) = tonic_health::server::health_reporter();
        for service in SERVICES {
            reporter
                .set_service_status(service, ServingStatus::Serving)
                .await;
        }
        let health = HealthService::from_health_reporter(reporter.clone());
        let mode = Arc::new(AtomicU8::new(OK));
        let cancel = CancellationToken::new();
        let probe = {
            let mode = mode.clone();
            move || {
                let mode = mode.load(Ordering::SeqCst);
                async move {
                    match mode {
                        FAILING => Err(StorageError::Backend("disk gone".into())),
                        HUNG => std::future::pending().await,
                        _ => Ok(()),
                    }
                }
            }
        };
        let metrics = Arc::new(Metrics::new([]));
        let task = tokio::spawn(run(
            probe,
            reporter,
            Probing {
                interval: Duration::from_millis(10),
                timeout: Duration::from_millis(50),
            },
            metrics.clone(),
            cancel.clone(),
        ));
        wait_for(&health, ServingStatus::Serving).await;
        mode.store(FAILING, Ordering::SeqCst);
        wait_for(&health, ServingStatus::NotServing).await;
        mode.store(OK, Ordering::SeqCst);
        wait_for(&health, ServingStatus::Serving).await;
        mode.store(HUNG, Ordering::SeqCst);
        wait_for(&health, ServingStatus::NotServing).await;
        let text = metrics.render();
        assert!(text.contains("portcullis_auth_store_healthy 0"), "{text}");
        assert!(
            !text.contains("portcullis_auth_store_probe_failures_total 0"),
            "{text}"
        );
        mode.store(OK, Ordering::SeqCst);
        wait_for(&health, ServingStatus::Serving).await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
