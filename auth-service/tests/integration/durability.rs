//! An acknowledged revocation survives a crash: the real binary is killed
//! with SIGKILL right after a revoke and restarted on the same data.

use crate::support::*;
use common::proto::auth_service_client::AuthServiceClient;
use common::proto::{RevokeSessionRequest, ValidateSessionRequest, revoke_session_request::Target};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use tonic::transport::Channel;

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and waits for its `listening on ADDR` line.
fn spawn(config: &std::path::Path) -> (Process, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .arg("--config")
        .arg(config)
        .env("GOOGLE_SECRET", GOOGLE_SECRET)
        .env("GITHUB_SECRET", GITHUB_SECRET)
        .env("X_SECRET", X_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (Process(child), addr)
}

async fn client(addr: &str) -> AuthServiceClient<Channel> {
    AuthServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

async fn is_valid(client: &mut AuthServiceClient<Channel>, token: &str) -> bool {
    client
        .validate_session(ValidateSessionRequest {
            session_token: token.into(),
        })
        .await
        .is_ok()
}

#[tokio::test]
async fn a_revocation_survives_sigkill() {
    let idp = start_idp().await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(&idp, &dir.path().join("data"), "", "");
    let config = dir.path().join("auth.toml");
    std::fs::write(&config, text).unwrap();

    let (process, addr) = spawn(&config);
    let mut c = client(&addr).await;
    let token = |user: &str| idp.sign(&idp.id_token_claims(user, DEV_CLIENT, None));
    let exchange = |t: String| common::proto::ExchangeTokenRequest {
        provider_id: "dev".into(),
        token: Some(common::proto::exchange_token_request::Token::IdToken(t)),
        client: None,
    };
    let revoked = c
        .exchange_token(exchange(token("alice")))
        .await
        .unwrap()
        .into_inner();
    let kept = c
        .exchange_token(exchange(token("bob")))
        .await
        .unwrap()
        .into_inner();
    c.revoke_session(RevokeSessionRequest {
        target: Some(Target::SessionToken(revoked.session_token.clone())),
        user_id: String::new(),
    })
    .await
    .unwrap();
    // Acknowledged: crash now, before any background flush could help.
    let mut process = process;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(process.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = process.0.wait().unwrap();
    assert!(!status.success(), "killed, not exited");

    let (_process, addr) = spawn(&config);
    let mut c = client(&addr).await;
    assert!(
        !is_valid(&mut c, &revoked.session_token).await,
        "revoked session came back"
    );
    assert!(
        is_valid(&mut c, &kept.session_token).await,
        "the store lost its data"
    );
}
