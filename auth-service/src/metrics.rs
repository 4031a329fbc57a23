//! auth-service's Prometheus metrics: the registry and the calls that
//! record into it, kept and encoded by `prometheus-client` as the gateway's
//! are (OpenMetrics text, label escaping and histogram bookkeeping are the
//! Prometheus project's, not ours).
//!
//! Every label value comes from a closed list or from the configuration,
//! never from a request: providers are configured ids (a request naming
//! another becomes `unknown`), reasons are [`Reason`] codes (plus `error`,
//! as in the audit log), and outcomes, kinds and endpoints are enums here.
//! So a caller cannot grow the series count, and no label carries user
//! input.
//!
//! Live sessions are counted by the sweeper, which on sled walks every
//! session anyway: the gauge is as old as the last sweep
//! (`sweep_interval`). Redis ends sessions by TTL and walks none, and
//! `DBSIZE` counts every key of every prefix, so on Redis the gauge has no
//! sample. A gauge kept by adding logins and subtracting revocations would
//! drift from the first expiry and restart at zero with the process.

use crate::storage::SessionSweep;
use common::reason::Reason;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the provider latency buckets, in seconds: provider calls
/// cross the Internet, so they start at 5 ms and go to the default
/// `provider_timeout` (10 s).
const PROVIDER_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The content type of the OpenMetrics text format, which Prometheus
/// negotiates and parses natively.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The provider label of a request naming no configured provider.
const UNKNOWN_PROVIDER: &str = "unknown";

/// How a login was attempted: the audit log's `flow` values.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum LoginFlow {
    /// The authorization-code flow (`BeginLogin`, `CompleteLogin`).
    Code,
    /// A front-end's ID token (`ExchangeToken`).
    IdToken,
    /// A front-end's access token (`ExchangeToken`).
    AccessToken,
}

impl LoginFlow {
    /// The label value, also the audit log's `flow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::IdToken => "id_token",
            Self::AccessToken => "access_token",
        }
    }
}

/// What `ValidateSession` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// A live session.
    Valid,
    /// Not a session token at all (wrong length or alphabet).
    Malformed,
    /// No such session: never issued, revoked or purged.
    Unknown,
    /// The session exists but its idle or absolute expiry has passed.
    Expired,
    /// The store failed; the caller got `unavailable` or `internal`.
    Error,
}

impl Validation {
    const ALL: [Validation; 5] = [
        Self::Valid,
        Self::Malformed,
        Self::Unknown,
        Self::Expired,
        Self::Error,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::Error => "error",
        }
    }
}

/// Which path revoked sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationKind {
    /// The holder of the token logged out (`RevokeSession` by token).
    Logout,
    /// One session by its id (the sessions page, an administrator).
    Session,
    /// Every session of a user (`RevokeUserSessions`).
    User,
    /// A provider's back-channel logout token.
    Backchannel,
}

impl RevocationKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Session => "session",
            Self::User => "user",
            Self::Backchannel => "backchannel",
        }
    }
}

/// Which provider endpoint a call went to.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Endpoint {
    /// OpenID Connect discovery document.
    Discovery,
    /// The provider's key set.
    Jwks,
    /// The token endpoint (code exchange).
    Token,
    /// OpenID Connect userinfo.
    Userinfo,
    /// Google's tokeninfo (access-token check).
    Tokeninfo,
    /// GitHub's user, e-mail, organisation and team API.
    GithubApi,
    /// GitHub's application token check.
    GithubTokenCheck,
    /// X's users/me.
    XApi,
    /// Google Cloud Identity groups.
    GoogleGroups,
}

impl Endpoint {
    fn as_str(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::Token => "token",
            Self::Userinfo => "userinfo",
            Self::Tokeninfo => "tokeninfo",
            Self::GithubApi => "github_api",
            Self::GithubTokenCheck => "github_token_check",
            Self::XApi => "x_api",
            Self::GoogleGroups => "google_groups",
        }
    }
}

