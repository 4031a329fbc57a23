//! `deploy/kubernetes/` cannot run here (no cluster), so it is checked two
//! ways: against Kubernetes' own schemas (`kubernetes-validate --strict`,
//! from PyPI; `.ci/run` installs it), and against the real binaries, as
//! `compose.rs` checks `docker-compose.yml`: every command is one of ours
//! with flags it has; each configuration file in the ConfigMap parses, with
//! every secret file it names mounted from a Secret that has that key;
//! every port a container declares is one its configuration listens on and
//! the reverse; probes and Services name declared ports; the addresses the
//! configuration dials are Services; Redis keeps the persistence
//! auth-service insists on; and auth-service's and Redis's ports are closed
//! by NetworkPolicy to all but their one client.

use crate::compose::strings;
use common::config::{Config, StoreConfig};
use portcullis_tests::workspace_binary;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// Every resource in every manifest.
fn resources() -> Vec<Yaml> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifests_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
        .iter()
        .flat_map(|f| YamlLoader::load_from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .filter(|doc| !doc.is_null())
        .collect()
}

fn kind(r: &Yaml) -> &str {
    r["kind"].as_str().unwrap_or_default()
}

fn name(r: &Yaml) -> &str {
    r["metadata"]["name"].as_str().unwrap_or_default()
}

