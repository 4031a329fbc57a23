//! Server-rendered HTML, as pure functions of what they show: the start
//! page at `/` (served by [`crate::routes::index`]) and error pages
//! (rendered by `error.rs`). No JavaScript: links start logins, plain forms
//! log out and revoke sessions. The one exception is the optional "Sign in
//! with Google" page, which exists to run Google's script (it sets its own
//! CSP, `routes/auth/google_sign_in.rs`).
//!
//! Written with `maud`: every value spliced into a page is escaped by
//! construction, and only the fixed style sheet is inserted unescaped
//! (`PreEscaped`). The CSP (`middleware/security_headers.rs`) allows that
//! inline style and no script.

use crate::login_redirect::with_return_to;
use axum::http::StatusCode;
use common::config::GoogleSignInConfig;
use common::proto::{Provider, Session, User};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Percent-encodes a path segment (ids go into form actions and links).
fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;\
padding:0 1rem;color:#222}a.button,button{display:inline-block;padding:.5rem 1rem;margin:.25rem 0;\
border:1px solid #888;border-radius:.3rem;background:#f4f4f4;color:#222;text-decoration:none;\
font-size:1rem;cursor:pointer}table{border-collapse:collapse;width:100%}td,th{text-align:left;\
padding:.3rem;border-bottom:1px solid #ddd;font-size:.9rem}form{display:inline}.muted{color:#666}";

fn layout(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

/// A readable error page for browser navigations.
pub(crate) fn error_page(status: StatusCode, code: &str, message: &str) -> String {
    layout(
        "Error",
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
            p { (message) }
            p.muted { "Error code: " code { (code) } }
            p { a.button href="/" { "Back to the start page" } }
        },
    )
}

/// Where a sign-in button for provider `id` points: its login, bringing
/// the browser back to `return_to` (already safe) afterwards.
pub(crate) fn provider_login_path(id: &str, return_to: &str) -> String {
    with_return_to(&format!("/auth/login/{}", path_segment(id)), return_to)
}

fn providers_html(providers: &[Provider], return_to: &str) -> Markup {
    html! {
        @if providers.is_empty() {
            p { "No identity providers are configured." }
        } @else {
            p { "Sign in with:" }
            ul {
                @for p in providers {
                    li {
                        a.button href=(provider_login_path(&p.id, return_to)) { (p.name) }
                    }
                }
            }
        }
    }
}

fn time(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map(|t| t.to_string()).unwrap_or_default()
}

fn sessions_html(sessions: &[Session], current_id: &str) -> Markup {
    html! {
        h2 { "Your sessions" }
        table {
            tr { th { "Started" } th { "Last seen" } th { "Browser" } th { "IP" } th {} }
            @for s in sessions {
                tr {
                    td { (time(s.created_at.as_ref())) }
                    td { (time(s.last_seen_at.as_ref())) }
                    td { (s.user_agent) }
                    td { (s.client_ip) }
                    td {
                        @if s.id == current_id {
                            strong { "this session" }
                        } @else {
                            form method="post" action={ "/auth/sessions/" (path_segment(&s.id)) "/revoke" } {
                                button type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The start page of a logged-in user: who they are, the logout forms and
/// their sessions (`current_session_id` is the one making the request).
pub(crate) fn signed_in_page(
    user: &User,
    sessions: &[Session],
    current_session_id: &str,
) -> String {
    let name = if user.name.is_empty() {
        &user.email
    } else {
        &user.name
    };
    layout(
        "Portcullis",
        html! {
            h1 { "Portcullis" }
            p {
                "Signed in as " strong { (name) } " "
                @if !user.email.is_empty() { "<" (user.email) ">" }
                " via " code { (user.provider_id) } "."
            }
            @if !user.roles.is_empty() {
                p.muted { "Roles: " (user.roles.join(", ")) }
            }
            @if !user.groups.is_empty() {
                p.muted { "Groups: " (user.groups.join(", ")) }
            }
            p {
                form method="post" action="/auth/logout" {
                    button type="submit" { "Log out" }
                }
                " "
                form method="post" action="/auth/logout/all" {
                    button type="submit" { "Log out everywhere" }
                }
            }
            (sessions_html(sessions, current_session_id))
        },
    )
}

/// The start page of an anonymous visitor: one button per provider.
/// The sign-in page: a button per provider, each coming back to
/// `return_to` (already safe) after the login.
pub(crate) fn sign_in_page(providers: &[Provider], return_to: &str) -> String {
    layout(
        "Portcullis",
        html! {
            h1 { "Portcullis" }
            (providers_html(providers, return_to))
        },
    )
}

/// The "Sign in with Google" page: Google's script draws its button in
/// `#google-button`, ours (`/auth/google-sign-in.js`) reads its settings
/// from the data attributes of `#portcullis-google`. Without JavaScript it
/// offers the provider's ordinary login.
pub(crate) fn google_sign_in_page(
    config: &GoogleSignInConfig,
    return_to: &str,
    login_uri: &str,
) -> String {
    layout(
        "Sign in with Google",
        html! {
            h1 { "Sign in" }
            div #portcullis-google
                data-provider=(config.provider)
                data-client-id=(config.client_id)
                data-ux-mode=(config.ux_mode.as_str())
                data-login-uri=(login_uri)
                data-return-to=(return_to) {}
            div #google-button {}
            p #google-status role="status" {}
            noscript {
                p {
                    "Sign in with Google needs JavaScript. "
                    a href=(provider_login_path(&config.provider, return_to)) { "Sign in without it" }
                    "."
                }
            }
            script src="/auth/google-sign-in.js" {}
            script src=(config.client_script.as_str()) async {}
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The provider list with one provider.
    fn providers_of(id: &str, name: &str) -> String {
        let provider = Provider {
            id: id.into(),
            name: name.into(),
            kind: "oidc".into(),
        };
        providers_html(&[provider], "/").into_string()
    }

    #[test]
    fn escapes_markup_and_quotes() {
        let html = error_page(
            StatusCode::BAD_REQUEST,
            "c",
            "<script>alert('x')</script> & \"y\"",
        );
        assert!(
            html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;y&quot;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        // Inside an attribute value, a quote cannot end the attribute.
        let html = providers_of("x", "\" onclick=\"alert(1)");
        assert!(!html.contains("\" onclick"), "{html}");
    }

    #[test]
    fn the_signed_in_page_shows_the_user_and_escapes_them() {
        let user = User {
            name: "<b>Bob</b>".into(),
            email: "bob@example.com".into(),
            provider_id: "dev".into(),
            roles: vec!["admin".into()],
            ..User::default()
        };
        let session = Session {
            id: "s1".into(),
            ..Session::default()
        };
        let html = signed_in_page(&user, &[session], "s1");
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("&lt;b&gt;Bob&lt;/b&gt;"), "{html}");
        assert!(html.contains("&lt;bob@example.com&gt;"), "{html}");
        assert!(html.contains("action=\"/auth/logout\""), "{html}");
        assert!(html.contains("action=\"/auth/logout/all\""), "{html}");
        assert!(html.contains("this session"), "{html}");
        assert!(html.contains("Roles: admin"), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn provider_names_and_ids_are_escaped() {
        let html = providers_of("a\"b", "<b>Evil</b>");
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
        )
        .into_string();
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("/auth/sessions/s1/revoke"));
    }

    #[test]
    fn error_page_escapes() {
        let html = error_page(StatusCode::BAD_REQUEST, "x<y", "a<b");
        assert!(html.contains("a&lt;b") && html.contains("x&lt;y"));
    }
}
