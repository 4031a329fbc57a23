//! Tower/axum middleware: the Host framing check, the CSRF origin check,
//! security headers and request metrics apply to every request; the login rate limit to the
//! login endpoints only.

pub mod csrf;
pub mod framing;
pub mod rate_limit;
pub mod request_metrics;
pub mod security_headers;
