//! Idle-connection deadlines: a connection with no request in progress is
//! closed once it has been idle too long.
//!
//! hyper's `header_read_timeout` starts at a request's first byte, and the
//! auto (HTTP/1 or HTTP/2) builder waits for the first bytes with no timer
//! at all, so a socket that never sends anything was held forever; enough
//! of them took every `max_connections` slot (issue 9). hyper 1 has no
//! keep-alive idle timeout for HTTP/1 either. So each connection gets an
//! [`Activity`] tracker: the service counts requests in progress (from the
//! moment hyper hands one over until its response body has been sent or
//! dropped, see [`Tracked`]), and [`Activity::idle_expired`] resolves when
//! no request has been in progress for
//! * `first_request` (`header_read_timeout`) since the connection was
//!   accepted, before its first request, or
//! * `keep_alive` (`keep_alive_timeout`) since its last response ended.
//!
//! Counting requests rather than bytes is deliberate: HTTP/2 PING frames
//! (ours, and a client's answers) would otherwise keep an idle connection
//! open forever, while a long upstream answer that sends nothing for a
//! while must not be cut. A request whose headers are still arriving is
//! bounded by hyper's own `header_read_timeout`.

use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

/// The idle limits of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdleLimits {
    /// How long a new connection may go without a request.
    pub first_request: Duration,
    /// How long a connection may stay idle after a response.
    pub keep_alive: Duration,
}

#[derive(Debug)]
struct Shared {
    /// Requests in progress.
    active: AtomicUsize,
    /// When the connection last became idle, and whether it has served a
    /// request since it was accepted.
    idle: Mutex<IdleSince>,
    /// Woken whenever `active` changes.
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct IdleSince {
    at: Instant,
    served: bool,
}

/// Request activity of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Activity {
    shared: Arc<Shared>,
}

/// One request in progress; dropping it ends the request.
#[derive(Debug)]
pub(crate) struct InProgress {
    shared: Arc<Shared>,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    /// A connection accepted now, with no request yet.
    pub(crate) fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                active: AtomicUsize::new(0),
                idle: Mutex::new(IdleSince {
                    at: Instant::now(),
                    served: false,
                }),
                changed: Notify::new(),
            }),
        }
    }

    /// Restarts the idle clock (after a TLS handshake, which has its own
    /// timeout, the first request gets its whole window).
    pub(crate) fn idle_from_now(&self) {
        self.shared
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .at = Instant::now();
        self.shared.changed.notify_waiters();
    }

    /// Marks the start of a request; it lasts until the guard is dropped.
    pub(crate) fn begin(&self) -> InProgress {
        self.shared.active.fetch_add(1, Ordering::SeqCst);
        self.shared.changed.notify_waiters();
        InProgress {
            shared: self.shared.clone(),
        }
    }

    /// When the connection becomes too idle, or `None` while a request is
    /// in progress.
    pub(crate) fn deadline(&self, limits: IdleLimits) -> Option<Instant> {
        if self.shared.active.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let idle = *self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
        let allowed = if idle.served {
            limits.keep_alive
        } else {
            limits.first_request
        };
        Some(idle.at + allowed)
    }

    /// Resolves once the connection has been idle longer than `limits`
    /// allow; never while a request is in progress.
    pub(crate) async fn idle_expired(&self, limits: IdleLimits) {
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            // Registered before the state is read, so a change between the
            // read and the wait is not missed.
            changed.as_mut().enable();
            match self.deadline(limits) {
                Some(deadline) if deadline <= Instant::now() => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        {
            let mut idle = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.at = Instant::now();
            idle.served = true;
        }
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
        self.shared.changed.notify_waiters();
    }
}

/// A service that reports its requests to an [`Activity`]: each one is in
/// progress until its response body has ended or been dropped.
#[derive(Clone)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Activity,
}

impl<S> Tracked<S> {
    /// Wraps `inner`, reporting to `activity`.
    pub(crate) fn new(inner: S, activity: Activity) -> Self {
        Self { inner, activity }
    }
}

impl<S, B> Service<Request<B>> for Tracked<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The inner service is cloned and driven to readiness per call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let in_progress = self.activity.begin();
        let inner = self.inner.clone();
        Box::pin(async move {
            let response = inner.oneshot(request).await?;
            Ok(response.map(|body| {
                Body::new(TrackedBody {
                    inner: body,
                    _in_progress: in_progress,
                })
            }))
        })
    }
}

/// A response body that holds its request's [`InProgress`] until hyper has
/// sent it all (or dropped it).
struct TrackedBody {
    inner: Body,
    _in_progress: InProgress,
}

impl HttpBody for TrackedBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: IdleLimits = IdleLimits {
        first_request: Duration::from_secs(10),
        keep_alive: Duration::from_secs(60),
    };

    /// `idle_expired`, failing (in paused time: at once) instead of
    /// hanging if it never resolves.
    async fn expire(activity: &Activity) {
        tokio::time::timeout(Duration::from_secs(3600), activity.idle_expired(LIMITS))
            .await
            .expect("never expired");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_expires_after_the_first_request_limit() {
        let activity = Activity::new();
        let start = Instant::now();
        assert_eq!(
            activity.deadline(LIMITS),
            Some(start + LIMITS.first_request)
        );
        expire(&activity).await;
        assert_eq!(start.elapsed(), LIMITS.first_request);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_never_expires_then_keep_alive_applies() {
        let activity = Activity::new();
        let request = activity.begin();
        assert_eq!(activity.deadline(LIMITS), None);
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move { expire(&activity).await })
        };
        // Far past both limits, the request is still in progress.
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!waiter.is_finished());
        let ended = Instant::now();
        drop(request);
        assert_eq!(activity.deadline(LIMITS), Some(ended + LIMITS.keep_alive));
        waiter.await.unwrap();
        assert_eq!(ended.elapsed(), LIMITS.keep_alive);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_request_postpones_expiry() {
        let activity = Activity::new();
        drop(activity.begin());
        tokio::time::sleep(Duration::from_secs(50)).await;
        let second = activity.begin();
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(activity.deadline(LIMITS), None);
        drop(second);
        let ended = Instant::now();
        expire(&activity).await;
        assert_eq!(ended.elapsed(), LIMITS.keep_alive);
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_clock_can_restart_after_a_handshake() {
        let activity = Activity::new();
        tokio::time::sleep(Duration::from_secs(8)).await;
        activity.idle_from_now();
        let restarted = Instant::now();
        expire(&activity).await;
        assert_eq!(restarted.elapsed(), LIMITS.first_request);
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_requests_keep_the_connection_busy() {
        let activity = Activity::new();
        let first = activity.begin();
        let second = activity.begin();
        drop(first);
        assert_eq!(activity.deadline(LIMITS), None);
        drop(second);
        assert!(activity.deadline(LIMITS).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_response_body_counts_as_in_progress_until_dropped() {
        let activity = Activity::new();
        let service = tower::service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Body::from("answer")))
        });
        let response = Tracked::new(service, activity.clone())
            .oneshot(Request::new(()))
            .await
            .unwrap();
        assert_eq!(activity.deadline(LIMITS), None);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"answer");
        assert!(activity.deadline(LIMITS).is_some());
    }
}
