//! What the commands print: each answer as a view (the fields an operator
//! needs, times as RFC 3339 UTC), rendered either as an aligned table for a
//! terminal or as one JSON document for scripts. Pure functions over proto
//! messages, so the formats are unit-tested without a server.
//!
//! Nothing rendered here can hold a token: the messages shown carry none.
//! Text that came from users or their browsers (names, User-Agents) has its
//! control characters escaped in tables, so it cannot move the cursor or
//! recolour the operator's terminal.

use common::proto;
use serde::Serialize;
use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

/// A user as shown.
#[derive(Debug, Serialize)]
pub(crate) struct UserView {
    id: String,
    provider_id: String,
    issuer: String,
    subject: String,
    email: String,
    email_verified: bool,
    name: String,
    picture: String,
    roles: Vec<String>,
    groups: Vec<String>,
    created_at: Option<String>,
    last_login_at: Option<String>,
}

impl From<&proto::User> for UserView {
    fn from(u: &proto::User) -> Self {
        Self {
            id: u.id.clone(),
            provider_id: u.provider_id.clone(),
            issuer: u.issuer.clone(),
            subject: u.subject.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            picture: u.picture.clone(),
            roles: u.roles.clone(),
            groups: u.groups.clone(),
            created_at: rfc3339(u.created_at.as_ref()),
            last_login_at: rfc3339(u.last_login_at.as_ref()),
        }
    }
}

/// A session as shown.
#[derive(Debug, Serialize)]
pub(crate) struct SessionView {
    id: String,
    user_id: String,
    provider_id: String,
    created_at: Option<String>,
    last_seen_at: Option<String>,
    expires_at: Option<String>,
    absolute_expires_at: Option<String>,
    client_ip: String,
    user_agent: String,
}

impl From<&proto::Session> for SessionView {
    fn from(s: &proto::Session) -> Self {
        Self {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            provider_id: s.provider_id.clone(),
            created_at: rfc3339(s.created_at.as_ref()),
            last_seen_at: rfc3339(s.last_seen_at.as_ref()),
            expires_at: rfc3339(s.expires_at.as_ref()),
            absolute_expires_at: rfc3339(s.absolute_expires_at.as_ref()),
            client_ip: s.client_ip.clone(),
            user_agent: s.user_agent.clone(),
        }
    }
}

/// A provider as shown.
#[derive(Debug, Serialize)]
pub(crate) struct ProviderView {
    id: String,
    name: String,
    kind: String,
}

impl From<&proto::Provider> for ProviderView {
    fn from(p: &proto::Provider) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            kind: p.kind.clone(),
        }
    }
}

