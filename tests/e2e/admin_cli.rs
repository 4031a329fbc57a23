//! portcullis-admin, the real binary, against a real stack: users listed
//! (table, JSON, paging), found by e-mail and shown; sessions listed and
//! revoked, with the gateway refusing the revoked cookies; the providers;
//! and clear failures for a wrong or missing service token, an unreachable
//! auth-service and a bad invocation. Also over mutual TLS.

use portcullis_tests::{StackOptions, TestStack, wait_until, workspace_binary};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What one run of the CLI did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> Value {
        assert_eq!(self.code, Some(0), "{self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self:?}");
        &self.stdout
    }
}

/// Runs portcullis-admin with `args` and exactly the environment `env`
/// (none of the caller's `PORTCULLIS_*` variables leak in).
async fn admin_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let binary = workspace_binary("portcullis-admin").unwrap();
    let mut command = tokio::process::Command::new(binary);
    command
        .args(args)
        .env_remove("PORTCULLIS_ADMIN_URL")
        .env_remove("PORTCULLIS_SERVICE_TOKEN")
        .env_remove("PORTCULLIS_SERVICE_TOKEN_FILE")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("portcullis-admin finished within 60 s")
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs portcullis-admin against `stack`'s auth-service with its token.
pub(crate) async fn admin(stack: &TestStack, args: &[&str]) -> Run {
    let url = format!("http://{}", stack.auth.addr);
    admin_with(
        args,
        &[
            ("PORTCULLIS_ADMIN_URL", &url),
            ("PORTCULLIS_SERVICE_TOKEN", stack.service_token()),
        ],
    )
    .await
}

async fn me_status(stack: &TestStack, token: &str) -> u16 {
    stack
        .get_with_session("/auth/me", token)
        .await
        .status()
        .as_u16()
}

