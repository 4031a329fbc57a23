//! Server-rendered HTML, as pure functions of what they show: the start
//! page at `/` (served by [`crate::routes::index`]), the sign-in page, and
//! error pages (rendered by `error.rs`), all in the frame of `layout.rs`
//! with the operator's `[gateway.branding]`. No JavaScript: links start
//! logins, plain forms log out and revoke sessions, so every page works
//! with scripts off. The one exception is the optional "Sign in with
//! Google" page, which exists to run Google's script (it sets its own CSP,
//! `routes/auth/google_sign_in.rs`).
//!
//! Written with `maud`: every value spliced into a page is escaped by
//! construction; only fixed marks and style sheets are inserted unescaped
//! (`PreEscaped`). The CSP (`middleware/security_headers.rs`) allows inline
//! styles and no script.

mod describe;
mod layout;
mod provider_buttons;

use crate::login_redirect::with_return_to;
use axum::http::StatusCode;
use common::config::{Branding, GoogleSignInConfig};
use common::proto::{Provider, Session, User};
use maud::{Markup, html};
use prost_types::Timestamp;

/// Percent-encodes a path segment (ids go into form actions and links).
fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A readable error page for browser navigations, with a way on: signing
/// in for a 401, logging out (to sign in as someone else) when a policy
/// refused the user, and the start page always.
pub(crate) fn error_page(
    branding: &Branding,
    status: StatusCode,
    code: &str,
    message: &str,
) -> String {
    let reason = status.canonical_reason().unwrap_or("Error");
    layout::page(
        branding,
        reason,
        html! {
            h1 { (status.as_u16()) " " (reason) }
            p { (message) }
            p.muted { "Error code: " code { (code) } }
            div.actions {
                @if status == StatusCode::UNAUTHORIZED {
                    a.button.primary href="/auth/login" { "Sign in" }
                }
                // A policy's "no" (not a CSRF refusal): perhaps another
                // account may.
                @if status == StatusCode::FORBIDDEN && code == "forbidden" {
                    form method="post" action="/auth/logout" {
                        button.primary type="submit" { "Sign in as someone else" }
                    }
                }
                a.button href="/" { "Back to the start page" }
            }
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
            ul.providers {
                @for p in providers {
                    li { (provider_buttons::button(&p.kind, &p.name, &provider_login_path(&p.id, return_to))) }
                }
            }
        }
    }
}

/// "3 minutes ago" for `at`, relative to `now` (Unix seconds), in a
/// `<time>` whose `datetime` and tooltip give the exact moment (UTC).
fn moment(at: Option<&Timestamp>, now: i64) -> Markup {
    match at {
        Some(at) => html! {
            time datetime=(at.to_string()) title=(at.to_string()) { (describe::ago(now - at.seconds)) }
        },
        None => html! { "unknown" },
    }
}

