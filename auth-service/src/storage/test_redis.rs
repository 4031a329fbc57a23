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
