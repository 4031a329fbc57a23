//! Tower/axum middleware that applies to every request: the CSRF origin
//! check, security headers, and request metrics.

pub mod csrf;
pub mod request_metrics;
pub mod security_headers;
