//! The storage test suite, one body per rule, run against every backend
//! (sled in a temporary directory, Redis on a `redis-server` of its own), so
//! both keep the traits' promises the same way.

use super::redis::RedisStore;
use super::sled::SledStore;
use super::test_redis::RedisServer;
use super::{FlowRecord, SessionRecord, Store, UserRecord};
use crate::domain::clock::UnixTime;
use crate::revocation_feed::{FeedItem, Revocation, Subscription};
use common::config::RedisConfig;
use common::token::SecretHash;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Far enough ahead that Redis keeps every key these tests write (its TTLs
/// follow the real clock), and a fixed value so records compare equal.
pub(super) const LATER: UnixTime = 4_000_000_000;

/// What keeps a backend alive for one test (a directory, a server),
/// dropped at its end.
pub(super) type Held = Box<dyn std::any::Any + Send>;

pub(super) async fn sled() -> (Arc<dyn Store>, Held) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (Arc::new(store), Box::new(dir))
}

pub(super) async fn redis() -> (Arc<dyn Store>, Held) {
    let server = RedisServer::start().await;
    let config = RedisConfig {
        url: Some(server.url()),
        ..RedisConfig::default()
    };
    let store = RedisStore::open(&config).await.unwrap();
    (Arc::new(store), Box::new(server))
}

pub(super) fn user(id: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        provider_id: "dev".into(),
        issuer: "https://idp".into(),
        subject: format!("sub-{id}"),
        email: String::new(),
        email_verified: false,
        name: String::new(),
        picture: String::new(),
        created_at: 0,
        last_login_at: 0,
        groups: vec!["staff".into(), "org/team".into()],
    }
}

pub(super) fn session(id: &str, user_id: &str, token: &str, ends: UnixTime) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        token_hash: SecretHash::of(token).0,
        user: user(user_id),
        created_at: 0,
        last_seen_at: 0,
        absolute_expires_at: ends,
        idle_expires_at: ends,
        user_agent: String::new(),
        client_ip: String::new(),
        provider_sid: format!("sid-{id}"),
        id_token: crate::domain::IdTokenHint(format!("id-token-{id}")),
    }
}

pub(super) fn flow(expires_at: UnixTime) -> FlowRecord {
    FlowRecord {
        provider_id: "dev".into(),
        handle_hash: [0; 32],
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        redirect_uri: "https://app/cb".into(),
        return_to: "/".into(),
        expires_at,
    }
}

