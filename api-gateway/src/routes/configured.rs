//! Dispatch of the configured `[[routes]]`: find the route (longest
//! prefix), resolve the caller once, apply the route's policy (401/403),
//! then run the built-in handler or reverse-proxy to the upstream.

use crate::business;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::extract::lookup;
use crate::middleware::request_metrics::RouteLabel;
use crate::policy::{Decision, evaluate, find_route, path_is_canonical};
use crate::proxy::ForwardContext;
use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use common::config::{RouteConfig, RoutePolicy, RouteTarget};
use std::sync::Arc;
use tower::ServiceExt;
use url::Url;

/// A route's resolved target.
enum Target {
    Handler(Router),
    Upstream(Url),
}

/// The configured routes with their targets, built once at start-up.
pub struct RouteTable {
    routes: Vec<RouteConfig>,
    targets: Vec<Target>,
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
    pub fn build(routes: &[RouteConfig], state: &AppState) -> Result<Self, UnknownHandler> {
        let mut targets = Vec::with_capacity(routes.len());
        for (index, route) in routes.iter().enumerate() {
            targets.push(match &route.target {
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
            });
        }
        Ok(Self {
            routes: routes.to_vec(),
            targets,
        })
    }
}

/// The router's fallback: everything that is not one of the gateway's own
/// routes.
pub async fn dispatch(
    State(state): State<AppState>,
    table: Arc<RouteTable>,
    request: Request,
) -> Response {
    let path = request.uri().path();
    if !path_is_canonical(path) {
        return ApiError::bad_request("invalid_path", "The request path is not canonical.")
            .into_response();
    }
    let Some(route) = find_route(&table.routes, path) else {
        return ApiError::not_found().into_response();
    };
    let Some(index) = table.routes.iter().position(|r| std::ptr::eq(r, route)) else {
        return ApiError::internal("route not in its own table").into_response();
    };
    let label = RouteLabel(route.path_prefix.clone());
    let mut response = match serve(&state, route, table.targets.get(index), request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(label);
    response
}

async fn serve(
    state: &AppState,
    route: &RouteConfig,
    target: Option<&Target>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let user = match lookup(state, &mut parts).await {
        Ok(user) => user,
        // A public route still works when auth-service is down, anonymously.
        Err(e) if route.policy == RoutePolicy::Public => {
            tracing::warn!(error = %e, "auth-service unavailable; serving a public route anonymously");
            None
        }
        Err(e) => return Err(e),
    };
    match evaluate(route, user.as_ref().map(|u| &u.user)) {
        Decision::Allow => {}
        Decision::Unauthenticated => return Err(ApiError::unauthenticated()),
        Decision::Forbidden => {
            return Err(ApiError::forbidden().with_internal(format!(
                "policy of {} denied user {}",
                route.path_prefix,
                user.as_ref().map(|u| u.user.id.as_str()).unwrap_or("")
            )));
        }
    }
    let ClientIp(client_ip) = match ClientIp::from_request_parts(&mut parts, state).await {
        Ok(ip) => ip,
        Err(never) => match never {},
    };
    let request = Request::from_parts(parts, body);
    match target {
        Some(Target::Handler(router)) => {
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
        Some(Target::Upstream(url)) => {
            let ctx = ForwardContext {
                cookies: &state.cookies,
                user: user.as_deref(),
                client_ip,
                public_url: &state.gateway.public_url,
            };
            state.proxy.forward(url, request, ctx).await
        }
        None => Err(ApiError::internal("route without target")),
    }
}
