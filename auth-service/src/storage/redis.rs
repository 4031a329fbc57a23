//! The shared store: a Redis-protocol server (standalone or behind
//! Sentinel), so several auth-service replicas serve one set of users and
//! sessions (../shared/SCALE-OUT.md §2.3).
//!
//! Keys, all under `key_prefix` (default `pc:`); records are JSON as in sled:
//!
//! | key | value | expiry |
//! |---|---|---|
//! | `s:<hex token hash>` | session | at the session's end; slides on touch |
//! | `sid:<session id>` | hex token hash | at the absolute end |
//! | `us:<user id>` | sorted set of session ids, by absolute end | the latest absolute end |
//! | `ps:<hex sha256(issuer ‖ 0 ‖ provider sid)>` | the same, for sessions with a provider `sid` | the latest absolute end |
//! | `u:<user id>` | user | none |
//! | `users` | sorted set of every user id, all scored 0 (so in id order, paged with `ZRANGEBYLEX`) | none |
//! | `ue:<hex sha256(lower-cased e-mail)>` | set of the ids of the users with that e-mail | none |
//! | `id:<hex sha256(issuer ‖ 0 ‖ subject)>` | user id | none |
//! | `f:<hex state hash>` | flow | at the flow's end |
//! | `rev` | stream of revocations | trimmed to about 100 000 entries |
//!
//! Every expiry is a Redis TTL, so there is nothing to sweep and no path
//! runs `KEYS` or `SCAN`. An index entry whose session has ended is
//! skipped on read and trimmed then; the index key itself expires with
//! its last session. Revocations are Lua scripts: the deletes and the
//! `XADD` to `rev` commit together, so there is no revocation without its
//! event and no event without its revocation. Every replica tails `rev`
//! ([`tail_revocations`]) into its own [`RevocationFeed`], so each replica's
//! watchers hear every replica's revocations. A user record, its entry in
//! `users` and its e-mail entry change together in one script
//! ([`PUT_USER`]); users written before those indexes existed join them
//! at their next login.
//!
//! Durability: the server must run `appendonly yes` + `appendfsync always`
//! (checked at open, unless `allow_volatile`): it then replies only after
//! the fsync. With `min_replicas_ack`, logins and revocations also wait
//! (`WAIT`) for that many replicas; too few in time is
//! [`StorageError::NotDurable`], never a silent success.

use super::{
    FlowRecord, FlowStore, SessionRecord, SessionStore, SessionSweep, StorageError, UserPage,
    UserRecord, UserStore, decode, email_index_form, email_matches, encode, provider_scoped_key,
};
use crate::domain::clock::UnixTime;
use crate::revocation_feed::{Revocation, RevocationFeed};
use async_trait::async_trait;
use common::config::RedisConfig;
use common::token::SecretHash;
use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, Client, FromRedisValue, IntoConnectionInfo, RedisError};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Revocation events kept in the stream: enough for any replica to catch up
/// after a blip; `~` lets Redis trim in whole nodes (cheap).
const STREAM_MAXLEN: u32 = 100_000;

/// How long one `XREAD` blocks before it asks again (and so how soon the
/// tail notices a shutdown or a dead connection).
const TAIL_BLOCK: Duration = Duration::from_secs(1);

/// Revocation events read per `XREAD`.
const TAIL_BATCH: usize = 512;

/// Deletes one session by id with its pointer and index entry, and appends
/// the event. Returns the session's JSON, or nil if it was already gone.
const REVOKE_SESSION: &str = r"
local prefix, sid = ARGV[1], ARGV[2]
local hash = redis.call('GET', KEYS[1])
if not hash then return false end
redis.call('DEL', KEYS[1])
local skey = prefix .. 's:' .. hash
local record = redis.call('GET', skey)
if not record then return false end
redis.call('DEL', skey)
local user_id = cjson.decode(record)['user']['id']
redis.call('ZREM', prefix .. 'us:' .. user_id, sid)
redis.call('XADD', prefix .. 'rev', 'MAXLEN', '~', ARGV[3], '*',
  'kind', 'session', 'th', hash, 'sid', sid, 'uid', user_id)
return record
";

/// Deletes every session in a user's index and appends one user event
/// (always: a caller acknowledges "logged out everywhere" either way).
/// Returns how many live sessions were deleted.
const REVOKE_USER: &str = r"
local prefix, user_id = ARGV[1], ARGV[2]
local count = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local sidkey = prefix .. 'sid:' .. sid
  local hash = redis.call('GET', sidkey)
  if hash then
    count = count + redis.call('DEL', prefix .. 's:' .. hash)
    redis.call('DEL', sidkey)
  end
  redis.call('ZREM', KEYS[1], sid)
end
redis.call('XADD', prefix .. 'rev', 'MAXLEN', '~', ARGV[3], '*', 'kind', 'user', 'uid', user_id)
return count
";

