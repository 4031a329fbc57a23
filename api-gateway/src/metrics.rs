//! Prometheus metrics: request counts by route and status, and auth-service
//! call latency and errors, kept and encoded by `prometheus-client` (the
//! Prometheus project's own Rust client: OpenMetrics text, label escaping
//! and histogram bookkeeping are theirs, not ours). Labels are bounded:
//! routes are path templates or configured prefixes, never raw paths; calls
//! are RPC names; errors are gRPC code names.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use session_cache::{FeedState, ValidationCache};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The content type of the OpenMetrics text format, which Prometheus
/// negotiates and parses natively.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DenialLabels {
    route: String,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallErrorLabels {
    method: &'static str,
    code: String,
}

/// The gateway's metrics registry.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    auth_latency: Family<CallLabels, Histogram>,
    auth_errors: Family<CallErrorLabels, Counter>,
    denials: Family<DenialLabels, Counter>,
    replicas_up: Gauge,
}

impl Metrics {
    /// The registry with the gateway's own metrics.
    pub(crate) fn new() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let auth_latency =
            Family::<CallLabels, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        let auth_errors = Family::<CallErrorLabels, Counter>::default();
        let replicas_up = Gauge::default();
        let denials = Family::<DenialLabels, Counter>::default();
        let mut registry = Registry::with_prefix("portcullis_gateway");
        registry.register(
            "requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "auth_call_duration_seconds",
            "Latency of calls to auth-service",
            auth_latency.clone(),
        );
        registry.register(
            "auth_call_errors",
            "Failed calls to auth-service, by gRPC code",
            auth_errors.clone(),
        );
        registry.register(
            "policy_denials",
            "Requests a route policy refused (configured routes, /auth/check, ext_authz), \
             by route and reason (unauthenticated, forbidden)",
            denials.clone(),
        );
        registry.register(
            "auth_service_replicas_up",
            "auth-service replicas calls go to (with several auth_service_urls: those answering their health probe)",
            replicas_up.clone(),
        );
        Self {
            registry,
            requests,
            auth_latency,
            auth_errors,
            denials,
            replicas_up,
        }
    }

    /// Adds the session cache's figures, read at each scrape.
    pub(crate) fn register_session_cache<V: Clone + Send + Sync + 'static>(
        &mut self,
        cache: Arc<ValidationCache<V>>,
    ) {
        self.registry
            .register_collector(Box::new(SessionCacheFigures(cache)));
    }

    /// How many auth-service replicas calls go to.
    pub(crate) fn set_replicas_up(&self, up: usize) {
        self.replicas_up.set(i64::try_from(up).unwrap_or(i64::MAX));
    }
    /// Counts one answered HTTP request.
    pub(crate) fn record_request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// Counts one request the policy of `route` (a configured prefix, or
    /// `default` for /auth/check's default policy) refused for `reason`.
    pub(crate) fn record_denial(&self, route: &str, reason: &'static str) {
        self.denials
            .get_or_create(&DenialLabels {
                route: route.to_owned(),
                reason,
            })
            .inc();
    }

    /// Records one auth-service call: its latency and, if it failed, the
    /// gRPC code.
    pub(crate) fn record_auth_call(
        &self,
        method: &'static str,
        elapsed: Duration,
        error: Option<&str>,
    ) {
        self.auth_latency
            .get_or_create(&CallLabels { method })
            .observe(elapsed.as_secs_f64());
        if let Some(code) = error {
            self.auth_errors
                .get_or_create(&CallErrorLabels {
                    method,
                    code: code.to_owned(),
                })
                .inc();
        }
    }

    /// The OpenMetrics text exposition.
    fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a `String` cannot fail.
        if encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        out
    }

    /// The `GET /metrics` answer.
    pub(crate) fn response(&self) -> Response {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], self.render()).into_response()
    }
}

/// The session cache's own counters, read at each scrape: hits, misses,
/// flushes, entries held, and where it stands with its feed.
struct SessionCacheFigures<V>(Arc<ValidationCache<V>>);

impl<V: Clone + Send + Sync + 'static> std::fmt::Debug for SessionCacheFigures<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCacheFigures")
            .field("state", &self.0.state())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedStateLabels {
    state: &'static str,
}

