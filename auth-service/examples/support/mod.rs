//! What every auth-service load generator starts with: the development
//! provider and auth-service (sled in a temporary directory, or the Redis
//! server at `--redis-url`), both on 127.0.0.1 port 0 in this process, and a
//! client on one HTTP/2 channel.

use common::config::Config;
use common::proto::auth_service_client::AuthServiceClient;
use dev_idp::{DevClient, DevIdp, DevIdpConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The running pair; [`Bench::stop`] shuts auth-service down cleanly.
pub(crate) struct Bench {
    pub idp: DevIdp,
    pub client: AuthServiceClient<Channel>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), auth_service::StartError>>,
    _dir: tempfile::TempDir,
}

impl Bench {
    /// Starts on sled, or on the Redis server at `redis_url` (one the
    /// operator started, e.g. `redis-server --port 0 --unixsocket /tmp/r.sock
    /// --appendonly yes --appendfsync always`).
    pub(crate) async fn start(redis_url: Option<&str>) -> Result<Bench, BoxError> {
        let idp = DevIdp::start(DevIdpConfig {
            listen: "127.0.0.1:0".parse()?,
            issuer: None,
            clients: vec![DevClient {
                client_id: "portcullis-dev".into(),
                client_secret: None,
            }],
            users: Vec::new(),
            signing_key_pem: None,
        })
        .await?;
        let dir = tempfile::tempdir()?;
        let store = match redis_url {
            Some(url) => format!("store = \"redis\"\nredis = {{ url = \"{url}\" }}"),
            None => String::new(),
        };
        let text = format!(
            r#"
[auth_service]
data_dir = "{}"
{store}
[[providers]]
id = "dev"
kind = "oidc"
client_id = "portcullis-dev"
token_endpoint_auth = "none"
issuer = "{}"
"#,
            dir.path().join("data").display(),
            idp.issuer()
        );
        let config = Config::from_toml(&text, &|_| None)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(auth_service::run(listener, config, async {
            let _ = stopped.await;
        }));
        let client =
            AuthServiceClient::new(Channel::from_shared(format!("http://{addr}"))?.connect_lazy());
        Ok(Bench {
            idp,
            client,
            stop,
            server,
            _dir: dir,
        })
    }

    /// An ID token for `user` from the dev-idp, for `ExchangeToken`.
    pub(crate) fn id_token(&self, user: &str) -> String {
        self.idp
            .sign(&self.idp.id_token_claims(user, "portcullis-dev", None))
    }

    pub(crate) async fn stop(self) -> Result<(), BoxError> {
        let _ = self.stop.send(());
        self.server.await??;
        Ok(())
    }
}
