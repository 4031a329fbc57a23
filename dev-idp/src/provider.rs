//! The provider's state, shared by the HTTP handlers and the [`crate::DevIdp`]
//! handle: who may log in, which clients exist, the keys, what has been
//! issued, the faults, and the counters tests read.
//!
//! Everything sits behind `std::sync::Mutex`: every critical section is a
//! few map operations and none is held across an `.await` (mini-redis
//! `src/db.rs` explains why that beats an async mutex).

use crate::clock::unix_now;
use crate::faults::Faults;
use crate::grants::{Grants, TOKEN_LIFETIME_SECS, random_secret};
use crate::keys::{Keyring, RsaKey, SigningKey};
use crate::users::synthetic_user;
use crate::{DevClient, DevUser};
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What the token endpoint received, for tests asserting how the relying
/// party authenticated and whether it sent its PKCE verifier. Never holds the
/// code, the verifier or the secret themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequestRecord {
    /// `grant_type` as sent.
    pub grant_type: Option<String>,
    /// The client id, from HTTP Basic or the body.
    pub client_id: Option<String>,
    /// `"client_secret_basic"`, `"client_secret_post"` or `"none"` (the
    /// names from RFC 7591 section 2), whichever the request used.
    pub client_auth: String,
    /// Whether a `code_verifier` was sent (RFC 7636 section 4.5).
    pub code_verifier_present: bool,
    /// `redirect_uri` as sent.
    pub redirect_uri: Option<String>,
}

/// Token requests remembered for [`crate::DevIdp::token_requests`]: plenty
/// for any test, bounded for a dev server that runs for days.
const TOKEN_REQUESTS_KEPT: usize = 1024;

pub(crate) struct Provider {
    pub(crate) issuer: String,
    /// The issuer's path (`""` or e.g. `"/idp"`): the endpoints live under
    /// it, as discovery advertises them relative to the issuer.
    pub(crate) base_path: String,
    clients: Vec<DevClient>,
    pub(crate) users: Vec<DevUser>,
    keys: Mutex<Keyring>,
    faults: Mutex<Faults>,
    grants: Mutex<Grants>,
    jwks_fetches: AtomicUsize,
    token_requests: Mutex<VecDeque<TokenRequestRecord>>,
    /// Provider sessions (`sid`s) started per login, newest last.
    sessions: Mutex<HashMap<String, VecDeque<String>>>,
}

/// Provider sessions remembered per user: the newest few are plenty for
/// any test or developer, and the memory stays bounded.
const SESSIONS_KEPT: usize = 16;

