//! Several auth-service replicas behind one channel: tonic's balancer
//! (tower's power-of-two-choices) spreads calls over the endpoints it
//! holds, and this module decides which it holds. A lazily connected
//! endpoint whose replica died still looks ready to the balancer and fails
//! whichever call lands on it, so each replica is probed (the standard gRPC
//! health check) every [`PROBE_INTERVAL`] on a connection of its own: one
//! that does not answer within its deadline, dead or frozen, is removed from
//! the balancer, and added back once it answers again. A call that fails
//! to reach a replica at all asks for the next probe at once, so a dead
//! replica costs the calls in flight, not half a second of them. Removing
//! it also ends the streams it carried, so the session cache's feed
//! watcher reconnects to a live replica.

use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::sync::mpsc::Sender;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How often each replica is probed.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// A channel balanced over `endpoints`, each held only while it answers
/// its health probe (all of them until the first probe says otherwise),
/// and the handle that asks for a probe now. Must be called inside the
/// Tokio runtime; the probing task ends when the channel and all its clones
/// are gone.
pub(crate) fn balanced(
    endpoints: Vec<Endpoint>,
    probe_timeout: Duration,
    metrics: Arc<Metrics>,
) -> (Channel, Arc<Notify>) {
    let (channel, changes) = Channel::balance_channel(endpoints.len().max(1));
    let probe_now = Arc::new(Notify::new());
    tokio::spawn(track(
        endpoints,
        changes,
        probe_timeout.min(PROBE_INTERVAL * 2),
        probe_now.clone(),
        metrics,
    ));
    (channel, probe_now)
}

async fn track(
    endpoints: Vec<Endpoint>,
    changes: Sender<Change<usize, Endpoint>>,
    timeout: Duration,
    probe_now: Arc<Notify>,
    metrics: Arc<Metrics>,
) {
    // Every endpoint is held until a probe says otherwise, so the first
    // calls need not wait for one.
    for (i, endpoint) in endpoints.iter().enumerate() {
        if changes
            .send(Change::Insert(i, endpoint.clone()))
            .await
            .is_err()
        {
            return;
        }
    }
    let probes: Vec<HealthClient<Channel>> = endpoints
        .iter()
        .map(|endpoint| HealthClient::new(endpoint.connect_lazy()))
        .collect();
    let mut held = vec![true; endpoints.len()];
    let mut interval = tokio::time::interval(PROBE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = probe_now.notified() => {}
        }
        for (i, endpoint) in endpoints.iter().enumerate() {
            let healthy = answers(probes[i].clone(), timeout).await;
            let change = match (healthy, held[i]) {
                (true, false) => Change::Insert(i, endpoint.clone()),
                (false, true) => Change::Remove(i),
                _ => continue,
            };
            if changes.send(change).await.is_err() {
                return; // The balanced channel is gone.
            }
            held[i] = healthy;
            metrics.set_replicas_up(held.iter().filter(|h| **h).count());
            if healthy {
                tracing::info!(endpoint = %endpoint.uri(), "auth-service replica answers again; calls go to it");
            } else {
                tracing::warn!(endpoint = %endpoint.uri(), "auth-service replica does not answer; no calls go to it");
            }
        }
    }
}

/// Whether the replica says it is serving within `timeout`.
async fn answers(mut probe: HealthClient<Channel>, timeout: Duration) -> bool {
    let request = HealthCheckRequest {
        service: String::new(),
    };
    match tokio::time::timeout(timeout, probe.check(request)).await {
        Ok(Ok(response)) => response.into_inner().status == ServingStatus::Serving as i32,
        _ => false,
    }
}
