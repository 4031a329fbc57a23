//! The `[gateway]` section: read as a [`GatewaySection`], parsed into the
//! [`GatewayConfig`] the gateway runs with (the service token read from its
//! environment variable, `trusted_proxies` as network blocks, every TLS file
//! loaded).

use super::branding::{Branding, BrandingSection};
use super::google_sign_in::{GoogleSignInConfig, GoogleSignInSection};
use super::rules::check_socket_path;
use super::session_cache::SessionCacheConfig;
use super::{ConfigError, is_https_or_loopback_http, secret};
use crate::telemetry::LogFormat;
use crate::tls::{CaCertificates, Identity, PairKeys, TlsFiles};
use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The `[gateway]` section as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct GatewaySection {
    /// HTTP(S) listen address. Default `127.0.0.1:8080`.
    listen: SocketAddr,
    /// The origin browsers use to reach the gateway; redirect URIs and the
    /// CSRF origin check derive from it. Default `http://localhost:8080`.
    public_url: Url,
    /// Where auth-service listens. Default `http://127.0.0.1:50051`.
    /// `https://` makes the gateway speak TLS to it (auth-service's
    /// `tls_cert`/`tls_key`); plain `http://` belongs on loopback only, as
    /// the service token would cross the network in clear.
    /// `unix:/run/portcullis/auth.sock` reaches a co-located auth-service
    /// on its `listen_socket` instead, in plain text, at a lower cost per
    /// call than loopback TCP.
    auth_service_url: Option<Url>,
    /// Several auth-service replicas (instead of `auth_service_url`): calls
    /// are balanced across those that answer. All use the same scheme, as
    /// the TLS settings apply to each, http or https (a Unix socket names
    /// one co-located replica).
    auth_service_urls: Vec<Url>,
    /// PEM file of the CA certificate(s) auth-service's certificate must
    /// chain to, for an `https` `auth_service_url`. Set, only these are
    /// trusted (an internal CA); unset, the public web PKI roots compiled
    /// into the gateway (webpki-roots) are, which suits only a publicly
    /// issued certificate.
    auth_service_ca: Option<PathBuf>,
    /// PEM client certificate chain the gateway presents to auth-service
    /// (mutual TLS, auth-service's `client_ca`); with
    /// `auth_service_client_key`, both or neither.
    auth_service_client_cert: Option<PathBuf>,
    /// PEM private key of `auth_service_client_cert`.
    auth_service_client_key: Option<PathBuf>,
    /// Session cookie name. Default `__Host-portcullis` when `public_url` is
    /// HTTPS (`__Secure-portcullis` with `cookie_domain`: `__Host-` forbids
    /// a domain), `portcullis` otherwise (both prefixes require Secure).
    cookie_name: Option<String>,
    /// Send the session cookie to every host under this domain
    /// (`example.com`), not only the gateway's: one login for sibling
    /// hosts behind forward-auth. It must contain the `public_url` host.
    /// Any host under it can then also set a cookie of that name (cookie
    /// tossing); see the configuration guide. Default: host-only.
    cookie_domain: Option<String>,
    /// Hosts a browser may be sent back to after login besides the
    /// gateway's own: `app.example.com`, or `.example.com` for that domain
    /// and every name under it (any port, the `public_url` scheme).
    /// Default empty: same-origin paths only.
    allowed_return_hosts: Vec<String>,
    /// PEM certificate chain; with `tls_key`, the gateway serves HTTPS.
    tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    tls_key: Option<PathBuf>,
    /// Whole-request timeout for built-in handlers. Default `30s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    request_timeout: Duration,
    /// Timeout of a proxied upstream request. Default `30s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    upstream_timeout: Duration,
    /// Timeout of each call to auth-service. Default `5s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    auth_timeout: Duration,
    /// Log line format: `text` or `json`. Default `text`.
    log_format: LogFormat,
    /// Name of the environment variable holding auth-service's service
    /// token (`auth_service.service_token_env` on the other side), sent as
    /// `authorization: Bearer <token>` metadata on every call. Unset: no
    /// caller authentication (auth-service on loopback).
    service_token_env: Option<String>,
    /// A file holding that token instead (a mounted secret); exclusive with
    /// `service_token_env`.
    service_token_file: Option<PathBuf>,
    /// How long a client may take to send a request's headers before the
    /// connection is closed (slowloris defence). It also bounds a new
    /// connection's silence: one that has not sent a whole first request
    /// this long after it was accepted (or after its TLS handshake) is
    /// closed, so sockets that never send a byte cannot hold connection
    /// slots. Default `10s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    header_read_timeout: Duration,
    /// How long a connection may stay open with no request in progress
    /// after its last answer (HTTP/1.1 keep-alive, or an HTTP/2 connection
    /// with no open stream) before the gateway closes it; protocol pings
    /// do not count as activity. Default `60s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    keep_alive_timeout: Duration,
    /// Most client connections served at once; further connections wait in
    /// the kernel's accept queue. Default `1024`.
    max_connections: usize,
    /// Most connections one client IP (the TCP peer; IPv6 per /64) may hold
    /// open at once; a further one is closed as soon as it is accepted, so
    /// one client cannot take every `max_connections` slot. Peers in
    /// `trusted_proxies` are exempt (every client behind a proxy shares its
    /// address, and the real client is only known once the headers are
    /// read); limit per client at that proxy instead. Default `64`.
    max_connections_per_ip: usize,
    /// A second listener that serves only `GET /metrics` (Prometheus),
    /// apart from the public one, on loopback by default; `"off"` disables
    /// it. The binary prints `metrics listening on http://ADDR` on the line
    /// after its `listening on` line. Default `127.0.0.1:9090`.
    #[serde(deserialize_with = "super::listen_or_off::deserialize")]
    #[schemars(with = "String")]
    metrics_listen: Option<SocketAddr>,
    /// Where the gateway serves Envoy's external authorization gRPC service
    /// (`envoy.service.auth.v3.Authorization/Check`) for Envoy, Istio and
    /// Envoy Gateway, or `"off"`. Plain gRPC, no caller authentication:
    /// whoever reaches it may ask about any request, so keep it on
    /// loopback or a network only Envoy reaches (as `trusted_proxies` for
    /// `/auth/check`). The binary prints `ext_authz listening on ADDR`
    /// after its other address lines. Default `"off"`.
    #[serde(deserialize_with = "super::listen_or_off::deserialize")]
    #[schemars(with = "String")]
    ext_authz_listen: Option<SocketAddr>,
    /// Also serve `GET /metrics` on the public listener, to anyone who can
    /// reach the gateway (request counts by route and auth-service error
    /// rates are reconnaissance for an attacker). Default false.
    public_metrics: bool,
    /// Largest request body accepted, in bytes, for proxied routes and
    /// built-in handlers (the JSON login endpoint has its own 64 KiB cap).
    /// Default `10485760` (10 MiB).
    max_request_body_bytes: usize,
    /// Sustained number of login attempts one client IP may make per
    /// minute, counted over `GET /auth/login/{provider}`,
    /// `POST /auth/session` and failed `GET /auth/callback/{provider}`
    /// requests together (a callback that completes a login was paid for
    /// when it began); beyond it the gateway answers `429 Too Many
    /// Requests` with `Retry-After`. IPv6 clients are counted per /64, the
    /// block one host usually owns. Default `30`.
    login_rate_limit_per_minute: u32,
    /// How many login requests one client IP may make at once before the
    /// per-minute rate applies (the token bucket's size). Default `10`.
    login_rate_limit_burst: u32,
    /// Reverse proxies in front of the gateway whose `X-Forwarded-For` is
    /// believed, as CIDR blocks or single addresses (`["10.0.0.0/8",
    /// "127.0.0.1/32"]`). When the TCP peer is in one of them, the client IP
    /// (for rate limits, session metadata and the `X-Forwarded-For` sent
    /// upstream) is the right-most `X-Forwarded-For` entry that is not
    /// itself a trusted proxy; otherwise it is the TCP peer and any
    /// `X-Forwarded-*` the client sent is ignored. Default empty: trust no
    /// proxy.
    trusted_proxies: Vec<String>,
    /// Whether request header names containing `_` may reach configured
    /// routes. Default `false`: such a request is refused with 400
    /// `invalid_header`, as nginx drops them by default, because CGI, WSGI
    /// and PHP read `_` and `-` alike (`X_Auth_User_Id` is
    /// `HTTP_X_AUTH_USER_ID`, the variable our `X-Auth-User-Id` becomes).
    /// Set, they pass, except those that fold to a header the gateway sets
    /// or an upstream trusts, which are always removed.
    allow_underscore_headers: bool,
    /// Web origins (`https://spa.example.com`) whose pages may call the
    /// gateway from scripts with the user's cookies: CORS answers name them
    /// (never `*`), with `Access-Control-Allow-Credentials: true`, and the
    /// CSRF check accepts their `Origin` on unsafe requests. Exact origins
    /// only. Default empty: no cross-origin access.
    cors_allowed_origins: Vec<String>,
    /// How often the session of an open WebSocket is validated again; a
    /// revoked or expired session's WebSockets are closed at the latest
    /// this long after. At least `1s`. Default `30s`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    websocket_revalidate_interval: Duration,
    /// Most WebSockets open through the gateway at once; a handshake
    /// beyond it is answered 503. Default `1024`.
    max_websockets: usize,
    /// The `[gateway.session_cache]` table.
    session_cache: SessionCacheConfig,
    /// The `[gateway.google_sign_in]` table: present, the gateway serves a
    /// "Sign in with Google" page at `/auth/google-sign-in`.
    google_sign_in: Option<GoogleSignInSection>,
    /// The `[gateway.branding]` table: name, logo, colour and extra style
    /// sheet of the pages users see.
    branding: BrandingSection,
}

