//! `[gateway.branding]`: the name, logo, colour and extra style sheet of
//! the pages users see (sign-in, start page, errors). Each value is checked
//! so that it can only change how a page looks: the colour is a hex colour,
//! the logo an https URL, the style sheet a file that cannot close its
//! `<style>` element.

use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;
use url::Url;

/// Largest `custom_css_file`.
const MAX_CSS_BYTES: usize = 64 * 1024;

/// The table as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct BrandingSection {
    product_name: String,
    logo_url: Option<String>,
    accent_color: String,
    custom_css_file: Option<PathBuf>,
}

impl Default for BrandingSection {
    fn default() -> Self {
        Self {
            product_name: DEFAULT_PRODUCT_NAME.to_owned(),
            logo_url: None,
            accent_color: DEFAULT_ACCENT.to_owned(),
            custom_css_file: None,
        }
    }
}

const DEFAULT_PRODUCT_NAME: &str = "Portcullis";
/// A blue with white text at a contrast of about 7:1 (WCAG AAA).
const DEFAULT_ACCENT: &str = "#1a56a8";

/// The table, checked and loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// `product_name`: page titles and headings.
    pub product_name: String,
    /// `logo_url`: an https image shown beside the name.
    pub logo_url: Option<Url>,
    /// `accent_color`: `#rgb` or `#rrggbb`, lower case.
    pub accent_color: String,
    /// The contents of `custom_css_file`, added after our style sheet.
    pub custom_css: Option<String>,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            product_name: DEFAULT_PRODUCT_NAME.to_owned(),
            logo_url: None,
            accent_color: DEFAULT_ACCENT.to_owned(),
            custom_css: None,
        }
    }
}

fn is_hex_colour(text: &str) -> bool {
    text.strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

impl BrandingSection {
    /// Checks the values and reads the style sheet.
    pub(super) fn parse(self) -> Result<Branding, ConfigError> {
        const KEY: &str = "gateway.branding";
        let name = self.product_name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                format!("{KEY}.product_name"),
                "must be 1 to 64 characters, without control characters",
            ));
        }
        if !is_hex_colour(&self.accent_color) {
            return Err(ConfigError::invalid(
                format!("{KEY}.accent_color"),
                "must be a hex colour such as \"#1a56a8\" or \"#15a\"",
            ));
        }
        let logo_url = self
            .logo_url
            .as_deref()
            .map(|text| {
                Url::parse(text)
                    .ok()
                    .filter(|url| url.scheme() == "https")
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            format!("{KEY}.logo_url"),
                            "must be an https URL (the pages' CSP allows https images only)",
                        )
                    })
            })
            .transpose()?;
        let custom_css = self
            .custom_css_file
            .as_deref()
            .map(|path| {
                let key = format!("{KEY}.custom_css_file");
                let css = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::invalid(&key, format!("cannot read {}: {e}", path.display()))
                })?;
                check_css(&css).map_err(|reason| ConfigError::invalid(&key, reason))?;
                Ok::<_, ConfigError>(css)
            })
            .transpose()?;
        Ok(Branding {
            product_name: name.to_owned(),
            logo_url,
            accent_color: self.accent_color.to_ascii_lowercase(),
            custom_css,
        })
    }
}

/// A style sheet that fits in an inline `<style>`: bounded, and unable to
/// end the element (which would let the file write markup into the page).
fn check_css(css: &str) -> Result<(), String> {
    if css.len() > MAX_CSS_BYTES {
        return Err(format!("is larger than {MAX_CSS_BYTES} bytes"));
    }
    if css.contains('<') {
        return Err("must not contain '<' (it could end the page's <style> element)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> BrandingSection {
        BrandingSection::default()
    }

    #[test]
    fn defaults_are_ours() {
        assert_eq!(section().parse().unwrap(), Branding::default());
    }

    #[test]
    fn colours_are_hex_only() {
        for good in ["#fff", "#1A56A8", "#000000"] {
            let mut s = section();
            s.accent_color = good.into();
            assert_eq!(s.parse().unwrap().accent_color, good.to_ascii_lowercase());
        }
        for bad in ["fff", "#ffff", "#12345g", "red", "#fff;}body{x:y", ""] {
            let mut s = section();
            s.accent_color = bad.into();
            let error = s.parse().unwrap_err().to_string();
            assert!(error.contains("accent_color"), "{bad}: {error}");
        }
    }

    #[test]
    fn names_and_logos_are_checked() {
        let mut s = section();
        s.product_name = "  Acme Login ".into();
        assert_eq!(s.parse().unwrap().product_name, "Acme Login");
        let mut s = section();
        s.product_name = "é".repeat(64);
        assert_eq!(s.parse().unwrap().product_name.chars().count(), 64);
        for bad in ["", "   ", "a\nb", &"x".repeat(65)] {
            let mut s = section();
            s.product_name = bad.into();
            assert!(s.parse().unwrap_err().to_string().contains("product_name"));
        }
        let mut s = section();
        s.logo_url = Some("https://cdn.example.com/logo.svg".into());
        assert!(s.parse().unwrap().logo_url.is_some());
        for bad in [
            "http://cdn.example.com/logo.svg",
            "javascript:alert(1)",
            "logo.svg",
        ] {
            let mut s = section();
            s.logo_url = Some(bad.into());
            assert!(
                s.parse().unwrap_err().to_string().contains("logo_url"),
                "{bad}"
            );
        }
    }

    #[test]
    fn style_sheets_cannot_leave_their_element() {
        assert!(check_css("body { color: red }").is_ok());
        assert!(check_css("</style><script>alert(1)</script>").is_err());
        assert!(check_css(&"a".repeat(MAX_CSS_BYTES + 1)).is_err());
        assert!(check_css(&"a".repeat(MAX_CSS_BYTES)).is_ok());
        // The documented 64 KiB.
        assert!(check_css(&"a".repeat(64 * 1024)).is_ok());
        assert!(check_css(&"a".repeat(64 * 1024 + 1)).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brand.css");
        std::fs::write(&path, ":root { --radius: 0 }").unwrap();
        let mut s = section();
        s.custom_css_file = Some(path);
        assert_eq!(
            s.parse().unwrap().custom_css.as_deref(),
            Some(":root { --radius: 0 }")
        );
        let mut s = section();
        s.custom_css_file = Some(dir.path().join("missing.css"));
        assert!(
            s.parse()
                .unwrap_err()
                .to_string()
                .contains("custom_css_file")
        );
    }
}