/// A watcher on the store's feed, once the feed accepts watchers (the
/// Redis feed is offline until its tail has started).
async fn watch(store: &dyn Store) -> Subscription {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(subscription) = store.revocation_feed().subscribe(None) {
            return subscription;
        }
        assert!(
            Instant::now() < deadline,
            "the feed stayed offline for 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next_revocation(subscription: &mut Subscription) -> Revocation {
    match tokio::time::timeout(Duration::from_secs(10), subscription.live.recv()).await {
        Ok(Ok(FeedItem::Event(entry))) => entry.revocation.clone(),
        other => panic!("expected a revocation, got {other:?}"),
    }
}

/// The ids of `sessions`, sorted.
fn sorted_ids(sessions: Vec<SessionRecord>) -> Vec<String> {
    let mut ids: Vec<_> = sessions.into_iter().map(|s| s.id).collect();
    ids.sort();
    ids
}

async fn ids(store: &dyn Store, user_id: &str) -> Vec<String> {
    sorted_ids(store.user_sessions(user_id).await.unwrap())
}

pub(super) async fn sessions_are_found_by_token_by_id_and_by_user(store: &dyn Store) {
    let s1 = session("s1", "u1", "t1", LATER);
    store.insert_session(&s1).await.unwrap();
    store
        .insert_session(&session("s2", "u1", "t2", LATER))
        .await
        .unwrap();
    store
        .insert_session(&session("s3", "u2", "t3", LATER))
        .await
        .unwrap();
    assert_eq!(
        store.session_by_token(&SecretHash::of("t1")).await.unwrap(),
        Some(s1.clone())
    );
    assert_eq!(store.session_by_id("s1").await.unwrap(), Some(s1));
    assert_eq!(store.session_by_id("nope").await.unwrap(), None);
    assert_eq!(
        store
            .session_by_token(&SecretHash::of("nope"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(ids(store, "u1").await, vec!["s1", "s2"]);
    assert_eq!(ids(store, "u2").await, vec!["s3"]);
    assert!(ids(store, "nobody").await.is_empty());
}

async fn provider_session_ids(store: &dyn Store, issuer: &str, sid: &str) -> Vec<String> {
    sorted_ids(store.provider_sessions(issuer, sid).await.unwrap())
}

pub(super) async fn sessions_are_found_by_provider_session_until_revoked(store: &dyn Store) {
    let started_under = |id: &str, user: &str, issuer: &str, sid: &str| {
        let mut s = session(id, user, &format!("t-{id}"), LATER);
        s.user.issuer = issuer.into();
        s.provider_sid = sid.into();
        s
    };
    for s in [
        started_under("s1", "u1", "https://idp", "p1"),
        started_under("s2", "u1", "https://idp", "p1"),
        started_under("s3", "u2", "https://idp", "p2"),
        started_under("s4", "u3", "https://other", "p1"),
        started_under("s5", "u1", "https://idp", ""),
    ] {
        store.insert_session(&s).await.unwrap();
    }
    assert_eq!(
        provider_session_ids(store, "https://idp", "p1").await,
        vec!["s1", "s2"]
    );
    assert_eq!(
        provider_session_ids(store, "https://idp", "p2").await,
        vec!["s3"]
    );
    assert_eq!(
        provider_session_ids(store, "https://other", "p1").await,
        vec!["s4"]
    );
    // A session without a provider sid is in no provider index.
    assert!(
        provider_session_ids(store, "https://idp", "")
            .await
            .is_empty()
    );
    store.delete_session("s1").await.unwrap();
    assert_eq!(
        provider_session_ids(store, "https://idp", "p1").await,
        vec!["s2"]
    );
    store.delete_user_sessions("u1").await.unwrap();
    assert!(
        provider_session_ids(store, "https://idp", "p1")
            .await
            .is_empty()
    );
    assert_eq!(
        provider_session_ids(store, "https://other", "p1").await,
        vec!["s4"]
    );
}

pub(super) async fn a_touch_slides_the_idle_expiry(store: &dyn Store) {
    let mut s1 = session("s1", "u1", "t1", LATER);
    s1.idle_expires_at = LATER - 100;
    store.insert_session(&s1).await.unwrap();
    store
        .touch_session(&SecretHash::of("t1"), 77, LATER - 50)
        .await
        .unwrap();
    let touched = store.session_by_id("s1").await.unwrap().unwrap();
    assert_eq!(
        (touched.last_seen_at, touched.idle_expires_at),
        (77, LATER - 50)
    );
}

pub(super) async fn touch_never_resurrects_a_revoked_session(store: &dyn Store) {
    store
        .insert_session(&session("s1", "u1", "t1", LATER))
        .await
        .unwrap();
    assert!(store.delete_session("s1").await.unwrap().is_some());
    store
        .touch_session(&SecretHash::of("t1"), 50, LATER)
        .await
        .unwrap();
    assert!(
        store
            .session_by_token(&SecretHash::of("t1"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.delete_session("s1").await.unwrap().is_none());
}

pub(super) async fn a_revoked_session_is_gone_everywhere_and_announced(store: &dyn Store) {
    let mut watcher = watch(store).await;
    let s1 = session("s1", "u1", "t1", LATER);
    store.insert_session(&s1).await.unwrap();
    store
        .insert_session(&session("s2", "u1", "t2", LATER))
        .await
        .unwrap();
    assert_eq!(store.delete_session("s1").await.unwrap(), Some(s1));
    assert_eq!(
        next_revocation(&mut watcher).await,
        Revocation::Session {
            token_hash: SecretHash::of("t1").0,
            session_id: "s1".into(),
            user_id: "u1".into(),
        }
    );
    assert_eq!(store.session_by_id("s1").await.unwrap(), None);
    assert_eq!(
        store.session_by_token(&SecretHash::of("t1")).await.unwrap(),
        None
    );
    assert_eq!(ids(store, "u1").await, vec!["s2"]);
    // Revoking what is gone revokes nothing and announces nothing.
    assert_eq!(store.delete_session("s1").await.unwrap(), None);
    assert!(watcher.live.try_recv().is_err());
}

pub(super) async fn revoking_a_user_ends_all_their_sessions_only(store: &dyn Store) {
    let mut watcher = watch(store).await;
    for (id, user, token) in [("s1", "u1", "t1"), ("s2", "u1", "t2"), ("s3", "u2", "t3")] {
        store
            .insert_session(&session(id, user, token, LATER))
            .await
            .unwrap();
    }
    assert_eq!(store.delete_user_sessions("u1").await.unwrap(), 2);
    assert_eq!(
        next_revocation(&mut watcher).await,
        Revocation::User {
            user_id: "u1".into()
        }
    );
    for token in ["t1", "t2"] {
        assert_eq!(
            store
                .session_by_token(&SecretHash::of(token))
                .await
                .unwrap(),
            None
        );
    }
    assert!(ids(store, "u1").await.is_empty());
    assert_eq!(ids(store, "u2").await, vec!["s3"]);
    // Announced even with nothing left: the caller acknowledges either way.
    assert_eq!(store.delete_user_sessions("u1").await.unwrap(), 0);
    assert_eq!(
        next_revocation(&mut watcher).await,
        Revocation::User {
            user_id: "u1".into()
        }
    );
}

pub(super) async fn flows_are_taken_once(store: &dyn Store) {
    let f = flow(LATER);
    store.insert_flow(&SecretHash::of("a"), &f).await.unwrap();
    assert_eq!(
        store.take_flow(&SecretHash::of("a")).await.unwrap(),
        Some(f)
    );
    assert_eq!(store.take_flow(&SecretHash::of("a")).await.unwrap(), None);
    assert_eq!(store.take_flow(&SecretHash::of("b")).await.unwrap(), None);
}

pub(super) async fn concurrent_takes_of_one_flow_yield_it_once(store: Arc<dyn Store>) {
    for round in 0..20 {
        let state = SecretHash::of(&format!("state-{round}"));
        store.insert_flow(&state, &flow(LATER)).await.unwrap();
        let takers: Vec<_> = (0..4)
            .map(|_| {
                let (store, state) = (store.clone(), state);
                tokio::spawn(async move { store.take_flow(&state).await.unwrap() })
            })
            .collect();
        let mut taken = 0;
        for taker in takers {
            taken += usize::from(taker.await.unwrap().is_some());
        }
        assert_eq!(taken, 1, "round {round}");
    }
}

pub(super) async fn identities_link_once(store: &dyn Store) {
    assert_eq!(store.link_identity("iss", "sub", "u1").await.unwrap(), "u1");
    assert_eq!(store.link_identity("iss", "sub", "u2").await.unwrap(), "u1");
    assert_eq!(
        store.link_identity("iss", "sub2", "u2").await.unwrap(),
        "u2"
    );
    assert_eq!(store.user_by_identity("iss", "sub").await.unwrap(), None);
    store.put_user(&user("u1")).await.unwrap();
    assert_eq!(
        store.user_by_identity("iss", "sub").await.unwrap(),
        Some(user("u1"))
    );
    assert_eq!(store.user("u1").await.unwrap(), Some(user("u1")));
    assert_eq!(store.user("u9").await.unwrap(), None);
}

pub(super) async fn concurrent_first_logins_link_one_user(store: Arc<dyn Store>) {
    let linkers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .link_identity("iss", "same", &format!("u{i}"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut linked = Vec::new();
    for linker in linkers {
        linked.push(linker.await.unwrap());
    }
    linked.dedup();
    assert_eq!(linked.len(), 1, "{linked:?}");
}

fn user_with_email(id: &str, email: &str) -> UserRecord {
    UserRecord {
        email: email.into(),
        ..user(id)
    }
}

fn user_ids(users: &[UserRecord]) -> Vec<&str> {
    users.iter().map(|u| u.id.as_str()).collect()
}

pub(super) async fn an_empty_store_lists_and_finds_no_user(store: &dyn Store) {
    let page = store.list_users(None, 10).await.unwrap();
    assert!(page.users.is_empty());
    assert_eq!(page.next_after, None);
    assert!(
        store
            .list_users(Some("u1"), 10)
            .await
            .unwrap()
            .users
            .is_empty()
    );
    assert!(
        store
            .users_by_email("a@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.users_by_email("").await.unwrap().is_empty());
}

pub(super) async fn users_are_paged_in_id_order_without_gaps_or_repeats(store: &dyn Store) {
    let mut expected: Vec<String> = (0..7).map(|i| format!("u{i}")).collect();
    // Written out of order, and one twice: the order is the ids'.
    for id in ["u4", "u0", "u6", "u2", "u5", "u1", "u3", "u4"] {
        store.put_user(&user(id)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.list_users(after.as_deref(), 3).await.unwrap();
        assert!(page.users.len() <= 3);
        seen.extend(page.users.iter().map(|u| u.id.clone()));
        pages += 1;
        match page.next_after {
            Some(next) => {
                assert_eq!(Some(&next), seen.last(), "the cursor is the last id");
                after = Some(next);
            }
            None => break,
        }
        assert!(pages < 10, "paging does not end: {seen:?}");
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    // Exactly one page's worth: no empty page after it.
    let all = store.list_users(None, 7).await.unwrap();
    assert_eq!(all.users.len(), 7);
    assert_eq!(all.next_after, None);
    assert_eq!(all.users[3], user("u3"));
    // A user added behind the cursor is not seen; one ahead of it is.
    let first = store.list_users(None, 2).await.unwrap();
    store.put_user(&user("u00")).await.unwrap();
    store.put_user(&user("u9")).await.unwrap();
    let rest = store
        .list_users(first.next_after.as_deref(), 100)
        .await
        .unwrap();
    expected.push("u9".into());
    let mut both = user_ids(&first.users);
    both.extend(user_ids(&rest.users));
    assert_eq!(both, expected);
}

pub(super) async fn users_are_found_by_email_ignoring_case(store: &dyn Store) {
    store
        .put_user(&user_with_email("u2", "Alice@Example.com"))
        .await
        .unwrap();
    // The same address at another provider: another user.
    store
        .put_user(&UserRecord {
            provider_id: "other".into(),
            ..user_with_email("u1", "alice@example.COM")
        })
        .await
        .unwrap();
    store
        .put_user(&user_with_email("u3", "bob@example.com"))
        .await
        .unwrap();
    store.put_user(&user("u4")).await.unwrap();
    for query in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "Alice@Example.com",
    ] {
        let found = store.users_by_email(query).await.unwrap();
        assert_eq!(user_ids(&found), vec!["u1", "u2"], "{query}");
    }
    assert_eq!(
        store.users_by_email("alice@example.com").await.unwrap()[1],
        user_with_email("u2", "Alice@Example.com")
    );
    assert!(
        store
            .users_by_email("alice@example")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.users_by_email("").await.unwrap().is_empty());
}

pub(super) async fn an_email_change_moves_the_user_in_the_index(store: &dyn Store) {
    store
        .put_user(&user_with_email("u1", "old@example.com"))
        .await
        .unwrap();
    store
        .put_user(&user_with_email("u1", "NEW@example.com"))
        .await
        .unwrap();
    assert!(
        store
            .users_by_email("old@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    let found = store.users_by_email("new@example.com").await.unwrap();
    assert_eq!(found, vec![user_with_email("u1", "NEW@example.com")]);
    // Only the case changed: still found, once.
    store
        .put_user(&user_with_email("u1", "new@example.com"))
        .await
        .unwrap();
    assert_eq!(
        user_ids(&store.users_by_email("NEW@EXAMPLE.COM").await.unwrap()),
        vec!["u1"]
    );
    // No e-mail any more: in no entry, still listed.
    store.put_user(&user("u1")).await.unwrap();
    assert!(
        store
            .users_by_email("new@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        user_ids(&store.list_users(None, 10).await.unwrap().users),
        vec!["u1"]
    );
}

pub(super) async fn the_probe_passes_on_a_healthy_store(store: &dyn Store) {
    store.probe().await.unwrap();
    store.probe().await.unwrap();
    store.flush().await.unwrap();
}

/// One `#[tokio::test]` per backend for each body above.
macro_rules! suite {
    ($($body:ident),* ; $($shared:ident),*) => {
        mod on_sled {
            $(#[tokio::test]
            async fn $body() {
                let (store, _held) = super::sled().await;
                super::$body(&*store).await;
            })*
            $(#[tokio::test]
            async fn $shared() {
                let (store, _held) = super::sled().await;
                super::$shared(store).await;
            })*
        }
        mod on_redis {
            $(#[tokio::test]
            async fn $body() {
                let (store, _held) = super::redis().await;
                super::$body(&*store).await;
            })*
            $(#[tokio::test]
            async fn $shared() {
                let (store, _held) = super::redis().await;
                super::$shared(store).await;
            })*
        }
    };
}

suite!(
    sessions_are_found_by_token_by_id_and_by_user,
    sessions_are_found_by_provider_session_until_revoked,
    a_touch_slides_the_idle_expiry,
    touch_never_resurrects_a_revoked_session,
    a_revoked_session_is_gone_everywhere_and_announced,
    revoking_a_user_ends_all_their_sessions_only,
    flows_are_taken_once,
    identities_link_once,
    an_empty_store_lists_and_finds_no_user,
    users_are_paged_in_id_order_without_gaps_or_repeats,
    users_are_found_by_email_ignoring_case,
    an_email_change_moves_the_user_in_the_index,
    the_probe_passes_on_a_healthy_store;
    concurrent_takes_of_one_flow_yield_it_once,
    concurrent_first_logins_link_one_user
);
