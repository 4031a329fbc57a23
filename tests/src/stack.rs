//! [`TestStack`]: the development provider in process, and the real
//! auth-service and api-gateway binaries, each stack in a temporary
//! directory of its own; started, restarted and killed as tests need.

use crate::config::{
    GatewayConfig, SERVICE_TOKEN_ENV, write_auth_config, write_single_node_config,
};
use crate::idp::Provider;
use crate::process::{Proc, auth_service_binary, gateway_binary, single_node_binary};
use crate::wait::wait_until;
use auth_service::storage::sled::SledStore;
use std::time::Duration;
use tempfile::TempDir;

/// The gateway's configured public origin in tests.
pub const PUBLIC_ORIGIN: &str = "http://127.0.0.1";

/// How a stack is set up.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Extra `[[routes]]` (TOML text) after the default ones.
    pub routes: String,
    /// Serve the gateway over HTTPS with `tests/fixtures/tls`, with an
    /// `https://127.0.0.1` public URL.
    pub tls: bool,
    /// auth-service requires a service token; the gateway sends it.
    pub service_token: bool,
    /// auth-service serves gRPC over TLS with `tests/fixtures/grpc-tls` and
    /// requires a client certificate from its CA (mutual TLS); the gateway
    /// connects over `https` trusting that CA and presents its client
    /// certificate.
    pub grpc_mtls: bool,
    /// The gateway's `public_url` carries its real port
    /// (`http://127.0.0.1:PORT`), so that its redirects work in a real
    /// browser, which cannot be told to map them as [`TestStack::follow`]
    /// does. The port is only known once the gateway has bound `:0`, so the
    /// gateway is started once to learn it, then killed and started again
    /// listening on that same port with the full public URL. Rebinding the
    /// port its own previous process just released is not probing: nothing
    /// else was asked for, and the first process accepted no connection.
    pub public_port: bool,
    /// The gateway's `public_url`, when it is served through a front proxy
    /// listening there (nginx, Caddy) rather than by itself.
    pub public_origin: Option<String>,
    /// Extra `[gateway]` keys (TOML lines), e.g. a higher login rate limit,
    /// then any `[gateway.*]` tables; `{issuer}` is replaced by the dev-idp's
    /// issuer URL.
    pub gateway_settings: String,
    /// Extra `[[providers]]` for auth-service (TOML text; `{issuer}` is
    /// replaced by the dev-idp's issuer URL).
    pub providers: String,
    /// auth-service keeps its data on the Redis server at this URL
    /// (`store = "redis"`), so [`TestStack::spawn_auth_replica`] can start
    /// more replicas of it.
    pub redis_url: Option<String>,
    /// Extra environment variables for auth-service and the gateway
    /// (`OTEL_*`, say), set on the child processes only.
    pub env: Vec<(String, String)>,
    /// auth-service also serves on a Unix socket (`listen_socket`) and the
    /// gateways reach it there (`auth_service_url = "unix:..."`), as a
    /// co-located sidecar would.
    pub auth_socket: bool,
    /// auth-service and the gateway run as one process, the single-node
    /// binary (`portcullis`), from one file with both sections:
    /// [`TestStack::gateway`] and [`TestStack::auth`] are two handles on
    /// it, `auth.addr` its `grpc listening on` address. Not with
    /// `public_port` or `grpc_mtls`, nor with the calls that start or
    /// restart one service alone.
    pub single_node: bool,
}

/// The three services, running.
pub struct TestStack {
    dir: TempDir,
    pub(crate) options: StackOptions,
    service_token: String,
    pub idp: Provider,
    pub auth: Proc,
    pub gateway: Proc,
    /// `http(s)://127.0.0.1:PORT` of the gateway.
    pub gateway_url: String,
    /// The gateway's configured public origin (`http(s)://127.0.0.1`, or
    /// `gateway_url` with [`StackOptions::public_port`]).
    pub public_origin: String,
    /// `http://127.0.0.1:PORT` of the dev-idp (its issuer).
    pub idp_url: String,
    /// The session cookie's name.
    pub session_cookie: String,
}

