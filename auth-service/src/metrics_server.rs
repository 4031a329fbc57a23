//! The `metrics_listen` listener: plain HTTP, `GET /metrics` and nothing
//! else (404), so the only thing that port reveals is the metrics. Apart
//! from the gRPC port because Prometheus scrapes HTTP/1.1 text, and so the
//! metrics can be reachable where the API must not be (and the reverse).

use crate::metrics::{CONTENT_TYPE, Metrics};
use axum::Router;
use axum::http::header;
use axum::routing::get;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The application: `GET /metrics` renders `metrics` at each scrape.
fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()) }),
    )
}

/// Serves the metrics on `listener` until `shutdown` resolves (open
/// keep-alive connections are then closed, so a scraper cannot hold the
/// service's shutdown open).
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn get(path: &str) -> (StatusCode, Option<String>, String) {
        let metrics = Arc::new(Metrics::new(["dev"]));
        let response = router(metrics)
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn serves_metrics_and_nothing_else() {
        let (status, content_type, body) = get("/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(CONTENT_TYPE));
        assert!(body.contains("portcullis_auth_validations_total"), "{body}");
        for path in [
            "/",
            "/metrics/",
            "/healthz",
            "/auth.v1.AuthService/ValidateSession",
        ] {
            assert_eq!(get(path).await.0, StatusCode::NOT_FOUND, "{path}");
        }
    }
}
