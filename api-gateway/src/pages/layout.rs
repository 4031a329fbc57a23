//! The frame of every page: the branded header (`[gateway.branding]`), the
//! one style sheet (light and dark, from a phone up), and the operator's
//! own style sheet after ours.

use common::config::Branding;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Our style sheet. Colours come from custom properties so a dark scheme
/// and the accent colour change them in one place; `--accent` is set from
/// the branding after this sheet. Text colours keep a contrast of at least
/// 4.5:1 against their backgrounds in both schemes (WCAG AA).
const STYLE: &str = "\
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--text:#1f2328;--muted:#59636e;\
--border:#d0d7de;--link:var(--accent)}\
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--text:#e6edf3;\
--muted:#9ea7b3;--border:#3d444d;--link:#79b8ff}}\
*{box-sizing:border-box}\
body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
background:var(--bg);color:var(--text);line-height:1.5}\
header.brand{display:flex;align-items:center;gap:.6rem;max-width:42rem;margin:0 auto;\
padding:1.25rem 1rem .75rem;font-weight:600;font-size:1.1rem}\
header.brand img{height:2rem;width:auto}\
main{max-width:42rem;margin:0 auto 2rem;padding:1.5rem;background:var(--card);\
border:1px solid var(--border);border-radius:.75rem}\
@media (max-width:40rem){main{border-radius:0;border-left:0;border-right:0;padding:1rem}}\
h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.75rem 0 .5rem}\
a{color:var(--link)}.muted{color:var(--muted)}p{margin:.5rem 0}\
.button,button{display:inline-flex;align-items:center;justify-content:center;gap:.6rem;\
min-height:2.75rem;padding:.5rem 1rem;border-radius:.4rem;border:1px solid var(--border);\
background:var(--card);color:var(--text);font:inherit;font-weight:500;text-decoration:none;\
cursor:pointer}\
.button:focus-visible,button:focus-visible{outline:3px solid var(--link);outline-offset:2px}\
.primary{background:var(--accent);border-color:var(--accent);color:#fff}\
.button svg{width:1.25rem;height:1.25rem;flex:none}\
ul.providers{list-style:none;padding:0;margin:1rem 0;display:grid;gap:.75rem}\
ul.providers .button{width:100%}\
.button.google{background:#fff;border-color:#747775;color:#1f1f1f;font-family:Roboto,system-ui,sans-serif}\
@media (prefers-color-scheme:dark){.button.google{background:#131314;border-color:#8e918f;color:#e3e3e3}}\
.button.github{background:#24292f;border-color:#24292f;color:#fff}\
.button.x{background:#000;border-color:#000;color:#fff}\
@media (prefers-color-scheme:dark){.button.x,.button.github{border-color:#8e918f}}\
.user{display:flex;gap:1rem;align-items:center}\
.user img{width:3.5rem;height:3.5rem;border-radius:50%;flex:none}\
.user p{margin:0}.user .name{font-weight:600;font-size:1.1rem}\
ul.chips{display:flex;flex-wrap:wrap;gap:.35rem;padding:0;margin:.75rem 0 0;list-style:none}\
ul.chips li{border:1px solid var(--border);border-radius:1rem;padding:0 .6rem;font-size:.85rem}\
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:1.25rem 0 0}form{display:inline}\
ul.sessions{list-style:none;padding:0;margin:0}\
ul.sessions li{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;\
gap:.5rem;padding:.75rem 0;border-top:1px solid var(--border)}\
ul.sessions .what{font-weight:500}\
.badge{font-size:.8rem;font-weight:600;border-radius:1rem;padding:.15rem .65rem;\
background:var(--accent);color:#fff}\
code{font-size:.9em;overflow-wrap:anywhere}";

/// A whole page: `title` in the tab (before the product name), the
/// branded header, and `body` as the main content.
pub(super) fn page(branding: &Branding, title: &str, body: Markup) -> String {
    page_with_scripts(branding, title, body, html! {})
}

/// [`page`] with `scripts` at the end of the body (only the Google sign-in
/// page has any).
pub(super) fn page_with_scripts(
    branding: &Branding,
    title: &str,
    body: Markup,
    scripts: Markup,
) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (branding.product_name) }
                // The accent is a checked hex colour (`Branding`), the
                // operator's sheet a checked file that cannot close the
                // element; neither can inject markup.
                style { (PreEscaped(STYLE)) ":root{--accent:" (branding.accent_color) "}" }
                @if let Some(css) = &branding.custom_css {
                    style { (PreEscaped(css)) }
                }
            }
            body {
                header.brand {
                    @if let Some(logo) = &branding.logo_url {
                        img src=(logo.as_str()) alt="";
                    }
                    span { (branding.product_name) }
                }
                main { (body) }
                (scripts)
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_branding_shows_and_stays_escaped() {
        let branding = Branding {
            product_name: "Acme <Login>".into(),
            logo_url: Some(url::Url::parse("https://cdn.example.com/logo.svg").unwrap()),
            accent_color: "#aa0000".into(),
            custom_css: Some("main{border-radius:0}".into()),
        };
        let html = page(&branding, "Sign in", html! { p { "hello" } });
        assert!(
            html.contains("<title>Sign in · Acme &lt;Login&gt;</title>"),
            "{html}"
        );
        assert!(html.contains("<span>Acme &lt;Login&gt;</span>"), "{html}");
        assert!(
            html.contains("src=\"https://cdn.example.com/logo.svg\""),
            "{html}"
        );
        assert!(html.contains(":root{--accent:#aa0000}"), "{html}");
        assert!(
            html.contains("<style>main{border-radius:0}</style>"),
            "{html}"
        );
        assert!(html.contains("prefers-color-scheme:dark"), "{html}");
        assert!(html.contains("name=\"viewport\""), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn the_defaults_have_no_logo_and_no_extra_sheet() {
        let html = page(&Branding::default(), "x", html! {});
        assert!(!html.contains("<img"), "{html}");
        assert_eq!(html.matches("<style>").count(), 1, "{html}");
        assert!(html.contains("Portcullis"), "{html}");
    }
}