fn sessions_html(sessions: &[Session], current_id: &str, now: i64) -> Markup {
    html! {
        h2 { "Your sessions" }
        ul.sessions {
            @for s in sessions {
                li {
                    div {
                        div.what {
                            (describe::user_agent(&s.user_agent))
                            @if !s.client_ip.is_empty() { " · " (s.client_ip) }
                            " · " (moment(s.last_seen_at.as_ref(), now))
                        }
                        div.muted { "Signed in " (moment(s.created_at.as_ref(), now)) }
                    }
                    @if s.id == current_id {
                        span.badge { "this session" }
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

/// The start page of a logged-in user: who they are, the logout forms and
/// their sessions (`current_session_id` is the one making the request;
/// `now` is the time in Unix seconds, for "2 minutes ago").
pub(crate) fn signed_in_page(
    branding: &Branding,
    user: &User,
    sessions: &[Session],
    current_session_id: &str,
    now: i64,
) -> String {
    let name = if user.name.is_empty() {
        &user.email
    } else {
        &user.name
    };
    layout::page(
        branding,
        "Your account",
        html! {
            h1 { "Signed in" }
            div.user {
                @if user.picture.starts_with("https://") {
                    img src=(user.picture) alt="";
                }
                div {
                    p.name { (name) }
                    @if !user.email.is_empty() { p { (user.email) } }
                    p.muted { "via " (user.provider_id) }
                }
            }
            @if !user.roles.is_empty() || !user.groups.is_empty() {
                ul.chips aria-label="Roles and groups" {
                    @for role in &user.roles { li { "Role: " (role) } }
                    @for group in &user.groups { li { "Group: " (group) } }
                }
            }
            div.actions {
                form method="post" action="/auth/logout" {
                    button.primary type="submit" { "Log out" }
                }
                form method="post" action="/auth/logout/all" {
                    button type="submit" { "Log out everywhere" }
                }
            }
            (sessions_html(sessions, current_session_id, now))
        },
    )
}

/// The sign-in page: a button per provider, each coming back to
/// `return_to` (already safe) after the login.
pub(crate) fn sign_in_page(branding: &Branding, providers: &[Provider], return_to: &str) -> String {
    layout::page(
        branding,
        "Sign in",
        html! {
            h1 { "Sign in to " (branding.product_name) }
            (providers_html(providers, return_to))
        },
    )
}

/// The "Sign in with Google" page: Google's script draws its button in
/// `#google-button`, ours (`/auth/google-sign-in.js`) reads its settings
/// from the data attributes of `#portcullis-google`. Without JavaScript it
/// offers the provider's ordinary login.
pub(crate) fn google_sign_in_page(
    branding: &Branding,
    config: &GoogleSignInConfig,
    return_to: &str,
    login_uri: &str,
) -> String {
    let fallback = provider_login_path(&config.provider, return_to);
    layout::page_with_scripts(
        branding,
        "Sign in with Google",
        html! {
            h1 { "Sign in to " (branding.product_name) }
            div #portcullis-google
                data-provider=(config.provider)
                data-client-id=(config.client_id)
                data-ux-mode=(config.ux_mode.as_str())
                data-login-uri=(login_uri)
                data-return-to=(return_to) {}
            div #google-button {}
            p #google-status role="status" {}
            noscript {
                p { "Google's button needs JavaScript." }
                ul.providers { li { (provider_buttons::button("google", "Google", &fallback)) } }
            }
        },
        // Ours first: it defines the hook Google's library calls once
        // loaded.
        html! {
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
            &Branding::default(),
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
        let now = 1_800_000_000;
        let at = |seconds_ago: i64| {
            Some(Timestamp {
                seconds: now - seconds_ago,
                nanos: 0,
            })
        };
        let this = Session {
            id: "s1".into(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                         Chrome/148.0.0.0 Safari/537.36"
                .into(),
            client_ip: "127.0.0.1".into(),
            created_at: at(3 * 86_400),
            last_seen_at: at(120),
            ..Session::default()
        };
        let other = Session {
            id: "s2".into(),
            user_agent: "curl/8.5.0".into(),
            ..Session::default()
        };
        let html = signed_in_page(&Branding::default(), &user, &[this, other], "s1", now);
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("&lt;b&gt;Bob&lt;/b&gt;"), "{html}");
        assert!(html.contains("<p>bob@example.com</p>"), "{html}");
        assert!(html.contains("action=\"/auth/logout\""), "{html}");
        assert!(html.contains("action=\"/auth/logout/all\""), "{html}");
        assert!(html.contains("this session"), "{html}");
        assert!(html.contains("Role: admin"), "{html}");
        // "Chrome on Linux · 127.0.0.1 · 2 minutes ago", the exact time in
        // the tooltip, and the other session revocable.
        assert!(
            html.contains("Chrome on Linux · 127.0.0.1 · <time datetime=\"2027-01-15T07:58:00Z\""),
            "{html}"
        );
        assert!(html.contains(">2 minutes ago</time>"), "{html}");
        assert!(html.contains("Signed in <time"), "{html}");
        assert!(html.contains(">3 days ago</time>"), "{html}");
        assert!(html.contains("curl · unknown"), "{html}");
        assert!(html.contains("/auth/sessions/s2/revoke"), "{html}");
        assert!(!html.contains("/auth/sessions/s1/revoke"), "{html}");
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
            0,
        )
        .into_string();
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("/auth/sessions/s1/revoke"));
    }

    #[test]
    fn error_pages_offer_the_way_on_that_fits() {
        let page = |status, code| error_page(&Branding::default(), status, code, "m");
        let unauthenticated = page(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(
            unauthenticated.contains("href=\"/auth/login\""),
            "{unauthenticated}"
        );
        assert!(!unauthenticated.contains("action=\"/auth/logout\""));
        let forbidden = page(StatusCode::FORBIDDEN, "forbidden");
        assert!(forbidden.contains("action=\"/auth/logout\""), "{forbidden}");
        assert!(!forbidden.contains("href=\"/auth/login\""));
        let csrf = page(StatusCode::FORBIDDEN, "csrf");
        assert!(!csrf.contains("action=\"/auth/logout\""), "{csrf}");
        for other in [
            unauthenticated,
            forbidden,
            csrf,
            page(StatusCode::NOT_FOUND, "not_found"),
        ] {
            assert!(other.contains("href=\"/\""), "{other}");
        }
    }

    #[test]
    fn error_page_escapes() {
        let html = error_page(&Branding::default(), StatusCode::BAD_REQUEST, "x<y", "a<b");
        assert!(html.contains("a&lt;b") && html.contains("x&lt;y"));
    }
}
