//! End-to-end test support: [`TestStack`] starts the real `auth-service`
//! and `api-gateway` binaries (built once with escargot) on `127.0.0.1:0`,
//! each with its own temporary directory and configuration, learns their
//! addresses from the one `listening on ...` line each prints, keeps their
//! log lines (see [`TestStack::audit_events`]) and kills them in `Drop`. The
//! development provider runs in the test process (see [`Provider`]) so a
//! test can make it misbehave. Helpers read like the API:
//! `stack.login_as(&client, "alice")`, `assert_redirect(&resp, "/")`.
//!
//! The gateway's `public_url` is `http://127.0.0.1` (no port), because its
//! real port is only known once it is bound; [`TestStack::follow`] maps
//! redirects to that origin onto the gateway's real address, and requests
//! that need an `Origin` send the public one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod watchdog;

use auth_service::storage::sled::SledStore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dev_idp::{DevIdp, DevIdpConfig, Faults};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The gateway's configured public origin in tests.
pub const PUBLIC_ORIGIN: &str = "http://127.0.0.1";

/// Builds `package`'s binary once per test process (same profile as the
/// tests, host target, so the workspace's `target/debug` is reused).
fn binary(cell: &'static OnceLock<PathBuf>, package: &str) -> PathBuf {
    cell.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        escargot::CargoBuild::new()
            .manifest_path(manifest)
            .package(package)
            .bin(package)
            .current_release()
            .run()
            .unwrap_or_else(|e| panic!("cannot build {package}: {e}"))
            .path()
            .to_path_buf()
    })
    .clone()
}

static DEV_IDP: OnceLock<PathBuf> = OnceLock::new();
static AUTH_SERVICE: OnceLock<PathBuf> = OnceLock::new();
static API_GATEWAY: OnceLock<PathBuf> = OnceLock::new();

/// The path of one of the workspace's binaries, built on first use; `None`
/// for a name that is not one of them.
pub fn workspace_binary(name: &str) -> Option<PathBuf> {
    let cell = match name {
        "dev-idp" => &DEV_IDP,
        "auth-service" => &AUTH_SERVICE,
        "api-gateway" => &API_GATEWAY,
        _ => return None,
    };
    Some(binary(cell, name))
}

/// The log filter of the services in tests: our own crates at debug, so a
/// test that scans the logs for secrets sees everything they could write.
const LOG_FILTER: &str = "info,auth_service=debug,api_gateway=debug,common=debug,audit=info";

/// A child process, killed (SIGKILL) and reaped on drop. Its log (stderr)
/// is kept in memory and printed if the test fails.
pub struct Proc {
    child: Child,
    /// The address part of its `listening on ...` line.
    pub addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Starts `program` and waits (at most 60 s) for its `listening on`
    /// line.
    fn spawn(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        Self::spawn_logging(program, args, env, Arc::default())
    }

    /// [`Proc::spawn`] appending its log lines to `logs` (shared with the
    /// process it replaces after a restart).
    fn spawn_logging(
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        logs: Arc<Mutex<Vec<String>>>,
    ) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| LOG_FILTER.into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_sink = logs.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the child never blocks on a full pipe; later
            // lines (the gateway's metrics address) join the log.
            for line in lines.map_while(Result::ok) {
                stdout_sink.lock().unwrap().push(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not print its address; its log:\n{}",
                    program.display(),
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Proc { child, addr, logs }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Every log line written so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- log of pid {} ---", self.child.id());
            for line in self.logs.lock().unwrap().iter() {
                eprintln!("{line}");
            }
        }
    }
}

/// The development provider, in the test process on a runtime of its own:
/// tests switch its faults at will ([`Provider::faults`]), and a test
/// blocked in a synchronous wait can never stall it.
pub struct Provider {
    idp: Option<DevIdp>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Provider {
    async fn start() -> Provider {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let idp = runtime
            .spawn(DevIdp::start(DevIdpConfig::default()))
            .await
            .unwrap()
            .unwrap();
        Provider {
            idp: Some(idp),
            runtime: Some(runtime),
        }
    }

    /// The provider itself (keys, token minting, counters).
    pub fn idp(&self) -> &DevIdp {
        self.idp.as_ref().expect("the provider was stopped")
    }

    /// Changes its faults, e.g. `stack.idp.faults(|f| f.omit_id_token = true)`.
    pub fn faults(&self, update: impl FnOnce(&mut Faults)) {
        self.idp().update_faults(update);
    }

    /// Back to a correct provider.
    pub fn heal(&self) {
        self.idp().set_faults(Faults::default());
    }

    /// Stops the provider for good: its port refuses connections from now
    /// on, as a provider that is down does.
    pub async fn stop(&mut self) {
        if let Some(idp) = self.idp.take() {
            idp.shutdown().await;
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        drop(self.idp.take());
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime inside another one's async context panics.
            runtime.shutdown_background();
        }
    }
}

/// Polls `check` every 50 ms until it returns true, for at most `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts a redirect (301/302/303/307/308) to exactly `location`.
pub fn assert_redirect(response: &reqwest::Response, location: &str) {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {}",
        response.status()
    );
    assert_eq!(
        response.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap(),
        location
    );
}

