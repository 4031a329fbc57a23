//! A tiny upstream for proxy tests: echoes the path and headers it received
//! as JSON, and counts its hits and keeps their paths.

use axum::Json;
use axum::extract::Request;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct Echo {
    pub url: String,
    hits: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Echo {
    pub(crate) async fn start() -> Echo {
        let hits = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (counter, log) = (hits.clone(), paths.clone());
        let app = axum::Router::new().fallback(move |request: Request| {
            let (counter, log) = (counter.clone(), log.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let (parts, body) = request.into_parts();
                log.lock().unwrap().push(parts.uri.to_string());
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let mut headers = Map::new();
                for (name, value) in &parts.headers {
                    let entry = headers
                        .entry(name.as_str().to_owned())
                        .or_insert_with(|| Value::Array(vec![]));
                    if let Value::Array(values) = entry {
                        values.push(Value::String(value.to_str().unwrap_or("").to_owned()));
                    }
                }
                Json(json!({
                    "path": parts.uri.to_string(),
                    "method": parts.method.as_str(),
                    "headers": headers,
                    "body": String::from_utf8_lossy(&body),
                }))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Echo {
            url,
            hits,
            paths,
            _server: server,
        }
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The path and query of every request it received, in order.
    pub(crate) fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self._server.abort();
    }
}

/// The values of header `name` the upstream saw.
pub(crate) fn seen<'a>(echo: &'a Value, name: &str) -> Vec<&'a str> {
    echo["headers"][name]
        .as_array()
        .map(|values| values.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
