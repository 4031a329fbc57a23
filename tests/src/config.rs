//! The services' configuration files in tests, written into the stack's
//! temporary directory, and the TLS fixtures they name.

use crate::auth_config::{AuthConfig, DEV_CLIENT_ID};
use crate::stack::StackOptions;
use std::path::{Path, PathBuf};

/// Name of the environment variable holding the service token, when a
/// stack runs with one.
pub(crate) const SERVICE_TOKEN_ENV: &str = "PORTCULLIS_TEST_SERVICE_TOKEN";

/// A file of the gateway's test certificates (`tests/fixtures/tls`).
pub(crate) fn fixture(name: &str) -> PathBuf {
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

/// Writes `dir/auth.toml`: auth-service on `listen`, its metrics on a port
/// of their own (`127.0.0.1:0`, never the default 9091 every stack would
/// share), its store in `dir/data`, JSON logs (read back by
/// [`crate::TestStack::audit_events`]),
/// the development provider at `idp_url` (also as a Google-kind provider),
/// with the service token, mutual TLS and Unix socket as `options` say.
pub(crate) fn write_auth_config(
    dir: &Path,
    file: &str,
    idp_url: &str,
    listen: &str,
    options: &StackOptions,
) -> PathBuf {
    let path = dir.join(file);
    let (store, redis) = match &options.redis_url {
        Some(url) => (
            "store = \"redis\"\n".to_owned(),
            format!("\n[auth_service.redis]\nurl = \"{url}\"\n"),
        ),
        None => (String::new(), String::new()),
    };
    let token = if options.service_token {
        format!("service_token_env = \"{SERVICE_TOKEN_ENV}\"\n")
    } else {
        String::new()
    };
    let grpc_tls = if options.grpc_mtls {
        format!(
            "tls_cert = {:?}\ntls_key = {:?}\nclient_ca = {:?}\n",
            grpc_fixture("server.pem"),
            grpc_fixture("server.key"),
            grpc_fixture("ca.pem"),
        )
    } else {
        String::new()
    };
    let socket = if options.auth_socket {
        format!("listen_socket = {:?}\n", auth_socket(dir))
    } else {
        String::new()
    };
    let config = AuthConfig {
        listen,
        data_dir: &dir.join("data"),
        issuer: idp_url,
        settings: &format!(
            "log_format = \"json\"\nmetrics_listen = \"127.0.0.1:0\"\n{store}{token}{grpc_tls}{socket}"
        ),
        rest: &format!(
            r#"
# The same provider as a Google-kind provider, so access tokens are
# verified through its tokeninfo endpoint.
[[providers]]
id = "devgoogle"
name = "Development provider (Google kind)"
kind = "google"
client_id = "{DEV_CLIENT_ID}"
token_endpoint_auth = "none"
issuer = "{idp_url}"
tokeninfo_endpoint = "{idp_url}/tokeninfo"
{providers}
{redis}"#,
            providers = options.providers.replace("{issuer}", idp_url),
        ),
    };
    std::fs::write(&path, config.to_toml()).unwrap();
    path
}

/// The Unix socket of the stack's auth-service, with
/// [`StackOptions::auth_socket`]. Its replicas (which only a Redis stack
/// has) serve TCP alone.
pub(crate) fn auth_socket(dir: &Path) -> PathBuf {
    dir.join("auth.sock")
}

/// `auth_service_url` for one address, `auth_service_urls` for several.
fn auth_service_urls(scheme: &str, addrs: &[&str]) -> String {
    match addrs {
        [one] => format!("auth_service_url = \"{scheme}://{one}\""),
        many => {
            let urls: Vec<String> = many.iter().map(|a| format!("\"{scheme}://{a}\"")).collect();
            format!("auth_service_urls = [{}]", urls.join(", "))
        }
    }
}

/// What a gateway's configuration needs from its stack.
pub(crate) struct GatewayConfig<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) options: &'a StackOptions,
    /// The dev-idp's issuer URL, replacing `{issuer}` in the options'
    /// gateway settings.
    pub(crate) idp_url: &'a str,
    pub(crate) public_origin: &'a str,
    pub(crate) listen: &'a str,
    /// auth-service's address, or its replicas' (`auth_service_urls`).
    pub(crate) auth_addrs: &'a [&'a str],
}

impl GatewayConfig<'_> {
    /// Writes `dir/file`: the default routes (`/api/whoami`, `/api/users/`,
    /// `/api/admin/` for admins) and those of the options, sending the
    /// service token or not.
    pub(crate) fn write(&self, file: &str, with_service_token: bool) -> PathBuf {
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
        let auth = if self.options.single_node {
            // auth-service is in the same process; one log format for both.
            "log_format = \"json\"".to_owned()
        } else if self.options.auth_socket {
            format!(
                "auth_service_url = \"unix:{}\"",
                auth_socket(self.dir).display()
            )
        } else {
            auth_service_urls(grpc_scheme, self.auth_addrs)
        };
        let config = self.dir.join(file);
        std::fs::write(
            &config,
            format!(
                r#"
[gateway]
listen = "{listen}"
public_url = "{public}"
{auth}
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
                auth = auth,
                routes = self.options.routes,
                settings = self
                    .options
                    .gateway_settings
                    .replace("{issuer}", self.idp_url),
            ),
        )
        .unwrap();
        config
    }
}

/// Writes `dir/portcullis.toml` for the single-node binary: the
/// auth-service file at `auth` and the gateway file at `gateway`, one after
/// the other (their sections are distinct).
pub(crate) fn write_single_node_config(dir: &Path, auth: &Path, gateway: &Path) -> PathBuf {
    let path = dir.join("portcullis.toml");
    let text = std::fs::read_to_string(auth).unwrap() + &std::fs::read_to_string(gateway).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}
