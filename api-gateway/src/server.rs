//! The accept loop: hyper-util's auto (HTTP/1.1 + HTTP/2) connection
//! builder, because `axum::serve` has no header-read timeout, connection
//! cap or TLS. Each connection holds a semaphore permit (`max_connections`)
//! and, unless the peer is a trusted proxy, one of its IP's
//! `max_connections_per_ip` slots ([`crate::conn_limit`]; a connection
//! over that cap is closed as soon as it is accepted). HTTP/1 headers must
//! arrive within `header_read_timeout` (slowloris), TLS handshakes within
//! the same bound, and a connection with no request in progress is closed
//! after `header_read_timeout` before its first request and after
//! `keep_alive_timeout` after a response ([`crate::conn_idle`]), so silent
//! sockets give their slots back. Shutdown is graceful: stop accepting,
//! let open connections finish (bounded), then return.

use crate::StartError;
use crate::client_ip::TrustedProxies;
use crate::conn_idle::{Activity, IdleLimits, Tracked};
use crate::conn_limit::ConnLimit;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use common::config::GatewayConfig;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Serves `app` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    config: &GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let handshake_timeout = config.header_read_timeout;
    let idle_limits = IdleLimits {
        first_request: config.header_read_timeout,
        keep_alive: config.keep_alive_timeout,
    };
    let per_ip = ConnLimit::new(config.max_connections_per_ip);
    let trusted = TrustedProxies::from_config(config);
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The cap is on the TCP peer: nothing has been read yet. Trusted
        // proxies carry many clients and are exempt.
        let slot = if trusted.contains(peer.ip()) {
            None
        } else {
            match per_ip.try_acquire(peer.ip()) {
                Some(slot) => Some(slot),
                None => {
                    // Debug, not warn: the client controls how often.
                    tracing::debug!(%peer, "per-IP connection cap reached; closing");
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        // Converts hyper's body, records the peer address for handlers and
        // reports each request's progress to the idle deadline.
        let service = TowerToHyperService::new(Tracked::new(
            app.clone().map_request(move |request: Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            }),
            activity.clone(),
        ));
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => {
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    serve_until_idle(watcher.watch(conn), &activity, idle_limits, peer).await;
                }
                Some(acceptor) => {
                    let Some(stream) = handshake(&acceptor, stream, handshake_timeout).await else {
                        return;
                    };
                    // The first-request window starts after the handshake.
                    activity.idle_from_now();
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    serve_until_idle(watcher.watch(conn), &activity, idle_limits, peer).await;
                }
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining open connections");
    let grace = config.request_timeout.max(Duration::from_secs(1));
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish in time; closing them");
    }
    Ok(())
}

/// Drives `conn` until it ends or has been idle too long; dropping it
/// closes the socket (an idle connection has nothing in flight to lose).
async fn serve_until_idle<E: std::fmt::Display>(
    conn: impl Future<Output = Result<(), E>>,
    activity: &Activity,
    limits: IdleLimits,
    peer: std::net::SocketAddr,
) {
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        () = activity.idle_expired(limits) => {
            tracing::debug!(%peer, "closing an idle connection");
        }
    }
}