/// The `app.kubernetes.io/name` a selector or template selects.
fn app_label(labels: &Yaml) -> String {
    labels["app.kubernetes.io/name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn manifests_pass_the_kubernetes_schemas() {
    let files: Vec<PathBuf> = std::fs::read_dir(manifests_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    let output = std::process::Command::new("kubernetes-validate")
        .arg("--strict")
        .arg("--quiet")
        .args(&files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run kubernetes-validate ({e}): pip install kubernetes-validate \
                 (.ci/run does this)"
            )
        });
    assert!(
        output.status.success(),
        "kubernetes-validate refused the manifests:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A workload's pod: its app label, containers and volumes.
struct Pod<'a> {
    app: String,
    spec: &'a Yaml,
}

#[test]
fn manifests_match_the_binaries_and_close_the_internal_ports() {
    let all = resources();
    let of_kind = |k: &'static str| all.iter().filter(move |r| kind(r) == k);
    let config_maps: BTreeMap<&str, &Yaml> = of_kind("ConfigMap")
        .map(|r| (name(r), &r["data"]))
        .collect();
    let secrets: BTreeMap<&str, BTreeSet<String>> = of_kind("Secret")
        .map(|r| {
            let keys = r["stringData"]
                .as_hash()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect();
            (name(r), keys)
        })
        .collect();
    let pods: Vec<Pod> = of_kind("Deployment")
        .chain(of_kind("StatefulSet"))
        .map(|r| Pod {
            app: app_label(&r["spec"]["template"]["metadata"]["labels"]),
            spec: &r["spec"]["template"]["spec"],
        })
        .collect();
    // Service name → (selected app, port number → target port name).
    let services: BTreeMap<&str, (String, BTreeMap<i64, String>)> = of_kind("Service")
        .map(|r| {
            let ports = r["spec"]["ports"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["port"].as_i64().unwrap(),
                        p["targetPort"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (name(r), (app_label(&r["spec"]["selector"]), ports))
        })
        .collect();
    let image_binaries = portcullis_tests::image::binaries();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/grpc-tls");
    let secret_dir = tempfile::tempdir().unwrap();
    let mut ours = BTreeSet::new();
    // (app, port) pairs dialled by a configuration.
    let mut dialled: Vec<(String, u16)> = Vec::new();

    for pod in &pods {
        let volumes: BTreeMap<String, &Yaml> = pod.spec["volumes"]
            .as_vec()
            .map(|v| {
                v.iter()
                    .map(|v| (v["name"].as_str().unwrap().to_owned(), v))
                    .collect()
            })
            .unwrap_or_default();
        for container in pod.spec["containers"].as_vec().unwrap() {
            let ports: BTreeMap<String, i64> = container["ports"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        p["containerPort"].as_i64().unwrap(),
                    )
                })
                .collect();
            for probe in ["readinessProbe", "livenessProbe"] {
                let probe = &container[probe];
                let port = probe["httpGet"]["port"]
                    .as_str()
                    .or_else(|| probe["tcpSocket"]["port"].as_str())
                    .unwrap_or_else(|| panic!("{}: a probe without a named port", pod.app));
                assert!(
                    ports.contains_key(port),
                    "{}: probe on unknown port {port}",
                    pod.app
                );
            }
            let sc = &container["securityContext"];
            assert_eq!(
                sc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{}",
                pod.app
            );
            assert_eq!(
                sc["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{}",
                pod.app
            );
            assert_eq!(
                pod.spec["securityContext"]["runAsNonRoot"].as_bool(),
                Some(true),
                "{}",
                pod.app
            );

            let command = strings(&container["command"]);
            if container["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("redis:"))
            {
                let args = strings(&container["args"]);
                let flag = |f: &str| {
                    args.iter()
                        .position(|a| a == f)
                        .map(|i| args[i + 1].clone())
                };
                assert_eq!(flag("--appendonly").as_deref(), Some("yes"));
                assert_eq!(flag("--appendfsync").as_deref(), Some("always"));
                let dir = flag("--dir").unwrap();
                assert!(
                    container["volumeMounts"]
                        .as_vec()
                        .unwrap()
                        .iter()
                        .any(|m| m["mountPath"].as_str() == Some(dir.as_str())),
                    "Redis's AOF directory {dir} is not on a volume"
                );
                assert_eq!(
                    flag("--port").unwrap().parse::<i64>().unwrap(),
                    ports["redis"]
                );
                continue;
            }
            let (program, args) = command.split_first().unwrap();
            ours.insert(program.clone());
            assert_eq!(container["image"].as_str(), Some("portcullis:latest"));
            assert!(
                image_binaries.contains(program),
                "{program} not in the image"
            );
            // The image's user, so that files it owns (its data directory)
            // are the pod's.
            let (uid, gid) = portcullis_tests::image::user();
            for (key, id) in [("runAsUser", uid), ("runAsGroup", gid)] {
                assert_eq!(
                    pod.spec["securityContext"][key].as_i64(),
                    Some(id),
                    "{}: {key} is not the image's",
                    pod.app
                );
            }
            let binary =
                workspace_binary(program).unwrap_or_else(|| panic!("{program} is not ours"));
            let help = std::process::Command::new(binary)
                .arg("--help")
                .output()
                .unwrap();
            let help = String::from_utf8_lossy(&help.stdout);
            for flag in args.iter().filter(|a| a.starts_with("--")) {
                assert!(help.contains(flag.as_str()), "{program} has no {flag}");
            }

            // The configuration file, from the ConfigMap mounted over its
            // directory.
            let config_path =
                Path::new(&args[args.iter().position(|a| a == "--config").unwrap() + 1]);
            let mounts: Vec<(String, String)> = container["volumeMounts"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["mountPath"].as_str().unwrap().to_owned(),
                        m["name"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            let source_of = |path: &str| -> Option<(&Yaml, String)> {
                let (dir, file) = path.rsplit_once('/')?;
                let (_, volume) = mounts.iter().find(|(mount, _)| mount == dir)?;
                Some((volumes[volume], file.to_owned()))
            };
            let (volume, file) =
                source_of(config_path.to_str().unwrap()).expect("the config is mounted");
            let map = volume["configMap"]["name"]
                .as_str()
                .expect("from a ConfigMap");
            let mut text = config_maps[map][file.as_str()]
                .as_str()
                .expect("a key of it")
                .to_owned();

            // Every secret file it names is a key of a mounted Secret; for
            // parsing, each is replaced by a local file of the same kind.
            let named: Vec<String> = text
                .split('"')
                .filter(|s| s.starts_with("/run/secrets/"))
                .map(str::to_owned)
                .collect();
            assert!(!named.is_empty(), "{program}: no secret files");
            for path in named {
                let (volume, key) =
                    source_of(&path).unwrap_or_else(|| panic!("{program}: {path} is not mounted"));
                let secret = volume["secret"]["secretName"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{path}: not a Secret"));
                assert!(
                    secrets[secret].contains(&key),
                    "{program}: Secret {secret} has no key {key}"
                );
                let local = match key.as_str() {
                    "tls.crt" => fixtures.join("server.pem"),
                    "tls.key" => fixtures.join("server.key"),
                    "ca.crt" => fixtures.join("ca.pem"),
                    _ => {
                        let local = secret_dir.path().join(format!("{secret}-{key}"));
                        std::fs::write(&local, "s".repeat(40)).unwrap();
                        local
                    }
                };
                text = text.replace(&path, local.to_str().unwrap());
            }
            let config = Config::from_toml(&text, &|_| None)
                .unwrap_or_else(|e| panic!("{program}: {map}/{file}: {e}"));

            // Listeners ↔ container ports.
            let listening: BTreeSet<i64> = match program.as_str() {
                "auth-service" => {
                    if let StoreConfig::Redis(redis) = &config.auth_service.store {
                        let url = url::Url::parse(redis.url.as_deref().unwrap()).unwrap();
                        dialled.push((url.host_str().unwrap().to_owned(), url.port().unwrap()));
                    }
                    [
                        Some(config.auth_service.listen),
                        config.auth_service.metrics_listen,
                    ]
                    .into_iter()
                    .flatten()
                    .map(|a| i64::from(a.port()))
                    .collect()
                }
                "api-gateway" => {
                    for url in &config.gateway.auth_service_urls {
                        dialled.push((url.host_str().unwrap().to_owned(), url.port().unwrap()));
                    }
                    [
                        Some(config.gateway.listen),
                        config.gateway.metrics_listen,
                        config.gateway.ext_authz_listen,
                    ]
                    .into_iter()
                    .flatten()
                    .map(|a| i64::from(a.port()))
                    .collect()
                }
                other => panic!("unexpected binary {other}"),
            };
            let declared: BTreeSet<i64> = ports.values().copied().collect();
            assert_eq!(
                declared, listening,
                "{program}: container ports vs listeners"
            );
        }
    }
    assert_eq!(
        ours,
        ["api-gateway", "auth-service"].map(String::from).into()
    );

    // Services select a pod and target ports it declares; every address a
    // configuration dials is a Service port.
    for (service, (app, ports)) in &services {
        let pod = pods
            .iter()
            .find(|p| &p.app == app)
            .unwrap_or_else(|| panic!("{service} selects nothing"));
        for target in ports.values() {
            let declared = pod.spec["containers"]
                .as_vec()
                .unwrap()
                .iter()
                .flat_map(|c| c["ports"].as_vec().unwrap().iter())
                .any(|p| p["name"].as_str() == Some(target.as_str()));
            assert!(
                declared,
                "{service}: target port {target} not declared by {app}"
            );
        }
    }
    for (host, port) in dialled {
        let (_, ports) = services
            .get(host.as_str())
            .unwrap_or_else(|| panic!("{host} is not a Service"));
        assert!(
            ports.contains_key(&i64::from(port)),
            "{host}:{port} is not a port of that Service"
        );
    }

    // Ingress is denied by default; auth-service's gRPC port and Redis's
    // are open to their one client only, auth-service's metrics port to
    // the namespaces labelled as scrapers, and nothing else is open.
    let policies: Vec<&Yaml> = of_kind("NetworkPolicy").collect();
    assert!(
        policies.iter().any(|p| p["spec"]["podSelector"]
            .as_hash()
            .is_some_and(|h| h.is_empty())
            && p["spec"]["ingress"].is_badvalue()),
        "no default-deny policy"
    );
    let scrapers = "namespace portcullis.example.com/scrapes-metrics=true";
    for (protected, expected) in [
        (
            "portcullis-auth-service",
            vec![
                (vec!["pod portcullis-gateway".to_owned()], vec![50051]),
                (vec![scrapers.to_owned()], vec![9091]),
            ],
        ),
        (
            "portcullis-redis",
            vec![(vec!["pod portcullis-auth-service".to_owned()], vec![6379])],
        ),
    ] {
        let rules: Vec<(Vec<String>, Vec<i64>)> = policies
            .iter()
            .filter(|p| app_label(&p["spec"]["podSelector"]["matchLabels"]) == protected)
            .flat_map(|p| p["spec"]["ingress"].as_vec().unwrap().iter())
            .map(|rule| {
                let from = rule["from"]
                    .as_vec()
                    .unwrap_or_else(|| panic!("{protected}: a rule open to everyone"))
                    .iter()
                    .map(peer)
                    .collect();
                let ports = rule["ports"]
                    .as_vec()
                    .unwrap()
                    .iter()
                    .map(|p| p["port"].as_i64().unwrap())
                    .collect();
                (from, ports)
            })
            .collect();
        assert_eq!(rules, expected, "{protected}");
    }
}

/// A NetworkPolicy peer as text: `pod NAME` for a pod selector on our app
/// label, `namespace KEY=VALUE` for a namespace selector on one label.
fn peer(from: &Yaml) -> String {
    if !from["podSelector"].is_badvalue() {
        return format!("pod {}", app_label(&from["podSelector"]["matchLabels"]));
    }
    let labels = from["namespaceSelector"]["matchLabels"]
        .as_hash()
        .unwrap_or_else(|| panic!("a peer that is neither a pod nor a namespace: {from:?}"));
    assert_eq!(labels.len(), 1, "{from:?}");
    let (key, value) = labels.iter().next().unwrap();
    format!(
        "namespace {}={}",
        key.as_str().unwrap(),
        value.as_str().unwrap()
    )
}
