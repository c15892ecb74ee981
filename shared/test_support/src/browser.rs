//! A real headless Chromium driven through WebDriver: each [`Browser`] runs its own
//! `chromedriver` (on a port the system picks) and its own fresh profile, so tests can run in
//! parallel; both are gone when it is dropped.
//!
//! Nothing is mocked: it is Debian's `chromium` (`/usr/bin/chromium`, or `CHROMIUM`) started by
//! Debian's `chromedriver` (`/usr/bin/chromedriver`, or `CHROMEDRIVER`), both installed by
//! `tools/dev/install-deps`.

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value as Json, json};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The variable naming the Chromium binary (default [`DEFAULT_CHROMIUM`]).
pub const CHROMIUM: &str = "CHROMIUM";
/// The variable naming the chromedriver binary (default [`DEFAULT_CHROMEDRIVER`]).
pub const CHROMEDRIVER: &str = "CHROMEDRIVER";
/// Debian's `chromium` package.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver` package.
pub const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Generous limit for anything the browser does in a test; waits end as soon as it is done.
pub const BROWSER_WAIT: Duration = Duration::from_secs(30);

const INSTALL_HINT: &str = "the browser tests need Debian's chromium and chromium-driver: run \
     `tools/dev/install-deps` (or `apt-get install -y chromium chromium-driver`), or set \
     CHROMIUM / CHROMEDRIVER to their paths";

/// Flags that keep a test browser quiet, local and working as root: no sandbox (root cannot
/// use it), no GPU, no network of its own (updates, sync, QUIC probes), shared memory files in
/// the temporary folder rather than in a possibly small `/dev/shm`.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// How to start the browser.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// The viewport's size in CSS pixels, `(width, height)`: what the page's `innerWidth` and
    /// `innerHeight` and a screenshot measure (the window around it is larger).
    pub window_size: (u32, u32),
    /// The Chromium binary.
    pub chromium: PathBuf,
    /// The chromedriver binary.
    pub chromedriver: PathBuf,
    /// More Chromium flags, after the harness's own.
    pub extra_args: Vec<String>,
    /// Limit for starting chromedriver and Chromium.
    pub start_timeout: Duration,
    /// Limit for each WebDriver command (a navigation waits for the page's `load` event).
    pub command_timeout: Duration,
}

impl Default for BrowserOptions {
    /// 1280x800, the binaries from `CHROMIUM` / `CHROMEDRIVER` or Debian's paths.
    fn default() -> Self {
        let from_env = |variable: &str, default: &str| {
            std::env::var_os(variable)
                .filter(|value| !value.is_empty())
                .map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Self {
            window_size: (1280, 800),
            chromium: from_env(CHROMIUM, DEFAULT_CHROMIUM),
            chromedriver: from_env(CHROMEDRIVER, DEFAULT_CHROMEDRIVER),
            extra_args: Vec::new(),
            start_timeout: BROWSER_WAIT,
            command_timeout: BROWSER_WAIT,
        }
    }
}

/// Why the browser could not be started or did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Chromium or chromedriver is not installed.
    #[error("{} not found: {hint}", program.display())]
    NotInstalled {
        /// The binary looked for.
        program: PathBuf,
        /// How to install it.
        hint: &'static str,
    },
    /// chromedriver exited, or it or Chromium did not start in time.
    #[error("chromedriver or Chromium did not start (limit {timeout:?}); the log:\n{log}")]
    NotStarted {
        /// The limit.
        timeout: Duration,
        /// What chromedriver and Chromium printed.
        log: String,
    },
    /// chromedriver could not start Chromium or open a session on it.
    #[error("chromedriver opened no Chromium session: {source}; its log:\n{log}")]
    Session {
        /// fantoccini's error.
        #[source]
        source: Box<NewSessionError>,
        /// What chromedriver and Chromium printed.
        log: String,
    },
    /// A WebDriver command failed.
    #[error("WebDriver command {command} failed: {source}")]
    Command {
        /// What was asked.
        command: &'static str,
        /// fantoccini's error.
        #[source]
        source: Box<CmdError>,
    },
    /// A WebDriver command did not answer in time.
    #[error("WebDriver command {command} did not answer within {timeout:?}")]
    CommandTimeout {
        /// What was asked.
        command: &'static str,
        /// The limit.
        timeout: Duration,
    },
    /// A wait for a condition on the page ended without it.
    #[error("waited {timeout:?} for {condition} on {url}; last seen: {last_seen}")]
    WaitTimeout {
        /// The script condition or the CSS selector.
        condition: String,
        /// The page's URL at the end.
        url: String,
        /// The condition's last value, or the last error.
        last_seen: String,
        /// The limit.
        timeout: Duration,
    },
    /// chromedriver answered something this harness does not understand.
    #[error("unexpected answer to {command}: {answer}")]
    UnexpectedAnswer {
        /// What was asked.
        command: &'static str,
        /// The answer.
        answer: Json,
    },
    /// An I/O error (temporary folder, spawning, the log).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One message of the browser's console: `console.log` and friends, uncaught exceptions, failed
/// requests (as chromedriver reports them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleMessage {
    /// `SEVERE` (errors, uncaught exceptions, failed requests), `WARNING`, `INFO`, `DEBUG`.
    pub level: String,
    /// `console-api` (the page's `console.*` calls), `javascript` (uncaught exceptions),
    /// `network`, ...
    pub source: String,
    /// The text, prefixed by Chromium with the script's URL and line.
    pub message: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
}

