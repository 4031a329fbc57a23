//! OpenTelemetry traces (issue 14 part 1): with `OTEL_EXPORTER_OTLP_ENDPOINT`
//! set, one login is one trace across the gateway and auth-service, down to
//! the provider's token endpoint; a trusted proxy's `traceparent` is
//! joined and carried on to the upstream; no span carries the code, the session token or a cookie. The
//! collector is an in-process OTLP/gRPC receiver built from the
//! `opentelemetry-proto` server types.

use crate::upstream::{Echo, seen};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use portcullis_tests::{StackOptions, TestStack, wait_until};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// One exported span, flattened with its service's name.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    /// Every attribute as `key=value`.
    attributes: Vec<String>,
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

fn text(attribute: &KeyValue) -> String {
    let value = match attribute.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    format!("{}={value}", attribute.key)
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .map(text)
                .find_map(|kv| kv.strip_prefix("service.name=").map(str::to_owned))
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(Span {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: span.attributes.iter().map(text).collect(),
                });
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Collector {
    /// Starts the receiver on a free loopback port; returns its URL.
    async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        url
    }

    fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }
}

const SENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SENT_PARENT: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn one_login_is_one_trace_across_both_services() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let echo = Echo::start().await;
    let stack = TestStack::start_with(StackOptions {
        routes: format!(
            "[[routes]]\npath_prefix = \"/echo/\"\ntarget = {{ upstream = \"{}\" }}\n",
            echo.url
        ),
        // The test client is the trusted proxy here, so its traceparent
        // is joined.
        gateway_settings: "trusted_proxies = [\"127.0.0.1/32\"]\n".to_owned(),
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "50".to_owned()),
        ],
        ..StackOptions::default()
    })
    .await;
    let client = stack.browser();
    let callback = stack.authorize(&client, "alice", "/").await;
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code in the callback");
    let response = client
        .get(&callback)
        .header("traceparent", format!("00-{SENT_TRACE}-{SENT_PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let token = portcullis_tests::cookie_value(
        portcullis_tests::set_cookie(&response, &stack.session_cookie).expect("session cookie"),
    )
    .to_owned();

    let in_trace = |spans: &[Span], service: &str, name: &str| {
        spans
            .iter()
            .any(|s| s.trace_id == SENT_TRACE && s.service == service && s.name == name)
    };
    wait_until(
        Duration::from_secs(20),
        "the login's spans from both services",
        || {
            let spans = collector.spans();
            let complete = in_trace(&spans, "portcullis-api-gateway", "request")
                && in_trace(
                    &spans,
                    "portcullis-auth-service",
                    "/auth.v1.AuthService/CompleteLogin",
                )
                && in_trace(&spans, "portcullis-auth-service", "provider_call");
            async move { complete }
        },
    )
    .await;
    let spans = collector.spans();
    // The trace as text, for a reader of a failing run's output.
    for span in spans.iter().filter(|s| s.trace_id == SENT_TRACE) {
        eprintln!(
            "trace {} span {} parent {} {:<24} {} {:?}",
            span.trace_id,
            span.span_id,
            span.parent_span_id,
            span.service,
            span.name,
            span.attributes
        );
    }

    let request = spans
        .iter()
        .find(|s| {
            s.trace_id == SENT_TRACE && s.service == "portcullis-api-gateway" && s.name == "request"
        })
        .unwrap();
    assert_eq!(
        request.parent_span_id, SENT_PARENT,
        "joined the proxy's span"
    );
    assert!(
        request
            .attributes
            .iter()
            .any(|a| a == "path=/auth/callback/dev"),
        "{:?}",
        request.attributes
    );
    let rpc = spans
        .iter()
        .find(|s| s.trace_id == SENT_TRACE && s.name == "/auth.v1.AuthService/CompleteLogin")
        .unwrap();
    assert_ne!(
        rpc.parent_span_id, SENT_PARENT,
        "the RPC is a child of a gateway span"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.service == "portcullis-api-gateway" && s.span_id == rpc.parent_span_id),
        "the RPC's parent is a span the gateway exported"
    );
    assert!(
        spans.iter().any(|s| s.trace_id == SENT_TRACE
            && s.name == "provider_call"
            && s.attributes.iter().any(|a| a == "endpoint=token endpoint")),
        "{spans:#?}"
    );

    // The first request with the session (validated by auth-service, not
    // yet cached): a trace of its own.
    let me = stack.get_with_session("/auth/me", &token).await;
    assert_eq!(me.status(), 200);
    wait_until(Duration::from_secs(20), "the /auth/me spans", || {
        let done = collector.spans().iter().any(|s| {
            s.service == "portcullis-auth-service"
                && s.name == "/auth.v1.AuthService/ValidateSession"
                && s.trace_id != SENT_TRACE
        });
        async move { done }
    })
    .await;

    // A proxied request: the upstream continues the trace from the
    // gateway's span, never from the sender's; the trusted proxy's
    // `tracestate` belongs to its trace and travels with it (W3C).
    let proxied: Value = client
        .get(stack.url("/echo/x"))
        .header("cookie", format!("{}={token}", stack.session_cookie))
        .header("traceparent", format!("00-{SENT_TRACE}-{SENT_PARENT}-01"))
        .header("tracestate", "sender=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upstream_parent = seen(&proxied, "traceparent");
    assert_eq!(upstream_parent.len(), 1, "{proxied}");
    let parts: Vec<&str> = upstream_parent[0].split('-').collect();
    assert_eq!(parts[1], SENT_TRACE, "the upstream is in the proxy's trace");
    assert_ne!(parts[2], SENT_PARENT, "the upstream's parent is our span");
    assert_eq!(seen(&proxied, "tracestate"), vec!["sender=1"], "{proxied}");
    let gateway_span = parts[2].to_owned();
    wait_until(
        Duration::from_secs(20),
        "the proxied request's span",
        || {
            let exported = collector
                .spans()
                .iter()
                .any(|s| s.service == "portcullis-api-gateway" && s.span_id == gateway_span);
            async move { exported }
        },
    )
    .await;

    // Nothing secret in any span of the whole run.
    let spans = collector.spans();
    for span in &spans {
        let all = format!("{} {}", span.name, span.attributes.join(" "));
        assert!(!all.contains(&token), "session token in {span:?}");
        assert!(!all.contains(&code), "authorization code in {span:?}");
        assert!(
            !all.contains(stack.service_token()),
            "service token in {span:?}"
        );
        assert!(
            !all.to_ascii_lowercase().contains("cookie"),
            "cookie in {span:?}"
        );
    }
}
