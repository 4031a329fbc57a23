//! Words for what the session list shows: the browser and system a
//! User-Agent names ("Chrome on Linux", read by Project Woothee's dataset,
//! not by patterns of ours) and how long ago something happened.

/// "Chrome on Linux", "Firefox", or the User-Agent's first product token
/// ("curl") when the dataset does not know it or files it under `misc`
/// (where curl is just "HTTP Library"); "Unknown browser" for none.
pub(crate) fn user_agent(ua: &str) -> String {
    const UNKNOWN: &str = "UNKNOWN";
    if let Some(found) = woothee::parser::Parser::new().parse(ua)
        && found.name != UNKNOWN
        && found.category != "misc"
    {
        return if found.os == UNKNOWN || found.os.is_empty() {
            found.name.to_owned()
        } else {
            format!("{} on {}", found.name, found.os)
        };
    }
    let product: String = ua
        .split(['/', ' ', '('])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect();
    if product.is_empty() {
        "Unknown browser".to_owned()
    } else {
        product
    }
}

/// How long ago, in words: "just now", "1 minute ago", "5 hours ago",
/// "3 days ago", "2 months ago", "1 year ago" (rounded down). A moment in
/// the future (another host's clock ahead of ours) reads as "just now".
pub(crate) fn ago(seconds: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const MONTH: i64 = 30 * DAY;
    const YEAR: i64 = 365 * DAY;
    let (count, unit) = match seconds {
        s if s < MINUTE => return "just now".to_owned(),
        s if s < HOUR => (s / MINUTE, "minute"),
        s if s < DAY => (s / HOUR, "hour"),
        s if s < MONTH => (s / DAY, "day"),
        s if s < YEAR => (s / MONTH, "month"),
        s => (s / YEAR, "year"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_read_as_browser_and_system() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/148.0.0.0 Safari/537.36";
        assert_eq!(user_agent(chrome), "Chrome on Linux");
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(user_agent(firefox), "Firefox on Windows 10");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(user_agent(iphone), "Safari on iPhone");
    }

    #[test]
    fn unknown_agents_fall_back_to_their_first_token() {
        assert_eq!(user_agent("curl/8.5.0"), "curl");
        assert_eq!(user_agent("my-service (internal)"), "my-service");
        assert_eq!(user_agent(""), "Unknown browser");
        assert_eq!(user_agent("/x"), "Unknown browser");
        assert_eq!(user_agent(&"a".repeat(100)).len(), 40);
    }

    #[test]
    fn durations_read_as_words() {
        for (seconds, words) in [
            (-5, "just now"),
            (0, "just now"),
            (59, "just now"),
            (60, "1 minute ago"),
            (119, "1 minute ago"),
            (120, "2 minutes ago"),
            (3599, "59 minutes ago"),
            (3600, "1 hour ago"),
            (86_399, "23 hours ago"),
            (86_400, "1 day ago"),
            (29 * 86_400, "29 days ago"),
            (30 * 86_400, "1 month ago"),
            (364 * 86_400, "12 months ago"),
            (365 * 86_400, "1 year ago"),
            (3 * 365 * 86_400, "3 years ago"),
        ] {
            assert_eq!(ago(seconds), words, "{seconds}");
        }
    }
}
