//! Real front proxies doing forward authentication against the gateway:
//! nginx (`auth_request`) and Caddy (`forward_auth`), from the system's
//! packages (Debian `nginx`, `caddy`; `.ci/run` installs them), each with
//! the configuration `docs/http-api.md` gives, in a temporary directory,
//! killed with its workers on drop.
//!
//! The proxy serves the gateway's `/auth/*` on its own origin (so the
//! session cookie is set on the host the browser uses) and everything else
//! from the app, after asking `/auth/check`. The gateway's `public_url` is
//! the proxy's origin, so the proxy's port must be known before the gateway
//! starts: [`reserve_port`] takes a free one from the kernel and releases
//! it for the proxy.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The identity headers the gateway answers with, which the proxy copies
/// to the app (and strips from what the client sent).
pub const IDENTITY_HEADERS: [&str; 5] = [
    "X-Auth-User-Id",
    "X-Auth-Email",
    "X-Auth-Session-Id",
    "X-Auth-Roles",
    "X-Auth-Groups",
];

/// Which proxy.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// nginx with `auth_request`, the app and `/auth/` on one host.
    Nginx,
    /// Caddy with `forward_auth`, the app and `/auth/` on one host.
    Caddy,
    /// nginx with the gateway on its own host, `auth.portcullis.localhost`,
    /// and the app on a sibling, `app.portcullis.localhost` (browsers
    /// resolve `*.localhost` to this machine): one login for both through
    /// `cookie_domain`.
    NginxSiblingHosts,
}

/// The gateway's host for [`Kind::NginxSiblingHosts`].
pub const AUTH_HOST: &str = "auth.portcullis.localhost";
/// The app's host for [`Kind::NginxSiblingHosts`].
pub const APP_HOST: &str = "app.portcullis.localhost";

/// A running front proxy.
pub struct FrontProxy {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`, where browsers reach it.
    pub origin: String,
    _dir: TempDir,
}

/// A free loopback port, released for a proxy to listen on (nginx and Caddy
/// cannot bind `:0` and say which port they got).
pub fn reserve_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl FrontProxy {
    /// Starts `kind` on `port` ([`reserve_port`]), in front of the gateway
    /// at `gateway` and the app at `app` (both `127.0.0.1:PORT`), and waits
    /// (bounded) until it accepts connections.
    pub async fn start(kind: Kind, port: u16, gateway: &str, app: &str) -> FrontProxy {
        let dir = tempfile::tempdir().unwrap();
        let mut command = match kind {
            Kind::Nginx => nginx(dir.path(), &nginx_one_host(port, gateway, app)),
            Kind::NginxSiblingHosts => nginx(dir.path(), &nginx_sibling_hosts(port, gateway, app)),
            Kind::Caddy => caddy(dir.path(), port, gateway, app),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {kind:?} ({e}); on Debian: apt-get install -y nginx caddy \
                     (.ci/run does this)"
                )
            });
        let mut proxy = FrontProxy {
            child: Some(child),
            origin: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        proxy.wait_until_listening(kind, port).await;
        proxy
    }

    async fn wait_until_listening(&mut self, kind: Kind, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("{kind:?} exited before listening on {port}: {status} (see its log above)");
            }
            assert!(
                Instant::now() < deadline,
                "{kind:?} did not listen on {port} within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FrontProxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `auth_request` part of the recipe of `docs/http-api.md`: ask the
/// gateway, send a browser to log in, copy the identity headers, serve the
/// app.
fn nginx_auth_request(gateway: &str, app: &str) -> String {
    let copy: String = IDENTITY_HEADERS
        .iter()
        .map(|h| {
            let var = h.to_ascii_lowercase().replace('-', "_");
            format!(
                "            auth_request_set ${var} $upstream_http_{var};\n            \
                 proxy_set_header {h} ${var};\n"
            )
        })
        .collect();
    format!(
        r#"
        location = /_portcullis_check {{
            internal;
            proxy_pass http://{gateway}/auth/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
        }}

        location @portcullis_login {{
            if ($auth_location) {{
                return 302 $auth_location;
            }}
            return 401;
        }}
"#
    ) + &format!(
        r#"
        location / {{
            auth_request /_portcullis_check;
            auth_request_set $auth_location $upstream_http_location;
            error_page 401 = @portcullis_login;
{copy}            proxy_pass http://{app};
        }}
"#
    )
}

/// The gateway's `/auth/` and the app on one host.
fn nginx_one_host(port: u16, gateway: &str, app: &str) -> String {
    let protected = nginx_auth_request(gateway, app);
    format!(
        r#"
    server {{
        listen 127.0.0.1:{port};

        # Portcullis's own pages: login, callback, logout.
        location /auth/ {{
            proxy_pass http://{gateway};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
{protected}    }}
"#
    )
}

/// The gateway on [`AUTH_HOST`], the app on [`APP_HOST`].
fn nginx_sibling_hosts(port: u16, gateway: &str, app: &str) -> String {
    let protected = nginx_auth_request(gateway, app);
    format!(
        r#"
    server {{
        listen 127.0.0.1:{port};
        server_name {AUTH_HOST};
        location / {{
            proxy_pass http://{gateway};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name {APP_HOST};
{protected}    }}
"#
    )
}

/// nginx in the foreground with `servers` (`server` blocks).
fn nginx(dir: &Path, servers: &str) -> Command {
    let d = dir.display();
    let config = format!(
        r#"
daemon off;
# As root, workers would otherwise run as `nobody`, locked out of the
# temporary directory; as anyone else nginx ignores this with a warning.
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{servers}
}}
"#
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new("nginx");
    command
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg("stderr")
        .arg("-c")
        .arg(&file);
    command
}

/// Caddy in the foreground with the recipe of `docs/http-api.md`, its
/// admin API off and its state in `dir`.
fn caddy(dir: &Path, port: u16, gateway: &str, app: &str) -> Command {
    let strip: String = IDENTITY_HEADERS
        .iter()
        .map(|h| format!("            request_header -{h}\n"))
        .collect();
    let config = format!(
        r#"{{
    admin off
    auto_https off
    storage file_system {d}/data
}}

http://127.0.0.1:{port} {{
    bind 127.0.0.1

    # Portcullis's own pages: login, callback, logout.
    handle /auth/* {{
        reverse_proxy {gateway}
    }}

    handle {{
        route {{
{strip}            forward_auth {gateway} {{
                uri /auth/check?redirect=true
                copy_headers {copy}
            }}
            reverse_proxy {app}
        }}
    }}
}}
"#,
        d = dir.display(),
        copy = IDENTITY_HEADERS.join(" "),
    );
    let file = dir.join("Caddyfile");
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new("caddy");
    command
        .arg("run")
        .arg("--adapter")
        .arg("caddyfile")
        .arg("--config")
        .arg(&file)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"));
    command
}