/// A list of users (`users list`, `users find`).
#[derive(Debug, Serialize)]
pub(crate) struct UserList {
    users: Vec<UserView>,
    /// Where the next page starts; absent on the last page and with `--all`.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

impl UserList {
    pub(crate) fn new(users: &[proto::User], next_page_token: &str) -> Self {
        Self {
            users: users.iter().map(UserView::from).collect(),
            next_page_token: Some(next_page_token.to_owned()).filter(|t| !t.is_empty()),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// `ID  PROVIDER  EMAIL  VERIFIED  NAME  LAST LOGIN`, one user a line.
    pub(crate) fn table(&self) -> String {
        let rows = self
            .users
            .iter()
            .map(|u| {
                vec![
                    u.id.clone(),
                    u.provider_id.clone(),
                    u.email.clone(),
                    yes_no(u.email_verified).to_owned(),
                    u.name.clone(),
                    or_dash(&u.last_login_at),
                ]
            })
            .collect();
        table(
            &["ID", "PROVIDER", "EMAIL", "VERIFIED", "NAME", "LAST LOGIN"],
            rows,
        )
    }
}

impl UserView {
    /// One field a line: `Field  value`.
    pub(crate) fn table(&self) -> String {
        let rows = [
            ("ID", self.id.clone()),
            ("Provider", self.provider_id.clone()),
            ("Issuer", self.issuer.clone()),
            ("Subject", self.subject.clone()),
            ("E-mail", self.email.clone()),
            ("E-mail verified", yes_no(self.email_verified).to_owned()),
            ("Name", self.name.clone()),
            ("Picture", self.picture.clone()),
            ("Roles", self.roles.join(", ")),
            ("Groups", self.groups.join(", ")),
            ("Created", or_dash(&self.created_at)),
            ("Last login", or_dash(&self.last_login_at)),
        ]
        .into_iter()
        .map(|(k, v)| vec![k.to_owned(), v])
        .collect();
        aligned(rows)
    }
}

/// A user's sessions (`sessions list`).
#[derive(Debug, Serialize)]
pub(crate) struct SessionList {
    user_id: String,
    sessions: Vec<SessionView>,
}

impl SessionList {
    pub(crate) fn new(user_id: &str, sessions: &[proto::Session]) -> Self {
        Self {
            user_id: user_id.to_owned(),
            sessions: sessions.iter().map(SessionView::from).collect(),
        }
    }

    /// One session a line; `no live sessions` when there is none.
    pub(crate) fn table(&self) -> String {
        if self.sessions.is_empty() {
            return format!("user {} has no live sessions\n", clean(&self.user_id));
        }
        let rows = self
            .sessions
            .iter()
            .map(|s| {
                vec![
                    s.id.clone(),
                    s.provider_id.clone(),
                    or_dash(&s.created_at),
                    or_dash(&s.last_seen_at),
                    or_dash(&s.expires_at),
                    s.client_ip.clone(),
                    s.user_agent.clone(),
                ]
            })
            .collect();
        table(
            &[
                "SESSION",
                "PROVIDER",
                "CREATED",
                "LAST SEEN",
                "EXPIRES",
                "CLIENT IP",
                "USER AGENT",
            ],
            rows,
        )
    }
}

/// The providers (`providers`).
#[derive(Debug, Serialize)]
pub(crate) struct ProviderList {
    providers: Vec<ProviderView>,
}

impl ProviderList {
    pub(crate) fn new(providers: &[proto::Provider]) -> Self {
        Self {
            providers: providers.iter().map(ProviderView::from).collect(),
        }
    }

    pub(crate) fn table(&self) -> String {
        let rows = self
            .providers
            .iter()
            .map(|p| vec![p.id.clone(), p.kind.clone(), p.name.clone()])
            .collect();
        table(&["ID", "KIND", "NAME"], rows)
    }
}

/// What a revocation did (`sessions revoke`, `sessions revoke-all`).
#[derive(Debug, Serialize)]
pub(crate) struct Revoked {
    /// How many sessions ended.
    revoked: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
}

impl Revoked {
    pub(crate) fn session(session_id: &str, user_id: Option<&str>) -> Self {
        Self {
            revoked: 1,
            session_id: Some(session_id.to_owned()),
            user_id: user_id.map(str::to_owned),
        }
    }

    pub(crate) fn all_of(user_id: &str, revoked: u32) -> Self {
        Self {
            revoked,
            session_id: None,
            user_id: Some(user_id.to_owned()),
        }
    }

    /// One sentence: what ended, with the count.
    pub(crate) fn text(&self) -> String {
        let sessions = if self.revoked == 1 {
            "session"
        } else {
            "sessions"
        };
        let mut line = format!("revoked {} {sessions}", self.revoked);
        if let Some(id) = &self.session_id {
            let _ = write!(line, " ({})", clean(id));
        }
        if let Some(user) = &self.user_id {
            let _ = write!(line, " of user {}", clean(user));
        }
        line.push('\n');
        line
    }
}

/// `value` as one pretty JSON document and a newline.
pub(crate) fn json<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs (strings, numbers, lists) cannot
    // fail; should it ever, the document says so rather than vanishing.
    let mut text = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot encode the answer: {e}\"}}"));
    text.push('\n');
    text
}

/// A protobuf timestamp as RFC 3339 in UTC, to the second
/// (`2026-12-03T10:28:50Z`); `None` when absent or before 1970.
fn rfc3339(t: Option<&prost_types::Timestamp>) -> Option<String> {
    let seconds = u64::try_from(t?.seconds).ok()?;
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(seconds))?;
    Some(humantime::format_rfc3339_seconds(at).to_string())
}

fn or_dash(t: &Option<String>) -> String {
    t.clone().unwrap_or_else(|| "-".to_owned())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `text` safe to print to a terminal: control characters (escape
/// sequences, newlines, tabs) escaped as `\u{1b}` and the like.
fn clean(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A header line, then the rows, columns padded to their widest cell and
/// two spaces apart (the last column unpadded); empty cells show as `-`.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut lines = vec![header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    lines.extend(rows.into_iter().map(|row| {
        row.into_iter()
            .map(|cell| {
                if cell.is_empty() {
                    "-".to_owned()
                } else {
                    cell
                }
            })
            .collect()
    }));
    aligned(lines)
}