async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use common::config::Config;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::oneshot;

    /// A gateway whose auth-service address refuses connections (port 1).
    async fn start(extra: &str) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let config = Config::from_toml(
            &format!(
                "[gateway]\nauth_service_url = \"http://127.0.0.1:1\"\nauth_timeout = \"1s\"\n{extra}"
            ),
            &|_| None,
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            crate::run(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        (addr, stop, server)
    }

    /// One HTTP/1.1 request on a fresh connection; the whole answer.
    async fn request(addr: &str, head: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("{head}\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
            .await
            .unwrap()
            .unwrap();
        answer
    }

    #[tokio::test]
    async fn starts_without_auth_service_fails_closed_and_shuts_down() {
        let (addr, stop, server) = start("").await;
        assert!(
            request(&addr, "GET /healthz HTTP/1.1")
                .await
                .starts_with("HTTP/1.1 200")
        );
        assert!(
            request(&addr, "GET /readyz HTTP/1.1")
                .await
                .starts_with("HTTP/1.1 503")
        );
        let token = common::token::SessionToken::generate().unwrap();
        let me = request(
            &addr,
            &format!(
                "GET /auth/me HTTP/1.1\r\nCookie: portcullis={}",
                token.expose()
            ),
        )
        .await;
        assert!(me.starts_with("HTTP/1.1 503"), "{me}");
        assert!(me.contains("auth_unavailable"), "{me}");
        assert!(!me.contains(token.expose()));
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert!(TcpStream::connect(&addr).await.is_err(), "still accepting");
    }

    fn status(answer: &str) -> u16 {
        answer
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn login_endpoints_are_rate_limited_per_client_ip() {
        let (addr, _stop, _server) =
            start("login_rate_limit_burst = 3\nlogin_rate_limit_per_minute = 6\n").await;
        // The bucket is shared by the login and callback endpoints; the
        // requests fail (auth-service is down), so the callback is charged
        // too (only a callback completing a login is free).
        for path in [
            "/auth/login/dev",
            "/auth/callback/dev?code=c&state=s",
            "/auth/login/dev",
        ] {
            let answer = request(&addr, &format!("GET {path} HTTP/1.1")).await;
            assert_ne!(status(&answer), 429, "{answer}");
        }
        let answer = request(
            &addr,
            "GET /auth/login/dev HTTP/1.1\r\nAccept: application/json",
        )
        .await;
        assert_eq!(status(&answer), 429, "{answer}");
        // 6 a minute: one every 10 s.
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("\r\nretry-after: 10\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\"error\":\"rate_limited\""), "{answer}");
        // Browsers get the HTML page, still with Retry-After.
        let page = request(&addr, "GET /auth/login/dev HTTP/1.1\r\nAccept: text/html").await;
        assert_eq!(status(&page), 429, "{page}");
        assert!(
            page.to_ascii_lowercase().contains("retry-after: 10"),
            "{page}"
        );
        assert!(page.contains("text/html"), "{page}");
        // An empty bucket still lets the callback of a paid-for login
        // through; failing, it is charged, and the next one is refused.
        let callback = "GET /auth/callback/dev?code=c&state=s HTTP/1.1";
        let first = request(&addr, callback).await;
        assert_ne!(status(&first), 429, "{first}");
        let second = request(&addr, callback).await;
        assert_eq!(status(&second), 429, "{second}");
        // The token endpoint shares the bucket.
        let post = request(
            &addr,
            "POST /auth/session HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 0\r\nOrigin: http://localhost:8080",
        )
        .await;
        assert_eq!(status(&post), 429, "{post}");
        // A forged X-Forwarded-For from an untrusted peer changes nothing.
        let forged = request(
            &addr,
            "GET /auth/login/dev HTTP/1.1\r\nX-Forwarded-For: 198.51.100.1",
        )
        .await;
        assert_eq!(status(&forged), 429, "{forged}");
        // Other endpoints are not limited.
        assert_eq!(status(&request(&addr, "GET /healthz HTTP/1.1").await), 200);
    }

    #[tokio::test]
    async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
        let (addr, _stop, _server) =
            start("login_rate_limit_burst = 1\ntrusted_proxies = [\"127.0.0.1/32\"]\n").await;
        let from = |client: &str| {
            format!("GET /auth/login/dev HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6, {client}")
        };
        assert_ne!(status(&request(&addr, &from("198.51.100.1")).await), 429);
        assert_eq!(status(&request(&addr, &from("198.51.100.1")).await), 429);
        // The forged left-hand entry is not what counts.
        assert_ne!(status(&request(&addr, &from("198.51.100.2")).await), 429);
        // Without the header, the proxy itself is the client.
        assert_ne!(
            status(&request(&addr, "GET /auth/login/dev HTTP/1.1").await),
            429
        );
        assert_eq!(
            status(&request(&addr, "GET /auth/login/dev HTTP/1.1").await),
            429
        );
    }

    #[tokio::test]
    async fn slow_headers_are_cut_off() {
        let (addr, _stop, _server) = start("header_read_timeout = \"200ms\"\n").await;
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        // The server gives up on the headers and closes the connection.
        let closed =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        assert!(
            closed.is_ok(),
            "connection still open after the header timeout"
        );
        let text = String::from_utf8_lossy(&buf);
        assert!(!text.contains("200 OK"), "{text}");
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait() {
        let (addr, _stop, _server) = start("max_connections = 1\n").await;
        let mut first = TcpStream::connect(&addr).await.unwrap();
        first
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = first.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

        // The first connection is kept alive: the second is not served...
        let mut second = TcpStream::connect(&addr).await.unwrap();
        second
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        let early = tokio::time::timeout(
            Duration::from_millis(300),
            second.read_to_string(&mut answer),
        )
        .await;
        assert!(early.is_err(), "served beyond the cap: {answer}");
        // ...until the first one closes.
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second.read_to_string(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}
