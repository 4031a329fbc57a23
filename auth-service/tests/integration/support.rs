//! The test harness: a dev-idp and an auth-service, both real servers on
//! 127.0.0.1 port 0, and a gRPC client.

/// The configuration writer the e2e stack uses too (that crate depends on
/// this one, so it is shared by path, not as a dependency).
#[path = "../../../tests/src/auth_config.rs"]
pub(crate) mod auth_config;

use auth_config::AuthConfig;
use auth_service::domain::clock::ManualClock;
use common::config::Config;
use common::proto::auth_service_client::AuthServiceClient;
use common::proto::{
    BeginLoginRequest, ClientInfo, CompleteLoginRequest, ExchangeTokenRequest, LoginResponse,
    exchange_token_request,
};
use dev_idp::{DevClient, DevIdp, DevIdpConfig};
use std::net::SocketAddr;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub(crate) const DEV_CLIENT: &str = auth_config::DEV_CLIENT_ID;
pub(crate) const GOOGLE_CLIENT: &str = "google-client";
pub(crate) const GOOGLE_SECRET: &str = "google-secret";
pub(crate) const GITHUB_CLIENT: &str = "gh-client";
pub(crate) const GITHUB_SECRET: &str = "gh-secret";
pub(crate) const X_CLIENT: &str = "x-client";
pub(crate) const X_SECRET: &str = "x-secret";
pub(crate) const SERVICE_TOKEN: &str = "a-service-token-of-at-least-32-characters";
pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1:1/auth/callback/dev";

/// The wall clock, read once to start the manual clock near the provider's.
#[allow(clippy::disallowed_methods)]
pub(crate) fn wall_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) struct Harness {
    /// Shared by the replicas of one test ([`Harness::replica`]).
    pub idp: std::sync::Arc<DevIdp>,
    pub clock: ManualClock,
    pub client: AuthServiceClient<Channel>,
    pub addr: SocketAddr,
    pub dir: TempDir,
    /// The configuration it runs, for starting another replica of it.
    config_text: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), auth_service::StartError>>>,
}

pub(crate) async fn start_idp() -> DevIdp {
    DevIdp::start(DevIdpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        issuer: None,
        clients: vec![
            DevClient {
                client_id: DEV_CLIENT.into(),
                client_secret: None,
            },
            DevClient {
                client_id: GOOGLE_CLIENT.into(),
                client_secret: Some(GOOGLE_SECRET.into()),
            },
            DevClient {
                client_id: GITHUB_CLIENT.into(),
                client_secret: Some(GITHUB_SECRET.into()),
            },
            DevClient {
                client_id: X_CLIENT.into(),
                client_secret: Some(X_SECRET.into()),
            },
        ],
        users: Vec::new(),
        signing_key_pem: None,
    })
    .await
    .unwrap()
}

/// The configuration every harness starts from: [`AuthConfig`] (the dev
/// provider as `dev`) plus Google-, GitHub- and X-kind providers on the
/// same dev-idp, sessions of 7 days idle for at most 24 h; `settings` are
/// added to `[auth_service]`, `extra` is appended.
pub(crate) fn config_text(
    idp: &DevIdp,
    data_dir: &std::path::Path,
    settings: &str,
    extra: &str,
) -> String {
    let issuer = idp.issuer();
    let rest = format!(
        r#"
[[providers]]
id = "google"
kind = "google"
client_id = "{GOOGLE_CLIENT}"
client_secret_env = "GOOGLE_SECRET"
issuer = "{issuer}"
tokeninfo_endpoint = "{issuer}/tokeninfo"

[[providers]]
id = "github"
kind = "github"
client_id = "{GITHUB_CLIENT}"
client_secret_env = "GITHUB_SECRET"
authorization_endpoint = "{issuer}/authorize"
token_endpoint = "{issuer}/token"
api_base_url = "{issuer}/github"

[[providers]]
id = "x"
kind = "twitter"
client_id = "{X_CLIENT}"
client_secret_env = "X_SECRET"
authorization_endpoint = "{issuer}/authorize"
token_endpoint = "{issuer}/token"
api_base_url = "{issuer}"
{extra}
"#
    );
    AuthConfig {
        listen: "127.0.0.1:0",
        data_dir,
        issuer: &issuer,
        // Metrics off: a spawned binary would otherwise bind the fixed default
        // port, which parallel tests share, and announce it on a second
        // stdout line that no test reads.
        settings: &format!(
            "session_lifetime = \"7d\"\nsession_idle_timeout = \"24h\"\nmetrics_listen = \"off\"\n{settings}"
        ),
        rest: &rest,
    }
    .to_toml()
}