/// Rows of cells in aligned columns.
fn aligned(rows: Vec<Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| row.iter().map(|c| clean(c)).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn user(id: &str, email: &str, name: &str) -> proto::User {
        proto::User {
            id: id.into(),
            provider_id: "dev".into(),
            issuer: "http://127.0.0.1:9000".into(),
            subject: "alice".into(),
            email: email.into(),
            email_verified: true,
            name: name.into(),
            roles: vec!["admin".into()],
            groups: vec!["staff".into()],
            created_at: at(1_796_293_730),
            last_login_at: at(1_796_297_330),
            ..Default::default()
        }
    }

    #[test]
    fn times_are_rfc3339_utc_to_the_second() {
        assert_eq!(
            rfc3339(at(1_796_293_730).as_ref()).as_deref(),
            Some("2026-12-03T10:28:50Z")
        );
        assert_eq!(rfc3339(None), None);
        assert_eq!(rfc3339(at(-1).as_ref()), None);
    }

    #[test]
    fn user_tables_align_their_columns() {
        let list = UserList::new(
            &[
                user("u_1", "alice@example.com", "Alice"),
                user("u_22", "", "Bob Example"),
            ],
            "",
        );
        let text = list.table();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID    PROVIDER  EMAIL "), "{text}");
        assert!(
            lines[1].starts_with("u_1   dev       alice@example.com  yes"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("u_22  dev       -                  yes"),
            "{text}"
        );
        // Every row's LAST LOGIN starts in the same column.
        let column = lines[0].find("LAST LOGIN").unwrap();
        assert_eq!(lines[1].find("2026-12-03T11:28:50Z"), Some(column));
        assert_eq!(lines[2].find("2026-12-03T11:28:50Z"), Some(column));
    }

    #[test]
    fn json_is_one_document_with_the_page_token_only_when_more_follow() {
        let last: serde_json::Value =
            serde_json::from_str(&json(&UserList::new(&[user("u_1", "a@b", "A")], ""))).unwrap();
        assert_eq!(last["users"][0]["id"], "u_1");
        assert_eq!(last["users"][0]["roles"][0], "admin");
        assert_eq!(last["users"][0]["created_at"], "2026-12-03T10:28:50Z");
        assert!(last.get("next_page_token").is_none());
        let more: serde_json::Value =
            serde_json::from_str(&json(&UserList::new(&[], "dG9rZW4"))).unwrap();
        assert_eq!(more["next_page_token"], "dG9rZW4");
    }

    #[test]
    fn terminal_control_characters_are_escaped() {
        let list = UserList::new(&[user("u_1", "a@b", "Evil\u{1b}[2J\nName")], "");
        let text = list.table();
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("Evil\\u{1b}[2J\\nName"), "{text:?}");
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn sessions_providers_and_revocations_read_well() {
        let session = proto::Session {
            id: "s_1".into(),
            user_id: "u_1".into(),
            created_at: at(1_796_293_730),
            last_seen_at: at(1_796_293_790),
            expires_at: at(1_796_380_190),
            user_agent: "curl/8".into(),
            client_ip: "127.0.0.1".into(),
            provider_id: "dev".into(),
            ..Default::default()
        };
        let text = SessionList::new("u_1", &[session]).table();
        assert!(text.starts_with("SESSION  PROVIDER  CREATED"), "{text}");
        assert!(
            text.contains("s_1      dev       2026-12-03T10:28:50Z"),
            "{text}"
        );
        assert_eq!(
            SessionList::new("u_1", &[]).table(),
            "user u_1 has no live sessions\n"
        );
        let providers = ProviderList::new(&[proto::Provider {
            id: "dev".into(),
            name: "Development provider".into(),
            kind: "oidc".into(),
        }]);
        assert_eq!(
            providers.table(),
            "ID   KIND  NAME\ndev  oidc  Development provider\n"
        );
        assert_eq!(
            Revoked::session("s_1", Some("u_1")).text(),
            "revoked 1 session (s_1) of user u_1\n"
        );
        assert_eq!(
            Revoked::all_of("u_1", 2).text(),
            "revoked 2 sessions of user u_1\n"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&json(&Revoked::all_of("u_1", 0))).unwrap();
        assert_eq!(doc, serde_json::json!({"revoked": 0, "user_id": "u_1"}));
    }
}
