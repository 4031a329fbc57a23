//! Prometheus metrics, hand-written text exposition (format 0.0.4) over a
//! few counters and one histogram: request counts by route and status, and
//! auth-service call latency and errors. Labels are bounded: routes are path
//! templates or configured prefixes, never raw paths.
//!
//! A std `Mutex` is right here: it is held for a map update, never across an
//! `.await` (mini-redis `src/db.rs` makes the same argument).

use axum::Router;
use axum::http::header;
use axum::routing::get;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct State {
    requests: BTreeMap<(String, u16), u64>,
    auth_latency: BTreeMap<&'static str, Histogram>,
    auth_errors: BTreeMap<(&'static str, String), u64>,
}

/// The gateway's metrics registry.
#[derive(Default)]
pub(crate) struct Metrics {
    state: Mutex<State>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-update;
        // counters are still usable.
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Counts one answered HTTP request.
    pub(crate) fn record_request(&self, route: &str, status: u16) {
        self.with(|s| *s.requests.entry((route.to_owned(), status)).or_default() += 1);
    }

    /// Records one auth-service call: its latency and, if it failed, the
    /// gRPC code.
    pub(crate) fn record_auth_call(
        &self,
        method: &'static str,
        elapsed: Duration,
        error: Option<&str>,
    ) {
        let secs = elapsed.as_secs_f64();
        self.with(|s| {
            let h = s.auth_latency.entry(method).or_default();
            h.count += 1;
            h.sum += secs;
            if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
                h.counts[i] += 1;
            }
            if let Some(code) = error {
                *s.auth_errors.entry((method, code.to_owned())).or_default() += 1;
            }
        });
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let (requests, latency, errors) = self.with(|s| {
            (
                s.requests.clone(),
                s.auth_latency.clone(),
                s.auth_errors.clone(),
            )
        });
        let mut out = String::new();
        out.push_str("# HELP portcullis_gateway_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE portcullis_gateway_requests_total counter\n");
        for ((route, status), n) in &requests {
            let _ = writeln!(
                out,
                "portcullis_gateway_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP portcullis_gateway_auth_call_duration_seconds Latency of calls to auth-service.\n");
        out.push_str("# TYPE portcullis_gateway_auth_call_duration_seconds histogram\n");
        for (method, h) in &latency {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "portcullis_gateway_auth_call_duration_seconds_bucket{{method=\"{method}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "portcullis_gateway_auth_call_duration_seconds_bucket{{method=\"{method}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "portcullis_gateway_auth_call_duration_seconds_sum{{method=\"{method}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "portcullis_gateway_auth_call_duration_seconds_count{{method=\"{method}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP portcullis_gateway_auth_call_errors_total Failed calls to auth-service, by gRPC code.\n");
        out.push_str("# TYPE portcullis_gateway_auth_call_errors_total counter\n");
        for ((method, code), n) in &errors {
            let _ = writeln!(
                out,
                "portcullis_gateway_auth_call_errors_total{{method=\"{method}\",code=\"{}\"}} {n}",
                escape(code)
            );
        }
        out
    }
}

/// The application of the `metrics_listen` listener: `GET /metrics` and
/// nothing else (404), so the only thing that port reveals is the metrics.
pub(crate) fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    )
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record_request("/auth/me", 200);
        m.record_request("/auth/me", 200);
        m.record_request("a\"b", 401);
        m.record_auth_call("ValidateSession", Duration::from_millis(3), None);
        m.record_auth_call(
            "ValidateSession",
            Duration::from_secs(9),
            Some("Unavailable"),
        );
        let text = m.render();
        assert!(
            text.contains("portcullis_gateway_requests_total{route=\"/auth/me\",status=\"200\"} 2")
        );
        assert!(text.contains("route=\"a\\\"b\""));
        assert!(text.contains("_bucket{method=\"ValidateSession\",le=\"0.005\"} 1"));
        assert!(text.contains("_bucket{method=\"ValidateSession\",le=\"+Inf\"} 2"));
        assert!(text.contains("_count{method=\"ValidateSession\"} 2"));
        assert!(text.contains(
            "portcullis_gateway_auth_call_errors_total{method=\"ValidateSession\",code=\"Unavailable\"} 1"
        ));
    }
}