pub(crate) fn secrets(name: &str) -> Option<String> {
    match name {
        "GOOGLE_SECRET" => Some(GOOGLE_SECRET.into()),
        "GITHUB_SECRET" => Some(GITHUB_SECRET.into()),
        "X_SECRET" => Some(X_SECRET.into()),
        "SERVICE_TOKEN" => Some(SERVICE_TOKEN.into()),
        _ => None,
    }
}

impl Harness {
    pub(crate) async fn start() -> Self {
        Self::start_inner("", |_| String::new()).await
    }

    /// Starts with extra TOML, made from the provider's issuer, appended to
    /// the default configuration.
    pub(crate) async fn start_with(extra: impl FnOnce(&str) -> String) -> Self {
        Self::start_inner("", extra).await
    }

    /// Starts with `settings` (TOML lines) added to `[auth_service]`.
    pub(crate) async fn start_with_settings(settings: &str) -> Self {
        Self::start_inner(settings, |_| String::new()).await
    }

    async fn start_inner(settings: &str, extra: impl FnOnce(&str) -> String) -> Self {
        let idp = start_idp().await;
        let dir = tempfile::tempdir().unwrap();
        let extra = extra(&idp.issuer());
        let text = config_text(&idp, &dir.path().join("data"), settings, &extra);
        Self::launch(std::sync::Arc::new(idp), text, dir).await
    }

    /// An auth-service on the Redis store at `url`.
    pub(crate) async fn start_on_redis(url: &str) -> Self {
        Self::start_inner("store = \"redis\"\n", |_| {
            format!("\n[auth_service.redis]\nurl = \"{url}\"\n")
        })
        .await
    }

    /// Another auth-service with the same configuration and provider (on
    /// a shared store, a second replica), on a port of its own.
    pub(crate) async fn replica(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::launch(self.idp.clone(), self.config_text.clone(), dir).await
    }

