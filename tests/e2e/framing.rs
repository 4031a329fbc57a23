//! HTTP/1.1 framing at the gateway's edge, with raw sockets (issue 9.3):
//! a request with no `Host`, two, or one that contradicts its absolute
//! target is a 400; a chunked body with a bad chunk size, one over the body
//! cap, or one cut short is refused (400 / 413) before the upstream sees a
//! byte. A raw upstream records every byte it receives to prove it.

use crate::raw_upstream::RawUpstream;
use portcullis_tests::{StackOptions, TestStack};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn stack(upstream: &RawUpstream) -> TestStack {
    TestStack::start_with(StackOptions {
        routes: format!(
            "[[routes]]\npath_prefix = \"/pub/\"\npolicy = \"public\"\n\
             target = {{ upstream = \"{}\" }}\n",
            upstream.url
        ),
        gateway_settings: "max_request_body_bytes = 1024\n".into(),
        ..StackOptions::default()
    })
    .await
}

fn addr(stack: &TestStack) -> String {
    stack.gateway_url.trim_start_matches("http://").to_owned()
}

/// Sends `bytes` on a fresh connection, optionally closes the sending
/// half, and reads the whole answer (at most 10 s).
async fn exchange(addr: &str, bytes: &[u8], close_write: bool) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    if close_write {
        stream.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    // A reset after the answer is fine: the answer is what counts.
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        read.is_ok(),
        "the gateway did not close the connection within 10 s; it answered {answer:?}"
    );
    answer
}

fn status(answer: &str) -> u16 {
    answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn requests_without_exactly_one_valid_host_are_400_and_never_forwarded() {
    let upstream = RawUpstream::start().await;
    let stack = stack(&upstream).await;
    let addr = addr(&stack);
    for (what, request) in [
        (
            "no Host",
            "GET /pub/a HTTP/1.1\r\nConnection: close\r\n\r\n",
        ),
        (
            "two Hosts",
            "GET /pub/b HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n",
        ),
        (
            "the same Host twice",
            "GET /pub/c HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\nConnection: close\r\n\r\n",
        ),
        (
            "Host against the absolute target",
            "GET http://a.example/pub/d HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n",
        ),
        (
            "Host with user info",
            "GET /pub/e HTTP/1.1\r\nHost: user@a.example\r\nConnection: close\r\n\r\n",
        ),
        (
            "empty Host",
            "GET /pub/f HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
        ),
    ] {
        let answer = exchange(&addr, request.as_bytes(), false).await;
        assert_eq!(status(&answer), 400, "{what}: {answer}");
        assert!(answer.contains("bad_host"), "{what}: {answer}");
    }
    assert_eq!(
        upstream.received(),
        "",
        "a refused request reached the upstream"
    );

    // The control: one Host, and an absolute target that agrees with it.
    for request in [
        "GET /pub/ok HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
        "GET http://a.example/pub/ok2 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
    ] {
        let answer = exchange(&addr, request.as_bytes(), false).await;
        assert_eq!(status(&answer), 200, "{answer}");
    }
    let received = upstream.received();
    assert!(
        received.starts_with("GET /pub/ok HTTP/1.1\r\n"),
        "{received}"
    );
    assert!(received.contains("GET /pub/ok2 HTTP/1.1\r\n"), "{received}");
}

#[tokio::test]
async fn broken_or_oversized_bodies_are_refused_before_the_upstream_sees_a_byte() {
    let upstream = RawUpstream::start().await;
    let stack = stack(&upstream).await;
    let addr = addr(&stack);
    let head = "POST /pub/upload HTTP/1.1\r\nHost: a.example\r\nContent-Type: text/plain\r\nConnection: close\r\n";
    let big_chunks: String = (0..8)
        .map(|_| format!("200\r\n{}\r\n", "x".repeat(512)))
        .collect();
    for (what, body, close_write, expected) in [
        (
            "an invalid chunk size",
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n".to_owned(),
            false,
            400,
        ),
        (
            "a chunked body over the 1024-byte cap",
            format!("Transfer-Encoding: chunked\r\n\r\n{big_chunks}0\r\n\r\n"),
            false,
            413,
        ),
        (
            "a Content-Length over the cap",
            format!("Content-Length: 4096\r\n\r\n{}", "x".repeat(4096)),
            false,
            413,
        ),
        (
            "a body cut short",
            "Content-Length: 100\r\n\r\nonly ten b".to_owned(),
            true,
            400,
        ),
        (
            "a chunked body cut short",
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_owned(),
            true,
            400,
        ),
    ] {
        let answer = exchange(&addr, format!("{head}{body}").as_bytes(), close_write).await;
        assert_eq!(status(&answer), expected, "{what}: {answer}");
    }
    assert_eq!(
        upstream.received(),
        "",
        "a refused body reached the upstream"
    );

    // The control: a valid chunked body within the cap arrives whole, with
    // its exact length.
    let answer = exchange(
        &addr,
        format!("{head}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            .as_bytes(),
        false,
    )
    .await;
    assert_eq!(status(&answer), 200, "{answer}");
    let received = upstream.received().to_ascii_lowercase();
    assert!(
        received.starts_with("post /pub/upload http/1.1\r\n"),
        "{received}"
    );
    assert!(received.contains("content-length: 11\r\n"), "{received}");
    assert!(!received.contains("transfer-encoding"), "{received}");
    assert!(received.ends_with("\r\n\r\nhello world"), "{received}");
}
