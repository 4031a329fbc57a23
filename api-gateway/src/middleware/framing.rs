//! Refuses a request whose `Host` breaks the HTTP/1.1 framing rules
//! ([`crate::framing`]) with 400, before any handler, policy or upstream
//! sees it, and closes the connection: a client that framed one request
//! wrongly gets no second chance on the same connection.

use crate::error::ApiError;
use crate::framing::check_host;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The middleware.
pub(crate) async fn require_host(request: Request, next: Next) -> Response {
    match check_host(request.version(), request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            let mut response = ApiError::bad_request(
                "bad_host",
                "The request's Host is missing, repeated or invalid.",
            )
            .with_internal(e.to_string())
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}
