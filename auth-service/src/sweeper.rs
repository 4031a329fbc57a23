//! Background purge of expired sessions and login flows, so the store does
//! not grow with every abandoned login or forgotten session.

use crate::domain::Auth;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Sweeps every `interval` until `cancel` fires.
pub(crate) async fn run(auth: Arc<Auth>, interval: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => match auth.sweep().await {
                Ok((0, 0)) => {}
                Ok((sessions, flows)) => tracing::info!(sessions, flows, "purged expired records"),
                Err(e) => tracing::error!(error = %e, "sweep failed"),
            },
        }
    }
}
