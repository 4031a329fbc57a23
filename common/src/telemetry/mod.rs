//! Logs and traces shared by the binaries.
//!
//! Logs: `tracing` with an `RUST_LOG`-style filter, human-readable text by
//! default or one JSON object per line. Traces: OpenTelemetry spans made
//! from the same `tracing` spans and exported over OTLP/gRPC, configured
//! only by the standard `OTEL_*` variables and off unless an OTLP endpoint
//! is set ([`otlp`]). How a trace crosses a process boundary is
//! [`trace_context`]'s job.

mod otlp;
pub mod trace_context;

use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

pub use otlp::TracesError;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for terminals.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// What [`init`] installed. Keep it for the life of the process and call
/// [`Telemetry::shutdown`] on the way out, so the spans of the last requests
/// are exported rather than dropped.
#[must_use = "dropping it without shutdown loses the last spans"]
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported (an OTLP endpoint is configured).
    pub fn exports_traces(&self) -> bool {
        self.tracer_provider.is_some()
    }

    /// Exports the spans still buffered, then stops the exporter. Bounded by
    /// the exporter's timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`), and run off the
    /// async workers because the SDK waits for its export thread.
    pub async fn shutdown(self) {
        let Some(provider) = self.tracer_provider else {
            return;
        };
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!("trace export at shutdown failed: {e}");
        }
    }
}

/// Installs the global subscriber: logs always, and an OpenTelemetry layer
/// when the `OTEL_*` variables ask for traces. `RUST_LOG` overrides
/// `default_filter`; `service_name` is the `service.name` unless
/// `OTEL_SERVICE_NAME` says otherwise.
///
/// Must run inside the Tokio runtime (the OTLP exporter's gRPC channel lives
/// on it). Calling it twice is harmless for logs (the second call installs
/// nothing), so tests can start several servers in one process; an invalid
/// `OTEL_*` setting is an error, so a deployment that asked for traces never
/// runs silently without them.
pub fn init(
    format: LogFormat,
    default_filter: &str,
    service_name: &'static str,
) -> Result<Telemetry, TracesError> {
    let tracer_provider = otlp::tracer_provider(service_name, &|name| std::env::var(name).ok())?;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let traces = tracer_provider.as_ref().map(|provider| {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("portcullis"))
            .with_filter(not_the_exporters_own())
    });
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    let _already_set = match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    Ok(Telemetry { tracer_provider })
}

/// The exporter's own transport (tonic, h2, hyper, tower) and the SDK must
/// not feed spans back into the exporter: each export would make more.
fn not_the_exporters_own() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("opentelemetry_sdk", LevelFilter::OFF)
        .with_target("opentelemetry_otlp", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
}
