//! The login flow in a real browser: headless Chromium, driven over
//! WebDriver (fantoccini) through a local chromedriver, against a stack whose
//! gateway `public_url` carries its real port ([`StackOptions::public_port`])
//! so that every redirect works without the test's help.
//!
//! What only a browser proves: the provider's consent page is usable, the
//! session cookie is `HttpOnly` (invisible to `document.cookie`), and the
//! CSRF check accepts the `Origin`/`Sec-Fetch-Site` a real browser sends on a
//! same-origin form POST (logout).
//!
//! chromedriver and Chromium are system packages (`chromium`,
//! `chromium-driver` on Debian; `.ci/run` installs them). A missing driver
//! fails the test with the install command: it never skips silently.

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use portcullis_tests::{StackOptions, TestStack};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long one page may take to show what we wait for.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

const INSTALL_HINT: &str = "the browser tests need chromedriver and Chromium on PATH; on Debian/Ubuntu: \
apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver \
(.ci/run does this)";

/// chromedriver, the Chromium it starts, and a WebDriver session on it.
///
/// chromedriver runs in its own process group, so `Drop` can SIGKILL it and
/// every browser process it started in one go, even when the test panicked
/// before it could close the session.
pub(crate) struct Browser {
    /// `None` once killed.
    driver: Option<Child>,
    client: Client,
    /// Chromium's profile, deleted after the processes are gone.
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a port of its choosing (`--port=0`; it prints
    /// the port it got) and opens a headless Chromium session.
    pub(crate) async fn start() -> Browser {
        Self::start_with(&[]).await
    }

    /// [`Browser::start`] with more Chromium switches
    /// (`--force-dark-mode` for the dark colour scheme).
    pub(crate) async fn start_with(extra_args: &[&str]) -> Browser {
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}): {INSTALL_HINT}"));
        let port = match driver_port(&mut driver) {
            Some(port) => port,
            None => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver did not say which port it listens on: {INSTALL_HINT}");
            }
        };
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless=new".to_owned(),
            // CI runs as root, where Chromium's sandbox cannot start.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra_args.iter().map(|arg| (*arg).to_owned()));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        // Plain HTTP to the local driver: no TLS stack needed.
        let client = match ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => client,
            Err(e) => {
                kill_group(&mut driver);
                panic!("chromedriver could not start Chromium ({e}): {INSTALL_HINT}");
            }
        };
        Browser {
            driver: Some(driver),
            client,
            _profile: profile,
        }
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Waits (bounded) for the element `css` selects, then clicks it.
    pub(crate) async fn click(&self, css: &str) {
        let found = self
            .client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element.click().await.unwrap(),
            Err(e) => panic!(
                "no {css} on {}: {e}\n{}",
                self.url().await,
                self.source().await
            ),
        }
    }

    /// Sets the window's size in CSS pixels (a phone is 375 × 812).
    pub(crate) async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
    }

    pub(crate) async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    pub(crate) async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Waits (bounded) until the current page contains `text`; returns the
    /// page. On timeout, the panic shows where the browser is and what it
    /// sees.
    pub(crate) async fn wait_for_text(&self, text: &str) -> String {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let page = self.source().await;
            if page.contains(text) {
                return page;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {PAGE_TIMEOUT:?} waiting for {text:?} on {}:\n{page}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` (which may return a promise) in the page.
    pub(crate) async fn run(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits (bounded) until the browser is at `url`.
    pub(crate) async fn wait_for_url(&self, url: &str) {
        let target = url::Url::parse(url).unwrap();
        if let Err(e) = self
            .client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_url(&target)
            .await
        {
            panic!("never reached {url} ({e}); at {}", self.url().await);
        }
    }

    /// Navigates to `path` and returns the page, which must be an error
    /// page for `status`. (The page's CSP, `default-src 'none'`, forbids
    /// `fetch`, so the status is read off the page the browser shows.)
    pub(crate) async fn visit_error_page(&self, url: &str, status: u16) -> String {
        self.goto(url).await;
        let page = self.wait_for_text("Error code").await;
        assert!(page.contains(&format!("<h1>{status} ")), "{page}");
        page
    }

    /// Whether the browser holds a cookie called `name` for the current
    /// page (WebDriver sees HttpOnly cookies; scripts do not).
    pub(crate) async fn has_cookie(&self, name: &str) -> bool {
        self.client
            .get_all_cookies()
            .await
            .unwrap()
            .iter()
            .any(|c| c.name() == name)
    }

    /// The value of the cookie `name` for the current page (WebDriver
    /// sees HttpOnly cookies; scripts do not).
    pub(crate) async fn cookie(&self, name: &str) -> String {
        self.client
            .get_named_cookie(name)
            .await
            .unwrap()
            .value()
            .to_owned()
    }

    /// Ends the WebDriver session politely (Chromium exits); `Drop` still
    /// kills whatever is left.
    pub(crate) async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            kill_group(&mut driver);
        }
    }
}

/// SIGKILLs chromedriver's process group (it and its browsers) and reaps
/// chromedriver. Called once per driver: after the reap its id may be reused.
fn kill_group(driver: &mut Child) {
    if let Ok(pid) = i32::try_from(driver.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = driver.kill();
    let _ = driver.wait();
}

/// Reads chromedriver's stdout until "... was started successfully on port
/// N." (at most 30 s), then keeps draining it in the background.
fn driver_port(driver: &mut Child) -> Option<u16> {
    let stdout = driver.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some((_, rest)) = line.split_once("started successfully on port ") {
                let _ = tx.send(rest.trim_end_matches('.').trim().parse::<u16>().ok());
                break;
            }
        }
        // Keep draining so chromedriver never blocks on a full pipe.
        for _ in lines {}
    });
    rx.recv_timeout(Duration::from_secs(30)).ok().flatten()
}

pub(crate) async fn browser_stack() -> TestStack {
    TestStack::start_with(StackOptions {
        public_port: true,
        ..StackOptions::default()
    })
    .await
}

/// Logs alice in through the start page and the dev-idp's consent page;
/// returns the start page she lands on.
pub(crate) async fn log_in_as_alice(stack: &TestStack, browser: &Browser) -> String {
    browser.goto(&stack.url("/")).await;
    browser.wait_for_text("Development provider").await;
    browser.click(r#"a[href="/auth/login/dev"]"#).await;

    // The dev-idp's consent page: one button per user.
    browser
        .click(r#"button[name="login_hint"][value="alice"]"#)
        .await;

    // Back on the gateway's start page (the consent page names her too, so
    // wait for the address first), logged in, with her session listed.
    browser.wait_for_url(&stack.url("/")).await;
    let page = browser.wait_for_text("alice@example.com").await;
    assert!(page.contains("Your sessions"), "{page}");
    assert!(page.contains("this session"), "{page}");
    assert!(page.contains("action=\"/auth/logout\""), "{page}");
    page
}

#[tokio::test]
async fn login_and_whoami_in_a_real_browser() {
    let stack = browser_stack().await;
    let browser = Browser::start().await;
    log_in_as_alice(&stack, &browser).await;

    // The browser holds the session cookie, but scripts cannot read it.
    assert!(browser.has_cookie(&stack.session_cookie).await);
    let script_cookies = browser.run("return document.cookie").await;
    let script_cookies = script_cookies.as_str().unwrap_or_default();
    assert!(
        !script_cookies.contains(&format!("{}=", stack.session_cookie)),
        "session cookie visible to scripts: {script_cookies:?}"
    );

    browser.goto(&stack.url("/api/whoami")).await;
    browser.wait_for_text("alice@example.com").await;

    browser.close().await;
}

// Logout is a form POST: the CSRF check must accept what a real browser
// sends for its own origin. The gateway's pages say `Referrer-Policy:
// no-referrer`, so Chromium sends `Origin: null` with `Sec-Fetch-Site:
// same-origin` on this POST; this test found that the check once refused it.
#[tokio::test]
async fn logout_form_post_in_a_real_browser() {
    let stack = browser_stack().await;
    let browser = Browser::start().await;
    log_in_as_alice(&stack, &browser).await;

    browser.click(r#"form[action="/auth/logout"] button"#).await;
    let page = browser.wait_for_text("Sign in to Portcullis").await;
    assert!(page.contains("href=\"/auth/login/dev\""), "{page}");
    assert!(!page.contains("alice@example.com"), "{page}");
    assert!(!browser.has_cookie(&stack.session_cookie).await);
    browser.visit_error_page(&stack.url("/auth/me"), 401).await;

    browser.close().await;
}

#[tokio::test]
async fn unverified_email_ends_on_an_error_page_without_a_session() {
    let stack = browser_stack().await;
    let browser = Browser::start().await;

    browser.goto(&stack.url("/")).await;
    browser.click(r#"a[href="/auth/login/dev"]"#).await;
    browser
        .click(r#"button[name="login_hint"][value="mallory"]"#)
        .await;

    let page = browser.wait_for_text("Error code").await;
    let url = browser.url().await;
    assert!(
        url.starts_with(&stack.url("/auth/callback/")),
        "not on the gateway's callback: {url}"
    );
    assert!(page.contains("<h1>401 "), "{page}");
    assert!(!page.contains("mallory@example.com"), "{page}");
    assert!(!browser.has_cookie(&stack.session_cookie).await);
    browser.visit_error_page(&stack.url("/auth/me"), 401).await;

    browser.close().await;
}
