//! Portcullis api-gateway: the browser half of Portcullis. It owns cookies,
//! redirects, CSRF, the login page, per-route policies and the reverse
//! proxy; every identity question goes to auth-service over gRPC.
//!
//! [`run`] takes an already-bound listener and a shutdown future (as
//! mini-redis does), so tests start it on port 0 and stop it cleanly;
//! [`run_with_listeners`] serves [`Listeners`] (adding the metrics and
//! ext_authz ones), and [`check`] is `--check-config`. They and
//! [`StartError`] are the crate's whole public surface: `main.rs` needs
//! nothing more, and the end-to-end tests start the binary. Every module is
//! private.
//!
//! # A request's path through the code
//!
//! In the order a request meets them (file names under `src/`):
//!
//! 1. **Start-up**, `main.rs`: loads the configuration (which reads and
//!    checks every TLS file, `common::tls`: a bad one exits 2 before any
//!    bind), binds the public listener (and `metrics_listen`,
//!    `ext_authz_listen`), then calls [`run_with_listeners`], which builds
//!    the TLS acceptor from the loaded
//!    certificate (`tls.rs`) and the application in `apps` below: the
//!    shared state (`state.rs`: the auth-service client `auth_client.rs`,
//!    the upstream client `proxy.rs`, the cookie factory `cookies.rs`, the
//!    trusted proxies, the login limiter `rate_limit.rs`, the metrics
//!    `metrics.rs`) and the configured `[[routes]]`, each compiled once
//!    with its target into a `policy::Route` (`routes/configured.rs`).
//! 2. **Listener and connection limits**, `server.rs`: the accept loop takes
//!    one of `max_connections` slots and one of the peer IP's
//!    `max_connections_per_ip` slots (`conn_limit.rs`; trusted proxies are
//!    exempt; over the cap the connection is closed at once), does the TLS
//!    handshake when the gateway terminates TLS, and hands the connection to
//!    hyper with `header_read_timeout`. Each request gets the TCP peer as
//!    `ConnectInfo` and is counted by the idle tracker (`conn_idle.rs`),
//!    which closes connections idle past `header_read_timeout` (before the
//!    first request) or `keep_alive_timeout`. `/metrics` has its own
//!    listener, and is on the public one only with `public_metrics`.
//! 3. **Layers**, built in `apps`, outermost first: `Cookie` and
//!    `Authorization` marked sensitive; the trace span (method and path
//!    only, never the query; joining a trusted proxy's trace,
//!    `request_span.rs`); `Set-Cookie` marked sensitive; request counts
//!    (`middleware/request_metrics.rs`); security headers
//!    (`middleware/security_headers.rs`); error rendering (`error.rs`,
//!    `render_errors`); the Host framing check (`middleware/framing.rs`
//!    over `framing.rs`, RFC 9112 §3.2); the request timeout (408); the
//!    body cap (413); the CSRF origin check (`middleware/csrf.rs`, which
//!    reads the session credential with `credential.rs`).
//! 4. **Client IP**, `client_ip.rs`: the TCP peer or, behind a
//!    `gateway.trusted_proxies` entry, the address that proxy saw. Read by
//!    the login rate limit, the login handlers (session metadata) and the
//!    proxy (`X-Forwarded-For`).
//! 5. **Routing**, the axum `Router` in `apps`: `/` (`routes/index.rs`,
//!    drawn by the pure renderer `pages.rs`), `/healthz` and `/readyz`
//!    (`routes/health.rs`), and `/auth/*`, cut by flow: the code flow
//!    (`routes/auth/code_flow.rs`: `/auth/login/{provider}`,
//!    `/auth/callback/{provider}`, which sends the browser back only to a
//!    path `return_to.rs` accepts), the token login
//!    (`routes/auth/token_login.rs`: `POST /auth/session`), the optional
//!    Sign in with Google page (`routes/auth/google_sign_in.rs`), logout
//!    (`routes/auth/logout.rs`), the read-only views
//!    (`routes/auth/views.rs`), session lists and revocation
//!    (`routes/sessions.rs`) and forward auth (`routes/check.rs`, over the
//!    decision in `forward_auth.rs` that Envoy's ext_authz service,
//!    `ext_authz.rs` on `ext_authz_listen`, shares). The login
//!    endpoints pass the per-client-IP login limit first
//!    (`middleware/rate_limit.rs` over `rate_limit.rs`: `429` with
//!    `Retry-After`); a login is charged when it begins, and a callback
//!    only when its handler did not mark the response `LoginCompleted`
//!    (set by `routes/auth/mod.rs` when a session starts). Everything else
//!    falls through to `routes/configured.rs` (`dispatch`).
//! 6. **Extractors**: the session credential (cookie or `Bearer`,
//!    `credential.rs`) and `CurrentUser` (`extract.rs`), asked of
//!    auth-service (`auth_client.rs`; with `[gateway.session_cache]`, from
//!    the `session-cache` crate's cache first, which the feed watcher
//!    started in `apps` keeps exact; with several replicas, over the
//!    health-probed balancer of `auth_endpoints.rs`) at most once per
//!    request and cached in its extensions; `ClientIp` (`client_ip.rs`). Each takes only its part
//!    of the state (`AuthClient`, the cookie factory, the trusted proxies)
//!    through axum's `FromRef`, implemented for `AppState` in `state.rs`.
//! 7. **Policy**, for configured `[[routes]]`, in `dispatch`: header names
//!    with `_` are refused (`client_headers.rs`), the path is put in its
//!    one canonical form or refused (`request_path.rs`), the route is found
//!    on that path (`policy.rs`, `resolve`: longest prefix, whole segments),
//!    the caller is looked up and the route's policy applied (`policy.rs`,
//!    `evaluate`: 401 without a login, 403 when no allow-list admits them).
//! 8. **Handler or proxy**: a built-in `{ handler = "..." }` target in
//!    `business/`, or an `{ upstream = "..." }` target forwarded by
//!    `proxy.rs`, which takes the caller as plain values
//!    (`UpstreamIdentity`), reads the body whole up to the cap first
//!    (`request_body.rs`), strips what a client may not send
//!    (`client_headers.rs`) and our cookies and session bearer token, and
//!    adds the identity and forwarding headers. Cookies are set and removed
//!    only through `cookies.rs`.
//! 9. **Errors**, on the way back out: each leaf fails with its own type
//!    (`AuthCallError { call, failure }` from `auth_client.rs`, where the
//!    gRPC status is classified once; `ProxyError`; `BodyError`;
//!    `PathError`; `RouteError`; `UnderscoreHeader`; `AmbiguousCookie`) and
//!    callers branch on those enums. `error.rs` turns each into the one
//!    HTTP answer type, `ApiError`, with one `From` impl per leaf (fail
//!    closed), answered as JSON `{"error","message"}`; `render_errors`
//!    logs its internal cause and, for a browser navigation, renders it as
//!    an HTML page (`pages.rs`).
//!
//! The modules form no cycle: leaves (`auth_client.rs`, `proxy.rs`,
//! `request_body.rs`, `credential.rs`, `cookies.rs`, `pages.rs`, ...) know
//! nothing of `error.rs`, the extractors or the state; `error.rs` knows the
//! leaves; extractors, middleware and handlers know `error.rs`.

