//! `docker-compose.yml` started for real, with podman: the image built by
//! `scripts/build-image` (from the debug binaries the other tests use, so
//! it takes seconds), the stack brought up with podman-compose and
//! `docker-compose.host-network.yml`, a login through the dev-idp in the
//! container answered by `/auth/me`, and the stack torn down.
//!
//! Everything podman keeps lives in a temporary directory: its
//! configuration (`CONTAINERS_CONF`: runc, cgroupfs, no default ulimits or
//! pids limit, host networking; see [`Podman::new`]), its image and
//! container storage and its run state, removed at the end even when the
//! test fails. Nothing is pulled: the image is `FROM scratch`.
//!
//! Where podman is not installed the test says so and passes, except in CI
//! (`CI=true`), where `.ci/run` installs it and its absence fails.

use portcullis_tests::watchdog::Watchdog;
use portcullis_tests::{location, wait_until, workspace_binary};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// `program` on the PATH, if there.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Runs `command`; panics with its output unless it succeeds.
fn run(command: &mut Command) -> Output {
    let what = format!("{command:?}");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `count` distinct free ports on 127.0.0.1 (each bound to port 0, read,
/// and all released together so none repeats).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// podman with a private configuration and storage in a temporary
/// directory. Drop removes the images and the storage (podman leaves its
/// overlay directory bind-mounted on itself, so it is unmounted first).
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    /// The settings podman needs on these machines (root, no systemd, in a
    /// sandbox), each of which a default would break:
    /// - runc (Debian's), the runtime installed with podman here;
    /// - cgroupfs: no systemd to manage cgroups;
    /// - `default_ulimits = []`: otherwise podman sets RLIMIT_NOFILE above
    ///   what the sandbox allows and runc fails ("error setting rlimit type
    ///   7: operation not permitted");
    /// - `pids_limit = 0`: no pids cgroup limit for podman to set;
    /// - host networking: no bridge or port forwarding to rely on;
    /// - the events log a file in the temporary directory (no journald),
    ///   which also holds podman's run state and network configuration.
    fn new() -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("portcullis-podman.")
            .tempdir()
            .unwrap();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("containers.conf"),
            format!(
                "[containers]\n\
                 default_ulimits = []\n\
                 pids_limit = 0\n\
                 netns = \"host\"\n\
                 [engine]\n\
                 runtime = \"runc\"\n\
                 cgroup_manager = \"cgroupfs\"\n\
                 events_logger = \"file\"\n\
                 events_logfile_path = \"{d}/events.log\"\n\
                 tmp_dir = \"{d}/libpod\"\n\
                 [network]\n\
                 network_config_dir = \"{d}/networks\"\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("storage.conf"),
            format!(
                "[storage]\n\
                 driver = \"overlay\"\n\
                 graphroot = \"{d}/storage\"\n\
                 runroot = \"{d}/run\"\n"
            ),
        )
        .unwrap();
        Podman { dir }
    }

    /// `program` (podman, podman-compose, scripts/build-image) with this
    /// configuration in its environment.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .env(
                "CONTAINERS_STORAGE_CONF",
                self.dir.path().join("storage.conf"),
            )
            .env("CONTAINER_ENGINE", "podman");
        command
    }

    fn podman(&self, args: &[&str]) -> Output {
        run(self.command("podman").args(args))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .command("podman")
            .args(["rmi", "--all", "--force"])
            .output();
        let overlay = self.dir.path().join("storage/overlay");
        let _ = Command::new("umount").arg(&overlay).output();
    }
}

/// The compose stack of one test, torn down (`down -v`) on drop; on a
/// failure its containers' logs are printed first.
struct Stack<'a> {
    podman: &'a Podman,
    project: String,
    ports: Vec<(&'static str, u16)>,
}

