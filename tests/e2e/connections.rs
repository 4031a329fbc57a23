//! Connections that send nothing (issue 9.4), with raw sockets against the
//! real gateway binary: silent sockets beyond `max_connections` must not
//! lock other clients out, and the server must close every one of them;
//! one client IP cannot take every slot (`max_connections_per_ip`); idle
//! keep-alive connections are closed (`keep_alive_timeout`). And `/metrics`
//! lives on its own listener, not the public one (issue 9.5).

use portcullis_tests::{StackOptions, TestStack};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn stack(settings: &str) -> TestStack {
    TestStack::start_with(StackOptions {
        gateway_settings: settings.into(),
        ..StackOptions::default()
    })
    .await
}

fn addr(stack: &TestStack) -> SocketAddr {
    stack
        .gateway_url
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// A connection to `to` from the loopback address `from`, sending nothing.
async fn silent(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// `GET /healthz` on a fresh connection from `from`; the status line, or
/// what went wrong. At most `timeout`.
async fn healthz(from: [u8; 4], to: SocketAddr, timeout: Duration) -> Result<String, String> {
    tokio::time::timeout(timeout, async {
        let mut stream = silent(from, to).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        Ok(answer.lines().next().unwrap_or("").to_owned())
    })
    .await
    .map_err(|_| format!("no answer within {timeout:?}"))?
}

/// Waits (at most `timeout`) until the server has closed `stream`: a read
/// returns end-of-file or a reset. Returns how long that took.
async fn closed_by_server(stream: &mut TcpStream, timeout: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 64];
    match tokio::time::timeout(timeout, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => start.elapsed(),
        Ok(Ok(n)) => panic!("the server sent {n} bytes to a silent socket"),
        Err(_) => panic!("a silent socket was still open after {timeout:?}"),
    }
}

#[tokio::test]
async fn silent_sockets_beyond_max_connections_do_not_lock_others_out() {
    // Four slots, one second to send a first request.
    let stack = stack("max_connections = 4\nheader_read_timeout = \"1s\"\n").await;
    let gateway = addr(&stack);
    let mut sockets = Vec::new();
    for _ in 0..12 {
        sockets.push(silent([127, 0, 0, 1], gateway).await);
    }
    // Queued behind the twelve: they are closed four at a time, a second
    // apart, and then it is served.
    let start = Instant::now();
    let status = healthz([127, 0, 0, 1], gateway, Duration::from_secs(8))
        .await
        .unwrap();
    let served_after = start.elapsed();
    assert_eq!(status, "HTTP/1.1 200 OK");
    eprintln!("12 silent sockets, max_connections 4: /healthz served after {served_after:?}");
    for socket in &mut sockets {
        closed_by_server(socket, Duration::from_secs(10)).await;
    }
}

#[tokio::test]
async fn one_client_ip_cannot_take_every_connection() {
    // A long first-request window: only the per-IP cap can explain a
    // quick answer.
    let stack =
        stack("max_connections = 8\nmax_connections_per_ip = 2\nheader_read_timeout = \"5s\"\n")
            .await;
    let gateway = addr(&stack);
    let attacker = [127, 0, 0, 2];
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(silent(attacker, gateway).await);
    }
    let mut excess = Vec::new();
    for _ in 0..20 {
        excess.push(silent(attacker, gateway).await);
    }
    // Every connection over the cap is closed at once...
    for socket in &mut excess {
        let waited = closed_by_server(socket, Duration::from_secs(3)).await;
        assert!(waited < Duration::from_secs(3), "{waited:?}");
    }
    // ...and another client is served while the attacker holds its two.
    let start = Instant::now();
    let status = healthz([127, 0, 0, 1], gateway, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    eprintln!(
        "22 silent sockets from one IP, cap 2 per IP: another client served in {:?}",
        start.elapsed()
    );
    // The attacker itself gets nothing more while it holds its slots.
    let refused = healthz(attacker, gateway, Duration::from_secs(3)).await;
    assert!(
        refused.as_deref().map_or(true, |line| line.is_empty()),
        "{refused:?}"
    );
    // The two it holds are closed by the first-request timeout.
    for socket in &mut held {
        closed_by_server(socket, Duration::from_secs(10)).await;
    }
    assert_eq!(
        healthz(attacker, gateway, Duration::from_secs(3))
            .await
            .unwrap(),
        "HTTP/1.1 200 OK"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let stack = stack("keep_alive_timeout = \"1s\"\n").await;
    let mut stream = TcpStream::connect(addr(&stack)).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    let waited = closed_by_server(&mut stream, Duration::from_secs(10)).await;
    assert!(
        waited >= Duration::from_millis(900),
        "closed too early: {waited:?}"
    );
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_only() {
    let stack = stack("").await;
    assert_eq!(stack.get("/healthz").await.status(), 200);
    let public = stack.get("/metrics").await;
    assert_eq!(public.status(), 404);
    let metrics_url = stack.metrics_url().await;
    assert!(
        metrics_url.starts_with("http://127.0.0.1:"),
        "{metrics_url}"
    );
    assert_ne!(metrics_url, stack.gateway_url);
    let client = stack.bare_client();
    let text = stack.metrics_text().await;
    assert!(
        text.contains("portcullis_gateway_requests_total{route=\"/healthz\",status=\"200\"} 1"),
        "{text}"
    );
    // That listener serves nothing else.
    let other = client
        .get(format!("{metrics_url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}
