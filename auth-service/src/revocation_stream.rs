//! One `WatchRevocations` stream: a [`Subscription`] of the revocation feed
//! turned into proto events, with heartbeats so the watcher can tell a quiet
//! feed from a dead one.
//!
//! Order on the wire: `Reset` when the resume position was not honoured,
//! the replayed events, `Synced`, then live events and heartbeats. `Synced`
//! comes after the replay so a watcher that resumed never serves from its
//! cache before it has heard what it missed. A watcher that falls behind the
//! feed's buffer gets `Reset` and the stream ends: it reconnects and starts
//! over, having dropped its cache.

use crate::revocation_feed::{Entry, FeedItem, Revocation, RevocationFeed, Subscription};
use common::proto::{
    Heartbeat, Reset, ResumeToken, RevocationEvent, SessionRevoked, Synced, UserRevoked,
    revocation_event::Event,
};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// How often an idle stream says it is alive. Watchers treat three missed
/// heartbeats as a dead stream, so this bounds how long a silently
/// partitioned cache can serve (the design's 3 s).
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Events queued for one slow network peer before the feed's own buffer
/// takes over as the bound.
const OUTBOX: usize = 64;

/// The stream type tonic serves.
pub(crate) type EventStream = Pin<Box<dyn Stream<Item = Result<RevocationEvent, Status>> + Send>>;

/// Starts a stream for one watcher; it ends when the watcher goes away, the
/// watcher falls behind, or `shutdown` is cancelled (so a graceful shutdown
/// is not held open by watchers).
pub(crate) fn start(
    feed: &RevocationFeed,
    resume: Option<(&str, &str)>,
    shutdown: CancellationToken,
) -> Result<EventStream, Status> {
    // Offline: the watcher retries with backoff (another replica may be
    // online) and meanwhile validates every request.
    let subscription = feed
        .subscribe(resume)
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let (outbox, stream) = mpsc::channel(OUTBOX);
    tokio::spawn(pump(subscription, outbox, HEARTBEAT_INTERVAL, shutdown));
    Ok(Box::pin(ReceiverStream::new(stream)))
}