impl Stack<'_> {
    fn compose(&self, args: &[&str]) -> Command {
        let mut command = self.podman.command("podman-compose");
        command
            .current_dir(repo())
            .args(["-p", &self.project])
            .args(["-f", "docker-compose.yml"])
            .args(["-f", "docker-compose.host-network.yml"])
            .args(args);
        for (name, port) in &self.ports {
            command.env(name, port.to_string());
        }
        command
    }

    /// `podman ps` of the project's containers, running or not, by name.
    fn ps(&self) -> Command {
        let mut command = self.podman.command("podman");
        command.args(["ps", "--all", "--format", "{{.Names}}", "--filter"]);
        command.arg(format!("label=io.podman.compose.project={}", self.project));
        command
    }

    /// The names of the project's containers.
    fn containers(&self) -> Vec<String> {
        let out = run(&mut self.ps());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Each container's log, for a failing test (never panics: it runs
    /// while one unwinds).
    fn print_logs(&self) {
        let Ok(ps) = self.ps().output() else { return };
        for name in String::from_utf8_lossy(&ps.stdout).lines() {
            if let Ok(out) = self.podman.command("podman").args(["logs", name]).output() {
                eprintln!(
                    "--- podman logs {name} ---\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    /// `down` names the profile too: without it the dev-idp would be left
    /// running (and the gateway, whose network it shares, with it).
    fn down(&self) -> std::io::Result<Output> {
        self.compose(&["--profile", "dev", "down", "--volumes", "--timeout", "5"])
            .output()
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        let _ = self.down();
    }
}

/// `podman-compose --version`'s `(major, minor)`.
fn compose_version(podman: &Podman) -> (u32, u32) {
    let out = run(podman.command("podman-compose").arg("--version"));
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("podman-compose version "))
        .unwrap_or_else(|| panic!("podman-compose --version: {text}"));
    let mut parts = version.trim().split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_stack_runs_in_podman_and_logs_in() {
    if on_path("podman").is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "podman is not installed; .ci/run installs it"
        );
        eprintln!(
            "SKIPPED compose_stack_runs_in_podman_and_logs_in: podman is not installed \
             (apt-get install podman runc; python3 -m pip install podman-compose==1.6.0)"
        );
        return;
    }
    let podman = Podman::new();
    // Debian bookworm's podman-compose (1.0.3) knows neither profiles nor
    // network_mode host: it joins every container to a bridge network.
    assert!(
        on_path("podman-compose").is_some(),
        "podman is installed but podman-compose is not: \
         python3 -m pip install podman-compose==1.6.0"
    );
    let version = compose_version(&podman);
    assert!(
        version >= (1, 1),
        "podman-compose {version:?} is too old for docker-compose.yml (profiles, host \
         network): python3 -m pip install podman-compose==1.6.0"
    );

    // The image, from the debug binaries the other tests run.
    let started = Instant::now();
    let bin_dir = workspace_binary("api-gateway")
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    // Every binary the image ships, built if no other test has yet.
    for name in portcullis_tests::image::binaries() {
        assert_eq!(workspace_binary(&name).unwrap().parent(), Some(&*bin_dir));
    }
    eprintln!("binaries ready in {:?}", started.elapsed());
    // From here on everything is podman's: a hang there fails the test
    // binary within the limit (the binaries' build above, shared with the
    // other tests, is not limited).
    let _watchdog = Watchdog::arm(
        "compose_stack_runs_in_podman_and_logs_in",
        Duration::from_secs(180),
    );
    let started = Instant::now();
    run(podman
        .command(repo().join("scripts/build-image"))
        .arg("--bin-dir")
        .arg(&bin_dir));
    let user = podman.podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}",
        "portcullis:latest",
    ]);
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "10001:10001");
    eprintln!("image built in {:?}", started.elapsed());

    let ports = free_ports(5);
    let (http, idp) = (ports[0], ports[1]);
    let stack = Stack {
        podman: &podman,
        project: format!("portcullis-test-{}", std::process::id()),
        ports: vec![
            ("PORTCULLIS_HTTP_PORT", http),
            ("PORTCULLIS_IDP_PORT", idp),
            ("PORTCULLIS_GRPC_PORT", ports[2]),
            ("PORTCULLIS_METRICS_PORT", ports[3]),
            ("PORTCULLIS_AUTH_METRICS_PORT", ports[4]),
        ],
    };
    let started = Instant::now();
    run(&mut stack.compose(&["--profile", "dev", "up", "--detach"]));
    let mut running = stack.containers();
    running.sort();
    assert_eq!(
        running,
        ["api-gateway", "auth-service", "dev-idp"].map(|s| format!("{}_{s}_1", stack.project))
    );

    let gateway = format!("http://127.0.0.1:{http}");
    let issuer = format!("http://127.0.0.1:{idp}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .cookie_store(true)
        .build()
        .unwrap();
    let ok = |url: String| {
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    };
    wait_until(Duration::from_secs(60), "the gateway is ready", || {
        ok(format!("{gateway}/readyz"))
    })
    .await;
    wait_until(
        Duration::from_secs(60),
        "the dev-idp serves discovery",
        || ok(format!("{issuer}/.well-known/openid-configuration")),
    )
    .await;
    eprintln!("stack ready in {:?}", started.elapsed());

    // The code flow through the dev-idp in its container. The gateway's
    // public URL is http://localhost:<port>; its redirects are followed on
    // 127.0.0.1, where it listens (the cookies are kept for that host).
    let login = client
        .get(format!("{gateway}/auth/login/dev?return_to=/"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 302);
    let authorize = location(&login);
    assert!(authorize.starts_with(&issuer), "{authorize}");
    let consent = client
        .get(format!("{authorize}&login_hint=alice"))
        .send()
        .await
        .unwrap();
    assert!(consent.status().is_redirection(), "{}", consent.status());
    let callback = location(&consent);
    let public = format!("http://localhost:{http}/");
    let callback = callback
        .strip_prefix(&public)
        .map(|rest| format!("{gateway}/{rest}"))
        .unwrap_or_else(|| panic!("{callback} is not on {public}"));
    let session = client.get(callback).send().await.unwrap();
    assert_eq!(session.status(), 303);
    let me = client
        .get(format!("{gateway}/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["user"]["roles"], serde_json::json!(["admin"]));
    // Both services' metrics answer on their (moved) loopback ports, and
    // auth-service's count the login.
    let metrics = |port: u16| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    let gateway_metrics = metrics(ports[3]).await;
    assert!(
        gateway_metrics
            .contains("portcullis_gateway_requests_total{route=\"/auth/me\",status=\"200\"} 1"),
        "{gateway_metrics}"
    );
    let auth_metrics = metrics(ports[4]).await;
    assert!(
        auth_metrics.contains("portcullis_auth_logins_total{provider=\"dev\",flow=\"code\"} 1"),
        "{auth_metrics}"
    );

    // Down: no container and no volume of the project left
    // (podman-compose exits 0 even when a removal fails).
    let down = stack.down().unwrap();
    assert!(
        down.status.success(),
        "down failed: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert_eq!(stack.containers(), Vec::<String>::new());
    let volumes = podman.podman(&["volume", "ls", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&volumes.stdout).trim(), "");
}
