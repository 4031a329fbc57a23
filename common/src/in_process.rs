//! Calls from the gateway to auth-service when both run in one process
//! (the `portcullis` single-node binary): the gateway's tonic client
//! calls auth-service's gRPC services as a tower service, directly. No
//! socket, no HTTP/2 framing, no connection task: a request is the same
//! `http::Request` a connection would have produced, handed over in
//! memory. Measured side by side, the gateway served twice the uncached
//! authenticated requests per second it served over loopback TCP, where
//! HTTP/2 over in-memory pipes had given 15–71 % more (BENCHMARKS.md, "One
//! process: the single-node binary").
//!
//! The two ends meet in a [`Slot`]: auth-service puts its services in it
//! once they are built ([`Slot::serve`]) and takes them out when it stops;
//! the gateway's [`Client`] calls whatever the slot holds, and answers
//! `UNAVAILABLE` while it holds nothing, as a connection refused would.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::watch;
use tonic::body::Body;
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

/// Any error, boxed.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A call that failed before a gRPC answer: the transport's error, or
/// `UNAVAILABLE` while auth-service is not serving. tonic's client reads
/// its status from the error's source chain, so wrapping changes nothing
/// there. (A concrete type rather than a boxed error keeps the futures
/// that hold it provably `Send`.)
#[derive(Debug)]
pub struct CallError(BoxError);

impl CallError {
    /// Wraps `error`.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// auth-service's gRPC services, as the slot holds them.
pub type GrpcServices = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, CallError>;

/// Where auth-service's services are found; shared by both ends.
#[derive(Clone, Debug)]
pub struct Slot(Arc<watch::Sender<Option<GrpcServices>>>);

impl Default for Slot {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(None)))
    }
}

impl Slot {
    /// A slot with nothing in it yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers `services` to the slot's clients until the returned guard is
    /// dropped (auth-service stopped).
    pub fn serve(&self, services: GrpcServices) -> Serving {
        self.0.send_replace(Some(services));
        Serving(self.clone())
    }

    /// Resolves once services are offered (at once if they are).
    pub async fn serving(&self) {
        // The sender lives as long as `self`, so this cannot fail.
        let _ = self.0.subscribe().wait_for(Option::is_some).await;
    }

    /// The client end.
    pub fn client(&self) -> Client {
        Client(self.clone())
    }

    fn services(&self) -> Option<GrpcServices> {
        self.0.borrow().clone()
    }
}

/// Empties the slot on drop: calls made afterwards are refused.
#[must_use = "the services are withdrawn when this is dropped"]
pub struct Serving(Slot);

impl Drop for Serving {
    fn drop(&mut self) {
        (self.0).0.send_replace(None);
    }
}

/// The gateway's end: a tower service a tonic client can call. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Client(Slot);

impl tower::Service<http::Request<Body>> for Client {
    type Response = http::Response<Body>;
    type Error = CallError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the services' own, asked per call (they are always
        // ready: tonic's routes buffer nothing).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self.0.services() {
            Some(services) => Box::pin(services.oneshot(request)),
            None => Box::pin(std::future::ready(Err(CallError::new(
                tonic::Status::unavailable("auth-service in this process is not serving"),
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::Service as _;

    fn answering(status: u16) -> GrpcServices {
        BoxCloneSyncService::new(tower::service_fn(
            move |_: http::Request<Body>| async move {
                let mut response = http::Response::new(Body::empty());
                *response.status_mut() =
                    http::StatusCode::from_u16(status).map_err(CallError::new)?;
                Ok::<_, CallError>(response)
            },
        ))
    }

    async fn call(client: &mut Client) -> Result<http::Response<Body>, CallError> {
        client.call(http::Request::new(Body::empty())).await
    }

    /// What tonic's client makes of the error: the status it carries.
    fn unavailable(result: Result<http::Response<Body>, CallError>) -> bool {
        result.err().is_some_and(|e| {
            tonic::Status::from_error(Box::new(e)).code() == tonic::Code::Unavailable
        })
    }

    #[tokio::test]
    async fn calls_reach_the_services_only_while_they_are_served() {
        let slot = Slot::new();
        let mut client = slot.client();
        let early = call(&mut client).await;
        let message = early.as_ref().err().map(ToString::to_string);
        assert_eq!(
            message.as_deref(),
            Some(
                "code: 'The service is currently unavailable', \
                 message: \"auth-service in this process is not serving\""
            ),
            "the message the gateway logs"
        );
        assert!(unavailable(early), "before serving");
        let serving = slot.serve(answering(204));
        assert_eq!(call(&mut client).await.unwrap().status(), 204);
        drop(serving);
        assert!(unavailable(call(&mut client).await), "after serving");
    }

    #[tokio::test]
    async fn serving_waits_for_the_services() {
        let slot = Slot::new();
        let waiting = tokio::spawn({
            let slot = slot.clone();
            async move { slot.serving().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "nothing is served yet");
        let _serving = slot.serve(answering(200));
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("serving resolves once services are offered")
            .unwrap();
        // And at once when they already are.
        slot.serving().await;
    }

    #[tokio::test]
    async fn a_clone_of_the_slot_reaches_the_same_services() {
        let slot = Slot::new();
        let mut client = slot.clone().client();
        let _serving = slot.serve(answering(200));
        assert_eq!(call(&mut client).await.unwrap().status(), 200);
    }
}
