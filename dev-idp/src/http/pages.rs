//! The few HTML pages a person sees: the home page, the consent page's
//! frame and error pages. Every page carries the development-only banner.
//! Written with `maud`, so every interpolated value is escaped by
//! construction; only the fixed style sheet is inserted as it is.

use super::Shared;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The words every page shows, so nobody mistakes this for a real login.
pub(crate) const BANNER: &str = "development identity provider — not for production";

/// The inline style sheet of every page (the CSP allows inline styles, no
/// scripts).
const STYLE: &str = "
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
.banner{background:#b00020;color:#fff;padding:.5rem 1rem;font-weight:bold}
button{display:block;width:100%;margin:.5rem 0;padding:.6rem;font-size:1rem;text-align:left}
code{background:#eee;padding:0 .2rem}
";

/// A complete page around `body`. No scripts and no framing: the consent
/// page must not be clickjacked.
pub(super) fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · dev-idp" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                p.banner { (BANNER) }
                h1 { (title) }
                (body)
            }
        }
    }
    .into_string();
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
        html! { p { (message) } },
    )
}

/// `GET /`: what this server is and where its endpoints are.
pub(super) async fn home(State(provider): State<Shared>) -> Response {
    let issuer = &provider.issuer;
    page(
        StatusCode::OK,
        "Development identity provider",
        html! {
            p {
                "An OpenID Connect provider for local development and tests. \
                 Anyone who can reach it can log in as anyone below."
            }
            p {
                "Issuer: " code { (issuer) } br;
                "Discovery: " code { (issuer) "/.well-known/openid-configuration" }
            }
            h2 { "Users" }
            ul {
                @for u in &provider.users {
                    li {
                        code { (u.login) } " — " (u.name) " <" (u.email) ">"
                        @if !u.email_verified { " (e-mail not verified)" }
                    }
                }
            }
        },
    )
}
