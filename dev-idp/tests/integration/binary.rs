//! The `dev-idp` binary as the end-to-end tests and the dev stack run it.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_dev-idp");

#[tokio::test]
async fn announces_its_address_serves_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--client",
            "app:DEV_IDP_TEST_SECRET",
        ])
        .env("DEV_IDP_TEST_SECRET", "s3cret")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let doc: serde_json::Value = reqwest::get(format!("{base}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], base.as_str());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("not for production"), "{logs}");
    assert!(!logs.contains("s3cret"));
}

#[test]
fn refuses_a_non_loopback_address() {
    let output = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}

#[test]
fn refuses_a_client_whose_secret_variable_is_unset() {
    let output = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--client",
            "app:DEV_IDP_TEST_UNSET_VARIABLE",
        ])
        .env_remove("DEV_IDP_TEST_UNSET_VARIABLE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("DEV_IDP_TEST_UNSET_VARIABLE"));
}