impl EncodeLabelValue for Endpoint {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

impl EncodeLabelValue for LoginFlow {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    provider: Arc<str>,
    flow: LoginFlow,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    provider: Arc<str>,
    flow: LoginFlow,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    provider: Arc<str>,
    endpoint: Endpoint,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderOutcomeLabels {
    provider: Arc<str>,
    outcome: &'static str,
}

/// auth-service's metrics registry. Recording is an atomic add on a
/// counter found by a hash lookup (validations: on a counter resolved once
/// here), so it costs nothing next to the store or provider call it counts.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The configured provider ids, shared by every series that names one.
    providers: Vec<Arc<str>>,
    unknown_provider: Arc<str>,
    logins: Family<LoginLabels, Counter>,
    login_failures: Family<FailureLabels, Counter>,
    /// One counter per [`Validation`], in [`Validation::ALL`] order.
    validations: [Counter; 5],
    revocations: Family<KindLabels, Counter>,
    provider_calls: Family<CallLabels, Histogram>,
    provider_call_failures: Family<CallLabels, Counter>,
    jwks_refreshes: Family<ProviderOutcomeLabels, Counter>,
    store_probe_failures: Counter,
    store_healthy: Gauge,
    swept: Family<KindLabels, Counter>,
    /// Live sessions at the last sweep, labelled by the store that counted.
    live_sessions: Family<StoreLabels, Gauge>,
}

impl Metrics {
    /// The registry for a service with these configured provider ids. The
    /// code-flow login and failure series of each provider and every
    /// validation outcome start at zero, so rates and ratios over them
    /// exist before the first event.
    pub fn new<'a>(provider_ids: impl IntoIterator<Item = &'a str>) -> Self {
        let providers: Vec<Arc<str>> = provider_ids.into_iter().map(Arc::from).collect();
        let logins = Family::<LoginLabels, Counter>::default();
        let login_failures = Family::<FailureLabels, Counter>::default();
        let validation_family = Family::<OutcomeLabels, Counter>::default();
        let validations = Validation::ALL.map(|outcome| {
            validation_family
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.as_str(),
                })
                .clone()
        });
        let revocations = Family::<KindLabels, Counter>::default();
        let provider_calls = Family::<CallLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(PROVIDER_BUCKETS)
        });
        let provider_call_failures = Family::<CallLabels, Counter>::default();
        let jwks_refreshes = Family::<ProviderOutcomeLabels, Counter>::default();
        let store_probe_failures = Counter::default();
        let store_healthy = Gauge::default();
        store_healthy.set(1);
        let swept = Family::<KindLabels, Counter>::default();
        for provider in &providers {
            // Created, not incremented: the series starts at zero.
            let _ = logins.get_or_create(&LoginLabels {
                provider: provider.clone(),
                flow: LoginFlow::Code,
            });
        }

        let mut registry = Registry::with_prefix("portcullis_auth");
        registry.register(
            "build",
            "The running auth-service's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "logins",
            "Successful logins, by provider and flow (code, id_token, access_token)",
            logins.clone(),
        );
        registry.register(
            "login_failures",
            "Failed login attempts, by provider, flow and reason (the audit log's reason codes; \
             error for malformed requests and internal failures)",
            login_failures.clone(),
        );
        registry.register(
            "validations",
            "Session validations, by outcome (valid, malformed, unknown, expired, error)",
            validation_family,
        );
        registry.register(
            "revocations",
            "Sessions revoked, by kind (logout, session, user, backchannel)",
            revocations.clone(),
        );
        registry.register(
            "provider_request_duration_seconds",
            "Latency of calls to identity providers, by provider and endpoint, \
             failed calls included",
            provider_calls.clone(),
        );
        registry.register(
            "provider_request_failures",
            "Calls to identity providers that got no usable answer (connection, timeout, \
             oversized body), by provider and endpoint",
            provider_call_failures.clone(),
        );
        registry.register(
            "jwks_refreshes",
            "Fetches of a provider's key set, by provider and outcome (success, failure)",
            jwks_refreshes.clone(),
        );
        registry.register(
            "store_probe_failures",
            "Store watchdog probes that failed or overran store_probe_timeout",
            store_probe_failures.clone(),
        );
        registry.register(
            "store_healthy",
            "1 while the store watchdog's probes succeed (health SERVING), 0 after one failed",
            store_healthy.clone(),
        );
        registry.register(
            "sweep_purged",
            "Expired records the sweeper removed, by kind (session, flow)",
            swept.clone(),
        );
        let live_sessions = Family::<StoreLabels, Gauge>::default();
        registry.register(
            "live_sessions",
            "Sessions neither expired nor revoked, counted by the last sweep (every \
             sweep_interval; sled only: Redis expires sessions itself and counts none)",
            live_sessions.clone(),
        );
        Self {
            registry,
            providers,
            unknown_provider: Arc::from(UNKNOWN_PROVIDER),
            logins,
            login_failures,
            validations,
            revocations,
            provider_calls,
            provider_call_failures,
            jwks_refreshes,
            store_probe_failures,
            store_healthy,
            swept,
            live_sessions,
        }
    }

    /// The label of `provider_id`: the configured id, or `unknown` for a
    /// name no provider has (a request may carry anything).
    fn provider_label(&self, provider_id: &str) -> Arc<str> {
        self.providers
            .iter()
            .find(|p| ***p == *provider_id)
            .unwrap_or(&self.unknown_provider)
            .clone()
    }

    /// Counts one successful login.
    pub fn record_login(&self, provider_id: &str, flow: LoginFlow) {
        self.logins
            .get_or_create(&LoginLabels {
                provider: self.provider_label(provider_id),
                flow,
            })
            .inc();
    }

    /// Counts one failed login attempt; `reason` is what the audit line
    /// says (`None`: `error`).
    pub fn record_login_failure(&self, provider_id: &str, flow: LoginFlow, reason: Option<Reason>) {
        self.login_failures
            .get_or_create(&FailureLabels {
                provider: self.provider_label(provider_id),
                flow,
                reason: reason.map_or("error", Reason::code),
            })
            .inc();
    }

    /// Counts one `ValidateSession` answer.
    pub fn record_validation(&self, outcome: Validation) {
        // `ALL` lists the variants in declaration order.
        self.validations[outcome as usize].inc();
    }

    /// Counts `sessions` sessions revoked by one `kind` of revocation.
    pub fn record_revocations(&self, kind: RevocationKind, sessions: u32) {
        if sessions == 0 {
            return;
        }
        self.revocations
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .inc_by(u64::from(sessions));
    }

    /// Counts what one sweep removed and, when the store counted them, sets
    /// the live sessions it left.
    pub fn record_sweep(&self, sessions: SessionSweep, flows: u32) {
        for (kind, count) in [("session", sessions.purged), ("flow", flows)] {
            self.swept
                .get_or_create(&KindLabels { kind })
                .inc_by(u64::from(count));
        }
        if let Some(live) = sessions.live {
            self.live_sessions
                .get_or_create(&StoreLabels { store: "sled" })
                .set(i64::try_from(live).unwrap_or(i64::MAX));
        }
    }

    /// Records one store watchdog probe.
    pub fn record_store_probe(&self, ok: bool) {
        if !ok {
            self.store_probe_failures.inc();
        }
        self.store_healthy.set(i64::from(ok));
    }

    /// The recorder of one provider's calls, for its HTTP client.
    pub fn provider(self: &Arc<Self>, provider_id: &str) -> ProviderMetrics {
        ProviderMetrics {
            provider: self.provider_label(provider_id),
            metrics: self.clone(),
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a `String` cannot fail.
        if encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        out
    }
}

