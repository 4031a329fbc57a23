//! The real gateway binary refuses bad TLS files for its own HTTPS
//! (`gateway.tls_cert`/`gateway.tls_key`) as a configuration error: exit
//! status 2 (docs/configuration.md), a message naming the key and the path,
//! and no `listening on` line, because the files are loaded with the
//! configuration, before the port is bound.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A committed TLS test fixture.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/grpc-tls")
        .join(name)
}

/// Runs the gateway with a config holding these TLS files and waits (at
/// most 30 s) for it to exit.
fn run_gateway(name: &str, cert: &Path, key: &Path) -> Output {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("startup-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"off\"\n\
             tls_cert = {:?}\ntls_key = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_api-gateway"))
        .arg("--config")
        .arg(&config)
        .env_remove("PORTCULLIS_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{name}: the gateway did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn bad_tls_files_exit_2_before_the_port_is_bound() {
    for (name, cert, key, named) in [
        // A private key where the certificate should be.
        (
            "key-as-cert",
            fixture("server.key"),
            fixture("server.key"),
            "gateway.tls_cert",
        ),
        (
            "missing-cert",
            fixture("missing.pem"),
            fixture("server.key"),
            "gateway.tls_cert",
        ),
        // Both parse, but the key is another certificate's.
        (
            "foreign-key",
            fixture("server.pem"),
            fixture("client.key"),
            "gateway.tls_key",
        ),
    ] {
        let output = run_gateway(name, &cert, &key);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(named), "{name}: {stderr}");
        assert!(
            stderr.contains(&cert.display().to_string())
                || stderr.contains(&key.display().to_string()),
            "{name}: {stderr}"
        );
        assert!(!stdout.contains("listening on"), "{name}: {stdout}");
    }
}