/// Replaces a user record if it is still the one the caller read (a
/// compare-and-set: Lua has no SHA-256 to find the old e-mail's key
/// itself), and moves the user's e-mail entry and indexes its id, all at
/// once. KEYS: the record, `users`, the old e-mail's set, the new one's
/// (the last two only used when ARGV says so). ARGV: the record read
/// (empty: none), the new record, the user id, whether to remove from the
/// old set, whether to add to the new one. Returns 1, or 0 when the record
/// changed since it was read.
const PUT_USER: &str = r"
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
if ARGV[4] == '1' then redis.call('SREM', KEYS[3], ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
if ARGV[5] == '1' then redis.call('SADD', KEYS[4], ARGV[3]) end
return 1
";

/// How often [`PUT_USER`] is tried when the record keeps changing under
/// it (concurrent logins of one user at several replicas).
const PUT_USER_ATTEMPTS: usize = 8;

/// Where the primary is: one fixed server, or whichever one Sentinel names
/// now (asked again on every new connection).
enum Target {
    Server(Client),
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

impl Target {
    fn from_config(config: &RedisConfig) -> Result<Self, StorageError> {
        let invalid = |e: RedisError| StorageError::Backend(format!("redis settings: {e}"));
        let password = config
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_owned());
        if let Some(url) = &config.url {
            let mut info = url.as_str().into_connection_info().map_err(invalid)?;
            let mut settings = info.redis_settings().clone();
            if let Some(password) = &password {
                settings = settings.set_password(password);
            }
            if let Some(username) = &config.username {
                settings = settings.set_username(username);
            }
            info = info.set_redis_settings(settings);
            return Ok(Self::Server(Client::open(info).map_err(invalid)?));
        }
        let master = config.master_name.clone().unwrap_or_default();
        let mut node = redis::RedisConnectionInfo::default();
        if let Some(password) = &password {
            node = node.set_password(password);
        }
        if let Some(username) = &config.username {
            node = node.set_username(username);
        }
        let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(node);
        let sentinel = SentinelClient::build(
            config.sentinels.clone(),
            master,
            Some(node),
            SentinelServerType::Master,
        )
        .map_err(invalid)?;
        Ok(Self::Sentinel(tokio::sync::Mutex::new(sentinel)))
    }

    async fn client(&self) -> Result<Client, RedisError> {
        match self {
            Self::Server(client) => Ok(client.clone()),
            Self::Sentinel(sentinel) => sentinel.lock().await.async_get_client().await,
        }
    }

    /// A new connection to the current primary.
    async fn connect(
        &self,
        config: &AsyncConnectionConfig,
    ) -> Result<MultiplexedConnection, RedisError> {
        self.client()
            .await?
            .get_multiplexed_async_connection_with_config(config)
            .await
    }
}

/// One multiplexed connection, made on first use and made again (asking
/// Sentinel anew) after it failed: a connection to a demoted primary answers
/// `READONLY` until it is replaced (redis-rs does not follow failovers).
struct Link {
    target: Arc<Target>,
    config: AsyncConnectionConfig,
    current: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl Link {
    fn new(target: Arc<Target>, timeout: Duration) -> Self {
        Self {
            target,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// The current connection (and whether it was made just now).
    async fn connection(&self) -> Result<(MultiplexedConnection, bool), StorageError> {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref() {
            return Ok((connection.clone(), false));
        }
        let connection = self
            .target
            .connect(&self.config)
            .await
            .map_err(storage_error)?;
        *current = Some(connection.clone());
        Ok((connection, true))
    }

    /// Runs `work` on the connection. A failure that means "this connection
    /// or this server is no good" drops the connection, so the next call
    /// reconnects (asking Sentinel anew). A kept connection that turns out
    /// dead (the server restarted since its last use) is replaced and
    /// `work` runs once more: the command never reached a server, and
    /// every write here is safe to repeat.
    async fn run<T, F, Fut>(&self, work: F) -> Result<T, StorageError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let (connection, fresh) = self.connection().await?;
        let error = match work(connection).await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if !is_unavailable(&error) {
            return Err(storage_error(error));
        }
        *self.current.lock().await = None;
        let dead_before_sending = error.is_io_error() || error.is_connection_dropped();
        if fresh || !dead_before_sending {
            return Err(storage_error(error));
        }
        let (connection, _) = self.connection().await?;
        match work(connection).await {
            Ok(value) => Ok(value),
            Err(e) => {
                if is_unavailable(&e) {
                    *self.current.lock().await = None;
                }
                Err(storage_error(e))
            }
        }
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StorageError> {
        self.run(|mut c| async move { cmd.query_async(&mut c).await })
            .await
    }
}

/// Errors that mean the server is unreachable, failing over or not the
/// primary: the caller may retry (UNAVAILABLE), the connection is replaced.
fn is_unavailable(e: &RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::ReadOnly
                    | ServerErrorKind::BusyLoading
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::TryAgain
            )
        )
}

fn storage_error(e: RedisError) -> StorageError {
    if is_unavailable(&e) {
        StorageError::Unavailable(e.to_string())
    } else {
        StorageError::Backend(e.to_string())
    }
}

/// Key names under the configured prefix.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn session(&self, token_hash: &[u8; 32]) -> String {
        format!("{}s:{}", self.prefix, hex(token_hash))
    }
    fn session_id(&self, id: &str) -> String {
        format!("{}sid:{id}", self.prefix)
    }
    fn user_sessions(&self, user_id: &str) -> String {
        format!("{}us:{user_id}", self.prefix)
    }
    fn user(&self, id: &str) -> String {
        format!("{}u:{id}", self.prefix)
    }
    fn users(&self) -> String {
        format!("{}users", self.prefix)
    }
    /// `email` in [`email_index_form`].
    fn users_by_email(&self, email: &str) -> String {
        use sha2::{Digest, Sha256};
        format!(
            "{}ue:{}",
            self.prefix,
            hex(&Sha256::digest(email.as_bytes()).into())
        )
    }
    fn provider_sessions(&self, issuer: &str, sid: &str) -> String {
        format!(
            "{}ps:{}",
            self.prefix,
            hex(&provider_scoped_key(issuer, sid))
        )
    }
    fn identity(&self, issuer: &str, subject: &str) -> String {
        format!(
            "{}id:{}",
            self.prefix,
            hex(&provider_scoped_key(issuer, subject))
        )
    }
    fn flow(&self, state_hash: &[u8; 32]) -> String {
        format!("{}f:{}", self.prefix, hex(state_hash))
    }
    fn revocations(&self) -> String {
        format!("{}rev", self.prefix)
    }
    fn probe(&self) -> String {
        format!("{}probe", self.prefix)
    }
}

