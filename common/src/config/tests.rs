use super::*;

fn env(name: &str) -> Option<String> {
    (name == "SECRET").then(|| "s3cret".to_owned())
}

fn err(text: &str) -> String {
    Config::from_toml(text, &env).unwrap_err().to_string()
}

#[test]
fn empty_file_gives_defaults() {
    let c = Config::from_toml("", &env).unwrap();
    assert_eq!(c.auth_service.listen.port(), 50051);
    assert_eq!(c.auth_service.session_lifetime.as_secs(), 7 * 24 * 3600);
    assert_eq!(c.gateway.session_cookie_name(), "portcullis");
}

#[test]
fn unknown_key_is_named() {
    let e = err("[auth_service]\nsesion_lifetime = \"1h\"\n");
    assert!(e.contains("sesion_lifetime"), "{e}");
}

#[test]
fn bad_duration_is_named() {
    let e = err("[auth_service]\nsession_lifetime = \"forever\"\n");
    assert!(e.contains("session_lifetime"), "{e}");
}

#[test]
fn idle_longer_than_lifetime_is_refused() {
    let e = err("[auth_service]\nsession_lifetime = \"1h\"\nsession_idle_timeout = \"2h\"\n");
    assert!(e.contains("auth_service.session_idle_timeout"), "{e}");
}

