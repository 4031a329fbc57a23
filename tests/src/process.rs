//! The workspace's binaries as child processes: built once per test process
//! with escargot, started with their log captured, their address learnt from
//! the one `listening on ...` line each prints, and killed on drop.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

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
static ADMIN: OnceLock<PathBuf> = OnceLock::new();
static SINGLE_NODE: OnceLock<PathBuf> = OnceLock::new();

/// The path of one of the workspace's binaries, built on first use; `None`
/// for a name that is not one of them.
pub fn workspace_binary(name: &str) -> Option<PathBuf> {
    let cell = match name {
        "dev-idp" => &DEV_IDP,
        "auth-service" => &AUTH_SERVICE,
        "api-gateway" => &API_GATEWAY,
        "portcullis-admin" => &ADMIN,
        "portcullis" => &SINGLE_NODE,
        _ => return None,
    };
    Some(binary(cell, name))
}

/// The auth-service binary.
pub(crate) fn auth_service_binary() -> PathBuf {
    binary(&AUTH_SERVICE, "auth-service")
}

/// The api-gateway binary.
pub(crate) fn gateway_binary() -> PathBuf {
    binary(&API_GATEWAY, "api-gateway")
}

/// The single-node binary (auth-service and the gateway in one process).
pub(crate) fn single_node_binary() -> PathBuf {
    binary(&SINGLE_NODE, "portcullis")
}

/// Runs `command` (stdin closed, stdout and stderr captured) until it
/// exits, which it must within `limit`, and gives what it printed.
pub fn run_to_exit(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{command:?} still runs after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The log filter of the services in tests: our own crates at debug, so a
/// test that scans the logs for secrets sees everything they could write.
const LOG_FILTER: &str = "info,auth_service=debug,api_gateway=debug,common=debug,audit=info";

/// A child process, killed (SIGKILL) and reaped on drop. Its log (stderr)
/// is kept in memory and printed if the test fails.
pub struct Proc {
    /// Shared with its [`Proc::alias`]es, if any.
    child: Arc<Mutex<Child>>,
    /// The address part of its `listening on ...` line.
    pub addr: String,
    logs: Arc<Mutex<Vec<String>>>,
    /// Whether this is an alias (which leaves printing the log to the
    /// original).
    alias: bool,
}

impl Proc {
    /// Starts `program` and waits (at most 60 s) for its `listening on`
    /// line.
    pub(crate) fn spawn(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        Self::spawn_logging(program, args, env, Arc::default())
    }

    /// [`Proc::spawn`] appending its log lines to `logs` (shared with the
    /// process it replaces after a restart, see [`Proc::restart`]).
    fn spawn_logging(
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        logs: Arc<Mutex<Vec<String>>>,
    ) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            // A collector in the developer's shell is not the tests' to
            // send spans to: traces only where a test asks (traces.rs).
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
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
        Proc {
            child: Arc::new(Mutex::new(child)),
            addr,
            logs,
            alias: false,
        }
    }

    /// Another handle on the same process, for a second service it runs
    /// (the single-node binary's auth-service), known by `addr`. Either
    /// handle's signals, kills and drop act on the one process.
    pub(crate) fn alias(&self, addr: String) -> Proc {
        Proc {
            child: self.child.clone(),
            addr,
            logs: self.logs.clone(),
            alias: true,
        }
    }

    /// Starts `program` as this process's successor, its log lines
    /// appended to this one's.
    pub(crate) fn restart(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        Self::spawn_logging(program, args, env, self.logs.clone())
    }

    /// The process id, for tools pointed at it from outside (a profiler).
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM, then waits (at most 10 s) for the process to exit: a
    /// graceful shutdown, which must also clean up after itself.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal(Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.lock().unwrap().try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "pid {} still runs 10 s after SIGTERM",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGSTOP: the process keeps its sockets open but answers nothing
    /// (a frozen or partitioned peer) until [`Proc::resume`].
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// SIGCONT after [`Proc::pause`].
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.pid()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// Every log line written so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && !self.alias {
            eprintln!("--- log of pid {} ---", self.pid());
            for line in self.logs.lock().unwrap().iter() {
                eprintln!("{line}");
            }
        }
    }
}
