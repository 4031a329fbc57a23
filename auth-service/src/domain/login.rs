//! Login: the authorization-code flow with PKCE and the front-end token flow.
//!
//! `begin_login` creates `state` (CSRF, RFC 6749 10.12), `nonce` (replay,
//! OIDC Core 3.1.2.1) and a PKCE S256 verifier (RFC 7636), plus a flow handle
//! the gateway binds to the browser in a cookie. Only the hash of `state` is a
//! key in the store. `complete_login` consumes the flow atomically (a `state`
//! works once), checks the handle in constant time and the 10-minute
//! lifetime, then lets the provider exchange and verify. Every login ends in
//! a fresh session; every failure in one audit line with its reason.

use super::IdTokenHint;
use super::error::AuthError;
use super::sessions::ProviderSession;
use super::{Auth, ClientMeta};
use crate::metrics::{LoginFlow, Metrics};
use crate::providers::{AuthorizationRequest, Checks, CodeExchange, Identity};
use crate::storage::{FlowRecord, SessionRecord};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::reason::Reason;
use common::telemetry::trace_context::TraceId;
use common::token::{SecretHash, SessionToken, random_text};
use sha2::{Digest, Sha256};
use url::Url;

/// How long a login flow may take, from redirect to callback (seconds).
pub const FLOW_LIFETIME: i64 = 600;
/// Longest accepted `state`, `code`, flow handle, redirect URI or return path.
const MAX_PARAM: usize = 2048;

/// A started login.
pub struct BeganLogin {
    /// Where to send the browser.
    pub authorization_url: Url,
    /// Secret binding the flow to the browser.
    pub flow_handle: String,
    /// When the flow expires.
    pub expires_at: i64,
}

/// A finished login.
pub struct LoggedIn {
    /// The new session's token (to the client, once).
    pub token: SessionToken,
    /// The new session, including the user.
    pub session: SessionRecord,
    /// Where the browser goes next (code flow).
    pub return_to: String,
}

/// The callback parameters of a code flow.
pub struct Callback<'a> {
    pub provider_id: &'a str,
    pub code: &'a str,
    pub state: &'a str,
    pub flow_handle: &'a str,
    pub iss: Option<&'a str>,
}