/// The event a back-channel logout token announces.
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Locks `mutex`, ignoring poisoning: a panicking test thread must not
/// take the provider down for the other tests sharing it, and no critical
/// section here leaves the data half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Provider {
    pub(crate) fn new(
        issuer: String,
        base_path: String,
        clients: Vec<DevClient>,
        users: Vec<DevUser>,
        keys: Keyring,
    ) -> Provider {
        Provider {
            issuer,
            base_path,
            clients,
            users,
            keys: Mutex::new(keys),
            faults: Mutex::new(Faults::default()),
            grants: Mutex::new(Grants::default()),
            jwks_fetches: AtomicUsize::new(0),
            token_requests: Mutex::new(VecDeque::new()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a provider session for `login` (a code-flow login): its new
    /// `sid`, which the ID token carries.
    pub(crate) fn start_session(&self, login: &str) -> String {
        let sid = format!("sid-{}", random_secret());
        let mut sessions = lock(&self.sessions);
        let list = sessions.entry(login.to_owned()).or_default();
        if list.len() == SESSIONS_KEPT {
            list.pop_front();
        }
        list.push_back(sid.clone());
        sid
    }

    /// Ends every provider session of the user with subject `sub`; returns
    /// how many there were.
    pub(crate) fn end_sessions_of_subject(&self, sub: &str) -> usize {
        let Some(user) = self.users.iter().find(|u| u.sub == sub) else {
            return 0;
        };
        lock(&self.sessions)
            .remove(&user.login)
            .map_or(0, |sids| sids.len())
    }

    /// The provider sessions of `login`, oldest first.
    pub(crate) fn sessions_of(&self, login: &str) -> Vec<String> {
        lock(&self.sessions)
            .get(login)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A signed back-channel logout token (OpenID Connect Back-Channel
    /// Logout 1.0 section 2.4) for `login` at `client_id`, naming the
    /// provider session `sid` and, with `with_sub`, the user.
    pub(crate) fn logout_token(
        &self,
        login: &str,
        client_id: &str,
        sid: Option<&str>,
        with_sub: bool,
    ) -> String {
        let now = unix_now();
        let mut claims = json!({
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 120,
            "jti": random_secret(),
            "events": { BACKCHANNEL_EVENT: {} },
        });
        if with_sub {
            claims["sub"] = json!(self.user_or_synthetic(login).sub);
        }
        if let Some(sid) = sid {
            claims["sid"] = json!(sid);
        }
        let mut header = self.current_header();
        header.typ = Some("logout+jwt".to_owned());
        self.sign_with(header, &claims, SigningKey::Current)
    }

    pub(crate) fn user(&self, login: &str) -> Option<&DevUser> {
        self.users.iter().find(|u| u.login == login)
    }

    fn user_or_synthetic(&self, login: &str) -> DevUser {
        self.user(login)
            .cloned()
            .unwrap_or_else(|| synthetic_user(login))
    }

    pub(crate) fn client(&self, client_id: &str) -> Option<&DevClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub(crate) fn update_faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut lock(&self.faults));
    }

    pub(crate) fn grants(&self) -> MutexGuard<'_, Grants> {
        lock(&self.grants)
    }

    /// ID token claims for `user` (OpenID Connect Core section 2 and the
    /// standard claims of section 5.1).
    pub(crate) fn user_claims(
        &self,
        user: &DevUser,
        client_id: &str,
        nonce: Option<&str>,
    ) -> Value {
        let now = unix_now();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": user.sub,
            "aud": client_id,
            "exp": now + TOKEN_LIFETIME_SECS,
            "iat": now,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
            "picture": user.picture,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if !user.groups.is_empty() {
            claims["groups"] = json!(user.groups);
        }
        claims
    }

    pub(crate) fn id_token_claims(
        &self,
        login: &str,
        client_id: &str,
        nonce: Option<&str>,
    ) -> Value {
        self.user_claims(&self.user_or_synthetic(login), client_id, nonce)
    }

    /// The header a correct token from this provider carries.
    pub(crate) fn current_header(&self) -> Header {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(lock(&self.keys).current_kid().to_owned());
        header
    }

    pub(crate) fn current_kid(&self) -> String {
        lock(&self.keys).current_kid().to_owned()
    }

    /// Signs, or returns an empty string after logging if `jsonwebtoken`
    /// refuses (it cannot for the headers and keys this crate builds): the
    /// minting API returns plain `String`s so tests read simply, and an
    /// empty token fails any verification loudly enough.
    pub(crate) fn sign_with(&self, header: Header, claims: &Value, key: SigningKey) -> String {
        match lock(&self.keys).sign(header, claims, key) {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign a token");
                String::new()
            }
        }
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        self.sign_with(self.current_header(), claims, SigningKey::Current)
    }

    pub(crate) fn issue_access_token(&self, login: &str, client_id: &str, scope: &str) -> String {
        let user = self.user_or_synthetic(login);
        self.grants().issue_access_token(user, client_id, scope)
    }

    pub(crate) fn rotate(&self, key: std::sync::Arc<RsaKey>, keep_old: bool) {
        lock(&self.keys).rotate(key, keep_old);
    }

    /// The JWK Set document, with or without `kid` members.
    pub(crate) fn jwks(&self, with_kid: bool) -> Value {
        lock(&self.keys).jwks(with_kid)
    }

    pub(crate) fn count_jwks_fetch(&self) {
        self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn jwks_fetch_count(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    pub(crate) fn record_token_request(&self, record: TokenRequestRecord) {
        let mut records = lock(&self.token_requests);
        if records.len() == TOKEN_REQUESTS_KEPT {
            records.pop_front();
        }
        records.push_back(record);
    }

    pub(crate) fn token_requests(&self) -> Vec<TokenRequestRecord> {
        lock(&self.token_requests).iter().cloned().collect()
    }
}