/// Settings of the api-gateway binary, parsed: every value here is usable
/// as it is. The keys are documented on [`GatewaySection`].
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `listen`.
    pub listen: SocketAddr,
    /// `public_url`: an origin, https or loopback http.
    pub public_url: Url,
    /// `auth_service_urls`, or the one `auth_service_url`: at least one,
    /// all http or all https.
    pub auth_service_urls: Vec<Url>,
    /// Whether the file (or an override) named auth-service's address,
    /// rather than leaving the default: the single-node binary, which
    /// calls auth-service in its own process, refuses it.
    pub auth_service_url_written: bool,
    /// `auth_service_ca`, loaded; only with an https `auth_service_url`.
    pub auth_service_ca: Option<CaCertificates>,
    /// `auth_service_client_cert` and `auth_service_client_key`, loaded;
    /// only with an https `auth_service_url`.
    pub auth_service_client: Option<Identity>,
    /// `cookie_name`.
    pub cookie_name: Option<String>,
    /// `cookie_domain`, lower case without a leading dot.
    pub cookie_domain: Option<String>,
    /// `allowed_return_hosts`, lower case (see
    /// [`crate::config::is_allowed_return_host`]).
    pub allowed_return_hosts: Vec<String>,
    /// `tls_cert` and `tls_key`, loaded: set, the gateway serves HTTPS.
    pub tls: Option<Identity>,
    /// `request_timeout`.
    pub request_timeout: Duration,
    /// `upstream_timeout`.
    pub upstream_timeout: Duration,
    /// `auth_timeout`.
    pub auth_timeout: Duration,
    /// `log_format`.
    pub log_format: LogFormat,
    /// The service token read from `service_token_env`.
    pub service_token: Option<SecretString>,
    /// `header_read_timeout`.
    pub header_read_timeout: Duration,
    /// `keep_alive_timeout`.
    pub keep_alive_timeout: Duration,
    /// `max_connections`.
    pub max_connections: usize,
    /// `max_connections_per_ip`.
    pub max_connections_per_ip: usize,
    /// `metrics_listen`; `None` for `"off"`.
    pub metrics_listen: Option<SocketAddr>,
    /// `ext_authz_listen`; `None` for `"off"`.
    pub ext_authz_listen: Option<SocketAddr>,
    /// `public_metrics`.
    pub public_metrics: bool,
    /// `max_request_body_bytes`.
    pub max_request_body_bytes: usize,
    /// `login_rate_limit_per_minute`.
    pub login_rate_limit_per_minute: u32,
    /// `login_rate_limit_burst`.
    pub login_rate_limit_burst: u32,
    /// `trusted_proxies` as network blocks (host bits cleared).
    pub trusted_proxies: Vec<IpNet>,
    /// `allow_underscore_headers`.
    pub allow_underscore_headers: bool,
    /// `cors_allowed_origins`, as browsers send them in `Origin`.
    pub cors_allowed_origins: Vec<String>,
    /// `websocket_revalidate_interval`.
    pub websocket_revalidate_interval: Duration,
    /// `max_websockets`.
    pub max_websockets: usize,
    /// `[gateway.session_cache]`, checked.
    pub session_cache: SessionCacheConfig,
    /// `[gateway.google_sign_in]`, checked; `None` when absent.
    pub google_sign_in: Option<GoogleSignInConfig>,
    /// `[gateway.branding]`, checked, its style sheet loaded.
    pub branding: Branding,
}