/// Where one provider's HTTP calls and key-set refreshes are recorded.
#[derive(Debug, Clone)]
pub struct ProviderMetrics {
    provider: Arc<str>,
    metrics: Arc<Metrics>,
}

impl ProviderMetrics {
    /// Records one call to `endpoint` that took `elapsed`; `failed` when it
    /// got no usable answer.
    pub fn record_call(&self, endpoint: Endpoint, elapsed: Duration, failed: bool) {
        let labels = CallLabels {
            provider: self.provider.clone(),
            endpoint,
        };
        self.metrics
            .provider_calls
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if failed {
            self.metrics
                .provider_call_failures
                .get_or_create(&labels)
                .inc();
        }
    }

    /// Counts one key-set fetch.
    pub fn record_jwks_refresh(&self, ok: bool) {
        self.metrics
            .jwks_refreshes
            .get_or_create(&ProviderOutcomeLabels {
                provider: self.provider.clone(),
                outcome: if ok { "success" } else { "failure" },
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_has(text: &str, line: &str) {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }

    #[test]
    fn renders_every_family_with_bounded_labels() {
        let m = Arc::new(Metrics::new(["dev", "github"]));
        m.record_login("dev", LoginFlow::Code);
        m.record_login("github", LoginFlow::AccessToken);
        m.record_login_failure("dev", LoginFlow::Code, Some(Reason::StateUnknown));
        m.record_login_failure("dev", LoginFlow::Code, Some(Reason::StateUnknown));
        m.record_login_failure("a\"made-up\nprovider", LoginFlow::IdToken, None);
        m.record_validation(Validation::Valid);
        m.record_validation(Validation::Expired);
        m.record_revocations(RevocationKind::Logout, 1);
        m.record_revocations(RevocationKind::User, 3);
        m.record_revocations(RevocationKind::Backchannel, 0);
        m.record_sweep(
            SessionSweep {
                purged: 2,
                live: Some(5),
            },
            0,
        );
        m.record_store_probe(false);
        let dev = m.provider("dev");
        dev.record_call(Endpoint::Token, Duration::from_millis(30), false);
        dev.record_call(Endpoint::Token, Duration::from_secs(40), true);
        dev.record_jwks_refresh(true);
        m.provider("nope").record_jwks_refresh(false);
        let text = m.render();
        for line in [
            "portcullis_auth_build_info{version=\"",
            "portcullis_auth_logins_total{provider=\"dev\",flow=\"code\"} 1",
            "portcullis_auth_logins_total{provider=\"github\",flow=\"code\"} 0",
            "portcullis_auth_logins_total{provider=\"github\",flow=\"access_token\"} 1",
            "portcullis_auth_login_failures_total{provider=\"dev\",flow=\"code\",reason=\"state_unknown\"} 2",
            "portcullis_auth_login_failures_total{provider=\"unknown\",flow=\"id_token\",reason=\"error\"} 1",
            "portcullis_auth_validations_total{outcome=\"valid\"} 1",
            "portcullis_auth_validations_total{outcome=\"expired\"} 1",
            "portcullis_auth_validations_total{outcome=\"error\"} 0",
            "portcullis_auth_revocations_total{kind=\"logout\"} 1",
            "portcullis_auth_revocations_total{kind=\"user\"} 3",
            "portcullis_auth_sweep_purged_total{kind=\"session\"} 2",
            "portcullis_auth_live_sessions{store=\"sled\"} 5",
            "portcullis_auth_store_probe_failures_total 1",
            "portcullis_auth_store_healthy 0",
            "portcullis_auth_provider_request_duration_seconds_bucket{le=\"0.05\",provider=\"dev\",endpoint=\"token\"} 1",
            "portcullis_auth_provider_request_duration_seconds_bucket{le=\"30.0\",provider=\"dev\",endpoint=\"token\"} 1",
            "portcullis_auth_provider_request_duration_seconds_bucket{le=\"+Inf\",provider=\"dev\",endpoint=\"token\"} 2",
            "portcullis_auth_provider_request_duration_seconds_count{provider=\"dev\",endpoint=\"token\"} 2",
            "portcullis_auth_provider_request_failures_total{provider=\"dev\",endpoint=\"token\"} 1",
            "portcullis_auth_jwks_refreshes_total{provider=\"dev\",outcome=\"success\"} 1",
            "portcullis_auth_jwks_refreshes_total{provider=\"unknown\",outcome=\"failure\"} 1",
        ] {
            assert_has(&text, line);
        }
        assert!(!text.contains("made-up"), "{text}");
        assert!(
            !text.contains("kind=\"backchannel\""),
            "no zero increments: {text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_fresh_registry_has_its_zero_series() {
        let text = Metrics::new(["dev"]).render();
        for outcome in Validation::ALL {
            assert_has(
                &text,
                &format!(
                    "portcullis_auth_validations_total{{outcome=\"{}\"}} 0",
                    outcome.as_str()
                ),
            );
        }
        assert_has(
            &text,
            "portcullis_auth_logins_total{provider=\"dev\",flow=\"code\"} 0",
        );
        assert_has(&text, "portcullis_auth_store_healthy 1");
        assert!(
            !text.contains("portcullis_auth_live_sessions{"),
            "no count before a sweep: {text}"
        );
        assert_has(
            &text,
            &format!(
                "portcullis_auth_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        );
    }
}
