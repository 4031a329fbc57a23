//! The store under concurrent load, in process: many tasks create, read,
//! touch, list and revoke sessions (one by one and all of a user's at once),
//! link identities, take flows and sweep, all at the same time on a
//! two-worker runtime like the binary's on the 2-core machine. Every call
//! must answer within [`CALL_DEADLINE`]; the whole run is bounded by a
//! watchdog that prints every thread's stack before failing, so a deadlock
//! (sled 0.34's `flush_async`, issue 8) fails fast and says where.

use auth_service::storage::sled::SledStore;
use auth_service::storage::{FlowRecord, SessionRecord, Store, UserRecord};
use common::token::SecretHash;
use std::sync::Arc;
use std::time::Duration;

/// The longest any one store call may take before the test calls it hung.
const CALL_DEADLINE: Duration = Duration::from_secs(5);
/// Concurrent clients.
const CLIENTS: usize = 24;
/// Rounds per client; each round is about ten store calls.
const ROUNDS: usize = 60;

fn user(id: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        provider_id: "dev".into(),
        issuer: "https://idp".into(),
        subject: format!("sub-{id}"),
        email: format!("{id}@example.com"),
        email_verified: true,
        name: id.into(),
        picture: String::new(),
        created_at: 1,
        last_login_at: 1,
        groups: Vec::new(),
    }
}

fn session(id: &str, user_id: &str, token: &str) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        token_hash: SecretHash::of(token).0,
        user: user(user_id),
        created_at: 1,
        last_seen_at: 1,
        absolute_expires_at: i64::MAX,
        idle_expires_at: i64::MAX,
        user_agent: "stress".into(),
        client_ip: "127.0.0.1".into(),
        provider_sid: String::new(),
        id_token: Default::default(),
    }
}

/// Runs `call`, failing the test if it takes longer than [`CALL_DEADLINE`].
async fn within<T>(what: &str, call: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not answer within {CALL_DEADLINE:?}"),
    }
}

/// One client's work: logins, validations, touches, lists, logouts and a
/// logout-everywhere per round, checking each answer.
async fn client(store: Arc<dyn Store>, n: usize) {
    let user_id = format!("u{}", n % 6);
    for round in 0..ROUNDS {
        let a = format!("tok-{n}-{round}-a");
        let b = format!("tok-{n}-{round}-b");
        let sa = format!("s-{n}-{round}-a");
        let sb = format!("s-{n}-{round}-b");
        within(
            "insert_session",
            store.insert_session(&session(&sa, &user_id, &a)),
        )
        .await
        .unwrap();
        within(
            "insert_session",
            store.insert_session(&session(&sb, &user_id, &b)),
        )
        .await
        .unwrap();
        let found = within(
            "session_by_token",
            store.session_by_token(&SecretHash::of(&a)),
        )
        .await
        .unwrap();
        // Another client of the same user may have revoked them all.
        if let Some(found) = found {
            assert_eq!(found.id, sa);
        }
        within(
            "touch_session",
            store.touch_session(&SecretHash::of(&a), 2, i64::MAX),
        )
        .await
        .unwrap();
        within("user_sessions", store.user_sessions(&user_id))
            .await
            .unwrap();
        within("delete_session", store.delete_session(&sa))
            .await
            .unwrap();
        assert!(
            within(
                "session_by_token",
                store.session_by_token(&SecretHash::of(&a))
            )
            .await
            .unwrap()
            .is_none(),
            "a revoked session is still readable"
        );
        within(
            "link_identity",
            store.link_identity(
                "https://idp",
                &format!("sub-{n}"),
                &format!("u-{n}-{round}"),
            ),
        )
        .await
        .unwrap();
        within("put_user", store.put_user(&user(&user_id)))
            .await
            .unwrap();
        let state = SecretHash::of(&format!("state-{n}-{round}"));
        let flow = FlowRecord {
            provider_id: "dev".into(),
            handle_hash: [1; 32],
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            redirect_uri: "https://app/cb".into(),
            return_to: "/".into(),
            expires_at: i64::MAX,
        };
        within("insert_flow", store.insert_flow(&state, &flow))
            .await
            .unwrap();
        assert!(
            within("take_flow", store.take_flow(&state))
                .await
                .unwrap()
                .is_some()
        );
        if round % 5 == 4 {
            within("delete_user_sessions", store.delete_user_sessions(&user_id))
                .await
                .unwrap();
            assert!(
                within(
                    "session_by_token",
                    store.session_by_token(&SecretHash::of(&b))
                )
                .await
                .unwrap()
                .is_none(),
                "a session survived its user's logout-everywhere"
            );
        }
        if round % 10 == 9 {
            within("purge_expired_sessions", store.purge_expired_sessions(2))
                .await
                .unwrap();
            within("flush", store.flush()).await.unwrap();
        }
    }
}

#[test]
fn the_sled_store_answers_every_call_under_concurrent_load() {
    crate::run_alone("store stress", Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|n| tokio::spawn(client(store.clone(), n)))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}
