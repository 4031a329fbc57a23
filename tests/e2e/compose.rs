//! `docker-compose.yml`, every profile of it (`compose_run.rs` starts the
//! `dev` one with podman; the `replicas` one needs Redis's image, which
//! cannot be pulled here), checked against the real binaries: every command
//! is one of ours and every flag it passes exists, every mounted config
//! file parses, every published port is one a service listens on, every
//! environment variable is one a binary reads, every address a service
//! dials (Redis, the auth-service replicas) is one a service in its network
//! listens on, Redis runs with the persistence auth-service insists on, and
//! the image (`scripts/build-image`) ships the binaries used, never built
//! or pulled by compose. Variables (`${PORTCULLIS_HTTP_PORT:-8080}`) take
//! their defaults.

use common::config::{Config, StoreConfig};
use portcullis_tests::workspace_binary;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `text` with each `${NAME:-default}` replaced by its default, as compose
/// does where `NAME` is unset.
fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("an unclosed ${") + start;
        let (_, default) = rest[start + 2..end]
            .split_once(":-")
            .unwrap_or_else(|| panic!("{text}: a variable without a default"));
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The strings of a YAML list (none for anything else).
pub(crate) fn strings(yaml: &Yaml) -> Vec<String> {
    yaml.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|y| y.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

struct Service {
    name: String,
    command: Vec<String>,
    environment: BTreeMap<String, String>,
    volumes: Vec<String>,
    ports: Vec<String>,
    image: Option<String>,
    pull_policy: Option<String>,
    read_only: bool,
    builds: bool,
    shares_network_of: Option<String>,
}

fn services() -> Vec<Service> {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let services = docs[0]["services"].as_hash().expect("a services map");
    services
        .iter()
        .map(|(name, s)| {
            let environment = s["environment"]
                .as_hash()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| {
                            let value = v
                                .as_str()
                                .map(str::to_owned)
                                .or_else(|| v.as_i64().map(|n| n.to_string()))
                                .unwrap_or_default();
                            (k.as_str().unwrap().to_owned(), interpolate(&value))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Service {
                name: name.as_str().unwrap().to_owned(),
                command: strings(&s["command"])
                    .iter()
                    .map(|c| interpolate(c))
                    .collect(),
                environment,
                volumes: strings(&s["volumes"]),
                ports: strings(&s["ports"])
                    .iter()
                    .map(|p| interpolate(p))
                    .collect(),
                image: s["image"].as_str().map(str::to_owned),
                pull_policy: s["pull_policy"].as_str().map(str::to_owned),
                read_only: s["read_only"].as_bool() == Some(true),
                builds: !s["build"].is_badvalue(),
                shares_network_of: s["network_mode"]
                    .as_str()
                    .and_then(|m| m.strip_prefix("service:"))
                    .map(str::to_owned),
            }
        })
        .collect()
}

/// The host file mounted at `container_path`, if any.
fn mounted(service: &Service, container_path: &str) -> Option<PathBuf> {
    service.volumes.iter().find_map(|v| {
        let mut parts = v.split(':');
        let (host, target) = (parts.next()?, parts.next()?);
        (target == container_path && host.starts_with("./")).then(|| repo().join(host))
    })
}

fn flag_value<'a>(command: &'a [String], flag: &str) -> Option<&'a str> {
    command
        .iter()
        .position(|a| a == flag)
        .and_then(|i| command.get(i + 1))
        .map(String::as_str)
}

/// The port of a `scheme://host:port...` address.
fn url_port(url: &str) -> u16 {
    url::Url::parse(url)
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .port()
        .unwrap_or_else(|| panic!("{url} names no port"))
}

/// Redis, the one service not ours: its official image, the persistence
/// auth-service refuses to run without, and the port it listens on.
fn check_redis(service: &Service) -> u16 {
    let image = service.image.as_deref().unwrap_or_default();
    assert!(
        image.starts_with("redis:"),
        "{}: not a Redis image: {image}",
        service.name
    );
    let args = &service.command;
    assert_eq!(
        args.first().map(String::as_str),
        Some("redis-server"),
        "{}",
        service.name
    );
    assert_eq!(
        flag_value(args, "--appendonly"),
        Some("yes"),
        "{}",
        service.name
    );
    assert_eq!(
        flag_value(args, "--appendfsync"),
        Some("always"),
        "{}",
        service.name
    );
    let data = flag_value(args, "--dir").unwrap_or_else(|| panic!("{}: no --dir", service.name));
    assert!(
        service
            .volumes
            .iter()
            .any(|v| v.split(':').nth(1) == Some(data)),
        "{}: its AOF directory {data} is not on a volume",
        service.name
    );
    flag_value(args, "--port")
        .unwrap_or_else(|| panic!("{}: no --port", service.name))
        .parse()
        .unwrap()
}

