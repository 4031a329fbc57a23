//! Dispatch of the configured `[[routes]]`: refuse header names with `_`
//! ([`crate::client_headers`], unless `allow_underscore_headers`),
//! canonicalise the path
//! ([`crate::request_path`], 400 `invalid_path` when servers could read it
//! differently), find the route on that canonical path (longest prefix,
//! whole segments, [`crate::policy::resolve`]), resolve the caller once,
//! apply the route's policy (401/403), then run the built-in handler or
//! reverse-proxy to the upstream with exactly the canonical path and the
//! query string as the client sent it.

use crate::business;
use crate::client_headers;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::extract::{CurrentUser, credential, lookup};
use crate::middleware::request_metrics::RouteLabel;
use crate::policy::{Decision, Route, evaluate, resolve};
use crate::proxy::ForwardContext;
use crate::request_path::CanonicalPath;
use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use common::config::{Policy, RouteConfig, RouteTarget};
use std::sync::Arc;
use tower::ServiceExt;
use url::Url;

/// A route's resolved target.
enum Target {
    Handler(Router),
    Upstream(Url),
}

/// The configured routes, each compiled with its target once at start-up.
pub(crate) struct RouteTable {
    routes: Vec<Route<Target>>,
}

/// A route names a handler that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("routes[{index}].target.handler: unknown handler {name:?} (known: {known})")]
pub struct UnknownHandler {
    index: usize,
    name: String,
    known: String,
}

impl RouteTable {
    /// Resolves every route's target.
    pub(crate) fn build(routes: &[RouteConfig], state: &AppState) -> Result<Self, UnknownHandler> {
        let mut compiled = Vec::with_capacity(routes.len());
        for (index, route) in routes.iter().enumerate() {
            let target = match &route.target {
                RouteTarget::Handler(name) => match business::router(name) {
                    Some(router) => Target::Handler(router.with_state(state.clone())),
                    None => {
                        return Err(UnknownHandler {
                            index,
                            name: name.clone(),
                            known: business::HANDLERS.join(", "),
                        });
                    }
                },
                RouteTarget::Upstream(url) => Target::Upstream(url.clone()),
            };
            compiled.push(Route::compile(route, target));
        }
        Ok(Self { routes: compiled })
    }
}

/// The router's fallback: everything that is not one of the gateway's own
/// routes.
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    table: Arc<RouteTable>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Err(e) = client_headers::check(&parts.headers, state.gateway.allow_underscore_headers) {
        return ApiError::from(e).into_response();
    }
    let path = match CanonicalPath::parse(parts.uri.path()) {
        Ok(path) => path,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let route = match resolve(&table.routes, &path) {
        Ok(route) => route,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // What was matched is what the handler or upstream gets.
    parts.uri = match with_path(&parts.uri, &path) {
        Ok(uri) => uri,
        Err(e) => return e.into_response(),
    };
    let request = Request::from_parts(parts, body);
    let label = RouteLabel(route.prefix.clone());
    let mut response = match serve(&state, route, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(label);
    response
}

/// `uri` with its path replaced by the canonical one; the query string is
/// passed through unchanged.
fn with_path(uri: &Uri, path: &CanonicalPath) -> Result<Uri, ApiError> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{}?{query}", path.as_str()),
        None => path.as_str().to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(path_and_query)
            .map_err(|e| ApiError::internal(format!("canonical path is not a URI path: {e}")))?,
    );
    Uri::from_parts(parts).map_err(|e| ApiError::internal(format!("cannot rebuild the URI: {e}")))
}

async fn serve(
    state: &AppState,
    route: &Route<Target>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    // Two session cookies are refused on public routes too: serving them
    // anonymously below is for auth-service outages only.
    credential(state, &parts.headers)?;
    let user = match lookup(state, &mut parts).await {
        Ok(user) => user,
        // A public route still works when auth-service is down, anonymously.
        Err(e) if matches!(route.policy, Policy::Public) => {
            tracing::warn!(error = %e, "auth-service unavailable; serving a public route anonymously");
            None
        }
        Err(e) => return Err(e),
    };
    match evaluate(&route.policy, user.as_ref().map(|u| &u.user)) {
        Decision::Allow => {}
        Decision::Unauthenticated => return Err(ApiError::unauthenticated()),
        Decision::Forbidden => {
            return Err(ApiError::forbidden().with_internal(format!(
                "policy of {} denied user {}",
                route.prefix,
                user.as_ref().map(|u| u.user.id.as_str()).unwrap_or("")
            )));
        }
    }
    let ClientIp(client_ip) = match ClientIp::from_request_parts(&mut parts, state).await {
        Ok(ip) => ip,
        Err(never) => match never {},
    };
    let request = Request::from_parts(parts, body);
    match &route.target {
        Target::Handler(router) => {
            let mut response = match router.clone().oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            // Built-in handlers answer with personal data.
            response
                .headers_mut()
                .entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Target::Upstream(url) => {
            let ctx = ForwardContext {
                cookies: &state.cookies,
                user: user.as_deref().map(CurrentUser::identity),
                client_ip,
                public_url: &state.gateway.public_url,
            };
            Ok(state.proxy.forward(url, request, ctx).await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_path_replaces_the_raw_one_and_the_query_is_kept() {
        let uri: Uri = "/api/%61dmin/x?a=%2e%2e&b=/..;".parse().unwrap();
        let path = CanonicalPath::parse(uri.path()).unwrap();
        let rebuilt = with_path(&uri, &path).unwrap();
        assert_eq!(rebuilt, "/api/admin/x?a=%2e%2e&b=/..;");
        let uri: Uri = "http://gw.example/api/%7Ex".parse().unwrap();
        let path = CanonicalPath::parse(uri.path()).unwrap();
        assert_eq!(with_path(&uri, &path).unwrap(), "http://gw.example/api/~x");
    }
}
