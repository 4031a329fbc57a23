//! Monitoring as an operator sees it: auth-service's Prometheus metrics
//! move with real logins, failures, validations and logouts; the example
//! alert rules and their unit tests pass `promtool`; and every metric the
//! Grafana dashboard, the alerts and `docs/monitoring.md` name is one the
//! binaries export, so a renamed metric cannot leave a panel or an alert
//! silently empty, nor the docs describing a metric that is gone.

use crate::session_cache::CACHED;
use dev_idp::{Endpoint as IdpEndpoint, HugeResponse};
use portcullis_tests::{StackOptions, TestStack, wait_until};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn monitoring_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/monitoring")
}

/// The value of the sample `series` (name and labels exactly as exported),
/// or `None` when the scrape has no such line.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

/// The live-sessions gauge of a sled store.
const LIVE: &str = "portcullis_auth_live_sessions{store=\"sled\"}";

/// Waits for the sweeper's first pass, which runs as auth-service starts but
/// on a task of its own: until then the live-sessions gauge has no sample.
async fn first_sweep(stack: &TestStack) {
    wait_until(Duration::from_secs(10), "the first sweep", || async {
        sample(&stack.auth_metrics_text().await, LIVE).is_some()
    })
    .await;
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
}

#[tokio::test]
async fn auth_service_metrics_follow_logins_failures_validations_and_logouts() {
    let stack = TestStack::start().await;
    first_sweep(&stack).await;
    let before = stack.auth_metrics_text().await;
    assert!(
        before.contains(&format!(
            "portcullis_auth_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{before}"
    );
    let logins = "portcullis_auth_logins_total{provider=\"dev\",flow=\"code\"}";
    assert_eq!(value(&before, logins), 0.0);
    assert_eq!(value(&before, "portcullis_auth_store_healthy"), 1.0);
    assert_eq!(value(&before, LIVE), 0.0);

    let token = stack.session_token("alice").await;
    assert_eq!(
        stack.get_with_session("/auth/me", &token).await.status(),
        200
    );
    let bad = stack
        .post_json(
            "/auth/session",
            &json!({"provider": "dev", "id_token": "not.a.jwt"}),
        )
        .await;
    assert_eq!(bad.status(), 401);
    let logout = stack
        .post_with_session("/auth/logout", &token, &[("sec-fetch-site", "same-origin")])
        .await;
    assert_eq!(logout.status(), 204);
    assert_eq!(
        stack.get_with_session("/auth/me", &token).await.status(),
        401
    );

    let after = stack.auth_metrics_text().await;
    assert_eq!(value(&after, logins), 1.0);
    assert_eq!(
        value(
            &after,
            "portcullis_auth_login_failures_total{provider=\"dev\",flow=\"id_token\",reason=\"malformed_token\"}"
        ),
        1.0
    );
    assert!(
        value(
            &after,
            "portcullis_auth_validations_total{outcome=\"valid\"}"
        ) >= 1.0
    );
    assert!(
        value(
            &after,
            "portcullis_auth_validations_total{outcome=\"unknown\"}"
        ) >= 1.0
    );
    assert_eq!(
        value(&after, "portcullis_auth_revocations_total{kind=\"logout\"}"),
        1.0
    );
    // The code flow's one token call to the provider, timed.
    assert_eq!(
        value(
            &after,
            "portcullis_auth_provider_request_duration_seconds_count{provider=\"dev\",endpoint=\"token\"}"
        ),
        1.0
    );
    assert!(
        !after.contains(&token),
        "a session token in the metrics text"
    );
    assert!(after.ends_with("# EOF\n"), "{after}");
}

/// The metric names a PromQL text mentions: every `portcullis_` word.
fn metric_names(promql: &str) -> BTreeSet<String> {
    promql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("portcullis_"))
        .map(str::to_owned)
        .collect()
}

/// Every PromQL expression of the dashboard: panel targets and template
/// variable queries, wherever they nest.
fn dashboard_exprs(node: &serde_json::Value, out: &mut Vec<String>) {
    match node {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_exprs(child, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| dashboard_exprs(i, out)),
        _ => {}
    }
}

/// The metric families a scrape declares (`# TYPE name kind`), by name.
fn families(scrape: &str) -> BTreeMap<String, String> {
    scrape
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| {
            let (name, kind) = rest.split_once(' ').unwrap();
            (name.to_owned(), kind.to_owned())
        })
        .collect()
}

