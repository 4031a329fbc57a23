//! The few HTML pages a person sees: the home page, the consent page's
//! frame and error pages. Every page carries the development-only banner,
//! and every interpolated value goes through [`escape`].

use super::Shared;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The words every page shows, so nobody mistakes this for a real login.
pub(crate) const BANNER: &str = "development identity provider — not for production";

/// HTML-escapes text for element content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A complete page around `body` (already escaped HTML). No scripts and no
/// framing: the consent page must not be clickjacked.
pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · dev-idp</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}
.banner{{background:#b00020;color:#fff;padding:.5rem 1rem;font-weight:bold}}
button{{display:block;width:100%;margin:.5rem 0;padding:.6rem;font-size:1rem;text-align:left}}
code{{background:#eee;padding:0 .2rem}}
</style></head>
<body><p class="banner">{banner}</p>
<h1>{title}</h1>
{body}
</body></html>
"#,
        title = escape(title),
        banner = escape(BANNER),
    );
    (
        status,
        [
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                ),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        Html(html),
    )
        .into_response()
}

/// A 400 page for an authorization request that cannot be redirected back.
pub(super) fn error_page(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Invalid authorization request",
        &format!("<p>{}</p>", escape(message)),
    )
}

/// `GET /`: what this server is and where its endpoints are.
pub(super) async fn home(State(provider): State<Shared>) -> Response {
    let issuer = escape(&provider.issuer);
    let users: String = provider
        .users
        .iter()
        .map(|u| {
            format!(
                "<li><code>{}</code> — {} &lt;{}&gt;{}</li>",
                escape(&u.login),
                escape(&u.name),
                escape(&u.email),
                if u.email_verified {
                    ""
                } else {
                    " (e-mail not verified)"
                }
            )
        })
        .collect();
    page(
        StatusCode::OK,
        "Development identity provider",
        &format!(
            "<p>An OpenID Connect provider for local development and tests. \
             Anyone who can reach it can log in as anyone below.</p>\
             <p>Issuer: <code>{issuer}</code><br>\
             Discovery: <code>{issuer}/.well-known/openid-configuration</code></p>\
             <h2>Users</h2><ul>{users}</ul>"
        ),
    )
}