mod access;
mod auth_client;
mod auth_endpoints;
mod business;
mod client_headers;
mod client_ip;
mod conn_idle;
mod conn_limit;
mod cookies;
mod credential;
mod error;
mod ext_authz;
mod extract;
mod forward_auth;
mod framing;
mod login_redirect;
mod metrics;
mod middleware;
mod original_request;
mod pages;
mod policy;
mod proxy;
mod rate_limit;
mod request_body;
mod request_path;
mod request_span;
mod return_to;
mod routes;
mod server;
mod state;
mod tls;
mod websocket;

use auth_client::AuthClient;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::{any, delete, get, post};
use common::config::Config;
use common::in_process::Slot;
use cookies::CookieFactory;
use metrics::Metrics;
use proxy::Proxy;
use routes::configured::RouteTable;
use state::{AppState, Inner};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The validation cache `settings` ask for, if any.
fn build_session_cache(
    settings: &common::config::SessionCacheConfig,
) -> Result<Option<Arc<auth_client::SessionCache>>, StartError> {
    if !settings.enabled {
        return Ok(None);
    }
    let cache = auth_client::SessionCache::new(settings.max_entries, settings.ttl)
        .map_err(|e| StartError::SessionCache(e.to_string()))?;
    Ok(Some(Arc::new(cache)))
}

