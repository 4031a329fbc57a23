//! Reads a request body whole, up to the body cap, before it is proxied.
//!
//! Streaming a client's body straight to the upstream means the upstream
//! has already received the headers and part of the body when the gateway
//! finds the body broken (an invalid chunk size, a chunked body past
//! `max_request_body_bytes`, a client that stalls or vanishes): the client
//! got a 502 after proxying had started, and the upstream a truncated
//! request (issue 9). Buffering first means a refused body never reaches
//! the upstream at all: a malformed body is 400 and an oversized one 413
//! before the upstream connection is even opened, and what is forwarded
//! has an exact `Content-Length`.
//!
//! The cost is memory: at most `max_request_body_bytes` per request in
//! flight, so up to `max_connections` times that in the worst case (size
//! the two together); a slow body is bounded by `request_timeout`. Only
//! requests that passed the route's policy are buffered (the proxy calls
//! this after the policy check), so an anonymous client cannot make the
//! gateway hold bodies for protected routes.
//!
//! A leaf: [`BodyError`] becomes an HTTP answer at the edge (`error.rs`).

use axum::body::{Body, Bytes};
use http_body_util::LengthLimitError;
use std::error::Error as _;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// More than the cap.
    #[error("request body larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The body's framing is broken (e.g. an invalid chunk size) or the
    /// client went away mid-body.
    #[error("request body could not be read: {0}")]
    Malformed(String),
}

/// The whole of `body`, or why not; never more than `limit` bytes.
pub(crate) async fn read_whole(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // `to_bytes` wraps the limit error; earlier layers
        // (`RequestBodyLimitLayer`) raise the same type.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
        while let Some(c) = cause {
            if c.is::<LengthLimitError>() {
                return BodyError::TooLarge { limit };
            }
            cause = c.source();
        }
        BodyError::Malformed(e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Limited, StreamBody};

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let bytes = read_whole(Body::from("hello"), 5).await.unwrap();
        assert_eq!(&bytes[..], b"hello");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_too_large() {
        let error = read_whole(Body::from("hello!"), 5).await.unwrap_err();
        assert!(
            matches!(error, BodyError::TooLarge { limit: 5 }),
            "{error:?}"
        );
        // Limited by an outer layer first: still too large.
        let outer = Body::new(Limited::new(Body::from("hello!"), 3));
        let error = read_whole(outer, 100).await.unwrap_err();
        assert!(matches!(error, BodyError::TooLarge { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn a_broken_body_is_malformed() {
        let frames = futures::stream::iter(vec![
            Ok(hyper::body::Frame::data(Bytes::from_static(b"part"))),
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "invalid chunk size",
            )),
        ]);
        let body = Body::new(StreamBody::new(frames).boxed());
        let error = read_whole(body, 100).await.unwrap_err();
        assert!(matches!(error, BodyError::Malformed(_)), "{error:?}");
    }
}