/// Adds `session` to the sorted-set index at `index` (scored by its
/// absolute end), whose expiry follows its latest session.
fn index_session(pipe: &mut redis::Pipeline, index: &str, session: &SessionRecord) {
    let absolute = millis(session.absolute_expires_at);
    pipe.cmd("ZADD")
        .arg(index)
        .arg(session.absolute_expires_at)
        .arg(&session.id)
        .ignore()
        // GT alone never sets a TTL on a key without one: NX first.
        .cmd("PEXPIREAT")
        .arg(index)
        .arg(absolute)
        .arg("NX")
        .ignore()
        .cmd("PEXPIREAT")
        .arg(index)
        .arg(absolute)
        .arg("GT")
        .ignore();
}

fn hex(bytes: &[u8; 32]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// Unix seconds as the milliseconds `PXAT` takes.
fn millis(t: UnixTime) -> i64 {
    t.saturating_mul(1000)
}

/// The Redis-backed store. Cloning shares the connections and the feed.
#[derive(Clone)]
pub struct RedisStore {
    keys: Keys,
    /// Reads and the writes that need no barrier (touches, flows, users).
    reads: Arc<Link>,
    /// Logins and revocations: their `WAIT` blocks the connection it runs
    /// on, so it must not stall the validations on `reads`.
    writes: Arc<Link>,
    min_replicas_ack: u32,
    barrier_timeout: Duration,
    revoke_session: Arc<redis::Script>,
    revoke_user: Arc<redis::Script>,
    put_user: Arc<redis::Script>,
    feed: Arc<RevocationFeed>,
    /// Stops the revocation tail when the last clone is dropped.
    _tail: Arc<DropGuard>,
}

impl RedisStore {
    /// Connects, checks the server's persistence settings and starts
    /// tailing the revocation stream.
    pub async fn open(config: &RedisConfig) -> Result<Self, StorageError> {
        let target = Arc::new(Target::from_config(config)?);
        let keys = Keys {
            prefix: config.key_prefix.clone(),
        };
        let reads = Arc::new(Link::new(target.clone(), config.command_timeout));
        let writes = Arc::new(Link::new(target.clone(), config.command_timeout));
        check_persistence(&reads, config.allow_volatile).await?;
        let feed = Arc::new(RevocationFeed::with_random_epoch().map_err(|e| {
            StorageError::Backend(format!("cannot draw the revocation feed's epoch: {e}"))
        })?);
        // Offline until the tail has found its starting point.
        feed.go_offline();
        let stop = CancellationToken::new();
        tokio::spawn(tail_revocations(
            target,
            keys.revocations(),
            config.command_timeout,
            feed.clone(),
            stop.clone(),
        ));
        Ok(Self {
            keys,
            reads,
            writes,
            min_replicas_ack: config.min_replicas_ack,
            barrier_timeout: config.barrier_timeout,
            revoke_session: Arc::new(redis::Script::new(REVOKE_SESSION)),
            revoke_user: Arc::new(redis::Script::new(REVOKE_USER)),
            put_user: Arc::new(redis::Script::new(PUT_USER)),
            feed,
            _tail: Arc::new(stop.drop_guard()),
        })
    }

    /// Runs a write on the `writes` connection followed, with
    /// `min_replicas_ack`, by `WAIT` on that same connection (WAIT counts
    /// the writes of its own connection only).
    async fn durable<T, F, Fut>(&self, work: F) -> Result<T, StorageError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let wanted = self.min_replicas_ack;
        let timeout_ms = u64::try_from(self.barrier_timeout.as_millis()).unwrap_or(u64::MAX);
        let work = &work;
        let (value, acked) = self
            .writes
            .run(|connection| async move {
                let mut waiter = connection.clone();
                let value = work(connection).await?;
                if wanted == 0 {
                    return Ok((value, 0));
                }
                let acked: u32 = redis::cmd("WAIT")
                    .arg(wanted)
                    .arg(timeout_ms)
                    .query_async(&mut waiter)
                    .await?;
                Ok((value, acked))
            })
            .await?;
        if acked < wanted {
            return Err(StorageError::Unavailable(format!(
                "write reached {acked} of {wanted} replicas within {:?}",
                self.barrier_timeout
            )));
        }
        Ok(value)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        key: String,
        what: &'static str,
    ) -> Result<Option<T>, StorageError> {
        let bytes: Option<Vec<u8>> = self.reads.query(redis::cmd("GET").arg(key)).await?;
        bytes.map(|b| decode(&b, what)).transpose()
    }

    /// The users with these ids, in the same order; ids without a record
    /// are skipped.
    async fn users_named(&self, ids: &[String]) -> Result<Vec<UserRecord>, StorageError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.user(id)).collect();
        let records: Vec<Option<Vec<u8>>> = self.reads.query(redis::cmd("MGET").arg(&keys)).await?;
        records
            .into_iter()
            .flatten()
            .map(|bytes| decode(&bytes, "users"))
            .collect()
    }

    /// The sessions an index (`us:` or `ps:`) lists; entries whose session
    /// has ended are skipped and trimmed.
    async fn sessions_indexed(&self, index: &str) -> Result<Vec<SessionRecord>, StorageError> {
        let ids: Vec<String> = self
            .reads
            .query(redis::cmd("ZRANGE").arg(index).arg(0).arg(-1))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pointers: Vec<Option<String>> = self
            .reads
            .query(
                redis::cmd("MGET").arg(
                    ids.iter()
                        .map(|id| self.keys.session_id(id))
                        .collect::<Vec<_>>(),
                ),
            )
            .await?;
        let mut live_ids = Vec::new();
        let mut session_keys = Vec::new();
        let mut gone = Vec::new();
        for (id, pointer) in ids.iter().zip(&pointers) {
            match pointer.as_deref().map(unhex) {
                Some(Some(hash)) => {
                    live_ids.push(id);
                    session_keys.push(self.keys.session(&hash));
                }
                Some(None) => return Err(StorageError::Corrupt("session ids")),
                None => gone.push(id.clone()),
            }
        }
        let mut out = Vec::new();
        if !session_keys.is_empty() {
            let records: Vec<Option<Vec<u8>>> = self
                .reads
                .query(redis::cmd("MGET").arg(&session_keys))
                .await?;
            for (id, record) in live_ids.into_iter().zip(records) {
                match record {
                    Some(bytes) => out.push(decode(&bytes, "sessions")?),
                    // Idle-expired: its pointer outlives it.
                    None => gone.push(id.clone()),
                }
            }
        }
        if !gone.is_empty() {
            // Lazy trim of index entries whose session has ended.
            self.reads
                .query::<()>(redis::cmd("ZREM").arg(index).arg(&gone))
                .await?;
        }
        Ok(out)
    }
}