/// A provider token handed over by a front-end.
pub enum ProviderToken<'a> {
    /// An OIDC ID token.
    Id(&'a str),
    /// An OAuth access token.
    Access(&'a str),
}

fn check_param(name: &str, value: &str) -> Result<(), AuthError> {
    if value.is_empty() {
        return Err(AuthError::InvalidArgument(format!("{name} is required")));
    }
    if value.len() > MAX_PARAM {
        return Err(AuthError::InvalidArgument(format!("{name} is too long")));
    }
    Ok(())
}

/// RFC 7636 4.2: `BASE64URL(SHA256(verifier))`.
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Auth {
    /// Starts a code flow with `provider_id`. A failure here (the provider's
    /// discovery refused, the provider down) is a failed login attempt and
    /// audited as one.
    pub async fn begin_login(
        &self,
        provider_id: &str,
        redirect_uri: &str,
        return_to: &str,
    ) -> Result<BeganLogin, AuthError> {
        let result = self
            .begin_login_inner(provider_id, redirect_uri, return_to)
            .await;
        if let Err(e) = &result {
            audit_failure(&self.metrics, provider_id, LoginFlow::Code, e);
        }
        result
    }

    async fn begin_login_inner(
        &self,
        provider_id: &str,
        redirect_uri: &str,
        return_to: &str,
    ) -> Result<BeganLogin, AuthError> {
        let provider = self.providers.get(provider_id)?;
        check_param("redirect_uri", redirect_uri)?;
        let parsed = Url::parse(redirect_uri)
            .map_err(|_| AuthError::InvalidArgument("redirect_uri is not a URL".into()))?;
        if !common::config::is_https_or_loopback_http(&parsed) || parsed.fragment().is_some() {
            return Err(AuthError::InvalidArgument(
                "redirect_uri must be an https URL without fragment".into(),
            ));
        }
        let allowed = &provider.config().redirect_uris;
        if !allowed.is_empty() && !allowed.iter().any(|u| u == redirect_uri) {
            return Err(AuthError::InvalidArgument(
                "redirect_uri is not one of the provider's redirect_uris".into(),
            ));
        }
        let return_to = if return_to.is_empty() { "/" } else { return_to };
        if return_to.len() > MAX_PARAM || !is_return_target(return_to) {
            return Err(AuthError::InvalidArgument(
                "return_to must be a same-origin relative path or an http(s) URL".into(),
            ));
        }

        let state = random_text::<32>()?;
        let nonce = random_text::<32>()?;
        let verifier = random_text::<32>()?;
        let flow_handle = random_text::<32>()?;
        let authorization_url = provider
            .authorization_url(&AuthorizationRequest {
                state: &state,
                nonce: &nonce,
                code_challenge: &pkce_challenge(&verifier),
                redirect_uri,
            })
            .await?;
        let expires_at = self.clock.now().saturating_add(FLOW_LIFETIME);
        let flow = FlowRecord {
            provider_id: provider_id.to_owned(),
            handle_hash: SecretHash::of(&flow_handle).0,
            nonce,
            pkce_verifier: verifier,
            redirect_uri: redirect_uri.to_owned(),
            return_to: return_to.to_owned(),
            expires_at,
        };
        self.store
            .insert_flow(&SecretHash::of(&state), &flow)
            .await?;
        Ok(BeganLogin {
            authorization_url,
            flow_handle,
            expires_at,
        })
    }

    /// Completes a code flow.
    pub async fn complete_login(
        &self,
        callback: Callback<'_>,
        client: ClientMeta,
    ) -> Result<LoggedIn, AuthError> {
        let provider_id = callback.provider_id;
        let result = self.complete_login_inner(callback, client).await;
        audit(&self.metrics, provider_id, LoginFlow::Code, &result);
        result
    }

    async fn complete_login_inner(
        &self,
        callback: Callback<'_>,
        client: ClientMeta,
    ) -> Result<LoggedIn, AuthError> {
        let provider = self.providers.get(callback.provider_id)?;
        check_param("code", callback.code)?;
        check_param("state", callback.state)?;
        check_param("flow_handle", callback.flow_handle)?;
        // Taken, not read: whatever happens next, this state is spent.
        let flow = self
            .store
            .take_flow(&SecretHash::of(callback.state))
            .await?
            .ok_or_else(|| {
                AuthError::rejected(
                    Reason::StateUnknown,
                    "the login state is unknown, already used or expired",
                )
            })?;
        if !SecretHash(flow.handle_hash).ct_eq(&SecretHash::of(callback.flow_handle)) {
            return Err(AuthError::rejected(
                Reason::StateMismatch,
                "the login was started in another browser",
            ));
        }
        let now = self.clock.now();
        if now >= flow.expires_at {
            return Err(AuthError::rejected(
                Reason::StateExpired,
                "the login took longer than 10 minutes",
            ));
        }
        if flow.provider_id != callback.provider_id {
            return Err(AuthError::rejected(
                Reason::ProviderMismatch,
                "the callback came for another provider than the login began with",
            ));
        }
        let identity = provider
            .complete(
                &CodeExchange {
                    code: callback.code,
                    iss: callback.iss.filter(|i| !i.is_empty()),
                    redirect_uri: &flow.redirect_uri,
                    code_verifier: &flow.pkce_verifier,
                    nonce: &flow.nonce,
                },
                self.checks(now),
            )
            .await?;
        let mut logged_in = self.log_in(callback.provider_id, identity, client).await?;
        logged_in.return_to = flow.return_to;
        Ok(logged_in)
    }

    /// The front-end token flow: verifies a provider token and starts a
    /// session.
    pub async fn exchange_token(
        &self,
        provider_id: &str,
        token: ProviderToken<'_>,
        client: ClientMeta,
    ) -> Result<LoggedIn, AuthError> {
        let flow = match token {
            ProviderToken::Id(_) => LoginFlow::IdToken,
            ProviderToken::Access(_) => LoginFlow::AccessToken,
        };
        let result = async {
            let provider = self.providers.get(provider_id)?;
            let checks = self.checks(self.clock.now());
            let identity = match token {
                ProviderToken::Id(t) => provider.verify_id_token(t, checks).await?,
                ProviderToken::Access(t) => provider.verify_access_token(t, checks).await?,
            };
            self.log_in(provider_id, identity, client).await
        }
        .await;
        audit(&self.metrics, provider_id, flow, &result);
        result
    }

    async fn log_in(
        &self,
        provider_id: &str,
        identity: Identity,
        client: ClientMeta,
    ) -> Result<LoggedIn, AuthError> {
        let provider = self.providers.get(provider_id)?;
        let config = provider.config();
        let at_provider = ProviderSession {
            sid: if config.backchannel_logout {
                identity.provider_sid.clone()
            } else {
                String::new()
            },
            id_token: if config.post_logout_redirect_uri.is_some() {
                identity.id_token.clone()
            } else {
                IdTokenHint::default()
            },
        };
        let user = self.save_user(provider_id, identity).await?;
        let (token, session) = self.create_session(user, client, at_provider).await?;
        Ok(LoggedIn {
            token,
            session,
            return_to: "/".to_owned(),
        })
    }

    pub(crate) fn checks(&self, now: i64) -> Checks {
        Checks {
            now,
            skew: i64::try_from(self.settings.clock_skew.as_secs()).unwrap_or(60),
        }
    }
}

/// Where a login may send the browser back to, as far as auth-service can
/// tell: a same-origin relative path (`/` then no second `/` or `\`), or an
/// absolute http(s) URL with a host and no user info; no control
/// characters or backslashes anywhere. Which other hosts are allowed is
/// the gateway's `allowed_return_hosts`, checked there on the way in and
/// again on the way out; this is the second line.
pub fn is_return_target(target: &str) -> bool {
    if target.chars().any(|c| c.is_control() || c == '\\') {
        return false;
    }
    let bytes = target.as_bytes();
    if bytes.first() == Some(&b'/') {
        return !matches!(bytes.get(1), Some(b'/'));
    }
    let spelled_out = target.starts_with("https://") || target.starts_with("http://");
    spelled_out
        && url::Url::parse(target).is_ok_and(|url| {
            url.has_host()
                && url.username().is_empty()
                && url.password().is_none()
                && !target.contains(char::is_whitespace)
        })
}

/// One audit line per login attempt, never a token, and the attempt
/// counted in `metrics` under the same flow and reason.
fn audit(
    metrics: &Metrics,
    provider_id: &str,
    flow: LoginFlow,
    result: &Result<LoggedIn, AuthError>,
) {
    match result {
        Ok(l) => {
            metrics.record_login(provider_id, flow);
            tracing::info!(
                target: "audit",
                event = "login",
                provider = %provider_id,
                flow = flow.as_str(),
                user_id = %l.session.user.id,
                session_id = %l.session.id,
                client_ip = %l.session.client_ip,
                user_agent = %l.session.user_agent,
                trace_id = %TraceId::current(),
            );
        }
        Err(e) => audit_failure(metrics, provider_id, flow, e),
    }
}

/// The audit line of a failed login attempt, with its reason code, and
/// the failure counted.
fn audit_failure(metrics: &Metrics, provider_id: &str, flow: LoginFlow, error: &AuthError) {
    metrics.record_login_failure(provider_id, flow, error.reason());
    let detail = match error {
        AuthError::TokenRejected(r) => r.detail.clone(),
        other => other.to_string(),
    };
    tracing::warn!(
        target: "audit",
        event = "login_failed",
        provider = %provider_id,
        flow = flow.as_str(),
        reason = error.reason().map_or("error", Reason::code),
        detail = %detail,
        trace_id = %TraceId::current(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn return_targets() {
        for ok in [
            "/",
            "/a/b?c=d",
            "/%2F",
            "https://app.example.com/x?y",
            "http://localhost:3000/",
        ] {
            assert!(is_return_target(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "//evil",
            "/\\evil",
            "/a\\b",
            "/a\nb",
            "/\t/evil",
            "javascript:alert(1)",
            "https:evil",
            "https://user@evil.example/",
            "https://:pw@evil.example/",
            "https://evil.example/a b",
            "https://evil.example\\@app/",
            "ftp://evil.example/",
            "data:text/html,x",
        ] {
            assert!(!is_return_target(bad), "{bad:?}");
        }
    }
}
