//! Sign-in buttons that follow each provider's own brand rules: Google's
//! "Sign in with Google" button (the standard "G" on a white, or in dark
//! mode #131314, button with Google's stroke and text colours), GitHub's
//! mark on its dark button, X's logo on black; any other provider gets the
//! accent colour and its configured name. The marks are inline SVG, hidden
//! from screen readers: the words name the provider.

use maud::{Markup, PreEscaped, html};

/// Google's four-colour "G" (from its sign-in button guidelines).
const GOOGLE_MARK: &str = r##"<svg viewBox="0 0 48 48" aria-hidden="true" focusable="false"><path fill="#EA4335" d="M24 9.5c3.54 0 6.71 1.22 9.21 3.6l6.85-6.85C35.9 2.38 30.47 0 24 0 14.62 0 6.51 5.38 2.56 13.22l7.98 6.19C12.43 13.72 17.74 9.5 24 9.5z"/><path fill="#4285F4" d="M46.98 24.55c0-1.57-.15-3.09-.38-4.55H24v9.02h12.94c-.58 2.96-2.26 5.48-4.78 7.18l7.73 6c4.51-4.18 7.09-10.36 7.09-17.65z"/><path fill="#FBBC05" d="M10.53 28.59c-.48-1.45-.76-2.99-.76-4.59s.27-3.14.76-4.59l-7.98-6.19C.92 16.46 0 20.12 0 24c0 3.88.92 7.54 2.56 10.78l7.97-6.19z"/><path fill="#34A853" d="M24 48c6.48 0 11.93-2.13 15.89-5.81l-7.73-6c-2.15 1.45-4.92 2.3-8.16 2.3-6.26 0-11.57-4.22-13.47-9.91l-7.98 6.19C6.51 42.62 14.62 48 24 48z"/></svg>"##;

/// GitHub's mark (the Octicon `mark-github`), in the button's text colour.
const GITHUB_MARK: &str = r#"<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M8 0C3.58 0 0 3.58 0 8c0 3.54 2.29 6.53 5.47 7.59.4.07.55-.17.55-.38 0-.19-.01-.82-.01-1.49-2.01.37-2.53-.49-2.69-.94-.09-.23-.48-.94-.82-1.13-.28-.15-.68-.52-.01-.53.63-.01 1.08.58 1.23.82.72 1.21 1.87.87 2.33.66.07-.52.28-.87.51-1.07-1.78-.2-3.64-.89-3.64-3.95 0-.87.31-1.59.82-2.15-.08-.2-.36-1.02.08-2.12 0 0 .67-.21 2.2.82.64-.18 1.32-.27 2-.27.68 0 1.36.09 2 .27 1.53-1.04 2.2-.82 2.2-.82.44 1.1.16 1.92.08 2.12.51.56.82 1.27.82 2.15 0 3.07-1.87 3.75-3.65 3.95.29.25.54.73.54 1.48 0 1.07-.01 1.93-.01 2.2 0 .21.15.46.55.38A8.013 8.013 0 0016 8c0-4.42-3.58-8-8-8z"/></svg>"#;

/// X's logo, in the button's text colour.
const X_MARK: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M18.244 2.25h3.308l-7.227 8.26 8.502 11.24H16.17l-5.214-6.817L4.99 21.75H1.68l7.73-8.835L1.254 2.25H8.08l4.713 6.231zm-1.161 17.52h1.833L7.084 4.126H5.117z"/></svg>"#;

/// How a provider's button looks: its class, its mark, its words.
fn style_of(kind: &str, name: &str) -> (&'static str, Option<&'static str>, String) {
    match kind {
        "google" => (
            "google",
            Some(GOOGLE_MARK),
            "Sign in with Google".to_owned(),
        ),
        "github" => (
            "github",
            Some(GITHUB_MARK),
            "Sign in with GitHub".to_owned(),
        ),
        "twitter" => ("x", Some(X_MARK), "Sign in with X".to_owned()),
        _ => ("primary", None, format!("Sign in with {name}")),
    }
}

/// One provider's button, a link to `href`. Providers of a branded kind
/// use the brand's words; `name` (escaped) still labels the link for
/// operators who run two of a kind ("Sign in with Google" twice).
pub(super) fn button(kind: &str, name: &str, href: &str) -> Markup {
    let (class, mark, words) = style_of(kind, name);
    let branded = mark.is_some();
    html! {
        a class={ "button " (class) } href=(href) {
            @if let Some(mark) = mark { (PreEscaped(mark)) }
            span { (words) }
            @if branded && !words.ends_with(name) {
                span { "(" (name) ")" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_brand_gets_its_words_and_mark() {
        let google = button("google", "Google", "/auth/login/google").into_string();
        assert!(google.contains("class=\"button google\""), "{google}");
        assert!(google.contains("Sign in with Google"), "{google}");
        assert!(google.contains("#4285F4"), "{google}");
        let github = button("github", "GitHub", "/g").into_string();
        assert!(github.contains("Sign in with GitHub") && github.contains("button github"));
        let x = button("twitter", "X", "/x").into_string();
        assert!(
            x.contains("Sign in with X") && x.contains("button x"),
            "{x}"
        );
        let oidc = button("oidc", "Acme <SSO>", "/a").into_string();
        assert!(oidc.contains("button primary"), "{oidc}");
        assert!(oidc.contains("Sign in with Acme &lt;SSO&gt;"), "{oidc}");
        assert!(!oidc.contains("<svg"), "{oidc}");
    }

    #[test]
    fn a_second_provider_of_a_brand_keeps_its_own_name() {
        let work = button("google", "Google (work)", "/w").into_string();
        assert!(work.contains("Sign in with Google"), "{work}");
        assert!(work.contains("(Google (work))"), "{work}");
        let plain = button("google", "Google", "/g").into_string();
        assert!(!plain.contains("(Google)"), "{plain}");
    }
}
