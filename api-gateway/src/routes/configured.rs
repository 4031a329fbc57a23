//! Dispatch of the configured `[[routes]]`: refuse header names with `_`
//! ([`crate::client_headers`], unless `allow_underscore_headers`),
//! canonicalise the path
//! ([`crate::request_path`], 400 `invalid_path` when servers could read it
//! differently), find the route on that canonical path (longest prefix,
//! whole segments, [`crate::policy::resolve`]), apply the route's policy
//! ([`crate::access`]: a browser without a session goes to the login page,
//! an API call gets 401; 403 when denied), then run the built-in handler or
//! reverse-proxy to the upstream with exactly the canonical path and the
//! query string as the client sent it (a WebSocket handshake: see
//! [`crate::websocket`]).

use crate::access::{Access, admit};
use crate::business;
use crate::client_headers;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::extract::{CurrentUser, credential};
use crate::login_redirect::{is_navigation, login_location};
use crate::middleware::csrf;
use crate::middleware::request_metrics::RouteLabel;
use crate::policy::{Route, RouteError, resolve};
use crate::proxy::ForwardContext;
use crate::request_path::CanonicalPath;
use crate::state::AppState;
use crate::websocket;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use common::config::{Policy, RouteConfig, RouteTarget};
use std::sync::Arc;
use tower::ServiceExt;
use url::Url;

/// A route's resolved target.
pub(crate) enum Target {
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

    /// The route that serves `path` ([`resolve`]).
    pub(crate) fn resolve(&self, path: &CanonicalPath) -> Result<&Route<Target>, RouteError> {
        resolve(&self.routes, path)
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
    let route = match table.resolve(&path) {
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
    let user = match admit(state, &route.policy, &route.prefix, &mut parts).await {
        Access::Allowed(user) => user,
        Access::LogInFirst if is_navigation(&parts.method, &parts.headers) => {
            let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            return Ok(
                Redirect::to(&login_location("/auth/login", target, &state.return_hosts))
                    .into_response(),
            );
        }
        Access::LogInFirst => return Err(ApiError::unauthenticated()),
        Access::Refused(e) => return Err(e),
    };
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
            if !websocket::is_handshake(&request) {
                return Ok(state.proxy.forward(url, request, ctx).await?);
            }
            if !csrf::passes_as_unsafe(state, request.headers(), request.uri().path()) {
                return Err(
                    ApiError::csrf().with_internal("websocket handshake from another origin")
                );
            }
            let token = match &route.policy {
                Policy::Public => None,
                Policy::Authenticated(_) => {
                    credential(state, request.headers())?.map(|c| c.expose().to_owned())
                }
            };
            let watch = websocket::SessionWatch {
                token,
                auth: state.auth.clone(),
                interval: state.gateway.websocket_revalidate_interval,
            };
            let (response, upgraded) = state.proxy.forward_websocket(url, request, ctx).await?;
            if let Some(upgraded) = upgraded {
                tokio::spawn(websocket::tunnel(upgraded, watch));
            }
            Ok(response)
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