/// Why the gateway could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The auth-service client could not be set up.
    #[error(transparent)]
    AuthClient(#[from] auth_client::AuthClientError),
    /// The upstream client could not be set up.
    #[error("cannot set up the upstream HTTP client: {0}")]
    Proxy(String),
    /// A route names an unknown handler.
    #[error(transparent)]
    Route(#[from] routes::configured::UnknownHandler),
    /// The TLS certificate or key could not be loaded.
    #[error("gateway.tls_cert / gateway.tls_key: {0}")]
    Tls(String),
    /// `gateway.session_cache` cannot be built (configuration checks the
    /// same bounds first).
    #[error("gateway.session_cache: {0}")]
    SessionCache(String),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The ext_authz gRPC server failed.
    #[error("ext_authz listener: {0}")]
    ExtAuthz(String),
}

/// What the gateway serves, one per listener.
struct Apps {
    /// The whole HTTP application (routes and middleware).
    public: Router,
    /// `GET /metrics` alone, on the same registry.
    metrics: Router,
    /// Envoy's ext_authz service, on the same state and route table.
    ext_authz: ext_authz::ExtAuthz,
}

/// The [`Apps`] for `config`. With the session cache on, its feed watcher
/// is started here and runs until `background` is cancelled.
fn apps(
    config: &Config,
    in_process_auth: Option<Slot>,
    background: &CancellationToken,
) -> Result<Apps, StartError> {
    let gateway = config.gateway.clone();
    let session_cache = build_session_cache(&gateway.session_cache)?;
    let mut metrics = Metrics::new();
    if let Some(cache) = &session_cache {
        metrics.register_session_cache(cache.clone());
    }
    let metrics = Arc::new(metrics);
    let metrics_app = metrics::router(metrics.clone());
    let mut auth = AuthClient::new(&gateway, in_process_auth, metrics.clone())?;
    if let Some(cache) = session_cache {
        auth = auth.with_session_cache(cache.clone());
        let watcher = auth.clone();
        tokio::spawn(session_cache::watch(
            cache,
            move || {
                let watcher = watcher.clone();
                async move { watcher.watch_revocations().await }
            },
            session_cache::WatchSettings::default(),
            background.child_token(),
        ));
    }
    let proxy = Proxy::new(
        gateway.upstream_timeout,
        gateway.max_request_body_bytes,
        gateway.max_websockets,
    )
    .map_err(StartError::Proxy)?;
    let public_origin = gateway.public_url.origin().ascii_serialization();
    let trusted_proxies = Arc::new(client_ip::TrustedProxies::from_config(&gateway));
    let login_limiter = rate_limit::RateLimiter::new(
        gateway.login_rate_limit_per_minute,
        gateway.login_rate_limit_burst,
        rate_limit::DEFAULT_MAX_CLIENTS,
    );
    let state = AppState::new(Inner {
        cookies: Arc::new(CookieFactory::new(&gateway)),
        auth,
        proxy,
        metrics,
        public_origin,
        trusted_proxies: trusted_proxies.clone(),
        login_limiter,
        return_hosts: return_to::ReturnHosts::from_config(&gateway),
        gateway,
    });
    let limit_logins =
        || axum::middleware::from_fn_with_state(state.clone(), middleware::rate_limit::login);
    let limit_callbacks =
        axum::middleware::from_fn_with_state(state.clone(), middleware::rate_limit::callback);
    let table = Arc::new(RouteTable::build(&config.routes, &state)?);
    let ext_authz = ext_authz::ExtAuthz::new(state.clone(), table.clone());

    let auth_routes = Router::new()
        .route("/auth/providers", get(routes::auth::views::providers))
        .route("/auth/login", get(routes::auth::code_flow::login_page))
        .route(
            "/auth/login/{provider}",
            get(routes::auth::code_flow::login).layer(limit_logins()),
        )
        .route(
            "/auth/callback/{provider}",
            get(routes::auth::code_flow::callback).layer(limit_callbacks),
        )
        .route(
            "/auth/session",
            post(routes::auth::token_login::token_login)
                .layer(DefaultBodyLimit::max(
                    routes::auth::token_login::TOKEN_LOGIN_MAX_BODY,
                ))
                .layer(limit_logins()),
        )
        .route(
            routes::auth::google_sign_in::PATH,
            get(routes::auth::google_sign_in::page).merge(
                post(routes::auth::google_sign_in::redirect_login)
                    .layer(DefaultBodyLimit::max(
                        routes::auth::google_sign_in::MAX_BODY,
                    ))
                    .layer(limit_logins()),
            ),
        )
        .route(
            "/auth/google-sign-in.js",
            get(routes::auth::google_sign_in::script),
        )
        .route("/auth/me", get(routes::auth::views::me))
        .route("/auth/logout", post(routes::auth::logout::logout))
        .route("/auth/logout/all", post(routes::auth::logout::logout_all))
        .route(
            "/auth/backchannel-logout/{provider}",
            post(routes::auth::backchannel::backchannel_logout)
                .layer(DefaultBodyLimit::max(routes::auth::backchannel::MAX_BODY)),
        )
        .route("/auth/sessions", get(routes::sessions::list))
        .route("/auth/sessions/{id}", delete(routes::sessions::delete))
        .route(
            "/auth/sessions/{id}/revoke",
            post(routes::sessions::revoke_form),
        )
        .route("/auth/check", {
            let table = table.clone();
            any(move |state: State<AppState>, request: Request| {
                routes::check::check(state, table.clone(), request)
            })
        })
        .route("/auth", any(routes::auth::views::not_found))
        .route("/auth/{*rest}", any(routes::auth::views::not_found));

    let request_timeout = state.gateway.request_timeout;
    let max_body = state.gateway.max_request_body_bytes;
    let sensitive = Arc::new([header::COOKIE, header::AUTHORIZATION]);
    let span_trust = trusted_proxies;
    let mut router = Router::new()
        .route("/", get(routes::index::index))
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz));
    // Off by default: request counts by route and auth-service error rates
    // are reconnaissance; they belong on `metrics_listen`.
    if state.gateway.public_metrics {
        router = router.route("/metrics", get(routes::health::metrics));
    }
    let router = router
        .merge(auth_routes)
        .fallback(move |state: State<AppState>, request: Request| {
            routes::configured::dispatch(state, table.clone(), request)
        })
        // Each `.layer` wraps the ones before it: the last is outermost.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::csrf::enforce,
        ))
        // Preflights are answered here, before the CSRF check and any
        // session lookup.
        .layer(tower::util::option_layer(middleware::cors::layer(
            &state.gateway.cors_allowed_origins,
        )))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        // Before anything reads the request: RFC 9112 §3.2 Host rules.
        .layer(axum::middleware::from_fn(middleware::framing::require_host))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render_errors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers::apply,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::request_metrics::record,
        ))
        // Marked sensitive inside the trace layer (responses) and outside
        // it (requests), so neither is ever printed.
        .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
        .layer(
            TraceLayer::new_for_http().make_span_with(move |request: &Request| {
                request_span::for_request(request, &span_trust)
            }),
        )
        .layer(SetSensitiveRequestHeadersLayer::from_shared(sensitive))
        .with_state(state);
    Ok(Apps {
        public: router,
        metrics: metrics_app,
        ext_authz,
    })
}

