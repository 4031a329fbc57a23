//! The development provider, in the test process: tests switch its faults
//! at will, and its counters and keys are at hand.

use dev_idp::{DevIdp, DevIdpConfig, Faults};

/// The development provider, in the test process on a runtime of its own:
/// tests switch its faults at will ([`Provider::faults`]), and a test
/// blocked in a synchronous wait can never stall it.
pub struct Provider {
    idp: Option<DevIdp>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Provider {
    pub(crate) async fn start() -> Provider {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let idp = runtime
            .spawn(DevIdp::start(DevIdpConfig::default()))
            .await
            .unwrap()
            .unwrap();
        Provider {
            idp: Some(idp),
            runtime: Some(runtime),
        }
    }

    /// The provider itself (keys, token minting, counters).
    pub fn idp(&self) -> &DevIdp {
        self.idp.as_ref().expect("the provider was stopped")
    }

    /// Changes its faults, e.g. `stack.idp.faults(|f| f.omit_id_token = true)`.
    pub fn faults(&self, update: impl FnOnce(&mut Faults)) {
        self.idp().update_faults(update);
    }

    /// Back to a correct provider.
    pub fn heal(&self) {
        self.idp().set_faults(Faults::default());
    }

    /// Stops the provider for good: its port refuses connections from now
    /// on, as a provider that is down does.
    pub async fn stop(&mut self) {
        if let Some(idp) = self.idp.take() {
            idp.shutdown().await;
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        drop(self.idp.take());
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime inside another one's async context panics.
            runtime.shutdown_background();
        }
    }
}