/// Refuses a server that could lose an acknowledged revocation, unless the
/// operator said so; then says at every start what can be lost.
async fn check_persistence(link: &Link, allow_volatile: bool) -> Result<(), StorageError> {
    let info: String = link.query(redis::cmd("INFO").arg("persistence")).await?;
    let aof = info.lines().any(|l| l.trim() == "aof_enabled:1");
    let fsync: Result<Vec<String>, _> = link
        .query(redis::cmd("CONFIG").arg("GET").arg("appendfsync"))
        .await;
    let always = matches!(fsync.as_deref(), Ok([_, policy]) if policy == "always");
    if aof && always {
        return Ok(());
    }
    let found = match (aof, fsync.is_ok()) {
        (false, _) => "appendonly no".to_owned(),
        (true, true) => "appendfsync is not always".to_owned(),
        (true, false) => "CONFIG GET appendfsync is not allowed".to_owned(),
    };
    if allow_volatile {
        tracing::warn!(
            found = %found,
            "redis store runs volatile (allow_volatile = true): a server crash can undo an \
             acknowledged logout or revocation, and without persistence a server restart \
             logs everyone out"
        );
        return Ok(());
    }
    Err(StorageError::Backend(format!(
        "the Redis server is not durable ({found}): set appendonly yes and appendfsync always \
         on it, or allow_volatile = true in [auth_service.redis] to accept losing \
         acknowledged revocations in a crash"
    )))
}

/// Follows the revocation stream into `feed` until `stop`: offline (every
/// watcher reset) whenever the tail is down, back online once it has a
/// position again. Resumes by itself with backoff.
async fn tail_revocations(
    target: Arc<Target>,
    stream: String,
    command_timeout: Duration,
    feed: Arc<RevocationFeed>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = tail_once(&target, &stream, command_timeout, &feed) => outcome,
        };
        feed.go_offline();
        match outcome {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "revocation stream tail lost; retrying"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One connection's worth of tailing; returns on the first error.
async fn tail_once(
    target: &Target,
    stream: &str,
    command_timeout: Duration,
    feed: &RevocationFeed,
) -> Result<(), StorageError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(command_timeout))
        .set_response_timeout(Some(TAIL_BLOCK + command_timeout));
    let mut connection = target.connect(&config).await.map_err(storage_error)?;
    // Start after the newest entry: everything committed from here on is
    // read, so the feed may promise it to watchers.
    let newest: Vec<(String, Vec<String>)> = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut connection)
        .await
        .map_err(storage_error)?;
    let mut last = newest
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |(id, _)| id);
    feed.go_online();
    let block_ms = u64::try_from(TAIL_BLOCK.as_millis()).unwrap_or(1000);
    loop {
        let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(TAIL_BATCH)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(stream)
            .arg(&last)
            .query_async(&mut connection)
            .await
            .map_err(storage_error)?;
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                match revocation_of(&entry).zip(committed_at(&entry.id)) {
                    Some((revocation, revoked_at)) => feed.publish(revocation, revoked_at),
                    None => {
                        // Not ours to understand: the watchers cannot know
                        // what it revoked, so they must forget everything.
                        tracing::error!(id = %entry.id, "malformed revocation event; resetting watchers");
                        feed.reset();
                    }
                }
                last = entry.id;
            }
        }
    }
}

/// When the Redis server appended a stream entry: the milliseconds part of
/// its id (`<ms>-<seq>`), on the server's clock.
fn committed_at(id: &str) -> Option<SystemTime> {
    let millis: u64 = id.split_once('-')?.0.parse().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(millis))
}

/// The revocation an event of the stream records.
fn revocation_of(entry: &redis::streams::StreamId) -> Option<Revocation> {
    let field = |name: &str| entry.get::<String>(name);
    match field("kind")?.as_str() {
        "session" => Some(Revocation::Session {
            token_hash: unhex(&field("th")?)?,
            session_id: field("sid")?,
            user_id: field("uid")?,
        }),
        "user" => Some(Revocation::User {
            user_id: field("uid")?,
        }),
        _ => None,
    }
}

