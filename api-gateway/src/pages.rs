//! Server-rendered HTML, as pure functions of what they show: the start
//! page at `/` (served by [`crate::routes::index`]) and error pages
//! (rendered by `error.rs`). No JavaScript: links start logins, plain forms
//! log out and revoke sessions. Every value that goes into HTML passes
//! through [`escape`].

use axum::http::StatusCode;
use common::proto::{Provider, Session, User};
use std::fmt::Write as _;

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment (ids go into form actions and links).
fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;\
padding:0 1rem;color:#222}a.button,button{display:inline-block;padding:.5rem 1rem;margin:.25rem 0;\
border:1px solid #888;border-radius:.3rem;background:#f4f4f4;color:#222;text-decoration:none;\
font-size:1rem;cursor:pointer}table{border-collapse:collapse;width:100%}td,th{text-align:left;\
padding:.3rem;border-bottom:1px solid #ddd;font-size:.9rem}form{display:inline}.muted{color:#666}";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// A readable error page for browser navigations.
pub(crate) fn error_page(status: StatusCode, code: &str, message: &str) -> String {
    let body = format!(
        "<h1>{} {}</h1><p>{}</p><p class=\"muted\">Error code: <code>{}</code></p>\
<p><a class=\"button\" href=\"/\">Back to the start page</a></p>",
        status.as_u16(),
        escape(status.canonical_reason().unwrap_or("Error")),
        escape(message),
        escape(code)
    );
    layout("Error", &body)
}

fn providers_html(providers: &[Provider]) -> String {
    if providers.is_empty() {
        return "<p>No identity providers are configured.</p>".to_owned();
    }
    let mut out = String::from("<p>Sign in with:</p><ul>");
    for p in providers {
        let _ = write!(
            out,
            "<li><a class=\"button\" href=\"/auth/login/{}\">{}</a></li>",
            escape(&path_segment(&p.id)),
            escape(&p.name)
        );
    }
    out.push_str("</ul>");
    out
}

fn time(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map(|t| t.to_string()).unwrap_or_default()
}

fn sessions_html(sessions: &[Session], current_id: &str) -> String {
    let mut out = String::from(
        "<h2>Your sessions</h2><table><tr><th>Started</th><th>Last seen</th>\
<th>Browser</th><th>IP</th><th></th></tr>",
    );
    for s in sessions {
        let action = if s.id == current_id {
            "<strong>this session</strong>".to_owned()
        } else {
            format!(
                "<form method=\"post\" action=\"/auth/sessions/{}/revoke\">\
<button type=\"submit\">Revoke</button></form>",
                escape(&path_segment(&s.id))
            )
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            escape(&time(s.created_at.as_ref())),
            escape(&time(s.last_seen_at.as_ref())),
            escape(&s.user_agent),
            escape(&s.client_ip),
        );
    }
    out.push_str("</table>");
    out
}

/// The start page of a logged-in user: who they are, the logout forms and
/// their sessions (`current_session_id` is the one making the request).
pub(crate) fn signed_in_page(
    user: &User,
    sessions: &[Session],
    current_session_id: &str,
) -> String {
    let mut body = String::from("<h1>Portcullis</h1>");
    let u = user;
    let name = if u.name.is_empty() { &u.email } else { &u.name };
    let _ = write!(
        body,
        "<p>Signed in as <strong>{}</strong> {} via <code>{}</code>.</p>",
        escape(name),
        if u.email.is_empty() {
            String::new()
        } else {
            format!("&lt;{}&gt;", escape(&u.email))
        },
        escape(&u.provider_id)
    );
    if !u.roles.is_empty() {
        let _ = write!(
            body,
            "<p class=\"muted\">Roles: {}</p>",
            escape(&u.roles.join(", "))
        );
    }
    body.push_str(
        "<p><form method=\"post\" action=\"/auth/logout\">\
<button type=\"submit\">Log out</button></form> \
<form method=\"post\" action=\"/auth/logout/all\">\
<button type=\"submit\">Log out everywhere</button></form></p>",
    );
    body.push_str(&sessions_html(sessions, current_session_id));
    layout("Portcullis", &body)
}

/// The start page of an anonymous visitor: one button per provider.
pub(crate) fn sign_in_page(providers: &[Provider]) -> String {
    let mut body = String::from("<h1>Portcullis</h1>");
    body.push_str(&providers_html(providers));
    layout("Portcullis", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn provider_names_and_ids_are_escaped() {
        let html = providers_html(&[Provider {
            id: "a\"b".into(),
            name: "<b>Evil</b>".into(),
            kind: "oidc".into(),
        }]);
        assert!(!html.contains("<b>Evil"), "{html}");
        assert!(html.contains("/auth/login/a%22b"), "{html}");
    }

    #[test]
    fn session_fields_are_escaped() {
        let html = sessions_html(
            &[Session {
                id: "s1".into(),
                user_agent: "<img src=x onerror=alert(1)>".into(),
                ..Session::default()
            }],
            "other",
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("/auth/sessions/s1/revoke"));
    }

    #[test]
    fn error_page_escapes() {
        let html = error_page(StatusCode::BAD_REQUEST, "x<y", "a<b");
        assert!(html.contains("a&lt;b") && html.contains("x&lt;y"));
    }
}