/// The address `process` announced last on a line starting with `prefix`
/// (waited for at most 10 s): the latest, as a restarted process keeps its
/// predecessor's log.
async fn announced(process: &Proc, prefix: &str) -> String {
    let find = || {
        process
            .logs()
            .iter()
            .rev()
            .find_map(|line| line.strip_prefix(prefix).map(str::to_owned))
    };
    wait_until(Duration::from_secs(10), "the address is announced", || {
        let found = find().is_some();
        async move { found }
    })
    .await;
    find().unwrap()
}

/// The environment of every auth-service and gateway a stack starts: the
/// service token and [`StackOptions::env`], so a replica or a restart runs
/// as the first one did.
fn child_env<'a>(options: &'a StackOptions, service_token: &'a str) -> Vec<(&'a str, &'a str)> {
    std::iter::once((SERVICE_TOKEN_ENV, service_token))
        .chain(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect()
}

/// The gateway's configured public origin: the options' own, or
/// `http(s)://127.0.0.1`.
fn public_origin(options: &StackOptions) -> String {
    match (&options.public_origin, options.tls) {
        (Some(origin), _) => origin.clone(),
        (None, true) => "https://127.0.0.1".to_owned(),
        (None, false) => PUBLIC_ORIGIN.to_owned(),
    }
}

/// The session cookie's name (`__Host-` needs HTTPS).
fn session_cookie(options: &StackOptions) -> String {
    if options.tls {
        "__Host-portcullis"
    } else {
        "portcullis"
    }
    .to_owned()
}

/// Writes the gateway's configuration as `file` and starts it, with the
/// service token in its environment.
fn start_gateway(
    config: &GatewayConfig,
    file: &str,
    with_service_token: bool,
    service_token: &str,
) -> Proc {
    let path = config.write(file, with_service_token);
    Proc::spawn(
        &gateway_binary(),
        &["--config", path.to_str().unwrap()],
        &child_env(config.options, service_token),
    )
}

impl TestStack {
    /// The stack with the default routes.
    pub async fn start() -> TestStack {
        Self::start_with(StackOptions::default()).await
    }

    /// The stack with extra `[[routes]]` (TOML text) after the defaults.
    pub async fn start_with_routes(extra_routes: &str) -> TestStack {
        Self::start_with(StackOptions {
            routes: extra_routes.to_owned(),
            ..StackOptions::default()
        })
        .await
    }

    /// The stack as `options` say.
    pub async fn start_with(options: StackOptions) -> TestStack {
        if options.single_node {
            return Self::start_single_node(options).await;
        }
        let auth_bin = auth_service_binary();
        let dir = tempfile::tempdir().unwrap();
        let service_token = common::token::random_text::<32>().unwrap();

        let idp = Provider::start().await;
        let idp_url = idp.idp().issuer();

        let auth_config =
            write_auth_config(dir.path(), "auth.toml", &idp_url, "127.0.0.1:0", &options);
        let auth = Proc::spawn(
            &auth_bin,
            &["--config", auth_config.to_str().unwrap()],
            &child_env(&options, &service_token),
        );
        let public_origin = public_origin(&options);
        let session_cookie = session_cookie(&options);
        let mut gateway = start_gateway(
            &GatewayConfig {
                dir: dir.path(),
                options: &options,
                idp_url: &idp_url,
                public_origin: &public_origin,
                listen: "127.0.0.1:0",
                auth_addrs: &[&auth.addr],
            },
            "gateway.toml",
            options.service_token,
            &service_token,
        );
        let gateway_url = gateway.addr.clone();
        let public_origin = if options.public_port {
            gateway.kill();
            let listen = gateway_url
                .split_once("://")
                .map(|(_, addr)| addr)
                .unwrap_or(&gateway_url);
            gateway = start_gateway(
                &GatewayConfig {
                    dir: dir.path(),
                    options: &options,
                    idp_url: &idp_url,
                    public_origin: &gateway_url,
                    listen,
                    auth_addrs: &[&auth.addr],
                },
                "gateway.toml",
                options.service_token,
                &service_token,
            );
            assert_eq!(gateway.addr, gateway_url, "gateway came back elsewhere");
            gateway_url.clone()
        } else {
            public_origin
        };
        let scheme = if options.tls { "https" } else { "http" };
        assert!(
            gateway_url.starts_with(&format!("{scheme}://127.0.0.1:")),
            "{gateway_url}"
        );
        TestStack {
            dir,
            options,
            service_token,
            idp,
            auth,
            gateway,
            gateway_url,
            public_origin,
            idp_url,
            session_cookie,
        }
    }