#[async_trait]
impl UserStore for RedisStore {
    async fn user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StorageError> {
        let id: Option<String> = self
            .reads
            .query(redis::cmd("GET").arg(self.keys.identity(issuer, subject)))
            .await?;
        match id {
            Some(id) => self.user(&id).await,
            None => Ok(None),
        }
    }

    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        candidate_id: &str,
    ) -> Result<String, StorageError> {
        // SET NX GET: one atomic step that links or names the existing link,
        // so concurrent first logins at two replicas yield one user.
        let existing: Option<String> = self
            .durable(|mut c| {
                let cmd = redis::cmd("SET")
                    .arg(self.keys.identity(issuer, subject))
                    .arg(candidate_id)
                    .arg("NX")
                    .arg("GET")
                    .to_owned();
                async move { cmd.query_async(&mut c).await }
            })
            .await?;
        Ok(existing.unwrap_or_else(|| candidate_id.to_owned()))
    }

    async fn put_user(&self, user: &UserRecord) -> Result<(), StorageError> {
        let key = self.keys.user(&user.id);
        let record = encode(user, "users")?;
        let new_email = email_index_form(&user.email);
        for _ in 0..PUT_USER_ATTEMPTS {
            let current: Option<Vec<u8>> = self.reads.query(redis::cmd("GET").arg(&key)).await?;
            // An undecodable old record has no e-mail entry to move.
            let old_email = current
                .as_deref()
                .and_then(|b| decode::<UserRecord>(b, "users").ok())
                .and_then(|old| email_index_form(&old.email));
            let remove_old = old_email.is_some() && old_email != new_email;
            let key_or = |email: &Option<String>| {
                email
                    .as_deref()
                    .map_or_else(|| key.clone(), |e| self.keys.users_by_email(e))
            };
            let mut invocation = self.put_user.prepare_invoke();
            invocation
                .key(&key)
                .key(self.keys.users())
                .key(key_or(&old_email))
                .key(key_or(&new_email))
                .arg(current.unwrap_or_default())
                .arg(&record)
                .arg(&user.id)
                .arg(if remove_old { "1" } else { "0" })
                .arg(if new_email.is_some() { "1" } else { "0" });
            let invocation = &invocation;
            let written: u32 = self
                .reads
                .run(|mut c| async move { invocation.invoke_async(&mut c).await })
                .await?;
            if written == 1 {
                return Ok(());
            }
        }
        Err(StorageError::Unavailable(format!(
            "user record kept changing during {PUT_USER_ATTEMPTS} attempts to write it"
        )))
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StorageError> {
        self.get_json(self.keys.user(id), "users").await
    }

    async fn list_users(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<UserPage, StorageError> {
        let limit = limit.max(1);
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        // One more than asked, to learn whether another page follows.
        let ids: Vec<String> = self
            .reads
            .query(
                redis::cmd("ZRANGEBYLEX")
                    .arg(self.keys.users())
                    .arg(start)
                    .arg("+")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit.saturating_add(1)),
            )
            .await?;
        let more = ids.len() > limit;
        let ids = &ids[..ids.len().min(limit)];
        let users = self.users_named(ids).await?;
        let next_after = if more { ids.last().cloned() } else { None };
        Ok(UserPage { users, next_after })
    }

    async fn users_by_email(&self, email: &str) -> Result<Vec<UserRecord>, StorageError> {
        let Some(email) = email_index_form(email) else {
            return Ok(Vec::new());
        };
        let mut ids: Vec<String> = self
            .reads
            .query(redis::cmd("SMEMBERS").arg(self.keys.users_by_email(&email)))
            .await?;
        ids.sort();
        let users = self.users_named(&ids).await?;
        Ok(users
            .into_iter()
            .filter(|u| email_matches(u, &email))
            .collect())
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StorageError> {
        let absolute = millis(session.absolute_expires_at);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.keys.session(&session.token_hash))
            .arg(encode(session, "sessions")?)
            .arg("PXAT")
            .arg(millis(session.expires_at()))
            .ignore()
            .cmd("SET")
            .arg(self.keys.session_id(&session.id))
            .arg(hex(&session.token_hash))
            .arg("PXAT")
            .arg(absolute)
            .ignore();
        index_session(
            &mut pipe,
            &self.keys.user_sessions(&session.user.id),
            session,
        );
        if !session.provider_sid.is_empty() {
            let index = self
                .keys
                .provider_sessions(&session.user.issuer, &session.provider_sid);
            index_session(&mut pipe, &index, session);
        }
        let pipe = &pipe;
        self.durable(|mut c| async move { pipe.query_async::<()>(&mut c).await })
            .await
    }

    async fn session_by_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StorageError> {
        self.get_json(self.keys.session(&token_hash.0), "sessions")
            .await
    }

    async fn session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StorageError> {
        let hash: Option<String> = self
            .reads
            .query(redis::cmd("GET").arg(self.keys.session_id(id)))
            .await?;
        match hash.as_deref().map(unhex) {
            Some(Some(hash)) => self.get_json(self.keys.session(&hash), "sessions").await,
            Some(None) => Err(StorageError::Corrupt("session ids")),
            None => Ok(None),
        }
    }

    async fn touch_session(
        &self,
        token_hash: &SecretHash,
        last_seen_at: UnixTime,
        idle_expires_at: UnixTime,
    ) -> Result<(), StorageError> {
        let key = self.keys.session(&token_hash.0);
        let Some(mut record) = self
            .get_json::<SessionRecord>(key.clone(), "sessions")
            .await?
        else {
            return Ok(());
        };
        record.last_seen_at = last_seen_at;
        record.idle_expires_at = idle_expires_at;
        // XX: written only over a session that still exists, so a revoke
        // between the read and this write is never undone.
        self.reads
            .query::<()>(
                redis::cmd("SET")
                    .arg(key)
                    .arg(encode(&record, "sessions")?)
                    .arg("XX")
                    .arg("PXAT")
                    .arg(millis(record.expires_at())),
            )
            .await
    }

    async fn delete_session(&self, id: &str) -> Result<Option<SessionRecord>, StorageError> {
        let script = &self.revoke_session;
        let (key, prefix) = (&self.keys.session_id(id), &self.keys.prefix);
        let record: Option<Vec<u8>> = self
            .durable(|mut c| async move {
                script
                    .key(key)
                    .arg(prefix)
                    .arg(id)
                    .arg(STREAM_MAXLEN)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        record.map(|r| decode(&r, "sessions")).transpose()
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StorageError> {
        self.sessions_indexed(&self.keys.user_sessions(user_id))
            .await
    }

    async fn provider_sessions(
        &self,
        issuer: &str,
        sid: &str,
    ) -> Result<Vec<SessionRecord>, StorageError> {
        self.sessions_indexed(&self.keys.provider_sessions(issuer, sid))
            .await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u32, StorageError> {
        let script = &self.revoke_user;
        let (key, prefix) = (&self.keys.user_sessions(user_id), &self.keys.prefix);
        self.durable(|mut c| async move {
            script
                .key(key)
                .arg(prefix)
                .arg(user_id)
                .arg(STREAM_MAXLEN)
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    /// Nothing to do: every session key carries its own TTL.
    async fn purge_expired_sessions(&self, _now: UnixTime) -> Result<SessionSweep, StorageError> {
        Ok(SessionSweep {
            purged: 0,
            live: None,
        })
    }

    /// Nothing to wait for: every durable write was confirmed when it
    /// returned.
    async fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    async fn probe(&self) -> Result<(), StorageError> {
        let key = self.keys.probe();
        let written: i64 = self
            .durable(|mut c| {
                let cmd = redis::cmd("INCR").arg(&key).to_owned();
                async move { cmd.query_async(&mut c).await }
            })
            .await?;
        let read: Option<i64> = self.reads.query(redis::cmd("GET").arg(&key)).await?;
        // Another replica's probe may have bumped it since: never lower.
        match read {
            Some(n) if n >= written => Ok(()),
            _ => Err(StorageError::Corrupt("probe marker")),
        }
    }

    fn revocation_feed(&self) -> Arc<RevocationFeed> {
        self.feed.clone()
    }
}

#[async_trait]
impl FlowStore for RedisStore {
    async fn insert_flow(
        &self,
        state_hash: &SecretHash,
        flow: &FlowRecord,
    ) -> Result<(), StorageError> {
        self.reads
            .query(
                redis::cmd("SET")
                    .arg(self.keys.flow(&state_hash.0))
                    .arg(encode(flow, "flows")?)
                    .arg("PXAT")
                    .arg(millis(flow.expires_at)),
            )
            .await
    }

    async fn take_flow(&self, state_hash: &SecretHash) -> Result<Option<FlowRecord>, StorageError> {
        // GETDEL: two replicas can never both consume one `state`.
        let bytes: Option<Vec<u8>> = self
            .reads
            .query(redis::cmd("GETDEL").arg(self.keys.flow(&state_hash.0)))
            .await?;
        bytes.map(|b| decode(&b, "flows")).transpose()
    }

    /// Nothing to do: every flow key carries its own TTL.
    async fn purge_expired_flows(&self, _now: UnixTime) -> Result<u32, StorageError> {
        Ok(0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::conformance::{LATER, flow, session};
    use super::super::test_redis::RedisServer;
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_stream_id_gives_the_commit_time_on_the_server_clock() {
        assert_eq!(
            committed_at("1700000000123-7"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123))
        );
        for malformed in ["", "1700000000123", "x-1", "-1"] {
            assert_eq!(committed_at(malformed), None, "{malformed:?}");
        }
    }

    fn config(server: &RedisServer) -> RedisConfig {
        RedisConfig {
            url: Some(server.url()),
            ..RedisConfig::default()
        }
    }

    /// Waits (bounded) until the feed accepts watchers.
    async fn online(store: &RedisStore) -> crate::revocation_feed::Subscription {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(subscription) = store.feed.subscribe(None) {
                return subscription;
            }
            assert!(Instant::now() < deadline, "feed offline for 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_text() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"g".repeat(64)), None);
    }

    #[test]
    fn provider_scoped_keys_separate_issuer_from_name() {
        let keys = Keys {
            prefix: "pc:".into(),
        };
        assert_ne!(keys.identity("ab", "c"), keys.identity("a", "bc"));
        assert!(keys.identity("a", "b").starts_with("pc:id:"));
        assert_ne!(
            keys.provider_sessions("ab", "c"),
            keys.provider_sessions("a", "bc")
        );
        assert!(keys.provider_sessions("a", "b").starts_with("pc:ps:"));
    }

    #[tokio::test]
    async fn every_expiring_key_carries_its_ttl_and_no_path_scans() {
        let server = RedisServer::start().await;
        let store = RedisStore::open(&config(&server)).await.unwrap();
        let mut s1 = session("s1", "u1", "t1", LATER);
        s1.idle_expires_at = LATER - 10;
        store.insert_session(&s1).await.unwrap();
        store
            .insert_flow(&SecretHash::of("st"), &flow(LATER - 20))
            .await
            .unwrap();
        store
            .touch_session(&SecretHash::of("t1"), 5, LATER - 5)
            .await
            .unwrap();
        store.user_sessions("u1").await.unwrap();
        store
            .provider_sessions("https://idp", "sid-s1")
            .await
            .unwrap();
        store.delete_user_sessions("u9").await.unwrap();
        let alice = super::super::UserRecord {
            email: "Alice@example.com".into(),
            ..super::super::conformance::user("u1")
        };
        store.put_user(&alice).await.unwrap();
        store.list_users(None, 1).await.unwrap();
        store.list_users(Some("u0"), 1).await.unwrap();
        store.users_by_email("alice@example.com").await.unwrap();
        let mut c = server.connection().await;
        let keys = &store.keys;
        for (key, at) in [
            (keys.session(&s1.token_hash), LATER - 5),
            (keys.session_id("s1"), LATER),
            (keys.user_sessions("u1"), LATER),
            (keys.provider_sessions("https://idp", "sid-s1"), LATER),
            (keys.flow(&SecretHash::of("st").0), LATER - 20),
        ] {
            let expires: i64 = redis::cmd("PEXPIRETIME")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap();
            assert_eq!(expires, millis(at), "{key}");
        }
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(stats.contains("cmdstat_get:"), "{stats}");
        assert!(!stats.contains("cmdstat_keys:"), "{stats}");
        assert!(!stats.contains("cmdstat_scan:"), "{stats}");
    }

    #[tokio::test]
    async fn a_server_that_can_lose_revocations_is_refused_unless_allowed() {
        let server = RedisServer::start_volatile().await;
        let refused = RedisStore::open(&config(&server)).await.err().unwrap();
        let message = refused.to_string();
        assert!(message.contains("appendonly no"), "{message}");
        assert!(message.contains("allow_volatile"), "{message}");
        let allowed = RedisConfig {
            allow_volatile: true,
            ..config(&server)
        };
        RedisStore::open(&allowed).await.unwrap();
    }

    #[tokio::test]
    async fn replicas_share_flows_sessions_and_every_revocation() {
        let server = RedisServer::start().await;
        let a = RedisStore::open(&config(&server)).await.unwrap();
        let b = RedisStore::open(&config(&server)).await.unwrap();
        let mut watch_b = online(&b).await;
        a.insert_flow(&SecretHash::of("st"), &flow(LATER))
            .await
            .unwrap();
        assert!(b.take_flow(&SecretHash::of("st")).await.unwrap().is_some());
        assert!(a.take_flow(&SecretHash::of("st")).await.unwrap().is_none());
        a.insert_session(&session("s1", "u1", "t1", LATER))
            .await
            .unwrap();
        assert!(b.session_by_id("s1").await.unwrap().is_some());
        b.delete_session("s1").await.unwrap().unwrap();
        assert!(
            a.session_by_token(&SecretHash::of("t1"))
                .await
                .unwrap()
                .is_none()
        );
        let mut watch_a = online(&a).await;
        a.delete_user_sessions("u2").await.unwrap();
        for watcher in [&mut watch_b, &mut watch_a] {
            let got = tokio::time::timeout(Duration::from_secs(10), watcher.live.recv()).await;
            assert!(
                matches!(got, Ok(Ok(crate::revocation_feed::FeedItem::Event(_)))),
                "{got:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_dead_server_is_unavailable_and_service_resumes_by_itself() {
        let mut server = RedisServer::start().await;
        let store = RedisStore::open(&config(&server)).await.unwrap();
        let mut watcher = online(&store).await;
        store
            .insert_session(&session("s1", "u1", "t1", LATER))
            .await
            .unwrap();
        server.kill();
        let down = store.session_by_token(&SecretHash::of("t1")).await;
        assert!(
            matches!(down, Err(StorageError::Unavailable(_))),
            "{down:?}"
        );
        let revoke = store.delete_session("s1").await;
        assert!(
            matches!(revoke, Err(StorageError::Unavailable(_))),
            "{revoke:?}"
        );
        // The tail's loss reached the watcher as a reset.
        let reset = tokio::time::timeout(Duration::from_secs(10), watcher.live.recv()).await;
        assert!(
            matches!(reset, Ok(Ok(crate::revocation_feed::FeedItem::Reset))),
            "{reset:?}"
        );
        server.restart().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match store.session_by_token(&SecretHash::of("t1")).await {
                Ok(found) => {
                    // Restarted from its append-only file: the session is there.
                    assert!(found.is_some());
                    break;
                }
                Err(e) => assert!(Instant::now() < deadline, "not back after 10 s: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut watcher = online(&store).await;
        store.delete_session("s1").await.unwrap().unwrap();
        let event = tokio::time::timeout(Duration::from_secs(10), watcher.live.recv()).await;
        assert!(
            matches!(event, Ok(Ok(crate::revocation_feed::FeedItem::Event(_)))),
            "{event:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_touch_at_one_replica_never_resurrects_a_revoke_at_another() {
        let server = RedisServer::start().await;
        let a = RedisStore::open(&config(&server)).await.unwrap();
        let b = RedisStore::open(&config(&server)).await.unwrap();
        for round in 0..1000 {
            let (id, token) = (format!("s{round}"), format!("t{round}"));
            a.insert_session(&session(&id, "u1", &token, LATER))
                .await
                .unwrap();
            let hash = SecretHash::of(&token);
            let toucher = {
                let a = a.clone();
                tokio::spawn(async move { a.touch_session(&hash, 1, LATER).await })
            };
            let revoker = {
                let b = b.clone();
                tokio::spawn(async move { b.delete_session(&id).await })
            };
            toucher.await.unwrap().unwrap();
            revoker.await.unwrap().unwrap().unwrap();
            assert!(
                a.session_by_token(&hash).await.unwrap().is_none(),
                "round {round}"
            );
        }
    }

    /// An acknowledged revoke survives `kill -9` of the server: it was in
    /// the append-only file before the reply.
    #[tokio::test]
    async fn an_acknowledged_revoke_survives_a_server_crash() {
        let mut server = RedisServer::start().await;
        let store = RedisStore::open(&config(&server)).await.unwrap();
        for round in 0..20 {
            let (kept, revoked) = (format!("k{round}"), format!("r{round}"));
            for (id, user) in [(&kept, "keep"), (&revoked, "gone")] {
                store
                    .insert_session(&session(id, user, id, LATER))
                    .await
                    .unwrap();
            }
            if round % 2 == 0 {
                store.delete_session(&revoked).await.unwrap().unwrap();
            } else {
                assert_eq!(store.delete_user_sessions("gone").await.unwrap(), 1);
            }
            server.kill();
            server.restart().await;
            let deadline = Instant::now() + Duration::from_secs(10);
            let kept_back = loop {
                match store.session_by_id(&kept).await {
                    Ok(found) => break found,
                    Err(e) => assert!(Instant::now() < deadline, "round {round}: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            assert!(kept_back.is_some(), "round {round}: the login was lost");
            assert!(
                store
                    .session_by_token(&SecretHash::of(&revoked))
                    .await
                    .unwrap()
                    .is_none(),
                "round {round}: the revoked session came back"
            );
        }
    }

    /// A revoke acknowledged with one replica's `WAIT` stays revoked when
    /// the primary dies and Sentinel promotes the replica; the store follows
    /// the failover by itself.
    #[tokio::test]
    async fn a_sentinel_failover_is_followed_and_keeps_acknowledged_revokes() {
        use super::super::test_redis::{MASTER_NAME, SentinelGroup};
        let mut group = SentinelGroup::start().await;
        let via_sentinels = RedisConfig {
            sentinels: group.sentinels.clone(),
            master_name: Some(MASTER_NAME.into()),
            min_replicas_ack: 1,
            barrier_timeout: Duration::from_secs(2),
            ..RedisConfig::default()
        };
        let store = RedisStore::open(&via_sentinels).await.unwrap();
        store
            .insert_session(&session("kept", "u1", "kept", LATER))
            .await
            .unwrap();
        store
            .insert_session(&session("gone", "u1", "gone", LATER))
            .await
            .unwrap();
        store.delete_session("gone").await.unwrap().unwrap();
        group.kill_primary();
        let started = Instant::now();
        let kept = loop {
            match store.session_by_id("kept").await {
                Ok(found) => break found,
                Err(e) => assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "no failover within 30 s: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        eprintln!("failover followed after {:?}", started.elapsed());
        assert!(kept.is_some());
        assert!(
            store
                .session_by_token(&SecretHash::of("gone"))
                .await
                .unwrap()
                .is_none()
        );
        // Reads and writes go to the promoted replica now.
        let client = redis::Client::open(group.replica_url()).unwrap();
        let mut promoted = client.get_multiplexed_async_connection().await.unwrap();
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut promoted).await.unwrap();
        assert_eq!(
            role.first(),
            Some(&redis::Value::BulkString(b"master".to_vec()))
        );
        let alone = RedisConfig {
            min_replicas_ack: 0,
            ..via_sentinels
        };
        let after = RedisStore::open(&alone).await.unwrap();
        after
            .insert_session(&session("new", "u1", "new", LATER))
            .await
            .unwrap();
        assert!(store.session_by_id("new").await.unwrap().is_some());
    }

    /// The ACL line docs/deployment.md recommends is enough for the store.
    #[tokio::test]
    async fn the_store_works_under_the_documented_acl_user() {
        let doc = include_str!("../../../docs/deployment.md");
        let rule = doc
            .lines()
            .find_map(|l| l.strip_prefix("user portcullis "))
            .unwrap();
        let server = RedisServer::start().await;
        let mut admin = server.connection().await;
        let mut setuser = redis::cmd("ACL");
        setuser.arg("SETUSER").arg("portcullis");
        for word in rule.split_whitespace() {
            setuser.arg(word.replace("CHANGE-ME", "secret-pw"));
        }
        setuser.query_async::<()>(&mut admin).await.unwrap();
        let acl_user = RedisConfig {
            username: Some("portcullis".into()),
            password: Some("secret-pw".to_owned().into()),
            ..config(&server)
        };
        let store = RedisStore::open(&acl_user).await.unwrap();
        let mut watcher = online(&store).await;
        store
            .insert_session(&session("s1", "u1", "t1", LATER))
            .await
            .unwrap();
        store
            .touch_session(&SecretHash::of("t1"), 1, LATER)
            .await
            .unwrap();
        assert_eq!(store.user_sessions("u1").await.unwrap().len(), 1);
        store.delete_session("s1").await.unwrap().unwrap();
        store.delete_user_sessions("u1").await.unwrap();
        store.link_identity("i", "s", "u1").await.unwrap();
        let alice = super::super::UserRecord {
            email: "alice@example.com".into(),
            ..super::super::conformance::user("u1")
        };
        store.put_user(&alice).await.unwrap();
        store
            .put_user(&super::super::conformance::user("u1"))
            .await
            .unwrap();
        assert_eq!(store.list_users(None, 10).await.unwrap().users.len(), 1);
        assert!(
            store
                .users_by_email("alice@example.com")
                .await
                .unwrap()
                .is_empty()
        );
        store
            .insert_flow(&SecretHash::of("f"), &flow(LATER))
            .await
            .unwrap();
        store
            .take_flow(&SecretHash::of("f"))
            .await
            .unwrap()
            .unwrap();
        store.probe().await.unwrap();
        let event = tokio::time::timeout(Duration::from_secs(10), watcher.live.recv()).await;
        assert!(
            matches!(event, Ok(Ok(crate::revocation_feed::FeedItem::Event(_)))),
            "{event:?}"
        );
        // Confined to the prefix.
        let outside = RedisConfig {
            key_prefix: "other:".into(),
            ..acl_user
        };
        let other = RedisStore::open(&outside).await.unwrap();
        assert!(other.user("u1").await.is_err());
    }

    #[tokio::test]
    async fn a_revocation_without_enough_replicas_is_not_acknowledged() {
        let server = RedisServer::start().await;
        let wanting = RedisConfig {
            min_replicas_ack: 1,
            barrier_timeout: Duration::from_millis(50),
            ..config(&server)
        };
        let store = RedisStore::open(&wanting).await.unwrap();
        let login = store
            .insert_session(&session("s1", "u1", "t1", LATER))
            .await;
        assert!(
            matches!(login, Err(StorageError::Unavailable(ref m)) if m.contains("0 of 1")),
            "{login:?}"
        );
        let revoke = store.delete_user_sessions("u1").await;
        assert!(
            matches!(revoke, Err(StorageError::Unavailable(_))),
            "{revoke:?}"
        );
    }
}
