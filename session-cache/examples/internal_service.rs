//! An internal service that authenticates its callers with Portcullis
//! session tokens, validating through the cache.
//!
//! ```sh
//! cargo run -p session-cache --example internal_service -- \
//!     http://127.0.0.1:50051 127.0.0.1:7000
//! curl -H "Authorization: Bearer $SESSION_TOKEN" http://127.0.0.1:7000/
//! ```
//!
//! Set `PORTCULLIS_SERVICE_TOKEN` when auth-service requires a service token.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use common::service_token::ServiceToken;
use secrecy::SecretString;
use session_cache::CachedValidator;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let auth_service = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:7000".into());

    // The whole setup: a channel, the service token, a cache size and ttl.
    let channel = Endpoint::from_shared(auth_service)?.connect_lazy();
    let token = std::env::var("PORTCULLIS_SERVICE_TOKEN")
        .ok()
        .map(SecretString::from);
    let shutdown = CancellationToken::new();
    let validator = CachedValidator::start(
        channel,
        ServiceToken::new(token.as_ref())?,
        100_000,
        Duration::from_secs(30),
        shutdown.clone(),
    )?;

    let app = Router::new().route("/", get(hello)).with_state(validator);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
        })
        .await?;
    Ok(())
}

/// `GET /`: who is calling, or 401.
async fn hello(
    State(validator): State<CachedValidator>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return (StatusCode::UNAUTHORIZED, "missing bearer token\n".into());
    };
    match validator.validate(token).await {
        Ok(answer) => {
            let email = answer.user.map(|u| u.email).unwrap_or_default();
            (StatusCode::OK, format!("hello {email}\n"))
        }
        Err(status) if status.code() == tonic::Code::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "session unknown, expired or revoked\n".into(),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "auth-service unavailable\n".into(),
        ),
    }
}
