//! Tower/axum middleware: the Host framing check, CORS, the CSRF origin check,
//! security headers and request metrics apply to every request; the login rate limit to the
//! login endpoints only.

pub(crate) mod cors;
pub(crate) mod csrf;
pub(crate) mod framing;
pub(crate) mod rate_limit;
pub(crate) mod request_metrics;
pub(crate) mod security_headers;