/// What parsing a section adds to its plain values.
#[derive(Default)]
struct Resolved {
    auth_service_ca: Option<CaCertificates>,
    auth_service_client: Option<Identity>,
    tls: Option<Identity>,
    service_token: Option<SecretString>,
    trusted_proxies: Vec<IpNet>,
    cors_allowed_origins: Vec<String>,
    cookie_domain: Option<String>,
    allowed_return_hosts: Vec<String>,
    google_sign_in: Option<GoogleSignInConfig>,
    branding: Branding,
}

/// The defaults of [`GatewaySection`], with nothing to load.
impl Default for GatewayConfig {
    fn default() -> Self {
        GatewaySection::default().into_config(Resolved::default())
    }
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: Url::parse("http://localhost:8080").unwrap_or_else(|_| unreachable_url()),
            auth_service_url: None,
            auth_service_urls: Vec::new(),
            auth_service_ca: None,
            auth_service_client_cert: None,
            auth_service_client_key: None,
            cookie_name: None,
            cookie_domain: None,
            allowed_return_hosts: Vec::new(),
            tls_cert: None,
            tls_key: None,
            request_timeout: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(30),
            auth_timeout: Duration::from_secs(5),
            log_format: LogFormat::Text,
            service_token_env: None,
            service_token_file: None,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_ip: 64,
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
            ext_authz_listen: None,
            public_metrics: false,
            max_request_body_bytes: 10 * 1024 * 1024,
            login_rate_limit_per_minute: 30,
            login_rate_limit_burst: 10,
            trusted_proxies: Vec::new(),
            allow_underscore_headers: false,
            cors_allowed_origins: Vec::new(),
            websocket_revalidate_interval: Duration::from_secs(30),
            max_websockets: 1024,
            session_cache: SessionCacheConfig::default(),
            google_sign_in: None,
            branding: BrandingSection::default(),
        }
    }
}