/// The family a sample name belongs to, by the OpenMetrics suffix rules:
/// counters add `_total`, histograms `_bucket`, `_sum` and `_count`, info
/// metrics `_info`; gauges are their family's name.
fn family_of<'a>(name: &str, families: &'a BTreeMap<String, String>) -> Option<&'a str> {
    let suffixes: [(&str, &[&str]); 4] = [
        ("counter", &["_total"]),
        ("histogram", &["_bucket", "_sum", "_count"]),
        ("info", &["_info"]),
        ("gauge", &[""]),
    ];
    suffixes.iter().find_map(|(kind, endings)| {
        endings.iter().find_map(|ending| {
            let base = name.strip_suffix(ending)?;
            let (family, k) = families.get_key_value(base)?;
            (k == kind).then_some(family.as_str())
        })
    })
}

/// The sample names among `names` that belong to no exported family.
fn not_exported<'a>(
    names: impl IntoIterator<Item = &'a String>,
    families: &BTreeMap<String, String>,
) -> Vec<&'a String> {
    names
        .into_iter()
        .filter(|name| family_of(name, families).is_none())
        .collect()
}

/// The exported families none of `names` belongs to.
fn not_named<'a>(families: &'a BTreeMap<String, String>, names: &BTreeSet<String>) -> Vec<&'a str> {
    families
        .keys()
        .map(String::as_str)
        .filter(|family| {
            !names
                .iter()
                .any(|name| family_of(name, families) == Some(family))
        })
        .collect()
}

#[tokio::test]
async fn the_dashboard_and_alerts_name_only_exported_metrics_and_pass_promtool() {
    // The Debian `prometheus` package ships promtool; `.ci/run` installs it.
    let promtool = Command::new("promtool").arg("--version").output();
    assert!(
        promtool.is_ok_and(|o| o.status.success()),
        "promtool not found: apt-get install prometheus"
    );
    let dir = monitoring_dir();
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A family is exported once it has a sample, so the stack first goes
    // through one of each event: a login, a refused token, a request
    // without a session, a logout, and a provider answering too much; with
    // the session cache on, so its figures are exported too.
    let stack = TestStack::start_with(StackOptions {
        gateway_settings: CACHED.to_owned(),
        ..StackOptions::default()
    })
    .await;
    first_sweep(&stack).await;
    let token = stack.session_token("alice").await;
    let refused = json!({"provider": "dev", "id_token": "not.a.jwt"});
    assert_eq!(
        stack.post_json("/auth/session", &refused).await.status(),
        401
    );
    assert_eq!(stack.get("/api/whoami").await.status(), 401);
    let same_origin = [("sec-fetch-site", "same-origin")];
    let logout = stack
        .post_with_session("/auth/logout", &token, &same_origin)
        .await;
    assert_eq!(logout.status(), 204);
    stack.idp.faults(|f| {
        f.huge_response = Some(HugeResponse::chunked(IdpEndpoint::Token));
    });
    let client = stack.browser();
    let callback = stack.authorize(&client, "bob", "/").await;
    let failed = client.get(callback).send().await.unwrap();
    assert!(!failed.status().is_success(), "{}", failed.status());
    stack.idp.heal();
    let families: BTreeMap<String, String> = families(&stack.metrics_text().await)
        .into_iter()
        .chain(families(&stack.auth_metrics_text().await))
        .collect();

    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("grafana-dashboard.json")).unwrap())
            .unwrap();
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "only {} queries", exprs.len());
    let alerts = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let shown: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    let alerted = metric_names(&alerts);
    let unknown = not_exported(shown.union(&alerted), &families);
    assert!(
        unknown.is_empty(),
        "named but not exported: {unknown:?}\nexported: {families:?}"
    );
    // And the other way: an exported family no panel shows is a gap.
    let unshown = not_named(&families, &shown);
    assert!(unshown.is_empty(), "no panel shows {unshown:?}");

    // docs/monitoring.md's tables: every metric they name (a sample's name,
    // or a histogram's family name) is exported, and every exported family
    // is in them.
    let docs = std::fs::read_to_string(dir.join("../monitoring.md")).unwrap();
    let documented: BTreeSet<String> = metric_names(&docs)
        .into_iter()
        .map(|name| match families.get_key_value(&name) {
            Some((family, kind)) if kind == "histogram" => format!("{family}_count"),
            _ => name,
        })
        .collect();
    let stale = not_exported(&documented, &families);
    assert!(
        stale.is_empty(),
        "monitoring.md names {stale:?}, not exported"
    );
    let undocumented = not_named(&families, &documented);
    assert!(
        undocumented.is_empty(),
        "monitoring.md does not describe {undocumented:?}"
    );
}
