//! `dev-idp`: a local OpenID Connect provider for development and tests.
//! **Not for production**: anyone who can reach it can log in as anyone.
//!
//! It is a real HTTP server on a loopback address that signs real RS256 ID
//! tokens, so the code paths auth-service runs against Google or any OIDC
//! provider run unchanged against it. Tests start it in process with
//! [`DevIdp::start`] on `127.0.0.1:0`, mint tokens directly
//! ([`DevIdp::sign`], [`DevIdp::issue_access_token`]), and make it misbehave
//! in exactly one way at a time through [`Faults`].
//!
//! Endpoints (all relative to the issuer):
//! `/.well-known/openid-configuration`, `/jwks`, `/authorize`, `/token`,
//! `/userinfo`, `/tokeninfo` (Google-like), and a GitHub-like API under
//! `/github` (`/user`, `/user/emails`, `/user/orgs`, `/user/teams`,
//! `/applications/{client_id}/token`), the X API v2's `/2/users/me`,
//! `/logout` (RP-initiated logout), Cloud Identity's
//! `/v1/groups/-/memberships:searchDirectGroups` (Google Workspace groups),
//! a stand-in for Google Identity Services' sign-in script (`/gsi/client`,
//! `/gsi/credential`, `/gsi/select`), and `POST /dev/backchannel-logout`, which sends OpenID Connect Back-Channel
//! Logout tokens to a relying party.
//!
//! Modules: `keys` (RSA keys, JWKS, signing), `grants` (codes and access
//! tokens), `provider` (shared state), `faults`, `users`, and `http` (the
//! endpoints).

mod clock;
mod faults;
mod grants;
mod http;
mod keys;
mod provider;
mod users;

pub use faults::{
    Endpoint, Faults, HUGE_RESPONSE_BYTES, HugeResponse, IdTokenMutator, Malformed,
    MalformedResponse,
};
pub use keys::{SigningKey, unsigned_token};
pub use provider::TokenRequestRecord;
pub use users::{DevUser, default_users};

use anyhow::Context as _;
use provider::Provider;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The warning every surface repeats.
pub const NOT_FOR_PRODUCTION: &str = http::BANNER;

/// How the provider starts.
#[derive(Debug, Clone)]
pub struct DevIdpConfig {
    /// Where to listen. Must be a loopback address: this provider logs in
    /// anyone who asks, so it must never be reachable from the network.
    pub listen: SocketAddr,
    /// The issuer to sign and advertise; default `http://{bound address}`.
    /// A trailing slash is dropped so `iss` and discovery agree exactly.
    pub issuer: Option<url::Url>,
    /// The relying parties allowed to use the provider.
    pub clients: Vec<DevClient>,
    /// Who can log in; [`default_users`] when empty.
    pub users: Vec<DevUser>,
    /// The signing key as PEM (PKCS#8 or PKCS#1 RSA private key), so
    /// developers and tests can sign tokens with their own tools; a fresh
    /// key when `None`.
    pub signing_key_pem: Option<String>,
}

impl Default for DevIdpConfig {
    /// `127.0.0.1:0`, default users, one public client `portcullis-dev`.
    fn default() -> Self {
        DevIdpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            issuer: None,
            clients: vec![DevClient {
                client_id: "portcullis-dev".to_owned(),
                client_secret: None,
            }],
            users: Vec::new(),
            signing_key_pem: None,
        }
    }
}

/// A relying party registered at the provider.
#[derive(Clone)]
pub struct DevClient {
    pub client_id: String,
    /// `None`: a public client, which authenticates with PKCE only
    /// (`token_endpoint_auth_method = "none"`). `Some`: a confidential
    /// client, which must send this secret by HTTP Basic or in the body.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for DevClient {
    /// Redacts the secret so configurations can be logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevClient")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The configured listen address is not loopback.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to listen on {0}: the development identity provider logs in anyone who asks, \
     so it only listens on loopback addresses (127.0.0.1, [::1])"
)]
pub struct NonLoopbackListen(pub SocketAddr);

/// Checks the listen address before anything binds.
pub fn check_listen(addr: SocketAddr) -> Result<(), NonLoopbackListen> {
    // `to_canonical` so `::ffff:127.0.0.1` counts as the loopback it is.
    if addr.ip().to_canonical().is_loopback() {
        Ok(())
    } else {
        Err(NonLoopbackListen(addr))
    }
}

/// A running provider. The server runs on a spawned task; dropping the
/// handle or calling [`DevIdp::shutdown`] stops it.
pub struct DevIdp {
    provider: Arc<Provider>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// How long [`DevIdp::shutdown`] lets in-flight requests finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl DevIdp {
    /// Generates the keys, binds `config.listen` and starts serving.
    /// Errors for a non-loopback address ([`NonLoopbackListen`]), a bind
    /// failure, or an issuer that cannot be used.
    pub async fn start(config: DevIdpConfig) -> anyhow::Result<DevIdp> {
        check_listen(config.listen)?;
        Self::launch(config).await
    }

    /// Like [`DevIdp::start`] but accepts any listen address: for a private
    /// container network (docker-compose's `dev` profile), where the
    /// provider must bind the container's interface to be published on the
    /// host's loopback. Never expose it beyond that.
    pub async fn start_in_container_network(config: DevIdpConfig) -> anyhow::Result<DevIdp> {
        if check_listen(config.listen).is_err() {
            tracing::warn!(
                listen = %config.listen,
                "{NOT_FOR_PRODUCTION}: listening beyond loopback because --allow-container-network was given"
            );
        }
        Self::launch(config).await
    }