    /// [`StackOptions::single_node`]: one `portcullis` process.
    async fn start_single_node(options: StackOptions) -> TestStack {
        assert!(
            !options.public_port && !options.grpc_mtls,
            "single_node does not combine with public_port or grpc_mtls"
        );
        let dir = tempfile::tempdir().unwrap();
        let service_token = common::token::random_text::<32>().unwrap();
        let idp = Provider::start().await;
        let idp_url = idp.idp().issuer();
        let public_origin = public_origin(&options);
        let auth_config =
            write_auth_config(dir.path(), "auth.toml", &idp_url, "127.0.0.1:0", &options);
        let gateway_config = GatewayConfig {
            dir: dir.path(),
            options: &options,
            idp_url: &idp_url,
            public_origin: &public_origin,
            listen: "127.0.0.1:0",
            auth_addrs: &[],
        }
        .write("gateway.toml", false);
        let config = write_single_node_config(dir.path(), &auth_config, &gateway_config);
        let gateway = Proc::spawn(
            &single_node_binary(),
            &["--config", config.to_str().unwrap()],
            &child_env(&options, &service_token),
        );
        let auth = gateway.alias(announced(&gateway, "grpc listening on ").await);
        let gateway_url = gateway.addr.clone();
        let session_cookie = session_cookie(&options);
        TestStack {
            dir,
            options,
            service_token,
            idp,
            auth,
            gateway,
            gateway_url,
            public_origin,
            idp_url,
            session_cookie,
        }
    }

    /// Calls that start or restart one service alone need them apart.
    fn assert_two_processes(&self) {
        assert!(
            !self.options.single_node,
            "a single-node stack runs one process: start or restart it whole"
        );
    }

    /// auth-service's Unix socket, with [`StackOptions::auth_socket`].
    pub fn auth_socket(&self) -> std::path::PathBuf {
        crate::config::auth_socket(self.dir.path())
    }

    /// The service token auth-service requires (with
    /// [`StackOptions::service_token`]), for tools that call it directly
    /// (`portcullis-admin`).
    pub fn service_token(&self) -> &str {
        &self.service_token
    }

    /// Starts an extra gateway with the stack's routes, sending the service
    /// token or not.
    pub fn spawn_gateway(&self, file: &str, with_service_token: bool) -> Proc {
        self.start_extra_gateway(file, with_service_token, &[&self.auth.addr])
    }

    /// Starts another auth-service with the stack's configuration as
    /// `file`, on a port of its own: with [`StackOptions::redis_url`], a
    /// second replica of the same store.
    pub fn spawn_auth_replica(&self, file: &str) -> Proc {
        self.assert_two_processes();
        // The socket is the first replica's (`StackOptions::auth_socket`).
        let options = StackOptions {
            auth_socket: false,
            ..self.options.clone()
        };
        let config = write_auth_config(
            self.dir.path(),
            file,
            &self.idp_url,
            "127.0.0.1:0",
            &options,
        );
        Proc::spawn(
            &auth_service_binary(),
            &["--config", config.to_str().unwrap()],
            &child_env(&self.options, &self.service_token),
        )
    }

    /// Starts an extra gateway with the stack's routes and settings, calling
    /// the auth-service replicas at `auth_addrs` (balanced when several).
    pub fn spawn_gateway_to(&self, file: &str, auth_addrs: &[&str]) -> Proc {
        self.start_extra_gateway(file, self.options.service_token, auth_addrs)
    }