/// The literal defaults above always parse; this keeps `Default` free of
/// `unwrap` without a panic path.
fn unreachable_url() -> Url {
    Url::from_directory_path("/").unwrap_or_else(|()| unreachable_url())
}

impl GatewaySection {
    /// Checks every value, reads the service token from `env` and loads the
    /// TLS files.
    pub(super) fn parse(
        mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GatewayConfig, ConfigError> {
        let service_token = secret(
            "gateway",
            "service_token",
            self.service_token_env.as_deref(),
            self.service_token_file.as_deref(),
            env,
        )?;
        for (key, value, min) in [
            (
                "request_timeout",
                self.request_timeout,
                Duration::from_millis(100),
            ),
            (
                "upstream_timeout",
                self.upstream_timeout,
                Duration::from_millis(100),
            ),
            ("auth_timeout", self.auth_timeout, Duration::from_millis(50)),
            (
                "header_read_timeout",
                self.header_read_timeout,
                Duration::from_millis(100),
            ),
            (
                "keep_alive_timeout",
                self.keep_alive_timeout,
                Duration::from_millis(100),
            ),
            (
                "websocket_revalidate_interval",
                self.websocket_revalidate_interval,
                Duration::from_secs(1),
            ),
        ] {
            if value < min {
                return Err(ConfigError::invalid(
                    format!("gateway.{key}"),
                    format!("must be at least {}ms", min.as_millis()),
                ));
            }
        }
        if self.max_connections == 0 {
            return Err(ConfigError::invalid(
                "gateway.max_connections",
                "must be at least 1",
            ));
        }
        if self.max_websockets == 0 {
            return Err(ConfigError::invalid(
                "gateway.max_websockets",
                "must be at least 1",
            ));
        }
        if self.max_connections_per_ip == 0 {
            return Err(ConfigError::invalid(
                "gateway.max_connections_per_ip",
                "must be at least 1",
            ));
        }
        super::listen_or_off::check_distinct(
            "gateway.listen",
            self.listen,
            "gateway.metrics_listen",
            self.metrics_listen,
        )?;
        if self.max_request_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "gateway.max_request_body_bytes",
                "must be at least 1024",
            ));
        }
        if self.login_rate_limit_per_minute == 0 {
            return Err(ConfigError::invalid(
                "gateway.login_rate_limit_per_minute",
                "must be at least 1",
            ));
        }
        self.session_cache.check()?;
        if self.login_rate_limit_burst == 0 {
            return Err(ConfigError::invalid(
                "gateway.login_rate_limit_burst",
                "must be at least 1",
            ));
        }
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|entry| parse_trusted_proxy(entry.trim()))
            .collect::<Result<_, _>>()
            .map_err(|reason| ConfigError::invalid("gateway.trusted_proxies", reason))?;
        let cors_allowed_origins = super::cors::parse_origins(&self.cors_allowed_origins)
            .map_err(|reason| ConfigError::invalid("gateway.cors_allowed_origins", reason))?;
        self.check_auth_service_endpoints()?;
        let (auth_service_ca, auth_service_client) = self.load_auth_service_tls()?;
        if !is_https_or_loopback_http(&self.public_url) {
            return Err(ConfigError::invalid(
                "gateway.public_url",
                "must be https (plain http is allowed only for localhost)",
            ));
        }
        if self.public_url.path() != "/" || self.public_url.query().is_some() {
            return Err(ConfigError::invalid(
                "gateway.public_url",
                "must be an origin without path or query, e.g. https://app.example.com",
            ));
        }
        let tls = TlsFiles::pair(GATEWAY_TLS, self.tls_cert.clone(), self.tls_key.clone())?
            .map(|files| files.load(GATEWAY_TLS))
            .transpose()?;
        if let Some(name) = &self.cookie_name {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid {
                return Err(ConfigError::invalid(
                    "gateway.cookie_name",
                    "must be letters, digits, '-', '_' or '.'",
                ));
            }
            if (name.starts_with("__Host-") || name.starts_with("__Secure-"))
                && self.public_url.scheme() != "https"
            {
                return Err(ConfigError::invalid(
                    "gateway.cookie_name",
                    "the __Host- and __Secure- prefixes require an https public_url",
                ));
            }
            if name.starts_with("__Host-") && self.cookie_domain.is_some() {
                return Err(ConfigError::invalid(
                    "gateway.cookie_name",
                    "the __Host- prefix forbids a cookie_domain (use __Secure-)",
                ));
            }
        }
        let cookie_domain = self
            .cookie_domain
            .as_deref()
            .map(|text| super::sibling_hosts::parse_cookie_domain(text, self.public_url.domain()))
            .transpose()
            .map_err(|reason| ConfigError::invalid("gateway.cookie_domain", reason))?;
        let allowed_return_hosts =
            super::sibling_hosts::parse_return_hosts(&self.allowed_return_hosts)
                .map_err(|reason| ConfigError::invalid("gateway.allowed_return_hosts", reason))?;
        let google_sign_in = self
            .google_sign_in
            .take()
            .map(GoogleSignInSection::parse)
            .transpose()?;
        let branding = std::mem::take(&mut self.branding).parse()?;
        Ok(self.into_config(Resolved {
            auth_service_ca,
            auth_service_client,
            tls,
            service_token,
            trusted_proxies,
            cors_allowed_origins,
            cookie_domain,
            allowed_return_hosts,
            google_sign_in,
            branding,
        }))
    }

    /// The auth-service endpoints: `auth_service_urls`, or the one
    /// `auth_service_url` (default `http://127.0.0.1:50051`).
    fn auth_service_endpoints(&self) -> Vec<Url> {
        if !self.auth_service_urls.is_empty() {
            return self.auth_service_urls.clone();
        }
        match &self.auth_service_url {
            Some(url) => vec![url.clone()],
            None => {
                vec![Url::parse("http://127.0.0.1:50051").unwrap_or_else(|_| unreachable_url())]
            }
        }
    }

    /// One way to name the endpoints, each http or https, all alike.
    fn check_auth_service_endpoints(&self) -> Result<(), ConfigError> {
        let key = if self.auth_service_urls.is_empty() {
            "gateway.auth_service_url"
        } else {
            "gateway.auth_service_urls"
        };
        if self.auth_service_url.is_some() && !self.auth_service_urls.is_empty() {
            return Err(ConfigError::invalid(
                key,
                "set auth_service_url or auth_service_urls, not both",
            ));
        }
        let endpoints = self.auth_service_endpoints();
        if let [url] = endpoints.as_slice()
            && url.scheme() == "unix"
            && self.auth_service_urls.is_empty()
        {
            return socket_path(url)
                .map(drop)
                .map_err(|reason| ConfigError::invalid(key, reason));
        }
        if endpoints
            .iter()
            .any(|url| !matches!(url.scheme(), "http" | "https"))
        {
            let reason = if self.auth_service_urls.is_empty() {
                "must be an http, https or unix URL"
            } else {
                "must be http or https URLs (a unix: socket names one co-located \
                 auth-service: give it as auth_service_url)"
            };
            return Err(ConfigError::invalid(key, reason));
        }
        // The gateway logs its endpoints; a password in one would reach
        // the log (and tonic would not send it anyway).
        if endpoints
            .iter()
            .any(|url| !url.username().is_empty() || url.password().is_some())
        {
            return Err(ConfigError::invalid(
                key,
                "must not carry a user name or password (callers of auth-service authenticate with service_token_env or a client certificate)",
            ));
        }
        if endpoints
            .iter()
            .any(|url| url.scheme() != endpoints[0].scheme())
        {
            return Err(ConfigError::invalid(
                key,
                "every endpoint must use the same scheme (the TLS settings apply to each)",
            ));
        }
        Ok(())
    }

    /// Whether the endpoints are https (checked alike by
    /// [`Self::check_auth_service_endpoints`]).
    fn auth_service_https(&self) -> bool {
        self.auth_service_endpoints()
            .first()
            .is_some_and(|url| url.scheme() == "https")
    }

    /// The TLS files for the connection to auth-service: the client
    /// certificate and key as a pair, none of them with a plaintext
    /// `auth_service_url` (where they would be silently unused, and an
    /// operator would believe in a mutual TLS that is not there), each one
    /// loaded.
    fn load_auth_service_tls(
        &self,
    ) -> Result<(Option<CaCertificates>, Option<Identity>), ConfigError> {
        let client = TlsFiles::pair(
            AUTH_SERVICE_CLIENT,
            self.auth_service_client_cert.clone(),
            self.auth_service_client_key.clone(),
        )?;
        if !self.auth_service_https() {
            for (key, set) in [
                ("auth_service_ca", self.auth_service_ca.is_some()),
                ("auth_service_client_cert", client.is_some()),
            ] {
                if set {
                    return Err(ConfigError::invalid(
                        format!("gateway.{key}"),
                        "applies only to an https auth_service_url (this one is plain http \
                         or a unix socket, so no TLS would be used)",
                    ));
                }
            }
        }
        let ca = self
            .auth_service_ca
            .clone()
            .map(|path| CaCertificates::load("gateway.auth_service_ca", path))
            .transpose()?;
        let client = client
            .map(|files| files.load(AUTH_SERVICE_CLIENT))
            .transpose()?;
        Ok((ca, client))
    }

    fn into_config(self, resolved: Resolved) -> GatewayConfig {
        let auth_service_urls = self.auth_service_endpoints();
        GatewayConfig {
            listen: self.listen,
            public_url: self.public_url,
            auth_service_urls,
            auth_service_url_written: self.auth_service_url.is_some()
                || !self.auth_service_urls.is_empty(),
            auth_service_ca: resolved.auth_service_ca,
            auth_service_client: resolved.auth_service_client,
            cookie_name: self.cookie_name,
            tls: resolved.tls,
            request_timeout: self.request_timeout,
            upstream_timeout: self.upstream_timeout,
            auth_timeout: self.auth_timeout,
            log_format: self.log_format,
            service_token: resolved.service_token,
            header_read_timeout: self.header_read_timeout,
            keep_alive_timeout: self.keep_alive_timeout,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            metrics_listen: self.metrics_listen,
            ext_authz_listen: self.ext_authz_listen,
            public_metrics: self.public_metrics,
            max_request_body_bytes: self.max_request_body_bytes,
            login_rate_limit_per_minute: self.login_rate_limit_per_minute,
            login_rate_limit_burst: self.login_rate_limit_burst,
            trusted_proxies: resolved.trusted_proxies,
            cors_allowed_origins: resolved.cors_allowed_origins,
            cookie_domain: resolved.cookie_domain,
            allowed_return_hosts: resolved.allowed_return_hosts,
            allow_underscore_headers: self.allow_underscore_headers,
            websocket_revalidate_interval: self.websocket_revalidate_interval,
            max_websockets: self.max_websockets,
            session_cache: self.session_cache,
            google_sign_in: resolved.google_sign_in,
            branding: resolved.branding,
        }
    }
}