#[test]
fn compose_file_matches_the_binaries() {
    let services = services();
    assert!(services.len() >= 3, "gateway, auth-service and dev-idp");
    let mut listening: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    // (network, port, who dials it)
    let mut dialled: Vec<(String, u16, String)> = Vec::new();
    let image_binaries = portcullis_tests::image::binaries();

    for service in &services {
        let network = service
            .shares_network_of
            .clone()
            .unwrap_or_else(|| service.name.clone());
        if service.name == "redis" {
            let port = check_redis(service);
            listening.entry(network).or_default().insert(port);
            continue;
        }
        let (program, args) = service
            .command
            .split_first()
            .unwrap_or_else(|| panic!("{}: no command", service.name));
        let binary = workspace_binary(program)
            .unwrap_or_else(|| panic!("{}: {program} is not a workspace binary", service.name));
        assert!(
            image_binaries.contains(program),
            "the image does not ship {program}"
        );
        // The image scripts/build-image made, never built or pulled by
        // compose (there is nothing to pull it from).
        assert_eq!(
            service.image.as_deref(),
            Some("portcullis:latest"),
            "{}",
            service.name
        );
        assert_eq!(
            service.pull_policy.as_deref(),
            Some("never"),
            "{}",
            service.name
        );
        assert!(!service.builds, "{}: compose builds no image", service.name);
        // Read-only, as the Kubernetes manifests run it (compose_run.rs
        // runs it so).
        assert!(service.read_only, "{}: not read_only", service.name);

        let help = std::process::Command::new(&binary)
            .arg("--help")
            .output()
            .unwrap();
        assert!(help.status.success(), "{program} --help failed");
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            assert!(
                help.contains(flag.as_str()),
                "{}: {program} has no {flag}",
                service.name
            );
        }

        // Environment: what the binaries read, or what the config names.
        let mut known: BTreeSet<String> =
            ["RUST_LOG", "PORTCULLIS_CONFIG"].map(String::from).into();
        let ports = listening.entry(network.clone()).or_default();
        if let Some(path) = flag_value(args, "--config") {
            let host = mounted(service, path)
                .unwrap_or_else(|| panic!("{}: {path} is not mounted from the repo", service.name));
            let text = std::fs::read_to_string(&host).unwrap();
            for line in text.lines() {
                if let Some((key, value)) = line.split_once('=')
                    && key.trim().ends_with("_env")
                {
                    known.insert(value.trim().trim_matches('"').to_owned());
                }
            }
            let env = |name: &str| service.environment.get(name).cloned();
            // The PORTCULLIS__* overrides apply to the file (an unknown
            // key is an error there).
            let overrides: Vec<(String, String)> = service
                .environment
                .iter()
                .filter(|(k, _)| k.starts_with("PORTCULLIS__"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            known.extend(overrides.iter().map(|(k, _)| k.clone()));
            let config = Config::from_toml_and_env(&text, &env, overrides).unwrap_or_else(|e| {
                panic!("{}: {} does not load: {e}", service.name, host.display())
            });
            match program.as_str() {
                "auth-service" => {
                    ports.insert(config.auth_service.listen.port());
                    match &config.auth_service.store {
                        StoreConfig::Sled { data_dir } => {
                            let data = data_dir.to_string_lossy().into_owned();
                            assert!(
                                service.volumes.iter().any(|v| v
                                    .split(':')
                                    .nth(1)
                                    .is_some_and(|target| data.starts_with(target))),
                                "auth-service's data_dir {data} is not on a volume"
                            );
                        }
                        StoreConfig::Redis(redis) => {
                            let url = redis.url.as_deref().unwrap_or_else(|| {
                                panic!("{}: compose names Redis by url", service.name)
                            });
                            dialled.push((network.clone(), url_port(url), service.name.clone()));
                        }
                    }
                }
                "api-gateway" => {
                    ports.insert(config.gateway.listen.port());
                    for url in &config.gateway.auth_service_urls {
                        dialled.push((
                            network.clone(),
                            url_port(url.as_str()),
                            service.name.clone(),
                        ));
                    }
                }
                _ => {}
            }
        }
        if let Some(listen) = flag_value(args, "--listen") {
            ports.insert(listen.rsplit(':').next().unwrap().parse().unwrap());
        }
        for name in service.environment.keys() {
            assert!(
                known.contains(name),
                "{}: nothing reads {name}",
                service.name
            );
        }
    }

    for (network, port, who) in &dialled {
        assert!(
            listening.get(network).is_some_and(|p| p.contains(port)),
            "{who} dials port {port}, which nothing in its network listens on ({listening:?})"
        );
    }
    for service in &services {
        let network = service
            .shares_network_of
            .clone()
            .unwrap_or_else(|| service.name.clone());
        for port in &service.ports {
            let container: u16 = port.rsplit(':').next().unwrap().parse().unwrap();
            assert!(
                listening
                    .get(&network)
                    .is_some_and(|p| p.contains(&container)),
                "{}: publishes {container}, which nothing in its network listens on ({listening:?})",
                service.name
            );
        }
    }
}

/// The `replicas` profile's two instances must be the same deployment:
/// their configuration files may differ in ports and comments only.
#[test]
fn the_replica_configs_differ_only_in_their_ports() {
    let read = |n| {
        std::fs::read_to_string(repo().join(format!("config/compose-replicas-{n}.toml"))).unwrap()
    };
    let (one, two) = (read(1), read(2));
    let (one, two): (Vec<_>, Vec<_>) = (one.lines().collect(), two.lines().collect());
    assert_eq!(one.len(), two.len());
    for (a, b) in one.iter().zip(&two) {
        if a == b || a.starts_with('#') {
            continue;
        }
        let key = a.split('=').next().unwrap().trim();
        assert!(
            ["listen", "public_url", "metrics_listen"].contains(&key),
            "the replica configs differ beyond ports: {a:?} / {b:?}"
        );
        assert_eq!(b.split('=').next().unwrap().trim(), key);
    }
}