    fn start_extra_gateway(
        &self,
        file: &str,
        with_service_token: bool,
        auth_addrs: &[&str],
    ) -> Proc {
        self.assert_two_processes();
        start_gateway(
            &GatewayConfig {
                dir: self.dir.path(),
                options: &self.options,
                idp_url: &self.idp_url,
                public_origin: &self.public_origin,
                listen: "127.0.0.1:0",
                auth_addrs,
            },
            file,
            with_service_token,
            &self.service_token,
        )
    }

    /// `http://127.0.0.1:PORT` of the gateway's metrics listener, from its
    /// `metrics listening on` line (printed right after the first one;
    /// waited for at most 10 s).
    pub async fn metrics_url(&self) -> String {
        announced(&self.gateway, "metrics listening on ").await
    }

    /// The gateway's `GET /metrics` text, from its metrics listener.
    pub async fn metrics_text(&self) -> String {
        self.scrape(&self.metrics_url().await).await
    }

    /// `http://127.0.0.1:PORT` of auth-service's metrics listener, from its
    /// `metrics listening on` line (the latest one, after a restart).
    pub async fn auth_metrics_url(&self) -> String {
        let prefix = if self.options.single_node {
            "auth-service metrics listening on "
        } else {
            "metrics listening on "
        };
        announced(&self.auth, prefix).await
    }

    /// auth-service's `GET /metrics` text, from its metrics listener.
    pub async fn auth_metrics_text(&self) -> String {
        self.scrape(&self.auth_metrics_url().await).await
    }

    /// `GET {base}/metrics`, which must answer 200.
    async fn scrape(&self, base: &str) -> String {
        let response = self
            .bare_client()
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    /// `http://127.0.0.1:PORT` of the gateway's ext_authz listener
    /// (`ext_authz_listen`), from its `ext_authz listening on` line.
    pub async fn ext_authz_url(&self) -> String {
        announced(&self.gateway, "ext_authz listening on ").await
    }

    /// SIGKILLs auth-service.
    pub fn kill_auth_service(&mut self) {
        self.auth.kill();
    }

    /// auth-service's audit log so far: one JSON object per event
    /// (`login`, `login_failed` with its `reason`, `session_revoked`, ...).
    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        self.auth
            .logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|event| event["target"] == "audit")
            .collect()
    }

    /// Every log line both services have written so far.
    pub fn service_logs(&self) -> Vec<String> {
        let mut lines = self.auth.logs();
        if !self.options.single_node {
            lines.extend(self.gateway.logs());
        }
        lines
    }

    /// SIGKILLs auth-service and opens its store, to look at what it wrote.
    pub async fn stop_and_open_store(&mut self) -> SledStore {
        self.kill_auth_service();
        let data = self.dir.path().join("data");
        tokio::task::spawn_blocking(move || SledStore::open(&data))
            .await
            .unwrap()
            .unwrap()
    }

    /// SIGKILLs the gateway and starts it again on the same address, with
    /// the same configuration.
    pub fn restart_gateway(&mut self) {
        self.assert_two_processes();
        self.gateway.kill();
        let listen = self
            .gateway_url
            .split_once("://")
            .map(|(_, addr)| addr.to_owned())
            .unwrap_or_else(|| self.gateway_url.clone());
        let gateway = start_gateway(
            &GatewayConfig {
                dir: self.dir.path(),
                options: &self.options,
                idp_url: &self.idp_url,
                public_origin: &self.public_origin,
                listen: &listen,
                auth_addrs: &[&self.auth.addr],
            },
            "gateway.toml",
            self.options.service_token,
            &self.service_token,
        );
        assert_eq!(
            gateway.addr, self.gateway_url,
            "gateway came back elsewhere"
        );
        self.gateway = gateway;
    }

    /// Starts auth-service again on the same address and data directory.
    pub fn restart_auth_service(&mut self) {
        self.assert_two_processes();
        let addr = self.auth.addr.clone();
        let config = write_auth_config(
            self.dir.path(),
            "auth.toml",
            &self.idp_url,
            &addr,
            &self.options,
        );
        self.auth = self.auth.restart(
            &auth_service_binary(),
            &["--config", config.to_str().unwrap()],
            &child_env(&self.options, &self.service_token),
        );
        assert_eq!(self.auth.addr, addr, "auth-service came back elsewhere");
    }
}
