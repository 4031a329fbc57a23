//! The gateway's own HTTP routes (DESIGN.md's route table) and the JSON
//! shapes they answer with; configured `[[routes]]` are dispatched by
//! [`configured`].

pub(crate) mod auth;
pub(crate) mod check;
pub(crate) mod configured;
pub(crate) mod health;
pub(crate) mod index;
pub(crate) mod sessions;

use crate::error::wants_html;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use common::proto::{ClientInfo, Session, User};
use serde::Serialize;
use std::net::IpAddr;

/// A user as the JSON API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct UserView {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub picture: String,
    pub provider: String,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            picture: u.picture.clone(),
            provider: u.provider_id.clone(),
            roles: u.roles.clone(),
            groups: u.groups.clone(),
        }
    }
}

/// RFC 3339 text of a protobuf timestamp.
pub(crate) fn rfc3339(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    ts.map(ToString::to_string)
}

/// A session as `/auth/me` and the login answers show it.
#[derive(Debug, Serialize)]
pub(crate) struct SessionView {
    pub id: String,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    pub absolute_expires_at: Option<String>,
}

impl From<&Session> for SessionView {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            created_at: rfc3339(s.created_at.as_ref()),
            expires_at: rfc3339(s.expires_at.as_ref()),
            absolute_expires_at: rfc3339(s.absolute_expires_at.as_ref()),
        }
    }
}

/// A session in a session list.
#[derive(Debug, Serialize)]
pub(crate) struct SessionListItem {
    pub id: String,
    pub created_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub expires_at: Option<String>,
    pub user_agent: String,
    pub client_ip: String,
    pub provider: String,
    pub current: bool,
}

impl SessionListItem {
    /// `current` is whether this is the session making the request.
    pub(crate) fn new(s: &Session, current_id: &str) -> Self {
        Self {
            id: s.id.clone(),
            created_at: rfc3339(s.created_at.as_ref()),
            last_seen_at: rfc3339(s.last_seen_at.as_ref()),
            expires_at: rfc3339(s.expires_at.as_ref()),
            user_agent: s.user_agent.clone(),
            client_ip: s.client_ip.clone(),
            provider: s.provider_id.clone(),
            current: s.id == current_id,
        }
    }
}

/// `{user, session}`.
#[derive(Debug, Serialize)]
pub(crate) struct Identity {
    pub user: UserView,
    pub session: SessionView,
}

/// Session metadata for auth-service: the user agent (at most 256 bytes,
/// cut on a character boundary) and the peer address.
pub(crate) fn client_info(headers: &HeaderMap, ip: Option<IpAddr>) -> ClientInfo {
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut end = ua.len().min(256);
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    ClientInfo {
        user_agent: ua[..end].to_owned(),
        ip: ip.map(|ip| ip.to_string()).unwrap_or_default(),
    }
}

/// The answer to a form-or-API action: back to the start page for a browser
/// form post, `204 No Content` for API clients.
pub(crate) fn done(headers: &HeaderMap) -> Response {
    if wants_html(headers) {
        Redirect::to("/").into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}
