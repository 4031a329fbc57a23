//! A real `redis-server` for tests: its own process on a Unix socket in a
//! temporary directory (no port to collide on), durable settings as in
//! production, killed on drop. A missing `redis-server` fails the test:
//! `.ci/run` installs it. Shared with the integration tests (by `#[path]`),
//! which do not use every method.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; dropped, it is killed and its files removed.
pub(crate) struct RedisServer {
    child: Option<Child>,
    socket: PathBuf,
    durable: bool,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a durable server (`appendonly yes`, `appendfsync always`) and
    /// waits (bounded) until it answers `PING`.
    pub(crate) async fn start() -> Self {
        Self::start_with(true).await
    }

    /// Starts a server without persistence, as a careless deployment has.
    pub(crate) async fn start_volatile() -> Self {
        Self::start_with(false).await
    }

    async fn start_with(durable: bool) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let mut server = Self {
            child: None,
            socket: dir.path().join("redis.sock"),
            durable,
            dir,
        };
        server.restart().await;
        server
    }

    /// Kills the server at once (SIGKILL: no goodbye to clients).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same socket and data directory.
    pub(crate) async fn restart(&mut self) {
        self.kill();
        let appendonly = if self.durable { "yes" } else { "no" };
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&self.socket)
            .arg("--dir")
            .arg(self.dir.path())
            .args([
                "--appendonly",
                appendonly,
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server (apt-get install redis-server): {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ping().await {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The URL the store connects to.
    pub(crate) fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// A plain connection, for checking what the store wrote.
    pub(crate) async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap_or_else(|e| panic!("client: {e}"))
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"))
    }

    async fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
            return false;
        };
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .is_ok()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port free right now (Sentinel and replication need TCP: they announce
/// and dial each other's addresses, which a Unix socket cannot carry).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// The Sentinel service name the group monitors.
pub(crate) const MASTER_NAME: &str = "portcullis";

/// A primary, one replica and three Sentinels, all durable (AOF always),
/// failing over 500 ms after the primary stops answering.
pub(crate) struct SentinelGroup {
    primary: Option<Child>,
    primary_port: u16,
    others: Vec<Child>,
    /// `redis://127.0.0.1:<port>` of each Sentinel.
    pub(crate) sentinels: Vec<String>,
    replica_port: u16,
    _dir: tempfile::TempDir,
}

impl SentinelGroup {
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let (primary_port, replica_port) = (free_port(), free_port());
        let server = |port: u16, name: &str, extra: &[String]| {
            let data = dir.path().join(name);
            std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
            Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .arg("--dir")
                .arg(&data)
                .args([
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                ])
                .args(extra)
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start redis-server: {e}"))
        };
        let primary = server(primary_port, "primary", &[]);
        let replica = server(
            replica_port,
            "replica",
            &[
                "--replicaof".into(),
                "127.0.0.1".into(),
                primary_port.to_string(),
            ],
        );
        let mut others = vec![replica];
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = free_port();
            let conf = dir.path().join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\nsentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 500\n\
                     sentinel failover-timeout {MASTER_NAME} 5000\n"
                ),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            others.push(
                Command::new("redis-server")
                    .arg(&conf)
                    .arg("--sentinel")
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start a sentinel: {e}")),
            );
            sentinels.push(format!("redis://127.0.0.1:{port}"));
        }
        let mut group = Self {
            primary: Some(primary),
            primary_port,
            others,
            sentinels,
            replica_port,
            _dir: dir,
        };
        // Ready when the replica is in sync and every Sentinel sees it and
        // both other Sentinels.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !group.ready().await {
            group.assert_all_running();
            assert!(
                Instant::now() < deadline,
                "sentinel group not ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        group
    }

    /// A process that exited (a port taken meanwhile) fails the test now,
    /// not at the deadline.
    fn assert_all_running(&mut self) {
        for child in self.primary.iter_mut().chain(self.others.iter_mut()) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("a redis-server of the sentinel group exited: {status}");
            }
        }
    }

    async fn ready(&self) -> bool {
        let primary = format!("redis://127.0.0.1:{}", self.primary_port);
        let Ok(client) = redis::Client::open(primary.as_str()) else {
            return false;
        };
        let Ok(mut c) = client.get_multiplexed_async_connection().await else {
            return false;
        };
        let replication: Result<String, _> = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut c)
            .await;
        if !replication.is_ok_and(|info| info.contains("state=online")) {
            return false;
        }
        for url in &self.sentinels {
            let Ok(client) = redis::Client::open(url.as_str()) else {
                return false;
            };
            let Ok(mut c) = client.get_multiplexed_async_connection().await else {
                return false;
            };
            let master: Result<Vec<String>, _> = redis::cmd("SENTINEL")
                .arg("MASTER")
                .arg(MASTER_NAME)
                .query_async(&mut c)
                .await;
            let Ok(fields) = master else { return false };
            let field = |name: &str| {
                fields
                    .chunks(2)
                    .find(|kv| kv[0] == name)
                    .map(|kv| kv[1].clone())
                    .unwrap_or_default()
            };
            if field("num-slaves") != "1" || field("num-other-sentinels") != "2" {
                return false;
            }
        }
        true
    }

    /// SIGKILLs the primary.
    pub(crate) fn kill_primary(&mut self) {
        if let Some(mut primary) = self.primary.take() {
            let _ = primary.kill();
            let _ = primary.wait();
        }
    }

    /// The replica's own address, for checking its role.
    pub(crate) fn replica_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.replica_port)
    }
}

impl Drop for SentinelGroup {
    fn drop(&mut self) {
        self.kill_primary();
        for child in &mut self.others {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