/// The id of the session `token` is, from the gateway's session list.
async fn session_id(stack: &TestStack, token: &str) -> String {
    let list: Value = stack.get_json("/auth/sessions", token).await;
    let current = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap_or_else(|| panic!("no current session in {list}"));
    current["id"].as_str().unwrap().to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

fn service_token_stack() -> StackOptions {
    StackOptions {
        service_token: true,
        ..StackOptions::default()
    }
}

#[tokio::test]
async fn the_admin_cli_finds_users_and_revokes_their_sessions() {
    let stack = TestStack::start_with(service_token_stack()).await;
    let laptop = stack.session_token("alice").await;
    let phone = stack.session_token("alice").await;
    let bob_token = stack.session_token("bob").await;

    // Every user, as JSON and as a table.
    let all = admin(&stack, &["users", "list", "--json"]).await.json();
    let users = all["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{all}");
    assert!(all.get("next_page_token").is_none(), "{all}");
    let id_of = |email: &str| {
        users
            .iter()
            .find(|u| u["email"] == email)
            .unwrap_or_else(|| panic!("{email} in {all}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (alice, bob) = (id_of("alice@example.com"), id_of("bob@example.com"));
    let table = admin(&stack, &["users", "list"]).await;
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{table:?}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("EMAIL"),
        "{table:?}"
    );
    let column = lines[0].find("EMAIL").unwrap();
    assert!(
        lines[1..]
            .iter()
            .all(|l| l[column..].contains("@example.com")),
        "{table:?}"
    );

    // One user a page: two pages, each user once, then the end.
    let first = admin(&stack, &["users", "list", "--page-size", "1", "--json"])
        .await
        .json();
    let token = first["next_page_token"].as_str().unwrap().to_owned();
    let second = admin(
        &stack,
        &[
            "users",
            "list",
            "--page-size",
            "1",
            "--page-token",
            &token,
            "--json",
        ],
    )
    .await
    .json();
    assert!(second.get("next_page_token").is_none(), "{second}");
    let mut paged = ids(&first);
    paged.extend(ids(&second));
    let mut expected = vec![alice.clone(), bob.clone()];
    expected.sort();
    assert_eq!(paged, expected);
    let table_page = admin(&stack, &["users", "list", "--page-size", "1"]).await;
    assert_eq!(table_page.ok().lines().count(), 2, "{table_page:?}");
    assert!(table_page.stderr.contains("--page-token"), "{table_page:?}");
    let every = admin(
        &stack,
        &["users", "list", "--page-size", "1", "--all", "--json"],
    )
    .await
    .json();
    assert_eq!(ids(&every), expected);

    // By e-mail, whatever its case; by id.
    let found = admin(
        &stack,
        &["users", "find", "--email", "ALICE@Example.COM", "--json"],
    )
    .await
    .json();
    assert_eq!(ids(&found), vec![alice.clone()]);
    let found = admin(&stack, &["users", "find", "--email", "Bob@example.com"]).await;
    assert!(found.ok().contains(&bob), "{found:?}");
    let none = admin(&stack, &["users", "find", "--email", "carol@example.com"]).await;
    assert_eq!(none.code, Some(1), "{none:?}");
    assert!(
        none.stderr
            .contains("no user has the e-mail address carol@example.com"),
        "{none:?}"
    );
    let shown = admin(&stack, &["users", "show", &alice, "--json"])
        .await
        .json();
    assert_eq!(shown["email"], "alice@example.com");
    assert_eq!(shown["provider_id"], "dev");
    let created = shown["created_at"].as_str().unwrap();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339 UTC: {created}"
    );
    let shown = admin(&stack, &["users", "show", &alice]).await;
    assert!(
        shown
            .ok()
            .lines()
            .any(|l| l.starts_with("E-mail ") && l.ends_with(" alice@example.com")),
        "{shown:?}"
    );
    let missing = admin(&stack, &["users", "show", "u_nobody"]).await;
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(
        missing.stderr.contains("user u_nobody not found"),
        "{missing:?}"
    );

    // Sessions: listed (never with a token), one revoked, then all.
    let sessions = admin(&stack, &["sessions", "list", &alice, "--json"])
        .await
        .json();
    assert_eq!(
        sessions["sessions"].as_array().unwrap().len(),
        2,
        "{sessions}"
    );
    let listed = admin(&stack, &["sessions", "list", &alice]).await;
    assert_eq!(listed.ok().lines().count(), 3, "{listed:?}");
    for run in [&listed] {
        for token in [&laptop, &phone] {
            assert!(!run.stdout.contains(token.as_str()), "a token was printed");
        }
    }
    assert!(!sessions.to_string().contains(laptop.as_str()));
    let laptop_id = session_id(&stack, &laptop).await;
    let not_bobs = admin(&stack, &["sessions", "revoke", &laptop_id, "--user", &bob]).await;
    assert_eq!(not_bobs.code, Some(1), "{not_bobs:?}");
    assert!(not_bobs.stderr.contains("not found"), "{not_bobs:?}");
    assert_eq!(me_status(&stack, &laptop).await, 200, "nothing was revoked");

    let revoked = admin(
        &stack,
        &["sessions", "revoke", &laptop_id, "--user", &alice],
    )
    .await;
    assert_eq!(
        revoked.ok(),
        format!("revoked 1 session ({laptop_id}) of user {alice}\n")
    );
    wait_until(
        Duration::from_secs(10),
        "the gateway refuses the revoked cookie",
        || async { me_status(&stack, &laptop).await == 401 },
    )
    .await;
    assert_eq!(me_status(&stack, &phone).await, 200);

    let all_gone = admin(&stack, &["sessions", "revoke-all", &alice, "--json"])
        .await
        .json();
    assert_eq!(
        all_gone,
        serde_json::json!({"revoked": 1, "user_id": alice.clone()})
    );
    wait_until(
        Duration::from_secs(10),
        "the gateway refuses the last cookie",
        || async { me_status(&stack, &phone).await == 401 },
    )
    .await;
    assert_eq!(me_status(&stack, &bob_token).await, 200, "bob is untouched");
    let empty = admin(&stack, &["sessions", "list", &alice]).await;
    assert_eq!(empty.ok(), format!("user {alice} has no live sessions\n"));
    let unknown = admin(&stack, &["sessions", "revoke-all", "u_nobody"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert!(
        unknown.stderr.contains("user u_nobody not found"),
        "{unknown:?}"
    );

    // The providers.
    let providers = admin(&stack, &["providers", "--json"]).await.json();
    assert_eq!(providers["providers"][0]["id"], "dev", "{providers}");
    let table = admin(&stack, &["providers"]).await;
    assert!(table.ok().starts_with("ID "), "{table:?}");
    assert!(
        table.stdout.lines().any(|l| l.starts_with("dev ")),
        "{table:?}"
    );
}

#[tokio::test]
async fn the_admin_cli_says_clearly_when_it_cannot_get_in() {
    let mut stack = TestStack::start_with(service_token_stack()).await;
    let url = format!("http://{}", stack.auth.addr);

    let wrong = admin_with(
        &["users", "list"],
        &[
            ("PORTCULLIS_ADMIN_URL", &url),
            ("PORTCULLIS_SERVICE_TOKEN", "not-the-service-token"),
        ],
    )
    .await;
    assert_eq!(wrong.code, Some(1), "{wrong:?}");
    assert!(
        wrong
            .stderr
            .contains("auth-service refused the service token"),
        "{wrong:?}"
    );
    assert!(!wrong.stderr.contains("not-the-service-token"), "{wrong:?}");
    assert!(wrong.stdout.is_empty(), "{wrong:?}");

    let none = admin_with(&["providers"], &[("PORTCULLIS_ADMIN_URL", &url)]).await;
    assert_eq!(none.code, Some(1), "{none:?}");
    assert!(
        none.stderr
            .contains("auth-service requires caller authentication"),
        "{none:?}"
    );

    // The token from a file (as a mounted secret), by flag.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", stack.service_token())).unwrap();
    let by_file = admin_with(
        &[
            "--auth-service-url",
            &url,
            "--service-token-file",
            file.to_str().unwrap(),
            "providers",
        ],
        &[],
    )
    .await;
    assert!(by_file.ok().contains("dev"), "{by_file:?}");
    let both = admin_with(
        &[
            "--auth-service-url",
            &url,
            "--service-token-file",
            file.to_str().unwrap(),
            "providers",
        ],
        &[("PORTCULLIS_SERVICE_TOKEN", stack.service_token())],
    )
    .await;
    assert_eq!(both.code, Some(2), "{both:?}");

    let usage = admin(&stack, &["users", "list", "--page-size", "0"]).await;
    assert_eq!(usage.code, Some(2), "{usage:?}");

    let bad_page = admin(&stack, &["users", "list", "--page-token", "bogus"]).await;
    assert_eq!(bad_page.code, Some(1), "{bad_page:?}");
    assert!(bad_page.stderr.contains("page_token"), "{bad_page:?}");

    // auth-service gone: one line naming where it was looked for.
    stack.kill_auth_service();
    let gone = admin(&stack, &["providers"]).await;
    assert_eq!(gone.code, Some(1), "{gone:?}");
    assert!(
        gone.stderr.starts_with(&format!(
            "portcullis-admin: cannot reach auth-service at {url}: "
        )),
        "{gone:?}"
    );
    assert!(gone.stdout.is_empty(), "{gone:?}");
}

fn grpc_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/grpc-tls")
        .join(name)
}

#[tokio::test]
async fn the_admin_cli_speaks_mutual_tls() {
    let stack = TestStack::start_with(StackOptions {
        grpc_mtls: true,
        ..StackOptions::default()
    })
    .await;
    let url = format!("https://{}", stack.auth.addr);
    let ca = grpc_fixture("ca.pem");
    let cert = grpc_fixture("client.pem");
    let key = grpc_fixture("client.key");
    let with_cert = admin_with(
        &[
            "--auth-service-url",
            &url,
            "--ca-file",
            ca.to_str().unwrap(),
            "--client-cert",
            cert.to_str().unwrap(),
            "--client-key",
            key.to_str().unwrap(),
            "providers",
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(with_cert.json()["providers"][0]["id"], "dev");

    // The certificate's name when the URL's host is not it (port-forward),
    // and a name it does not carry refused.
    for (name, code) in [("localhost", Some(0)), ("portcullis-auth-service", Some(1))] {
        let run = admin_with(
            &[
                "--auth-service-url",
                &url,
                "--ca-file",
                ca.to_str().unwrap(),
                "--client-cert",
                cert.to_str().unwrap(),
                "--client-key",
                key.to_str().unwrap(),
                "--tls-server-name",
                name,
                "providers",
            ],
            &[],
        )
        .await;
        assert_eq!(run.code, code, "{name}: {run:?}");
    }

    let without = admin_with(
        &[
            "--auth-service-url",
            &url,
            "--ca-file",
            ca.to_str().unwrap(),
            "providers",
        ],
        &[],
    )
    .await;
    assert_eq!(without.code, Some(1), "{without:?}");
    assert!(
        without.stderr.starts_with("portcullis-admin: "),
        "{without:?}"
    );
    assert!(without.stdout.is_empty(), "{without:?}");

    // Our CA only: the public roots would not know auth-service's.
    let untrusted = admin_with(
        &[
            "--auth-service-url",
            &url,
            "--client-cert",
            cert.to_str().unwrap(),
            "--client-key",
            key.to_str().unwrap(),
            "providers",
        ],
        &[],
    )
    .await;
    assert_eq!(untrusted.code, Some(1), "{untrusted:?}");
    assert!(
        untrusted.stderr.contains("cannot reach auth-service"),
        "{untrusted:?}"
    );
}