/// Writes the subscription to `outbox` until one side is done.
async fn pump(
    mut subscription: Subscription,
    outbox: mpsc::Sender<Result<RevocationEvent, Status>>,
    heartbeat: Duration,
    shutdown: CancellationToken,
) {
    let epoch = subscription.epoch.clone();
    let mut position = subscription.head.take().unwrap_or_default();
    let mut opening = Vec::new();
    if subscription.reset {
        opening.push(event(Event::Reset(Reset {}), &epoch, &position));
    }
    for entry in std::mem::take(&mut subscription.replay) {
        position.clone_from(&entry.position);
        opening.push(revoked(&entry, &epoch));
    }
    opening.push(event(Event::Synced(Synced {}), &epoch, &position));
    for message in opening {
        if outbox.send(Ok(message)).await.is_err() {
            return;
        }
    }

    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let interval_ms = u32::try_from(heartbeat.as_millis()).unwrap_or(u32::MAX);
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            () = outbox.closed() => return,
            _ = ticker.tick() => event(Event::Heartbeat(Heartbeat { interval_ms }), &epoch, &position),
            item = subscription.live.recv() => match item {
                Ok(FeedItem::Event(entry)) => {
                    position.clone_from(&entry.position);
                    revoked(&entry, &epoch)
                }
                // The feed lost continuity, or this watcher fell behind it:
                // either way its cache may be stale. Say so and end.
                Ok(FeedItem::Reset) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = outbox.send(Ok(event(Event::Reset(Reset {}), &epoch, &position))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if outbox.send(Ok(message)).await.is_err() {
            return;
        }
    }
}

fn revoked(entry: &Arc<Entry>, epoch: &str) -> RevocationEvent {
    let body = match &entry.revocation {
        Revocation::Session {
            token_hash,
            session_id,
            user_id,
        } => Event::Session(SessionRevoked {
            token_hash: token_hash.to_vec(),
            session_id: session_id.clone(),
            user_id: user_id.clone(),
        }),
        Revocation::User { user_id } => Event::User(UserRevoked {
            user_id: user_id.clone(),
        }),
    };
    RevocationEvent {
        revoked_at: Some(entry.revoked_at.into()),
        ..event(body, epoch, &entry.position)
    }
}

fn event(body: Event, epoch: &str, position: &str) -> RevocationEvent {
    RevocationEvent {
        event: Some(body),
        position: Some(ResumeToken {
            epoch: epoch.to_owned(),
            position: position.to_owned(),
        }),
        revoked_at: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    fn user(id: &str) -> Revocation {
        Revocation::User {
            user_id: id.to_owned(),
        }
    }

    async fn next(stream: &mut EventStream) -> RevocationEvent {
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream is open")
            .expect("no error")
    }

    fn kind(e: &RevocationEvent) -> &'static str {
        match e.event {
            Some(Event::Synced(_)) => "synced",
            Some(Event::Session(_)) => "session",
            Some(Event::User(_)) => "user",
            Some(Event::Heartbeat(_)) => "heartbeat",
            Some(Event::Reset(_)) => "reset",
            None => "none",
        }
    }

    #[tokio::test]
    async fn fresh_stream_opens_synced_then_carries_revocations() {
        let feed = RevocationFeed::new("ep".into());
        let mut stream = start(&feed, None, CancellationToken::new()).unwrap();
        assert_eq!(kind(&next(&mut stream).await), "synced");
        let committed =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        feed.publish(
            Revocation::Session {
                token_hash: [7; 32],
                session_id: "s1".into(),
                user_id: "u1".into(),
            },
            committed,
        );
        let e = next(&mut stream).await;
        assert_eq!(
            e.revoked_at,
            Some(committed.into()),
            "the commit time travels with the event"
        );
        let Some(Event::Session(s)) = &e.event else {
            panic!("{e:?}")
        };
        assert_eq!(
            (s.token_hash.as_slice(), s.session_id.as_str()),
            (&[7; 32][..], "s1")
        );
        let pos = e.position.unwrap();
        assert_eq!((pos.epoch.as_str(), pos.position.as_str()), ("ep", "1"));
    }

    #[tokio::test]
    async fn resumed_stream_replays_before_synced() {
        let feed = RevocationFeed::new("ep".into());
        for id in ["a", "b", "c"] {
            feed.publish(user(id), std::time::SystemTime::UNIX_EPOCH);
        }
        let mut stream = start(&feed, Some(("ep", "1")), CancellationToken::new()).unwrap();
        let kinds = [
            next(&mut stream).await,
            next(&mut stream).await,
            next(&mut stream).await,
        ];
        assert_eq!(
            kinds.iter().map(kind).collect::<Vec<_>>(),
            ["user", "user", "synced"]
        );
        assert_eq!(kinds[2].position.as_ref().unwrap().position, "3");
    }

    #[tokio::test]
    async fn unhonoured_resume_opens_with_reset() {
        let feed = RevocationFeed::new("ep".into());
        let mut stream = start(&feed, Some(("old", "9")), CancellationToken::new()).unwrap();
        assert_eq!(kind(&next(&mut stream).await), "reset");
        assert_eq!(kind(&next(&mut stream).await), "synced");
    }

    #[tokio::test]
    async fn idle_stream_sends_heartbeats() {
        let feed = RevocationFeed::new("ep".into());
        let mut stream = start(&feed, None, CancellationToken::new()).unwrap();
        assert_eq!(kind(&next(&mut stream).await), "synced");
        let e = next(&mut stream).await;
        assert_eq!(kind(&e), "heartbeat");
        let Some(Event::Heartbeat(h)) = e.event else {
            panic!()
        };
        assert_eq!(h.interval_ms, 1000);
    }

    #[tokio::test]
    async fn feed_reset_is_forwarded_and_ends_the_stream() {
        let feed = RevocationFeed::new("ep".into());
        let mut stream = start(&feed, None, CancellationToken::new()).unwrap();
        assert_eq!(kind(&next(&mut stream).await), "synced");
        feed.reset();
        assert_eq!(kind(&next(&mut stream).await), "reset");
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn an_offline_feed_refuses_watchers_as_unavailable() {
        let feed = RevocationFeed::new("ep".into());
        feed.go_offline();
        let refused = start(&feed, None, CancellationToken::new()).err().unwrap();
        assert_eq!(refused.code(), tonic::Code::Unavailable);
    }

    #[tokio::test]
    async fn shutdown_ends_the_stream() {
        let feed = RevocationFeed::new("ep".into());
        let shutdown = CancellationToken::new();
        let mut stream = start(&feed, None, shutdown.clone()).unwrap();
        assert_eq!(kind(&next(&mut stream).await), "synced");
        shutdown.cancel();
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(end, Ok(None)), "{end:?}");
    }
}
