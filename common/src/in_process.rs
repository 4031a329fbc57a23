//! An in-memory transport between the gateway and auth-service when both
//! run in one process (the `portcullis` single-node binary): each
//! connection is a [`tokio::io::duplex`] pair, so a call costs no socket,
//! no system call and no wake-up of another process. Measured side by
//! side, the gateway served 15–71 % more uncached authenticated requests
//! per second than over loopback TCP (BENCHMARKS.md, "One process: the
//! single-node binary").

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio_stream::Stream;

/// Bytes each direction of a connection buffers before the writer waits
/// for the reader: a frame of HTTP/2's default size (16 KiB) and its
/// neighbours fit, as they would in a socket's buffer.
const BUFFER: usize = 64 * 1024;

/// Connections waiting for the server to accept them before a new one
/// waits for room.
const BACKLOG: usize = 64;

/// A pipe's two ends: the gateway connects with the [`Connector`],
/// auth-service serves the [`Incoming`] stream.
pub fn pipe() -> (Connector, Incoming) {
    let (sender, receiver) = mpsc::channel(BACKLOG);
    (Connector(sender), Incoming(receiver))
}

/// The client end: opens connections to the in-process server. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Connector(mpsc::Sender<DuplexStream>);

impl Connector {
    /// A new connection, handed to the server; refused once the server has
    /// stopped (its [`Incoming`] dropped).
    pub async fn connect(&self) -> io::Result<DuplexStream> {
        let (client, server) = tokio::io::duplex(BUFFER);
        self.0.send(server).await.map_err(|_| {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the in-process auth-service has stopped",
            )
        })?;
        Ok(client)
    }
}

/// The server end: every connection a [`Connector`] opens, in order; ends
/// when every connector is dropped.
#[derive(Debug)]
pub struct Incoming(mpsc::Receiver<DuplexStream>);

impl Stream for Incoming {
    type Item = io::Result<DuplexStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|next| next.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_stream::StreamExt as _;

    #[tokio::test]
    async fn a_connection_carries_bytes_both_ways() {
        let (connector, mut incoming) = pipe();
        let mut client = connector.connect().await.unwrap();
        let mut server = incoming.next().await.unwrap().unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }

    #[tokio::test]
    async fn connecting_after_the_server_stopped_is_refused() {
        let (connector, incoming) = pipe();
        drop(incoming);
        let error = connector.connect().await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        assert!(error.to_string().contains("stopped"), "{error}");
    }

    #[tokio::test]
    async fn the_stream_ends_when_every_connector_is_dropped() {
        let (connector, mut incoming) = pipe();
        let second = connector.clone();
        drop(connector);
        drop(second);
        assert!(incoming.next().await.is_none());
    }
}