impl<V: Clone + Send + Sync + 'static> Collector for SessionCacheFigures<V> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        for (name, help, value) in [
            (
                "session_cache_hits",
                "Validations answered from the session cache",
                &stats.hits,
            ),
            (
                "session_cache_misses",
                "Validations that went to auth-service (the feed not healthy included)",
                &stats.misses,
            ),
            (
                "session_cache_flushes",
                "Times the whole session cache was dropped (feed lost, stalled or reset)",
                &stats.flushes,
            ),
        ] {
            let counter = ConstCounter::new(value.load(Ordering::Relaxed));
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let entries = ConstGauge::new(i64::try_from(self.0.entry_count()).unwrap_or(i64::MAX));
        entries.encode(encoder.encode_descriptor(
            "session_cache_entries",
            "Validations held in the session cache",
            None,
            entries.metric_type(),
        )?)?;
        let delays = stats.propagation.snapshot();
        encoder
            .encode_descriptor(
                "session_cache_propagation_seconds",
                "From the store's commit of a revocation to its arrival at this gateway's cache (the two clocks' skew included)",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(
                delays.sum_seconds,
                delays.count,
                &delays.buckets,
                None,
            )?;
        let current = self.0.state();
        let mut family = encoder.encode_descriptor(
            "session_cache_feed_state",
            "1 for the revocation feed state the session cache is in (only on serves hits)",
            None,
            MetricType::Gauge,
        )?;
        for (state, name) in [
            (FeedState::Off, "off"),
            (FeedState::Syncing, "syncing"),
            (FeedState::On, "on"),
        ] {
            ConstGauge::new(i64::from(state == current))
                .encode(family.encode_family(&FeedStateLabels { state: name })?)?;
        }
        Ok(())
    }
}

/// The application of the `metrics_listen` listener: `GET /metrics` and
/// nothing else (404), so the only thing that port reveals is the metrics.
pub(crate) fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route("/metrics", get(move || async move { metrics.response() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.record_request("/auth/me", 200);
        m.record_request("/auth/me", 200);
        m.record_request("a\"b", 401);
        m.record_auth_call("ValidateSession", Duration::from_millis(3), None);
        m.record_auth_call(
            "ValidateSession",
            Duration::from_secs(9),
            Some("Unavailable"),
        );
        m.record_denial("/api/admin/", "forbidden");
        let text = m.render();
        assert!(
            text.contains(
                "portcullis_gateway_policy_denials_total{route=\"/api/admin/\",reason=\"forbidden\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("portcullis_gateway_requests_total{route=\"/auth/me\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("route=\"a\\\"b\""), "{text}");
        assert!(
            text.contains("_bucket{le=\"0.005\",method=\"ValidateSession\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("_bucket{le=\"+Inf\",method=\"ValidateSession\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("_count{method=\"ValidateSession\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "portcullis_gateway_auth_call_errors_total{method=\"ValidateSession\",code=\"Unavailable\"} 1"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn session_cache_figures_are_read_at_each_scrape() {
        let cache = Arc::new(ValidationCache::<()>::new(10, Duration::from_secs(30)).unwrap());
        let mut m = Metrics::new();
        m.register_session_cache(cache.clone());
        let text = m.render();
        assert!(
            text.contains("portcullis_gateway_session_cache_feed_state{state=\"off\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_gateway_session_cache_misses_total 0"),
            "{text}"
        );
        assert!(cache.get(&[0; 32]).is_none());
        cache.stream_opened();
        cache.synced();
        let text = m.render();
        assert!(
            text.contains("portcullis_gateway_session_cache_misses_total 1"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_gateway_session_cache_flushes_total 1"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_gateway_session_cache_feed_state{state=\"on\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_gateway_session_cache_feed_state{state=\"off\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_gateway_session_cache_entries 0"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_gateway_session_cache_hits_total 0"),
            "{text}"
        );
        let committed = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        cache
            .stats()
            .propagation
            .observe(committed, committed + Duration::from_millis(3));
        let text = m.render();
        for line in [
            "portcullis_gateway_session_cache_propagation_seconds_bucket{le=\"0.0025\"} 0",
            "portcullis_gateway_session_cache_propagation_seconds_bucket{le=\"0.005\"} 1",
            "portcullis_gateway_session_cache_propagation_seconds_bucket{le=\"+Inf\"} 1",
            "portcullis_gateway_session_cache_propagation_seconds_count 1",
            "portcullis_gateway_session_cache_propagation_seconds_sum 0.003",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
