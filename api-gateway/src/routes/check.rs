//! `/auth/check`: forward authentication for nginx `auth_request`, Traefik
//! ForwardAuth and Caddy `forward_auth`. 200 with the identity headers the
//! proxy copies to its upstream, or 401 (503 when auth-service is down: the
//! proxy then refuses the request too).

use crate::extract::CurrentUser;
use crate::proxy::add_identity_headers;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Any method: proxies differ in what they send.
pub(crate) async fn check(user: CurrentUser) -> Response {
    let mut response = StatusCode::OK.into_response();
    add_identity_headers(response.headers_mut(), user.identity());
    response
}