/// Everything the gateway checks before it serves (`--check-config`): the
/// configuration it was given builds every application, TLS acceptor and
/// route table. Must run inside the Tokio runtime; starts nothing that
/// outlives it.
pub fn check(config: &Config) -> Result<(), StartError> {
    tls::acceptor(&config.gateway)?;
    let background = CancellationToken::new();
    let _stop_background = background.clone().drop_guard();
    apps(config, None, &background).map(drop)
}

/// Serves the gateway on `listener` until `shutdown` resolves, then drains
/// open connections (bounded by `request_timeout`). No metrics or ext_authz
/// listener: see [`run_with_listeners`].
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with_listeners(
        Listeners {
            public: listener,
            metrics: None,
            ext_authz: None,
            in_process_auth: None,
        },
        config,
        shutdown,
    )
    .await
}

/// The gateway's bound listeners.
pub struct Listeners {
    /// The public HTTP(S) listener.
    pub public: TcpListener,
    /// `metrics_listen`: `GET /metrics` only.
    pub metrics: Option<TcpListener>,
    /// `ext_authz_listen`: Envoy's external authorization (gRPC).
    pub ext_authz: Option<TcpListener>,
    /// auth-service in this same process (the single-node binary): every
    /// call goes there, over memory, instead of to `auth_service_url`. Not
    /// a listener of the gateway's, but the client end of one of
    /// auth-service's.
    pub in_process_auth: Option<Slot>,
}

/// [`run`] on every listener of `listeners` (the metrics one plain HTTP
/// with the public one's connection limits and timeouts; the ext_authz one
/// plain gRPC) until the same `shutdown`. Any one failing stops them all.
pub async fn run_with_listeners(
    listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let tls = tls::acceptor(&config.gateway)?;
    // Background tasks (the session cache's feed watcher) stop when the
    // servers have: on return, including an early error.
    let background = CancellationToken::new();
    let _stop_background = background.clone().drop_guard();
    let apps = apps(&config, listeners.in_process_auth, &background)?;
    // One shutdown future, several servers: broadcast it.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        // An error means the sender is gone, which only happens after it
        // sent `true`.
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let public = server::serve(
        listeners.public,
        apps.public,
        tls,
        &config.gateway,
        until_stopped(stopped.clone()),
    );
    let metrics = async {
        match listeners.metrics {
            Some(listener) => {
                server::serve(
                    listener,
                    apps.metrics,
                    None,
                    &config.gateway,
                    until_stopped(stopped.clone()),
                )
                .await
            }
            None => Ok(()),
        }
    };
    let ext_authz = async {
        match listeners.ext_authz {
            Some(listener) => tonic::transport::Server::builder()
                .timeout(config.gateway.request_timeout)
                .add_service(envoy_types::ext_authz::v3::pb::AuthorizationServer::new(
                    apps.ext_authz,
                ))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    until_stopped(stopped.clone()),
                )
                .await
                .map_err(|e| StartError::ExtAuthz(e.to_string())),
            None => Ok(()),
        }
    };
    tokio::try_join!(public, metrics, ext_authz).map(|((), (), ())| ())
}
