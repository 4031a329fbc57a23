//! The trace exporter, from the standard `OTEL_*` variables alone.
//!
//! Traces are off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the specification's default
//! endpoint would make every unconfigured deployment dial localhost:4317).
//! `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turns them off
//! again. Only OTLP over gRPC is built in: any other exporter or protocol is
//! refused at start-up rather than silently ignored. The exporter and the
//! SDK read the rest themselves (`OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT`,
//! `_COMPRESSION`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`); an `https` endpoint is
//! verified against `OTEL_EXPORTER_OTLP_CERTIFICATE` when set, otherwise
//! against the public web roots.

use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::transport::{Certificate, ClientTlsConfig};

/// Why traces could not be set up as the environment asks.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    /// An `OTEL_*` variable names something this build does not do.
    #[error("{variable}={value} is not supported: {supported}")]
    Unsupported {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What would be accepted.
        supported: &'static str,
    },
    /// The CA file for an `https` endpoint could not be read.
    #[error("{variable}: cannot read {path}: {source}")]
    Certificate {
        /// The variable that named the file.
        variable: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The exporter refused its configuration (a malformed endpoint, say).
    #[error("OTLP trace exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Reads one variable; a seam so the decisions can be tested without
/// touching the process environment.
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The first of `names` that is set to something other than blanks.
fn first_set(env: Env<'_>, names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|&name| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(|v| (name, v))
    })
}

/// The OTLP endpoint spans go to, or `None` when traces are off.
pub(super) fn endpoint(env: Env<'_>) -> Result<Option<String>, TracesError> {
    if first_set(env, &["OTEL_SDK_DISABLED"]).is_some_and(|(_, v)| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    if let Some((variable, value)) = first_set(env, &["OTEL_TRACES_EXPORTER"]) {
        match value.to_ascii_lowercase().as_str() {
            "otlp" => {}
            "none" => return Ok(None),
            _ => {
                return Err(TracesError::Unsupported {
                    variable,
                    value,
                    supported: "otlp or none",
                });
            }
        }
    }
    let Some((_, endpoint)) = first_set(
        env,
        &[
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ],
    ) else {
        return Ok(None);
    };
    if let Some((variable, value)) = first_set(
        env,
        &[
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ],
    ) && value != "grpc"
    {
        return Err(TracesError::Unsupported {
            variable,
            value,
            supported: "grpc (OTLP over gRPC is the one protocol built in)",
        });
    }
    Ok(Some(endpoint))
}

/// The TLS settings for an `https` endpoint; `None` for plain `http`.
fn tls(endpoint: &str, env: Env<'_>) -> Result<Option<ClientTlsConfig>, TracesError> {
    if !endpoint.starts_with("https://") {
        return Ok(None);
    }
    let Some((variable, path)) = first_set(
        env,
        &[
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        ],
    ) else {
        return Ok(Some(ClientTlsConfig::new().with_webpki_roots()));
    };
    let pem = std::fs::read(&path).map_err(|source| TracesError::Certificate {
        variable,
        path,
        source,
    })?;
    Ok(Some(
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
    ))
}

/// The tracer provider the environment asks for, or `None` when traces are
/// off. Spans are batched and exported off the request path.
pub(super) fn tracer_provider(
    service_name: &'static str,
    env: Env<'_>,
) -> Result<Option<SdkTracerProvider>, TracesError> {
    let Some(endpoint) = endpoint(env)? else {
        return Ok(None);
    };
    let mut exporter = SpanExporter::builder().with_tonic();
    if let Some(tls) = tls(&endpoint, env)? {
        exporter = exporter.with_tls_config(tls);
    }
    // The exporter reads the endpoint variables itself; naming it here too
    // keeps what was decided above and what is dialled the same.
    let exporter = exporter.with_endpoint(endpoint).build()?;
    let mut resource = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if first_set(env, &["OTEL_SERVICE_NAME"]).is_none() {
        resource = resource.with_service_name(service_name);
    }
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn decide(vars: &[(&str, &str)]) -> Result<Option<String>, TracesError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        endpoint(&|name| vars.get(name).cloned())
    }

    #[test]
    fn traces_are_off_without_an_endpoint() {
        assert!(decide(&[]).unwrap().is_none());
        assert!(
            decide(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")])
                .unwrap()
                .is_none()
        );
        assert!(
            decide(&[("OTEL_TRACES_EXPORTER", "otlp")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_traces_endpoint_wins_over_the_generic_one() {
        let chosen = decide(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
        ]);
        assert_eq!(chosen.unwrap().as_deref(), Some("http://traces:4317"));
        let generic = decide(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317")]);
        assert_eq!(generic.unwrap().as_deref(), Some("http://generic:4317"));
    }

    #[test]
    fn disabling_variables_turn_traces_off() {
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317");
        assert!(
            decide(&[on, ("OTEL_SDK_DISABLED", "TRUE")])
                .unwrap()
                .is_none()
        );
        assert!(
            decide(&[on, ("OTEL_TRACES_EXPORTER", "none")])
                .unwrap()
                .is_none()
        );
        assert!(
            decide(&[on, ("OTEL_SDK_DISABLED", "false")])
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn other_exporters_and_protocols_are_refused_by_name() {
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317");
        let e = decide(&[on, ("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "OTEL_TRACES_EXPORTER=zipkin is not supported: otlp or none"
        );
        let e = decide(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf is not supported"),
            "{e}"
        );
        let e = decide(&[
            on,
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ])
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="),
            "{e}"
        );
        assert!(
            decide(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn https_endpoints_get_tls_and_a_missing_ca_file_is_named() {
        let none = |_: &str| None;
        assert!(tls("http://c:4317", &none).unwrap().is_none());
        assert!(tls("https://c:4317", &none).unwrap().is_some());
        let ca = |name: &str| {
            (name == "OTEL_EXPORTER_OTLP_CERTIFICATE").then(|| "/nonexistent/ca.pem".to_owned())
        };
        let e = tls("https://c:4317", &ca).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read /nonexistent/ca.pem"),
            "{e}"
        );
    }
}