    async fn launch(config: DevIdpConfig) -> anyhow::Result<DevIdp> {
        let keys = keys::Keyring::generate(config.signing_key_pem.as_deref()).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        let (issuer, base_path) = match &config.issuer {
            Some(url) => issuer_parts(url)?,
            None => (format!("http://{addr}"), String::new()),
        };
        let users = if config.users.is_empty() {
            default_users()
        } else {
            config.users
        };
        let provider = Arc::new(Provider::new(
            issuer,
            base_path,
            config.clients,
            users,
            keys,
        ));
        let app = http::router(provider.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                // Either an explicit stop or the handle being dropped.
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "dev-idp server failed");
            }
        });
        tracing::warn!(
            %addr,
            issuer = %provider.issuer,
            "{NOT_FOR_PRODUCTION}: anyone who can reach it can log in as any user"
        );
        Ok(DevIdp {
            provider,
            addr,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Exactly the `iss` this provider signs and the discovery `issuer`,
    /// without a trailing slash.
    pub fn issuer(&self) -> String {
        self.provider.issuer.clone()
    }

    /// Stops accepting connections and waits (a few seconds at most) for
    /// in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }

    /// The claims of a valid ID token for `user` (a login such as
    /// `"alice"`) issued to `client_id`: `iss`, `sub`, `aud`, `exp` (in one
    /// hour), `iat`, `nonce` if given, `email`, `email_verified`, `name`,
    /// `picture`. A login that is not configured gets a synthetic user with
    /// `sub` = the login and an unverified e-mail, so tests can mint tokens
    /// for any subject.
    pub fn id_token_claims(
        &self,
        user: &str,
        client_id: &str,
        nonce: Option<&str>,
    ) -> serde_json::Value {
        self.provider.id_token_claims(user, client_id, nonce)
    }

    /// Signs `claims` as this provider does: RS256 with the current key and
    /// its `kid` in the header.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        self.provider.sign(claims)
    }

    /// Signs `claims` under `header` as given (so `kid` can be absent or
    /// made up, `jku` added, ...) with `key`. If `header.alg` is of the wrong
    /// family for `key` it becomes RS256 (RSA keys) or HS256.
    pub fn sign_with(
        &self,
        header: jsonwebtoken::Header,
        claims: &serde_json::Value,
        key: SigningKey,
    ) -> String {
        self.provider.sign_with(header, claims, key)
    }

    /// A fresh opaque access token for `user`, issued to `client_id` with
    /// scope `openid email profile`, valid for one hour at userinfo,
    /// tokeninfo and the GitHub-like API. Unknown logins get a synthetic
    /// user, as in [`DevIdp::id_token_claims`].
    pub fn issue_access_token(&self, user: &str, client_id: &str) -> String {
        self.provider
            .issue_access_token(user, client_id, "openid email profile")
    }

    /// [`DevIdp::issue_access_token`] with another scope, e.g. GitHub's
    /// `read:user read:org`.
    pub fn issue_access_token_with_scope(
        &self,
        user: &str,
        client_id: &str,
        scope: &str,
    ) -> String {
        self.provider.issue_access_token(user, client_id, scope)
    }

    /// Generates a new RSA key and makes it current. With `keep_old_in_jwks`
    /// the previous keys stay published (a graceful rotation); without, they
    /// vanish from the JWKS at once (an emergency rotation). Returns the new
    /// `kid`. If generation fails (it should not) the error is logged and
    /// the key stays as it was.
    pub async fn rotate_key(&self, keep_old_in_jwks: bool) -> String {
        match keys::RsaKey::generate().await {
            Ok(key) => {
                let kid = key.kid.clone();
                self.provider.rotate(key, keep_old_in_jwks);
                tracing::info!(%kid, keep_old_in_jwks, "signing key rotated");
                kid
            }
            Err(e) => {
                tracing::error!(error = %e, "key rotation failed");
                self.provider.current_kid()
            }
        }
    }

    /// The `kid` of the current signing key.
    pub fn current_kid(&self) -> String {
        self.provider.current_kid()
    }

    /// A snapshot of the current faults.
    pub fn faults(&self) -> Faults {
        self.provider.faults()
    }

    /// Replaces all faults (`Faults::default()` switches them all off).
    pub fn set_faults(&self, faults: Faults) {
        self.provider.update_faults(|f| *f = faults);
    }

    /// Changes some faults, e.g. `idp.update_faults(|f| f.omit_id_token = true)`.
    pub fn update_faults(&self, update: impl FnOnce(&mut Faults)) {
        self.provider.update_faults(update);
    }

    /// How many times `/jwks` has been requested, failed fetches included.
    pub fn jwks_fetch_count(&self) -> usize {
        self.provider.jwks_fetch_count()
    }

    /// Every request the token endpoint received, oldest first.
    pub fn token_requests(&self) -> Vec<TokenRequestRecord> {
        self.provider.token_requests()
    }
}

impl Drop for DevIdp {
    /// Starts a graceful stop; the task finishes on its own.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The issuer as a string without a trailing slash (`Url` always renders an
/// empty path as `/`, but OpenID Connect compares issuers as exact strings),
/// and its path, under which the endpoints are served.
fn issuer_parts(url: &url::Url) -> anyhow::Result<(String, String)> {
    if url.scheme() != "http" && url.scheme() != "https" {
        anyhow::bail!("the issuer must be an http or https URL, not {url}");
    }
    if url.query().is_some() || url.fragment().is_some() {
        anyhow::bail!(
            "the issuer must not have a query or fragment (OpenID Connect Discovery 1.0 section 3)"
        );
    }
    let issuer = url.as_str().trim_end_matches('/').to_owned();
    let base_path = url.path().trim_end_matches('/').to_owned();
    Ok((issuer, base_path))
}