/// The keys of the gateway's own certificate pair.
const GATEWAY_TLS: PairKeys<'static> = PairKeys {
    cert: "gateway.tls_cert",
    key: "gateway.tls_key",
};

/// The keys of the gateway's client certificate pair towards auth-service.
const AUTH_SERVICE_CLIENT: PairKeys<'static> = PairKeys {
    cert: "gateway.auth_service_client_cert",
    key: "gateway.auth_service_client_key",
};

/// One `trusted_proxies` entry: a CIDR block, or a bare address for the
/// single host (`/32` or `/128`); host bits are cleared.
fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match prefix {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("{text:?}: prefix length must be 0 to {max}"))?,
    };
    if prefix_len == 0 {
        // Every address would be a proxy, so any client could choose the
        // IP it is rate-limited and recorded under.
        return Err(format!(
            "{text:?} trusts every address; list the proxies' own blocks"
        ));
    }
    IpNet::new(addr, prefix_len)
        .map(|net| net.trunc())
        .map_err(|e| format!("{text:?}: {e}"))
}

/// The socket a `unix:` auth-service URL names. It is an absolute path
/// (percent-decoded) and nothing else (`unix:/run/portcullis/auth.sock`,
/// or `unix:///run/...`): a host, query or fragment would be silently
/// ignored.
fn socket_path(url: &Url) -> Result<PathBuf, String> {
    let only_a_path = !url.cannot_be_a_base()
        && url.host_str().is_none_or(str::is_empty)
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    let path = match url.to_file_path() {
        Ok(path) if only_a_path => path,
        _ => {
            return Err(format!(
                "{url}: a unix URL is an absolute socket path only, e.g. \
                 unix:/run/portcullis/auth.sock"
            ));
        }
    };
    check_socket_path(&path)?;
    Ok(path)
}

