//! Configuration the twelve-factor way, through the real binaries:
//! `--check-config`, `PORTCULLIS__SECTION__KEY` overrides (over the file,
//! held to the file's rules) and secrets from files.

use portcullis_tests::{run_to_exit, workspace_binary};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// Runs `binary --check-config --config file` with `vars` and waits (at
/// most 60 s) for it to exit.
fn check_config(binary: &str, file: &Path, vars: &[(&str, &OsStr)]) -> Output {
    let mut command = Command::new(workspace_binary(binary).unwrap());
    command
        .arg("--check-config")
        .arg("--config")
        .arg(file)
        .env_remove("PORTCULLIS_CONFIG");
    // Only the variables the test sets: none leak in from the runner.
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("PORTCULLIS__")) {
        command.env_remove(name);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    run_to_exit(&mut command, Duration::from_secs(60))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_config_reports_and_the_environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    // A file that is wrong on its own: the listen address is not one.
    std::fs::write(
        &file,
        "[auth_service]\nlisten = \"127.0.0.1:0\"\n[gateway]\nlisten = \"nowhere\"\n",
    )
    .unwrap();

    for binary in ["api-gateway", "auth-service", "portcullis"] {
        // Bad: exit 2, naming the key; nothing bound.
        let bad = check_config(binary, &file, &[]);
        let stderr = text(&bad.stderr);
        // Every binary reads the whole file.
        assert_eq!(bad.status.code(), Some(2), "{binary}: {stderr}");
        assert!(stderr.contains("listen"), "{binary}: {stderr}");
        assert!(!text(&bad.stdout).contains("listening on"), "{binary}");

        // The environment wins over the file.
        let fixed = check_config(
            binary,
            &file,
            &[("PORTCULLIS__GATEWAY__LISTEN", OsStr::new("127.0.0.1:0"))],
        );
        assert_eq!(
            fixed.status.code(),
            Some(0),
            "{binary}: {}",
            text(&fixed.stderr)
        );
        assert!(text(&fixed.stdout).contains("configuration OK"), "{binary}");
        assert!(!text(&fixed.stdout).contains("listening on"), "{binary}");

        // An override is held to the file's rules.
        let wrong = check_config(
            binary,
            &file,
            &[
                ("PORTCULLIS__GATEWAY__LISTEN", OsStr::new("127.0.0.1:0")),
                (
                    "PORTCULLIS__AUTH_SERVICE__SESSION_LIFETIME",
                    OsStr::new("forever"),
                ),
            ],
        );
        assert_eq!(wrong.status.code(), Some(2), "{binary}");
        assert!(
            text(&wrong.stderr).contains("session_lifetime"),
            "{binary}: {}",
            text(&wrong.stderr)
        );

        // A variable that is not UTF-8 is refused by name, not a panic.
        let garbled = check_config(
            binary,
            &file,
            &[("PORTCULLIS__GATEWAY__LISTEN", OsStr::from_bytes(b"\xff:80"))],
        );
        assert_eq!(
            garbled.status.code(),
            Some(2),
            "{binary}: {}",
            text(&garbled.stderr)
        );
        assert!(
            text(&garbled.stderr).contains("PORTCULLIS__GATEWAY__LISTEN"),
            "{binary}: {}",
            text(&garbled.stderr)
        );
    }
}

/// The single-node binary refuses what it would silently ignore: an
/// address for auth-service (it calls its own, in memory), named with the
/// key and what to do instead.
#[test]
fn the_single_node_binary_refuses_an_auth_service_address() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        "[auth_service]\nlisten = \"127.0.0.1:0\"\n[gateway]\nlisten = \"127.0.0.1:0\"\n\
         auth_service_url = \"http://127.0.0.1:50051\"\n",
    )
    .unwrap();
    let refused = check_config("portcullis", &file, &[]);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gateway.auth_service_url") && stderr.contains("in its own process"),
        "{stderr}"
    );
    // The same file suits the two binaries apart.
    let gateway = check_config("api-gateway", &file, &[]);
    assert_eq!(gateway.status.code(), Some(0), "{}", text(&gateway.stderr));
    // Set by the environment, it is refused alike.
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, "[auth_service]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let overridden = check_config(
        "portcullis",
        &plain,
        &[(
            "PORTCULLIS__GATEWAY__AUTH_SERVICE_URL",
            OsStr::new("http://127.0.0.1:50051"),
        )],
    );
    assert_eq!(
        overridden.status.code(),
        Some(2),
        "{}",
        text(&overridden.stderr)
    );
    assert_eq!(
        check_config("portcullis", &plain, &[]).status.code(),
        Some(0)
    );
}

#[test]
fn secrets_can_come_from_mounted_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("service-token");
    std::fs::write(&token, format!("{}\n", "k".repeat(40))).unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        format!(
            "[auth_service]\nlisten = \"127.0.0.1:0\"\nservice_token_file = {token:?}\n\
             [gateway]\nservice_token_file = {token:?}\n"
        ),
    )
    .unwrap();
    for binary in ["api-gateway", "auth-service"] {
        let ok = check_config(binary, &file, &[]);
        assert_eq!(ok.status.code(), Some(0), "{binary}: {}", text(&ok.stderr));
    }
    // A short token in the file is refused like one in a variable.
    std::fs::write(&token, "short\n").unwrap();
    let short = check_config("auth-service", &file, &[]);
    assert_eq!(short.status.code(), Some(2));
    let stderr = text(&short.stderr);
    assert!(
        stderr.contains("auth_service.service_token_file"),
        "{stderr}"
    );
    // The secret itself never appears in the message.
    assert!(!stderr.contains("short"), "{stderr}");
}