/// The `Set-Cookie` header setting `name`, if any.
pub fn set_cookie<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The value a `Set-Cookie` line sets.
pub fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v)
        .unwrap_or("")
}

/// A browser-like client: cookie jar, no automatic redirects (tests follow
/// them step by step).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A client without cookies, for bearer-token and header-level tests.
pub fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Name of the environment variable holding the service token, when a
/// stack runs with one.
const SERVICE_TOKEN_ENV: &str = "PORTCULLIS_TEST_SERVICE_TOKEN";

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
    /// Extra `[gateway]` keys (TOML lines), e.g. a higher login rate limit.
    pub gateway_settings: String,
}

/// The three services, running.
pub struct TestStack {
    dir: TempDir,
    options: StackOptions,
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

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name)
}

/// A file of the gRPC edge's test certificates (`tests/fixtures/grpc-tls`).
fn grpc_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/grpc-tls")
        .join(name)
        .display()
        .to_string()
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
        let auth_bin = binary(&AUTH_SERVICE, "auth-service");
        let dir = tempfile::tempdir().unwrap();
        let service_token = common::token::random_text::<32>().unwrap();

        let idp = Provider::start().await;
        let idp_url = idp.idp().issuer();

        let auth_config = write_auth_config(
            dir.path(),
            &idp_url,
            "127.0.0.1:0",
            options.service_token,
            options.grpc_mtls,
        );
        let auth = Proc::spawn(
            &auth_bin,
            &["--config", auth_config.to_str().unwrap()],
            &[(SERVICE_TOKEN_ENV, &service_token)],
        );
        let public_origin = if options.tls {
            "https://127.0.0.1"
        } else {
            PUBLIC_ORIGIN
        }
        .to_owned();
        let session_cookie = if options.tls {
            "__Host-portcullis"
        } else {
            "portcullis"
        }
        .to_owned();
        let mut gateway = GatewaySetup {
            dir: dir.path(),
            options: &options,
            public_origin: &public_origin,
            listen: "127.0.0.1:0",
            auth_addr: &auth.addr,
            service_token: &service_token,
        }
        .spawn("gateway.toml", options.service_token);
        let gateway_url = gateway.addr.clone();
        let public_origin = if options.public_port {
            gateway.kill();
            let listen = gateway_url
                .split_once("://")
                .map(|(_, addr)| addr)
                .unwrap_or(&gateway_url);
            gateway = GatewaySetup {
                dir: dir.path(),
                options: &options,
                public_origin: &gateway_url,
                listen,
                auth_addr: &auth.addr,
                service_token: &service_token,
            }
            .spawn("gateway.toml", options.service_token);
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

    /// Starts an extra gateway with the stack's routes, sending the service
    /// token or not.
    pub fn spawn_gateway(&self, file: &str, with_service_token: bool) -> Proc {
        GatewaySetup {
            dir: self.dir.path(),
            options: &self.options,
            public_origin: &self.public_origin,
            listen: "127.0.0.1:0",
            auth_addr: &self.auth.addr,
            service_token: &self.service_token,
        }
        .spawn(file, with_service_token)
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        if self.options.tls {
            let ca = std::fs::read(fixture("ca.pem")).unwrap();
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                .https_only(false);
        }
        builder
    }

    /// A browser-like client for this stack (trusts the test CA on TLS).
    pub fn browser(&self) -> reqwest::Client {
        self.client_builder().cookie_store(true).build().unwrap()
    }

    /// A client without cookies for this stack.
    pub fn bare_client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    /// A gateway URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway_url)
    }

    /// `http://127.0.0.1:PORT` of the gateway's metrics listener, from its
    /// `metrics listening on` line (printed right after the first one;
    /// waited for at most 10 s).
    pub async fn metrics_url(&self) -> String {
        let find = || {
            self.gateway.logs().iter().find_map(|line| {
                line.strip_prefix("metrics listening on ")
                    .map(str::to_owned)
            })
        };
        wait_until(
            Duration::from_secs(10),
            "the gateway announces metrics",
            || {
                let found = find().is_some();
                async move { found }
            },
        )
        .await;
        find().unwrap()
    }

    /// GETs `path` with `token` as a bearer credential and reads the JSON
    /// answer, whatever its status.
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        self.bare_client()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Maps a redirect target on the public origin to the gateway's real
    /// address; other URLs are returned unchanged.
    pub fn follow(&self, location: &str) -> String {
        match location.strip_prefix(&self.public_origin) {
            Some(rest) if rest.starts_with('/') => format!("{}{rest}", self.gateway_url),
            _ => location.to_owned(),
        }
    }

    /// Runs the code flow in `client` up to (not including) the callback:
    /// login at the gateway, then the provider with `login_hint`. Returns the
    /// callback URL (on the gateway's real address).
    pub async fn authorize(&self, client: &reqwest::Client, user: &str, return_to: &str) -> String {
        let login = client
            .get(self.url("/auth/login/dev"))
            .query(&[("return_to", return_to)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 302, "login did not redirect");
        let authorize = location(&login);
        assert!(authorize.starts_with(&self.idp_url), "{authorize}");
        let consent = client
            .get(format!("{authorize}&login_hint={user}"))
            .send()
            .await
            .unwrap();
        assert!(
            consent.status().is_redirection(),
            "provider answered {}",
            consent.status()
        );
        self.follow(&location(&consent))
    }

    /// A full code-flow login as `user` in `client`; returns the callback's
    /// response (303 with the session cookie).
    pub async fn login_as(&self, client: &reqwest::Client, user: &str) -> reqwest::Response {
        let callback = self.authorize(client, user, "/").await;
        let response = client.get(callback).send().await.unwrap();
        assert_eq!(response.status(), 303, "callback failed for {user}");
        response
    }

    /// Logs `user` in with a fresh cookie jar and returns the session token
    /// (for bearer requests).
    pub async fn session_token(&self, user: &str) -> String {
        let response = self.login_as(&self.browser(), user).await;
        cookie_value(set_cookie(&response, &self.session_cookie).expect("session cookie"))
            .to_owned()
    }

    /// An ID token for `user`, obtained as a front-end would: a code flow
    /// with PKCE run directly against the dev-idp.
    pub async fn id_token(&self, user: &str) -> String {
        self.provider_tokens(user).await["id_token"]
            .as_str()
            .expect("id_token")
            .to_owned()
    }

    /// An access token for `user` from the dev-idp (see [`Self::id_token`]).
    pub async fn access_token(&self, user: &str) -> String {
        self.provider_tokens(user).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// The dev-idp's token response for `user`.
    async fn provider_tokens(&self, user: &str) -> serde_json::Value {
        let client = bare_client();
        let verifier = common::token::random_text::<32>().unwrap();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let redirect_uri = "http://127.0.0.1/frontend-callback";
        let response = client
            .get(format!("{}/authorize", self.idp_url))
            .query(&[
                ("response_type", "code"),
                ("client_id", "portcullis-dev"),
                ("redirect_uri", redirect_uri),
                ("scope", "openid email profile"),
                ("state", "front-end-state"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("login_hint", user),
            ])
            .send()
            .await
            .unwrap();
        let target = url::Url::parse(&location(&response)).unwrap();
        let code = target
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code in the provider's redirect");
        let tokens: serde_json::Value = client
            .post(format!("{}/token", self.idp_url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("client_id", "portcullis-dev"),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens
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
        lines.extend(self.gateway.logs());
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
        self.gateway.kill();
        let listen = self
            .gateway_url
            .split_once("://")
            .map(|(_, addr)| addr.to_owned())
            .unwrap_or_else(|| self.gateway_url.clone());
        let gateway = GatewaySetup {
            dir: self.dir.path(),
            options: &self.options,
            public_origin: &self.public_origin,
            listen: &listen,
            auth_addr: &self.auth.addr,
            service_token: &self.service_token,
        }
        .spawn("gateway.toml", self.options.service_token);
        assert_eq!(
            gateway.addr, self.gateway_url,
            "gateway came back elsewhere"
        );
        self.gateway = gateway;
    }

    /// Starts auth-service again on the same address and data directory.
    pub fn restart_auth_service(&mut self) {
        let addr = self.auth.addr.clone();
        let config = write_auth_config(
            self.dir.path(),
            &self.idp_url,
            &addr,
            self.options.service_token,
            self.options.grpc_mtls,
        );
        let auth_bin = binary(&AUTH_SERVICE, "auth-service");
        self.auth = Proc::spawn_logging(
            &auth_bin,
            &["--config", config.to_str().unwrap()],
            &[(SERVICE_TOKEN_ENV, &self.service_token)],
            self.auth.logs.clone(),
        );
        assert_eq!(self.auth.addr, addr, "auth-service came back elsewhere");
    }
}

/// What a gateway process needs from its stack.
struct GatewaySetup<'a> {
    dir: &'a Path,
    options: &'a StackOptions,
    public_origin: &'a str,
    listen: &'a str,
    auth_addr: &'a str,
    service_token: &'a str,
}

impl GatewaySetup<'_> {
    fn spawn(&self, file: &str, with_service_token: bool) -> Proc {
        let gateway_bin = binary(&API_GATEWAY, "api-gateway");
        let tls = if self.options.tls {
            format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
                fixture("cert.pem").display(),
                fixture("key.pem").display()
            )
        } else {
            String::new()
        };
        let token = if with_service_token {
            format!("service_token_env = \"{SERVICE_TOKEN_ENV}\"\n")
        } else {
            String::new()
        };
        let (grpc_scheme, grpc_tls) = if self.options.grpc_mtls {
            let tls = format!(
                "auth_service_ca = {:?}\nauth_service_client_cert = {:?}\n\
                 auth_service_client_key = {:?}\n",
                grpc_fixture("ca.pem"),
                grpc_fixture("client.pem"),
                grpc_fixture("client.key"),
            );
            ("https", tls)
        } else {
            ("http", String::new())
        };
        let config = self.dir.join(file);
        std::fs::write(
            &config,
            format!(
                r#"
[gateway]
listen = "{listen}"
public_url = "{public}"
auth_service_url = "{grpc_scheme}://{auth}"
auth_timeout = "2s"
upstream_timeout = "5s"
metrics_listen = "127.0.0.1:0"
{tls}{token}{grpc_tls}{settings}
[[routes]]
path_prefix = "/api/whoami"
target = {{ handler = "whoami" }}

[[routes]]
path_prefix = "/api/users/"
target = {{ handler = "users" }}

[[routes]]
path_prefix = "/api/admin/"
allow_roles = ["admin"]
target = {{ handler = "admin_sessions" }}
{routes}
"#,
                public = self.public_origin,
                listen = self.listen,
                auth = self.auth_addr,
                routes = self.options.routes,
                settings = self.options.gateway_settings,
            ),
        )
        .unwrap();
        Proc::spawn(
            &gateway_bin,
            &["--config", config.to_str().unwrap()],
            &[(SERVICE_TOKEN_ENV, self.service_token)],
        )
    }
}

/// The `Location` header.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("no Location in a {} answer", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

fn write_auth_config(
    dir: &Path,
    idp_url: &str,
    listen: &str,
    service_token: bool,
    grpc_mtls: bool,
) -> PathBuf {
    let path = dir.join("auth.toml");
    let token = if service_token {
        format!("service_token_env = \"{SERVICE_TOKEN_ENV}\"\n")
    } else {
        String::new()
    };
    let grpc_tls = if grpc_mtls {
        format!(
            "tls_cert = {:?}\ntls_key = {:?}\nclient_ca = {:?}\n",
            grpc_fixture("server.pem"),
            grpc_fixture("server.key"),
            grpc_fixture("ca.pem"),
        )
    } else {
        String::new()
    };
    std::fs::write(
        &path,
        format!(
            r#"
[auth_service]
listen = "{listen}"
data_dir = "{data}"
log_format = "json"
{token}{grpc_tls}
[auth_service.roles]
admin = ["alice@example.com"]

[[providers]]
id = "dev"
name = "Development provider"
kind = "oidc"
client_id = "portcullis-dev"
token_endpoint_auth = "none"
issuer = "{idp_url}"

# The same provider as a Google-kind provider, so access tokens are
# verified through its tokeninfo endpoint.
[[providers]]
id = "devgoogle"
name = "Development provider (Google kind)"
kind = "google"
client_id = "portcullis-dev"
token_endpoint_auth = "none"
issuer = "{idp_url}"
tokeninfo_endpoint = "{idp_url}/tokeninfo"
"#,
            data = dir.join("data").display()
        ),
    )
    .unwrap();
    path
}