impl GatewayConfig {
    /// The Unix socket auth-service is reached on (a `unix:` URL), if so.
    pub fn auth_service_socket(&self) -> Option<PathBuf> {
        match self.auth_service_urls.as_slice() {
            [url] if url.scheme() == "unix" => socket_path(url).ok(),
            _ => None,
        }
    }

    /// Whether the gateway speaks TLS to auth-service (`https` URL).
    pub fn auth_service_tls(&self) -> bool {
        self.auth_service_urls
            .first()
            .is_some_and(|url| url.scheme() == "https")
    }

    /// Whether browsers reach the gateway over HTTPS (cookies get `Secure`).
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// Whether the gateway itself terminates TLS (HSTS is sent then).
    pub fn serves_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The name of the short-lived cookie binding a login flow to the
    /// browser: `__Host-portcullis_flow` on HTTPS, `portcullis_flow`
    /// otherwise.
    pub fn flow_cookie_name(&self) -> &'static str {
        if self.is_https() {
            "__Host-portcullis_flow"
        } else {
            "portcullis_flow"
        }
    }

    /// The session cookie name in effect.
    pub fn session_cookie_name(&self) -> String {
        match &self.cookie_name {
            Some(name) => name.clone(),
            None if self.is_https() && self.cookie_domain.is_some() => {
                "__Secure-portcullis".to_owned()
            }
            None if self.is_https() => "__Host-portcullis".to_owned(),
            None => "portcullis".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use secrecy::ExposeSecret;

    fn env(name: &str) -> Option<String> {
        (name == "GW_TOKEN").then(|| "t".repeat(40))
    }

    fn err(text: &str) -> String {
        Config::from_toml(text, &env).unwrap_err().to_string()
    }

    #[test]
    fn gateway_defaults() {
        let c = Config::from_toml("", &env).unwrap();
        assert_eq!(c.gateway.header_read_timeout.as_secs(), 10);
        assert_eq!(c.gateway.max_connections, 1024);
        assert_eq!(c.gateway.max_connections_per_ip, 64);
        assert_eq!(c.gateway.keep_alive_timeout.as_secs(), 60);
        assert_eq!(
            c.gateway.metrics_listen,
            Some("127.0.0.1:9090".parse().unwrap())
        );
        assert!(!c.gateway.public_metrics);
        assert!(c.gateway.service_token.is_none());
        assert_eq!(c.gateway.flow_cookie_name(), "portcullis_flow");
        assert!(!c.gateway.serves_tls());
        assert_eq!(c.gateway.login_rate_limit_per_minute, 30);
        assert_eq!(c.gateway.login_rate_limit_burst, 10);
        assert!(c.gateway.trusted_proxies.is_empty());
        assert!(!c.gateway.allow_underscore_headers);
        assert_eq!(c.gateway.websocket_revalidate_interval.as_secs(), 30);
        assert_eq!(c.gateway.max_websockets, 1024);
        for (line, key) in [
            (
                "websocket_revalidate_interval = \"500ms\"",
                "gateway.websocket_revalidate_interval",
            ),
            ("max_websockets = 0", "gateway.max_websockets"),
        ] {
            let message = err(&format!("[gateway]\n{line}\n"));
            assert!(message.contains(key), "{message}");
        }
    }

    #[test]
    fn sibling_host_keys_name_the_cookie_and_the_return_hosts() {
        let https = "[gateway]\npublic_url = \"https://auth.example.com\"\n";
        let c = Config::from_toml(https, &env).unwrap();
        assert_eq!(c.gateway.session_cookie_name(), "__Host-portcullis");
        assert_eq!(c.gateway.cookie_domain, None);
        let c = Config::from_toml(
            &format!(
                "{https}cookie_domain = \".Example.com\"\n\
                 allowed_return_hosts = [\"app.example.com\", \".example.org\"]\n\
                 cors_allowed_origins = [\"https://spa.example.com/\"]\n"
            ),
            &env,
        )
        .unwrap();
        assert_eq!(c.gateway.session_cookie_name(), "__Secure-portcullis");
        assert_eq!(c.gateway.cookie_domain.as_deref(), Some("example.com"));
        assert_eq!(
            c.gateway.allowed_return_hosts,
            ["app.example.com", ".example.org"]
        );
        assert_eq!(c.gateway.cors_allowed_origins, ["https://spa.example.com"]);
        for (extra, key) in [
            ("cookie_domain = \"example.org\"", "gateway.cookie_domain"),
            (
                "cookie_domain = \"example.com\"\ncookie_name = \"__Host-s\"",
                "gateway.cookie_name",
            ),
            (
                "allowed_return_hosts = [\"*.example.com\"]",
                "gateway.allowed_return_hosts",
            ),
            (
                "cors_allowed_origins = [\"*\"]",
                "gateway.cors_allowed_origins",
            ),
        ] {
            let message = err(&format!("{https}{extra}\n"));
            assert!(message.contains(key), "{extra}: {message}");
        }
        let message = err("[gateway]\ncookie_name = \"__Secure-s\"\n");
        assert!(message.contains("gateway.cookie_name"), "{message}");
    }

    #[test]
    fn metrics_listen_can_be_turned_off() {
        let c = Config::from_toml("[gateway]\nmetrics_listen = \"off\"\n", &env).unwrap();
        assert!(c.gateway.metrics_listen.is_none());
        let c = Config::from_toml("[gateway]\nmetrics_listen = \"127.0.0.1:0\"\n", &env).unwrap();
        assert_eq!(
            c.gateway.metrics_listen,
            Some("127.0.0.1:0".parse().unwrap())
        );
    }

    #[test]
    fn trusted_proxies_are_parsed() {
        let c = Config::from_toml(
            "[gateway]\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"fd00::/8\"]\n",
            &env,
        )
        .unwrap();
        let blocks: Vec<_> = c
            .gateway
            .trusted_proxies
            .iter()
            .map(|b| (b.addr().to_string(), b.prefix_len()))
            .collect();
        assert_eq!(
            blocks,
            vec![
                ("10.0.0.0".to_owned(), 8),
                ("127.0.0.1".to_owned(), 32),
                ("fd00::".to_owned(), 8)
            ]
        );
    }

    #[test]
    fn https_names_use_the_host_prefix() {
        let c = Config::from_toml(
            "[gateway]\npublic_url = \"https://app.example.com\"\n",
            &env,
        )
        .unwrap();
        assert_eq!(c.gateway.session_cookie_name(), "__Host-portcullis");
        assert_eq!(c.gateway.flow_cookie_name(), "__Host-portcullis_flow");
    }

    #[test]
    fn service_token_is_read_from_the_environment() {
        let c = Config::from_toml("[gateway]\nservice_token_env = \"GW_TOKEN\"\n", &env).unwrap();
        let token = c.gateway.service_token.unwrap();
        assert_eq!(token.expose_secret(), "t".repeat(40));
        let e = err("[gateway]\nservice_token_env = \"MISSING\"\n");
        assert!(e.contains("gateway.service_token_env"), "{e}");
    }

    #[test]
    fn bad_gateway_values_name_their_key() {
        for (text, key) in [
            (
                "[gateway]\nmax_connections = 0\n",
                "gateway.max_connections",
            ),
            ("[gateway]\nauth_timeout = \"0s\"\n", "gateway.auth_timeout"),
            (
                "[gateway]\nheader_read_timeout = \"1ms\"\n",
                "gateway.header_read_timeout",
            ),
            (
                "[gateway]\nmax_request_body_bytes = 10\n",
                "gateway.max_request_body_bytes",
            ),
            (
                "[gateway]\npublic_url = \"http://example.com\"\n",
                "gateway.public_url",
            ),
            (
                "[gateway]\npublic_url = \"https://a.example/x\"\n",
                "gateway.public_url",
            ),
            ("[gateway]\ntls_cert = \"/c.pem\"\n", "gateway.tls_cert"),
            ("[gateway]\ncookie_name = \"a b\"\n", "gateway.cookie_name"),
            (
                "[gateway]\nlogin_rate_limit_per_minute = 0\n",
                "gateway.login_rate_limit_per_minute",
            ),
            (
                "[gateway]\nlogin_rate_limit_burst = 0\n",
                "gateway.login_rate_limit_burst",
            ),
            (
                "[gateway]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
                "gateway.trusted_proxies",
            ),
            (
                "[gateway]\ntrusted_proxies = [\"proxy.internal\"]\n",
                "gateway.trusted_proxies",
            ),
            (
                "[gateway]\ntrusted_proxies = [\"0.0.0.0/0\"]\n",
                "gateway.trusted_proxies",
            ),
            (
                "[gateway]\ntrusted_proxies = [\"::1/129\"]\n",
                "gateway.trusted_proxies",
            ),
            (
                "[[routes]]\npath_prefix = \"api\"\ntarget = { handler = \"x\" }\n",
                "routes[0].path_prefix",
            ),
        ] {
            let e = err(text);
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