    async fn launch(idp: std::sync::Arc<DevIdp>, text: String, dir: TempDir) -> Self {
        let config = Config::from_toml(&text, &secrets).unwrap();
        let clock = ManualClock::new(wall_now());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let deps = auth_service::Deps {
            clock: std::sync::Arc::new(clock.clone()),
        };
        let server = tokio::spawn(auth_service::run_with(listener, config, deps, async {
            let _ = rx.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        Harness {
            idp,
            clock,
            client: AuthServiceClient::new(channel),
            addr,
            dir,
            config_text: text,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The injected clock's time.
    pub(crate) fn clock_now(&self) -> i64 {
        use auth_service::domain::clock::Clock;
        self.clock.now()
    }

    /// Stops auth-service gracefully and reports how it ended.
    pub(crate) async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// BeginLogin + the provider's consent for `user`; returns
    /// (code, state, iss, flow handle).
    pub(crate) async fn authorize(
        &self,
        provider: &str,
        user: &str,
    ) -> (String, String, String, String) {
        let (params, flow_handle) = self.begin_and_consent(provider, user).await.unwrap();
        let param = |name: &str| params.get(name).cloned().unwrap_or_default();
        (param("code"), param("state"), param("iss"), flow_handle)
    }

    /// The whole code flow as `user`: BeginLogin, the provider's consent,
    /// CompleteLogin; a refused BeginLogin is returned as it is.
    pub(crate) async fn code_flow(
        &self,
        provider: &str,
        user: &str,
    ) -> Result<LoginResponse, tonic::Status> {
        let (params, flow_handle) = self.begin_and_consent(provider, user).await?;
        let param = |name: &str| params.get(name).cloned().unwrap_or_default();
        // The dev provider's `iss` is not GitHub's API base, and GitHub
        // sends none (every GitHub-kind provider here has an id starting
        // with `github`).
        let iss = if provider.starts_with("github") {
            String::new()
        } else {
            param("iss")
        };
        self.complete(
            provider,
            &param("code"),
            &param("state"),
            &flow_handle,
            &iss,
        )
        .await
    }

    /// BeginLogin, then the provider's consent for `user`: the
    /// authorization response's parameters and the flow handle.
    async fn begin_and_consent(
        &self,
        provider: &str,
        user: &str,
    ) -> Result<(std::collections::HashMap<String, String>, String), tonic::Status> {
        let began = self
            .client
            .clone()
            .begin_login(BeginLoginRequest {
                provider_id: provider.into(),
                redirect_uri: REDIRECT_URI.into(),
                return_to: "/after".into(),
            })
            .await?
            .into_inner();
        let params = follow_authorization(&began.authorization_url, user).await;
        Ok((params, began.flow_handle))
    }

    pub(crate) async fn complete(
        &self,
        provider: &str,
        code: &str,
        state: &str,
        handle: &str,
        iss: &str,
    ) -> Result<LoginResponse, tonic::Status> {
        self.client
            .clone()
            .complete_login(CompleteLoginRequest {
                provider_id: provider.into(),
                code: code.into(),
                state: state.into(),
                flow_handle: handle.into(),
                iss: iss.into(),
                client: Some(ClientInfo {
                    user_agent: "integration-test".into(),
                    ip: "127.0.0.1".into(),
                }),
            })
            .await
            .map(|r| r.into_inner())
    }

    pub(crate) async fn exchange_id_token(
        &self,
        provider: &str,
        token: &str,
    ) -> Result<LoginResponse, tonic::Status> {
        self.exchange(
            provider,
            exchange_token_request::Token::IdToken(token.into()),
        )
        .await
    }

    pub(crate) async fn exchange(
        &self,
        provider: &str,
        token: exchange_token_request::Token,
    ) -> Result<LoginResponse, tonic::Status> {
        self.client
            .clone()
            .exchange_token(ExchangeTokenRequest {
                provider_id: provider.into(),
                token: Some(token),
                client: None,
            })
            .await
            .map(|r| r.into_inner())
    }

    /// A fresh valid ID token for `user` from the dev provider.
    pub(crate) fn id_token(&self, user: &str) -> String {
        self.idp
            .sign(&self.idp.id_token_claims(user, DEV_CLIENT, None))
    }

    /// A token for `user` signed normally after `edit` changed its claims.
    pub(crate) fn id_token_with(
        &self,
        user: &str,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> String {
        let mut claims = self.idp.id_token_claims(user, DEV_CLIENT, None);
        edit(&mut claims);
        self.idp.sign(&claims)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Visits the authorization URL as the user's browser would, picking
/// `user` on the provider's page, and returns the redirect's query.
pub(crate) async fn follow_authorization(
    url: &str,
    user: &str,
) -> std::collections::HashMap<String, String> {
    let mut url = url::Url::parse(url).unwrap();
    url.query_pairs_mut().append_pair("login_hint", user);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 302, "the provider should redirect back");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The machine-readable reason of a rejection.
pub(crate) fn reason(status: &tonic::Status) -> String {
    status
        .metadata()
        .get("portcullis-reason")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| format!("<no reason: {:?} {}>", status.code(), status.message()))
}

/// Asserts a call failed UNAUTHENTICATED with `code` as its reason.
#[track_caller]
pub(crate) fn assert_rejected<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: &str) {
    match result {
        Ok(v) => panic!("expected rejection {code}, got success {v:?}"),
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
            assert_eq!(reason(&status), code, "{status:?}");
        }
    }
}