#[test]
fn missing_secret_env_is_named() {
    let e = err(r#"
[[providers]]
id = "g"
kind = "google"
client_id = "cid"
client_secret_env = "NOT_SET_ANYWHERE"
"#);
    assert!(e.contains("providers[0].client_secret_env"), "{e}");
    assert!(e.contains("NOT_SET_ANYWHERE"), "{e}");
}

#[test]
fn secret_is_read_from_env_and_google_defaults_apply() {
    let c = Config::from_toml(
        r#"
[[providers]]
id = "google"
kind = "google"
client_id = "cid"
client_secret_env = "SECRET"
"#,
        &env,
    )
    .unwrap();
    let p = &c.providers[0];
    assert!(p.client_secret.is_some());
    assert_eq!(p.issuer.as_deref(), Some("https://accounts.google.com"));
    assert!(p.tokeninfo_endpoint.is_some());
    assert_eq!(p.token_auth(), TokenEndpointAuth::ClientSecretBasic);
}

#[test]
fn plain_http_issuer_only_on_loopback() {
    let ok = Config::from_toml(
        r#"
[[providers]]
id = "dev"
kind = "oidc"
client_id = "cid"
token_endpoint_auth = "none"
issuer = "http://127.0.0.1:9000"
"#,
        &env,
    );
    assert!(ok.is_ok());
    let e = err(r#"
[[providers]]
id = "dev"
kind = "oidc"
client_id = "cid"
token_endpoint_auth = "none"
issuer = "http://idp.example.com"
"#);
    assert!(e.contains("providers[0].issuer"), "{e}");
}

#[test]
fn oidc_without_issuer_and_duplicate_ids_are_refused() {
    let e = err(r#"
[[providers]]
id = "x"
kind = "oidc"
client_id = "cid"
token_endpoint_auth = "none"
"#);
    assert!(e.contains("providers[0].issuer"), "{e}");
    let e = err(r#"
[[providers]]
id = "x"
kind = "github"
client_id = "a"
client_secret_env = "SECRET"
[[providers]]
id = "x"
kind = "github"
client_id = "b"
client_secret_env = "SECRET"
"#);
    assert!(e.contains("providers[1].id"), "{e}");
}

/// A provider of `kind` with `extra` keys, as TOML.
fn provider(kind: &str, extra: &str) -> String {
    let issuer = if kind == "github" {
        ""
    } else {
        "issuer = \"https://idp.example\"\n"
    };
    format!(
        "[[providers]]\nid = \"p\"\nkind = \"{kind}\"\nclient_id = \"cid\"\n\
         client_secret_env = \"SECRET\"\n{issuer}{extra}\n"
    )
}

#[test]
fn group_keys_fit_their_provider_kind() {
    let ok = |kind: &str, extra: &str| {
        Config::from_toml(&provider(kind, extra), &env)
            .unwrap_or_else(|e| panic!("{kind} {extra}: {e}"))
            .providers
            .remove(0)
    };
    let p = ok(
        "oidc",
        "groups_claim = \"groups\"\nallowed_groups = [\"Admins\"]",
    );
    assert_eq!(p.groups_claim.as_deref(), Some("groups"));
    assert_eq!(p.allowed_groups, ["Admins"], "OIDC groups keep their case");
    assert!(!p.reads_github_orgs());

    let p = ok(
        "github",
        "allowed_orgs = [\"My-Org\"]\nallowed_teams = [\"My-Org/Team-A\"]",
    );
    assert_eq!(p.allowed_orgs, ["my-org"]);
    assert_eq!(p.allowed_teams, ["my-org/team-a"]);
    assert!(
        p.scopes().contains(&"read:org".to_owned()),
        "{:?}",
        p.scopes()
    );
    assert!(p.reads_github_orgs());
    let p = ok("github", "");
    assert!(!p.reads_github_orgs(), "{:?}", p.scopes());
    let p = ok("github", "scopes = [\"read:user\", \"read:org\"]");
    assert!(p.reads_github_orgs(), "read:org alone asks for groups");
    let p = ok(
        "google",
        "workspace_groups = true\nallowed_groups = [\"a@x.example\"]",
    );
    assert!(
        p.scopes()
            .iter()
            .any(|s| s.ends_with("/cloud-identity.groups.readonly"))
    );
    assert_eq!(
        p.cloud_identity_url.map(String::from).as_deref(),
        Some("https://cloudidentity.googleapis.com/")
    );

    for (kind, extra, key) in [
        ("oidc", "allowed_groups = [\"a\"]", "allowed_groups"),
        ("oidc", "groups_claim = \" \"", "groups_claim"),
        ("oidc", "allowed_orgs = [\"a\"]", "allowed_orgs"),
        ("google", "allowed_teams = [\"a/b\"]", "allowed_teams"),
        ("github", "groups_claim = \"groups\"", "groups_claim"),
        ("github", "allowed_groups = [\"a\"]", "allowed_groups"),
        (
            "github",
            "allowed_teams = [\"team-without-org\"]",
            "allowed_teams[0]",
        ),
        ("github", "allowed_teams = [\"org/\"]", "allowed_teams[0]"),
        ("github", "allowed_teams = [\"a/b/c\"]", "allowed_teams[0]"),
        (
            "github",
            "allowed_orgs = [\"a\"]\nscopes = [\"read:user\", \"user:email\"]",
            "scopes",
        ),
        ("oidc", "workspace_groups = true", "workspace_groups"),
        (
            "github",
            "cloud_identity_url = \"https://x.example\"",
            "cloud_identity_url",
        ),
        (
            "google",
            "workspace_groups = true\nscopes = [\"openid\", \"email\"]",
            "scopes",
        ),
    ] {
        let e = err(&provider(kind, extra));
        assert!(
            e.contains(&format!("providers[0].{key}")),
            "{kind} {extra}: {e}"
        );
    }
}

#[test]
fn x_is_an_oauth_provider_with_its_own_defaults() {
    for kind in ["twitter", "x"] {
        let c = Config::from_toml(
            &provider(kind, "").replace("issuer = \"https://idp.example\"\n", ""),
            &env,
        )
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let p = &c.providers[0];
        assert_eq!(p.kind, ProviderKind::Twitter);
        assert_eq!(p.kind.as_str(), "twitter");
        assert_eq!(p.scopes(), ["tweet.read", "users.read"]);
        assert_eq!(p.token_auth(), TokenEndpointAuth::ClientSecretBasic);
        assert_eq!(
            p.authorization_endpoint.as_ref().map(|u| u.as_str()),
            Some("https://x.com/i/oauth2/authorize")
        );
        assert_eq!(
            p.token_endpoint.as_ref().map(|u| u.as_str()),
            Some("https://api.x.com/2/oauth2/token")
        );
        assert_eq!(
            p.api_base_url.as_ref().map(|u| u.as_str()),
            Some("https://api.x.com/")
        );
    }
    // X is not an OpenID provider: no issuer, no claims, and no `openid`
    // scope needed.
    let e = err(&provider("twitter", ""));
    assert!(e.contains("providers[0].issuer"), "{e}");
    let no_issuer =
        |extra: &str| provider("twitter", extra).replace("issuer = \"https://idp.example\"\n", "");
    let e = err(&no_issuer("groups_claim = \"groups\""));
    assert!(e.contains("providers[0].groups_claim"), "{e}");
    Config::from_toml(
        &no_issuer("scopes = [\"users.read\", \"users.email\"]"),
        &env,
    )
    .unwrap();
}

#[test]
fn provider_logout_keys_are_for_openid_providers_over_https() {
    let p = Config::from_toml(
        &provider(
            "oidc",
            "backchannel_logout = true\npost_logout_redirect_uri = \"https://app.example/bye\"",
        ),
        &env,
    )
    .unwrap()
    .providers
    .remove(0);
    assert!(p.backchannel_logout);
    assert_eq!(
        p.post_logout_redirect_uri.map(String::from).as_deref(),
        Some("https://app.example/bye")
    );
    for (kind, extra, key) in [
        ("github", "backchannel_logout = true", "backchannel_logout"),
        (
            "github",
            "post_logout_redirect_uri = \"https://app.example/bye\"",
            "post_logout_redirect_uri",
        ),
        (
            "oidc",
            "post_logout_redirect_uri = \"http://app.example/bye\"",
            "post_logout_redirect_uri",
        ),
        (
            "oidc",
            "end_session_endpoint = \"http://idp.example/logout\"",
            "end_session_endpoint",
        ),
    ] {
        let e = err(&provider(kind, extra));
        assert!(
            e.contains(&format!("providers[0].{key}")),
            "{kind} {extra}: {e}"
        );
    }
}

#[test]
fn roles_need_verified_email() {
    let c = Config::from_toml(
        "[auth_service.roles]\nadmin = [\"Alice@Example.com\"]\n",
        &env,
    )
    .unwrap();
    assert_eq!(
        c.auth_service.roles_for("alice@example.com", true),
        vec!["admin"]
    );
    assert!(
        c.auth_service
            .roles_for("alice@example.com", false)
            .is_empty()
    );
}

#[test]
fn route_validation() {
    let e = err("[[routes]]\npath_prefix = \"api\"\ntarget = { handler = \"users\" }\n");
    assert!(e.contains("routes[0].path_prefix"), "{e}");
    let e = err(
        "[[routes]]\npath_prefix = \"/x\"\npolicy = \"public\"\nallow_roles = [\"admin\"]\ntarget = { handler = \"users\" }\n",
    );
    assert!(e.contains("routes[0].policy"), "{e}");
    let e = err(
        "[[routes]]\npath_prefix = \"/x\"\ntarget = { upstream = \"http://u:secret@127.0.0.1:9\" }\n",
    );
    assert!(e.contains("routes[0].target.upstream"), "{e}");
    assert!(!e.contains("secret"), "{e}");
}

#[test]
fn auth_service_metrics_listen_is_an_address_or_off_but_not_listen() {
    let c = Config::from_toml("", &env).unwrap();
    assert_eq!(
        c.auth_service.metrics_listen,
        Some("127.0.0.1:9091".parse().unwrap()),
        "beside the gateway's 9090"
    );
    let c = Config::from_toml("[auth_service]\nmetrics_listen = \"off\"\n", &env).unwrap();
    assert!(c.auth_service.metrics_listen.is_none());
    let c = Config::from_toml("[auth_service]\nmetrics_listen = \"127.0.0.1:0\"\n", &env).unwrap();
    assert_eq!(
        c.auth_service.metrics_listen,
        Some("127.0.0.1:0".parse().unwrap())
    );
    let e = err("[auth_service]\nmetrics_listen = \"on\"\n");
    assert!(
        e.contains("metrics_listen") && e.contains("\"on\" is not an address"),
        "{e}"
    );
    let e =
        err("[auth_service]\nlisten = \"127.0.0.1:7000\"\nmetrics_listen = \"127.0.0.1:7000\"\n");
    assert!(
        e.contains("auth_service.metrics_listen")
            && e.contains("must differ from auth_service.listen"),
        "{e}"
    );
    // Port 0 twice is two ports.
    Config::from_toml(
        "[auth_service]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n",
        &env,
    )
    .unwrap();
}

#[test]
fn non_loopback_auth_service_needs_a_service_token() {
    let e = err("[auth_service]\nlisten = \"0.0.0.0:50051\"\n");
    assert!(e.contains("auth_service.listen"), "{e}");
    let long = |name: &str| (name == "TOKEN").then(|| "x".repeat(40));
    let c = Config::from_toml(
        "[auth_service]\nlisten = \"0.0.0.0:50051\"\nservice_token_env = \"TOKEN\"\n",
        &long,
    )
    .unwrap();
    assert!(c.auth_service.service_token.is_some());
    let short = |name: &str| (name == "TOKEN").then(|| "short".to_owned());
    let e = Config::from_toml("[auth_service]\nservice_token_env = \"TOKEN\"\n", &short)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 32"), "{e}");
    assert!(
        Config::from_toml(
            "[auth_service]\nlisten = \"0.0.0.0:1\"\ninsecure_listen = true\n",
            &env
        )
        .is_ok()
    );
}

/// A file of the committed gRPC TLS test fixtures.
fn grpc_tls(name: &str) -> String {
    format!(
        "{}/../tests/fixtures/grpc-tls/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `[auth_service]` text with these `key = "path"` pairs.
fn auth_tls(pairs: &[(&str, &str)]) -> String {
    let mut text = "[auth_service]\n".to_owned();
    for (key, file) in pairs {
        text.push_str(&format!("{key} = {:?}\n", grpc_tls(file)));
    }
    text
}

#[test]
fn auth_service_tls_and_mutual_tls_are_accepted() {
    let c = Config::from_toml(
        &auth_tls(&[
            ("tls_cert", "server.pem"),
            ("tls_key", "server.key"),
            ("client_ca", "ca.pem"),
        ]),
        &env,
    )
    .unwrap();
    assert!(c.auth_service.serves_tls());
    assert!(c.auth_service.authenticates_callers());
    let c = Config::from_toml(
        &auth_tls(&[("tls_cert", "server.pem"), ("tls_key", "server.key")]),
        &env,
    )
    .unwrap();
    assert!(c.auth_service.serves_tls());
    assert!(!c.auth_service.authenticates_callers());
}

#[test]
fn auth_service_tls_files_come_in_pairs() {
    let e = err(&auth_tls(&[("tls_cert", "server.pem")]));
    assert!(e.contains("auth_service.tls_key"), "{e}");
    assert!(e.contains("both or neither"), "{e}");
    let e = err(&auth_tls(&[("tls_key", "server.key")]));
    assert!(e.contains("auth_service.tls_cert"), "{e}");
}

#[test]
fn client_ca_without_server_tls_is_refused() {
    let e = err(&auth_tls(&[("client_ca", "ca.pem")]));
    assert!(e.contains("auth_service.client_ca"), "{e}");
    assert!(e.contains("requires tls_cert and tls_key"), "{e}");
}

#[test]
fn unreadable_or_wrong_pem_files_name_the_key_and_path() {
    let missing = grpc_tls("no-such-file.pem");
    let e = err(&format!(
        "[auth_service]\ntls_cert = {missing:?}\ntls_key = {:?}\n",
        grpc_tls("server.key")
    ));
    assert!(e.contains("auth_service.tls_cert"), "{e}");
    assert!(e.contains("cannot read") && e.contains(&missing), "{e}");

    // Certificate and key swapped: each names its own key.
    let e = err(&auth_tls(&[
        ("tls_cert", "server.key"),
        ("tls_key", "server.key"),
    ]));
    assert!(e.contains("auth_service.tls_cert"), "{e}");
    assert!(e.contains("does not contain a PEM certificate"), "{e}");
    let e = err(&auth_tls(&[
        ("tls_cert", "server.pem"),
        ("tls_key", "server.pem"),
    ]));
    assert!(e.contains("auth_service.tls_key"), "{e}");
    assert!(e.contains("does not contain a PEM private key"), "{e}");
    // ...and the key's bytes never appear in a message.
    let key = std::fs::read_to_string(grpc_tls("server.key")).unwrap();
    let body = key.lines().nth(1).unwrap();
    assert!(!e.contains(body), "{e}");

    let e = err(&auth_tls(&[
        ("tls_cert", "server.pem"),
        ("tls_key", "server.key"),
        ("client_ca", "client.key"),
    ]));
    assert!(e.contains("auth_service.client_ca"), "{e}");
    assert!(!e.contains(body), "{e}");

    // The right labels around bytes that are not a certificate: parsed,
    // not just recognised.
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.pem");
    std::fs::write(
        &corrupt,
        "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let e = err(&format!(
        "[auth_service]\ntls_cert = {:?}\ntls_key = {:?}\n",
        corrupt.display().to_string(),
        grpc_tls("server.key")
    ));
    assert!(e.contains("auth_service.tls_cert"), "{e}");
    assert!(e.contains("does not contain a PEM certificate"), "{e}");
}

#[test]
fn mutual_tls_alone_allows_a_non_loopback_listen() {
    let text = |extra: &str| {
        format!(
            "{}listen = \"0.0.0.0:50051\"\n{extra}",
            auth_tls(&[("tls_cert", "server.pem"), ("tls_key", "server.key")])
        )
    };
    // Server TLS alone authenticates nobody.
    let e = err(&text(""));
    assert!(e.contains("auth_service.listen"), "{e}");
    assert!(e.contains("client_ca"), "{e}");
    let c = Config::from_toml(
        &text(&format!("client_ca = {:?}\n", grpc_tls("ca.pem"))),
        &env,
    )
    .unwrap();
    assert!(c.auth_service.service_token.is_none());
    assert!(c.auth_service.authenticates_callers());
}

#[test]
fn gateway_tls_to_auth_service() {
    let c = Config::from_toml(
        &format!(
            "[gateway]\nauth_service_url = \"https://127.0.0.1:50051\"\n\
             auth_service_ca = {:?}\nauth_service_client_cert = {:?}\n\
             auth_service_client_key = {:?}\n",
            grpc_tls("ca.pem"),
            grpc_tls("client.pem"),
            grpc_tls("client.key"),
        ),
        &env,
    )
    .unwrap();
    assert!(c.gateway.auth_service_tls());
    // https without a CA file: the public roots, allowed.
    let c = Config::from_toml(
        "[gateway]\nauth_service_url = \"https://auth.example.com\"\n",
        &env,
    )
    .unwrap();
    assert!(c.gateway.auth_service_tls() && c.gateway.auth_service_ca.is_none());
}

#[test]
fn bad_gateway_tls_to_auth_service_names_the_key() {
    let https = "[gateway]\nauth_service_url = \"https://127.0.0.1:50051\"\n";
    for (text, key, says) in [
        (
            format!(
                "{https}auth_service_client_cert = {:?}\n",
                grpc_tls("client.pem")
            ),
            "gateway.auth_service_client_key",
            "both or neither",
        ),
        (
            format!(
                "{https}auth_service_client_key = {:?}\n",
                grpc_tls("client.key")
            ),
            "gateway.auth_service_client_cert",
            "both or neither",
        ),
        (
            format!("[gateway]\nauth_service_ca = {:?}\n", grpc_tls("ca.pem")),
            "gateway.auth_service_ca",
            "only to an https auth_service_url",
        ),
        (
            format!(
                "[gateway]\nauth_service_client_cert = {:?}\nauth_service_client_key = {:?}\n",
                grpc_tls("client.pem"),
                grpc_tls("client.key")
            ),
            "gateway.auth_service_client_cert",
            "only to an https auth_service_url",
        ),
        (
            format!("{https}auth_service_ca = {:?}\n", grpc_tls("missing.pem")),
            "gateway.auth_service_ca",
            "cannot read",
        ),
        (
            format!(
                "{https}auth_service_client_cert = {:?}\nauth_service_client_key = {:?}\n",
                grpc_tls("client.pem"),
                grpc_tls("client.pem")
            ),
            "gateway.auth_service_client_key",
            "does not contain a PEM private key",
        ),
    ] {
        let e = err(&text);
        assert!(e.contains(key), "{text}: {e}");
        assert!(e.contains(says), "{text}: {e}");
    }
}

/// Moved from the gateway's auth-service client, which now receives the
/// files loaded: every bad file names its key and path, never its content.
#[test]
fn bad_gateway_client_tls_files_name_their_key_and_path_not_their_content() {
    let key_text = std::fs::read_to_string(grpc_tls("server.key")).unwrap();
    let key_body = key_text.lines().nth(1).unwrap();
    let text = |ca: &str, cert: &str, key: &str| {
        format!(
            "[gateway]\nauth_service_url = \"https://127.0.0.1:50051\"\n\
             auth_service_ca = {:?}\nauth_service_client_cert = {:?}\n\
             auth_service_client_key = {:?}\n",
            grpc_tls(ca),
            grpc_tls(cert),
            grpc_tls(key),
        )
    };
    for (text, key, path) in [
        (
            text("ca.pem", "client.pem", "missing.key"),
            "gateway.auth_service_client_key",
            "missing.key",
        ),
        (
            text("ca.pem", "client.key", "client.key"),
            "gateway.auth_service_client_cert",
            "client.key",
        ),
        (
            text("ca.pem", "client.pem", "client.pem"),
            "gateway.auth_service_client_key",
            "client.pem",
        ),
        // Both parse, but the key is auth-service's, not the client's.
        (
            text("ca.pem", "client.pem", "server.key"),
            "gateway.auth_service_client_key",
            "server.key",
        ),
        (
            text("server.key", "client.pem", "client.key"),
            "gateway.auth_service_ca",
            "server.key",
        ),
    ] {
        let message = err(&text);
        assert!(message.contains(key), "{message}");
        assert!(message.contains(path), "{message}");
        assert!(!message.contains(key_body), "key material in {message}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = Config::from_toml(&text, &env);
        }

        #[test]
        fn arbitrary_values_in_known_keys_never_panic(
            key in prop::sample::select(vec![
                "listen", "data_dir", "session_lifetime", "session_idle_timeout",
                "clock_skew", "sweep_interval", "provider_timeout", "log_format", "store",
                "store_probe_interval", "store_probe_timeout",
            ]),
            value in "\\PC{0,40}",
        ) {
            let text = format!("[auth_service]\n{key} = {value:?}\n");
            let _ = Config::from_toml(&text, &env);
        }
    }
}

#[test]
fn auth_service_endpoints_are_one_url_or_a_list_of_one_scheme() {
    let c = Config::from_toml("", &env).unwrap();
    assert_eq!(
        c.gateway.auth_service_urls,
        vec![url::Url::parse("http://127.0.0.1:50051").unwrap()]
    );
    let c = Config::from_toml(
        "[gateway]\nauth_service_urls = [\"http://127.0.0.1:1\", \"http://127.0.0.1:2\"]\n",
        &env,
    )
    .unwrap();
    assert_eq!(c.gateway.auth_service_urls.len(), 2);
    assert!(!c.gateway.auth_service_tls());

    let both = err(
        "[gateway]\nauth_service_url = \"http://127.0.0.1:1\"\nauth_service_urls = [\"http://127.0.0.1:2\"]\n",
    );
    assert!(
        both.contains("gateway.auth_service_urls") && both.contains("not both"),
        "{both}"
    );
    let mixed = err(
        "[gateway]\nauth_service_urls = [\"http://127.0.0.1:1\", \"https://auth.example.com\"]\n",
    );
    assert!(mixed.contains("same scheme"), "{mixed}");
    let userinfo = err("[gateway]\nauth_service_url = \"http://u:secret@127.0.0.1:1\"\n");
    assert!(
        userinfo.contains("gateway.auth_service_url") && !userinfo.contains("secret"),
        "{userinfo}"
    );
    let password_only = err("[gateway]\nauth_service_url = \"http://:secret@127.0.0.1:1\"\n");
    assert!(
        password_only.contains("must not carry a user name or password")
            && !password_only.contains("secret@"),
        "{password_only}"
    );
    let ftp = err("[gateway]\nauth_service_urls = [\"ftp://127.0.0.1:1\"]\n");
    assert!(
        ftp.contains("gateway.auth_service_urls") && ftp.contains("http or https"),
        "{ftp}"
    );
}

#[test]
fn auth_service_is_reached_on_a_unix_socket_by_one_unix_url() {
    for url in [
        "unix:/run/portcullis/auth.sock",
        "unix:///run/portcullis/auth.sock",
    ] {
        let text = format!("[gateway]\nauth_service_url = \"{url}\"\n");
        let c = Config::from_toml(&text, &env).unwrap();
        assert_eq!(
            c.gateway.auth_service_socket().as_deref(),
            Some(std::path::Path::new("/run/portcullis/auth.sock")),
            "{url}"
        );
        assert!(!c.gateway.auth_service_tls());
    }
    let c = Config::from_toml(
        "[gateway]\nauth_service_url = \"unix:/run/a%20b.sock\"\n",
        &env,
    )
    .unwrap();
    assert_eq!(
        c.gateway.auth_service_socket().as_deref(),
        Some(std::path::Path::new("/run/a b.sock")),
        "percent-decoded"
    );
    assert_eq!(
        Config::from_toml("", &env)
            .unwrap()
            .gateway
            .auth_service_socket(),
        None
    );

    for (bad, says) in [
        ("unix:run/auth.sock", "absolute socket path only"),
        ("unix://host/run/auth.sock", "absolute socket path only"),
        ("unix:/run/auth.sock?x=1", "absolute socket path only"),
        ("unix:/run/auth.sock#x", "absolute socket path only"),
    ] {
        let e = err(&format!("[gateway]\nauth_service_url = \"{bad}\"\n"));
        assert!(
            e.contains("gateway.auth_service_url") && e.contains(says),
            "{bad}: {e}"
        );
    }
    let long = format!("unix:/{}", "s".repeat(120));
    let e = err(&format!("[gateway]\nauth_service_url = \"{long}\"\n"));
    assert!(e.contains("a Unix socket path holds at most 107"), "{e}");
    let listed =
        err("[gateway]\nauth_service_urls = [\"unix:/run/a.sock\", \"http://127.0.0.1:1\"]\n");
    assert!(
        listed.contains("gateway.auth_service_urls")
            && listed.contains("give it as auth_service_url"),
        "{listed}"
    );
    let alone_in_list = err("[gateway]\nauth_service_urls = [\"unix:/run/a.sock\"]\n");
    assert!(
        alone_in_list.contains("give it as auth_service_url"),
        "{alone_in_list}"
    );
    let tls = err(
        "[gateway]\nauth_service_url = \"unix:/run/a.sock\"\nauth_service_ca = \"/nonexistent.pem\"\n",
    );
    assert!(
        tls.contains("gateway.auth_service_ca") && tls.contains("unix socket"),
        "{tls}"
    );
}

#[test]
fn auth_service_listen_socket_is_an_absolute_path() {
    assert_eq!(
        Config::from_toml("", &env)
            .unwrap()
            .auth_service
            .listen_socket,
        None
    );
    let c = Config::from_toml(
        "[auth_service]\nlisten_socket = \"/run/portcullis/auth.sock\"\n",
        &env,
    )
    .unwrap();
    assert_eq!(
        c.auth_service.listen_socket.as_deref(),
        Some(std::path::Path::new("/run/portcullis/auth.sock"))
    );
    let e = err("[auth_service]\nlisten_socket = \"auth.sock\"\n");
    assert!(
        e.contains("auth_service.listen_socket") && e.contains("must be an absolute path"),
        "{e}"
    );
    let e = err(&format!(
        "[auth_service]\nlisten_socket = \"/{}\"\n",
        "s".repeat(120)
    ));
    assert!(
        e.contains("auth_service.listen_socket") && e.contains("at most 107"),
        "{e}"
    );
}

#[test]
fn secrets_come_from_a_variable_or_a_file_but_not_both() {
    use secrecy::ExposeSecret as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "t".repeat(40) + "\n").unwrap();
    let text = format!("[gateway]\nservice_token_file = {file:?}\n");
    let c = Config::from_toml(&text, &env).unwrap();
    let token = c.gateway.service_token.unwrap();
    assert_eq!(
        token.expose_secret(),
        "t".repeat(40),
        "one trailing newline is dropped"
    );

    let both =
        format!("[gateway]\nservice_token_env = \"SECRET\"\nservice_token_file = {file:?}\n");
    assert!(
        err(&both).contains("gateway.service_token_file"),
        "{}",
        err(&both)
    );

    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let e = err(&format!(
        "[auth_service]\nstore = \"redis\"\n[auth_service.redis]\nurl = \"redis://127.0.0.1\"\n\
         password_file = {empty:?}\n"
    ));
    assert!(
        e.contains("auth_service.redis.password_file") && e.contains("empty"),
        "{e}"
    );
    let e = err(&format!(
        "[auth_service]\nservice_token_file = {:?}\n",
        dir.path().join("missing")
    ));
    assert!(
        e.contains("auth_service.service_token_file") && e.contains("cannot read"),
        "{e}"
    );

    let secret_file = dir.path().join("client-secret");
    std::fs::write(&secret_file, "shh").unwrap();
    let provider = format!(
        "[[providers]]\nid = \"g\"\nkind = \"google\"\nclient_id = \"c\"\nclient_secret_file = {secret_file:?}\n"
    );
    let c = Config::from_toml(&provider, &env).unwrap();
    assert_eq!(
        c.providers[0]
            .client_secret
            .as_ref()
            .unwrap()
            .expose_secret(),
        "shh"
    );
}

#[test]
fn environment_variables_override_the_file_and_are_checked_like_it() {
    let file = "[gateway]\nlisten = \"127.0.0.1:8080\"\n[[providers]]\nid = \"g\"\nkind = \"google\"\nclient_id = \"c\"\nclient_secret_env = \"SECRET\"\n";
    let vars = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
    };
    let c = Config::from_toml_and_env(
        file,
        &env,
        vars(&[
            ("PORTCULLIS__GATEWAY__LISTEN", "0.0.0.0:9000"),
            ("PORTCULLIS__GATEWAY__SESSION_CACHE__TTL", "10s"),
            ("PORTCULLIS__PROVIDERS__0__CLIENT_ID", "from-env"),
        ]),
    )
    .unwrap();
    assert_eq!(c.gateway.listen.port(), 9000);
    assert_eq!(c.gateway.session_cache.ttl.as_secs(), 10);
    assert_eq!(c.providers[0].client_id, "from-env");

    // Held to the same rules as the file: an unknown key, a bad value.
    for (name, value, named) in [
        ("PORTCULLIS__GATEWAY__LISTN", "x", "listn"),
        (
            "PORTCULLIS__GATEWAY__SESSION_CACHE__TTL",
            "2h",
            "session_cache",
        ),
        (
            "PORTCULLIS__GATEWAY__MAX_CONNECTIONS",
            "lots",
            "max_connections",
        ),
    ] {
        let e = Config::from_toml_and_env(file, &env, vars(&[(name, value)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(named), "{name}: {e}");
    }
}