impl ConsoleMessage {
    /// An uncaught exception or an unhandled promise rejection, or a `console.error` call.
    pub fn is_error(&self) -> bool {
        self.level == "SEVERE" && (self.source == "javascript" || self.source == "console-api")
    }
}

/// A running headless Chromium with its WebDriver session. Dropping it kills chromedriver and
/// Chromium and deletes the profile; [`Browser::close`] ends the session first.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    console: Mutex<Vec<ConsoleMessage>>,
    command_timeout: Duration,
    driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile, and opens a session.
    pub async fn start(options: BrowserOptions) -> Result<Self, BrowserError> {
        for program in [&options.chromium, &options.chromedriver] {
            if !is_executable(program) {
                return Err(BrowserError::NotInstalled {
                    program: program.clone(),
                    hint: INSTALL_HINT,
                });
            }
        }
        let deadline = Instant::now() + options.start_timeout;
        let mut driver = Driver::spawn(&options.chromedriver)?;
        let port = driver
            .wait_for_port(deadline, options.start_timeout)
            .await?;
        let client = driver.open_session(port, &options, deadline).await?;
        let browser = Self {
            client,
            console: Mutex::default(),
            command_timeout: options.command_timeout,
            driver,
        };
        let (width, height) = options.window_size;
        browser.set_window_size(width, height).await?;
        // Resource timing keeps 250 entries by default and silently drops the rest; a test that
        // asserts on every request must see them all.
        browser
            .devtools(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({"source": "performance.setResourceTimingBufferSize(100000);"}),
            )
            .await?;
        Ok(browser)
    }

    /// Starts a browser with the default options (1280x800).
    pub async fn start_default() -> Result<Self, BrowserError> {
        Self::start(BrowserOptions::default()).await
    }

    /// The WebDriver client, for everything the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Navigates to `url` and waits for its `load` event.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.bounded("goto", self.client.goto(url)).await
    }

    /// The page's URL.
    pub async fn current_url(&self) -> Result<String, BrowserError> {
        self.bounded("current_url", self.client.current_url())
            .await
            .map(String::from)
    }

    /// Runs `script` as the body of a function (`return` gives the result; `arguments` holds
    /// `args`) and returns its result as JSON. A returned promise is awaited.
    pub async fn run_script(&self, script: &str, args: Vec<Json>) -> Result<Json, BrowserError> {
        self.bounded("run_script", self.client.execute(script, args))
            .await
    }

    /// Waits until the JavaScript expression `condition` is truthy and returns its value.
    pub async fn wait_for_script(
        &self,
        condition: &str,
        timeout: Duration,
    ) -> Result<Json, BrowserError> {
        let script = format!("return ({condition});");
        let deadline = Instant::now() + timeout;
        loop {
            let attempt = self.client.execute(&script, Vec::new());
            let left = deadline.saturating_duration_since(Instant::now());
            let last_seen = match self
                .bounded_by(left.max(POLL_INTERVAL), "wait_for_script", attempt)
                .await
            {
                Ok(value) if is_truthy(&value) => return Ok(value),
                Ok(value) => value.to_string(),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(self.wait_timeout(condition, last_seen, timeout).await);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits until an element matches the CSS `selector` and returns the first one.
    pub async fn wait_for_selector(
        &self,
        selector: &str,
        timeout: Duration,
    ) -> Result<Element, BrowserError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let found = self
                .bounded_by(
                    left.max(POLL_INTERVAL),
                    "wait_for_selector",
                    self.client.find_all(Locator::Css(selector)),
                )
                .await?;
            if let Some(element) = found.into_iter().next() {
                return Ok(element);
            }
            if Instant::now() >= deadline {
                let condition = format!("an element matching `{selector}`");
                return Err(self.wait_timeout(&condition, "none".into(), timeout).await);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Clicks the first element matching the CSS `selector` (it must be there already).
    pub async fn click(&self, selector: &str) -> Result<(), BrowserError> {
        let element = self
            .bounded("find", self.client.find(Locator::Css(selector)))
            .await?;
        self.bounded("click", element.click()).await
    }

    /// Every console message of the session so far (the page's `console.*` calls, uncaught
    /// exceptions, failed requests), oldest first, across navigations.
    pub async fn console_log(&self) -> Result<Vec<ConsoleMessage>, BrowserError> {
        // chromedriver hands each entry out once: keep them.
        let answer = self
            .bounded(
                "browser log",
                self.client.issue_cmd(SessionPost {
                    path: "se/log",
                    body: json!({"type": "browser"}),
                }),
            )
            .await?;
        let entries = answer
            .as_array()
            .ok_or_else(|| BrowserError::UnexpectedAnswer {
                command: "browser log",
                answer: answer.clone(),
            })?;
        let mut console = self.console.lock().expect("console lock");
        console.extend(entries.iter().map(|entry| ConsoleMessage {
            level: text_field(entry, "level"),
            source: text_field(entry, "source"),
            message: text_field(entry, "message"),
            timestamp: entry["timestamp"].as_u64().unwrap_or_default(),
        }));
        Ok(console.clone())
    }

    /// The console messages that are JavaScript errors: uncaught exceptions, unhandled
    /// rejections and `console.error` calls.
    pub async fn javascript_errors(&self) -> Result<Vec<ConsoleMessage>, BrowserError> {
        let mut messages = self.console_log().await?;
        messages.retain(ConsoleMessage::is_error);
        Ok(messages)
    }

    /// Every URL the current page requested: the document itself first, then each resource
    /// (scripts, modules, styles, images, `fetch`, ...) in the order they started, from the
    /// page's resource timing. A request still open (a live `EventSource`) is listed once it
    /// ends.
    pub async fn requested_urls(&self) -> Result<Vec<String>, BrowserError> {
        let answer = self
            .run_script(
                "return [...performance.getEntriesByType('navigation'), \
                         ...performance.getEntriesByType('resource')].map((entry) => entry.name);",
                Vec::new(),
            )
            .await?;
        serde_json::from_value(answer.clone()).map_err(|_| BrowserError::UnexpectedAnswer {
            command: "requested_urls",
            answer,
        })
    }

    /// A PNG of the viewport.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>, BrowserError> {
        self.bounded("screenshot", self.client.screenshot()).await
    }

    /// Resizes the window so that its viewport (`innerWidth` x `innerHeight`) is `width` x
    /// `height` CSS pixels, as a user resizing it would (the page gets its `resize` event).
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<(), BrowserError> {
        // Headless Chromium still draws a window frame (about 143 px of toolbar): the window is
        // larger than its viewport by that much.
        let frame = self
            .run_script(
                "return [outerWidth - innerWidth, outerHeight - innerHeight];",
                Vec::new(),
            )
            .await?;
        let (frame_width, frame_height) = serde_json::from_value::<(u32, u32)>(frame.clone())
            .map_err(|_| BrowserError::UnexpectedAnswer {
                command: "window frame",
                answer: frame,
            })?;
        self.bounded(
            "set_window_size",
            self.client
                .set_window_size(width + frame_width, height + frame_height),
        )
        .await
    }

    /// Runs a Chrome DevTools Protocol command (`Domain.method`) through chromedriver and
    /// returns its result.
    pub async fn devtools(&self, method: &str, params: Json) -> Result<Json, BrowserError> {
        self.bounded(
            "devtools",
            self.client.issue_cmd(SessionPost {
                path: "goog/cdp/execute",
                body: json!({"cmd": method, "params": params}),
            }),
        )
        .await
    }

    /// Chromium's profile folder (`--user-data-dir`), deleted when the browser is dropped.
    pub fn profile_dir(&self) -> PathBuf {
        self.driver.dir.path().join("profile")
    }

    /// What chromedriver (and Chromium, on its stderr) printed so far.
    pub fn driver_log(&self) -> String {
        self.driver.log()
    }

    /// Ends the session (chromedriver closes Chromium), then stops chromedriver.
    pub async fn close(self) -> Result<(), BrowserError> {
        let client = self.client.clone();
        let ended = self.bounded("close", client.close()).await;
        drop(self);
        ended
    }

    async fn bounded<T>(
        &self,
        command: &'static str,
        future: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, BrowserError> {
        self.bounded_by(self.command_timeout, command, future).await
    }

    async fn bounded_by<T>(
        &self,
        limit: Duration,
        command: &'static str,
        future: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, BrowserError> {
        match tokio::time::timeout(limit, future).await {
            Ok(result) => result.map_err(|source| BrowserError::Command {
                command,
                source: Box::new(source),
            }),
            Err(_) => Err(BrowserError::CommandTimeout {
                command,
                timeout: limit,
            }),
        }
    }

    async fn wait_timeout(
        &self,
        condition: &str,
        last_seen: String,
        timeout: Duration,
    ) -> BrowserError {
        BrowserError::WaitTimeout {
            condition: condition.to_owned(),
            url: self
                .current_url()
                .await
                .unwrap_or_else(|error| format!("(unknown: {error})")),
            last_seen,
            timeout,
        }
    }
}

/// The width and height of a PNG image, from its header.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let header = png.get(..24)?;
    if !header.starts_with(SIGNATURE) || &header[12..16] != b"IHDR" {
        return None;
    }
    let number = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    Some((number(16), number(20)))
}

const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The chromedriver process, in a process group of its own with the Chromium it starts, and
/// the folder holding its log and Chromium's profile.
#[derive(Debug)]
struct Driver {
    child: Child,
    dir: TempDir,
}

impl Driver {
    fn spawn(chromedriver: &Path) -> Result<Self, BrowserError> {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::Builder::new()
            .prefix("chromium-test-")
            .tempdir()?;
        std::fs::create_dir(dir.path().join("profile"))?;
        let log = std::fs::File::create(dir.path().join("chromedriver.log"))?;
        // Port 0: chromedriver binds a port the system picks and prints it, so parallel
        // browsers never race for one.
        let child = Command::new(chromedriver)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    BrowserError::NotInstalled {
                        program: chromedriver.to_owned(),
                        hint: INSTALL_HINT,
                    }
                }
                _ => BrowserError::Io(error),
            })?;
        Ok(Self { child, dir })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// Waits for chromedriver's `... started successfully on port N.` line.
    async fn wait_for_port(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<u16, BrowserError> {
        const STARTED: &str = "started successfully on port ";
        loop {
            let log = self.log();
            let port = log.lines().find_map(|line| {
                let (_, rest) = line.split_once(STARTED)?;
                rest.trim_end_matches('.').trim().parse().ok()
            });
            if let Some(port) = port {
                return Ok(port);
            }
            if Instant::now() >= deadline || self.child.try_wait()?.is_some() {
                return Err(BrowserError::NotStarted {
                    timeout,
                    log: self.log(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn open_session(
        &self,
        port: u16,
        options: &BrowserOptions,
        deadline: Instant,
    ) -> Result<Client, BrowserError> {
        let (width, height) = options.window_size;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|&flag| flag.to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            self.dir.path().join("profile").display()
        ));
        args.push(format!("--window-size={width},{height}"));
        args.extend(options.extra_args.iter().cloned());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": options.chromium,
                "args": args,
            },
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {
                "pageLoad": options.command_timeout.as_millis() as u64,
                "script": options.command_timeout.as_millis() as u64,
            },
        });
        let Json::Object(capabilities) = capabilities else {
            unreachable!("capabilities are an object")
        };
        let connect = async {
            ClientBuilder::new(HttpConnector::new())
                .capabilities(Capabilities::from(capabilities))
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
        };
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, connect).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(source)) => Err(BrowserError::Session {
                source: Box::new(source),
                log: self.log(),
            }),
            Err(_) => Err(BrowserError::NotStarted {
                timeout: options.start_timeout,
                log: self.log(),
            }),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver does not take Chromium with it when it dies: kill the whole group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_executable(program: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(program)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

fn is_truthy(value: &Json) -> bool {
    match value {
        Json::Null => false,
        Json::Bool(flag) => *flag,
        Json::Number(number) => number.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Json::String(text) => !text.is_empty(),
        Json::Array(_) | Json::Object(_) => true,
    }
}

fn text_field(entry: &Json, field: &str) -> String {
    entry[field].as_str().unwrap_or_default().to_owned()
}

/// A chromedriver extension command: `POST /session/{id}/{path}` with a JSON body.
#[derive(Debug)]
struct SessionPost {
    path: &'static str,
    body: Json,
}

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_size_reads_the_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(1280u32.to_be_bytes());
        png.extend(800u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((1280, 800)));
        assert_eq!(png_size(b"GIF89a"), None);
    }

    #[test]
    fn truthiness_follows_javascript() {
        for falsy in [json!(null), json!(false), json!(0), json!(""), json!(0.0)] {
            assert!(!is_truthy(&falsy), "{falsy}");
        }
        for truthy in [json!(true), json!(1), json!("x"), json!([]), json!({})] {
            assert!(is_truthy(&truthy), "{truthy}");
        }
    }

    #[tokio::test]
    async fn a_missing_chromium_says_how_to_install_it() {
        let options = BrowserOptions {
            chromium: "/nonexistent/chromium".into(),
            ..BrowserOptions::default()
        };
        let error = Browser::start(options).await.expect_err("no chromium");
        assert!(
            matches!(error, BrowserError::NotInstalled { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("tools/dev/install-deps"),
            "{error}"
        );
    }
}
