//! A small W3C WebDriver client over HTTP JSON (reqwest), for driving headless Chromium
//! through chromedriver; a dedicated crate would add ~40 dependencies for the dozen calls used.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key of an element reference in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Debian packages the browser tests need.
pub const INSTALL: &str =
    "apt-get install chromium chromium-driver   (or: bash scripts/setup.sh --deps)";

/// Finds an executable on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver running on a port it chose (`--port=0`), killed on drop.
pub struct Driver {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The Chromium binary sessions use.
    pub chromium: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver; panics with the install command when Chromium or the driver is missing.
    // The child is waited for by Drop.
    #[allow(clippy::zombie_processes)]
    pub fn start() -> Driver {
        let chromium = ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|n| which(n))
            .unwrap_or_else(|| panic!("Chromium is not installed: {INSTALL}"));
        let driver = which("chromedriver")
            .unwrap_or_else(|| panic!("chromedriver is not installed: {INSTALL}"));
        let mut child = Command::new(driver)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromedriver did not say which port it took"));
            // "ChromeDriver was started successfully on port 40029."
            if let Some(rest) = line.split("successfully on port ").nth(1) {
                break rest.trim_end_matches('.').trim().parse::<u16>().unwrap();
            }
        };
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
        }
    }
}

/// One browser session; dropping it closes Chromium (also when a test fails half-way:
/// chromedriver killed first would leave the browser running).
pub struct Session {
    http: reqwest::Client,
    base: String,
    /// Where screenshots go.
    pub shots: PathBuf,
    closed: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.closed {
            delete_blocking(&self.base);
        }
    }
}

/// `DELETE <url>` over a plain blocking socket (Drop cannot await).
fn delete_blocking(url: &str) {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return;
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(addr) = host.parse::<std::net::SocketAddr>() else {
        return;
    };
    if let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
        let req = format!("DELETE {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        if s.write_all(req.as_bytes()).is_ok() {
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    }
}

/// An element reference.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Session {
    /// Opens headless Chromium (`--autoplay-policy=no-user-gesture-required` so the test can
    /// play a recording without a real gesture) with a 1400×900 window.
    pub async fn new(driver: &Driver, shots: &Path, lang: &str) -> Session {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()
            .unwrap();
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": driver.chromium,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--autoplay-policy=no-user-gesture-required", "--window-size=1400,900",
                        format!("--lang={lang}"), "--no-first-run", "--no-default-browser-check",
                        "--disable-extensions", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                    ],
                    "prefs": { "intl.accept_languages": lang },
                },
                "goog:loggingPrefs": { "browser": "ALL" },
                "timeouts": { "script": 30000, "pageLoad": 60000, "implicit": 0 },
            }}
        });
        let res: Value = http
            .post(format!("{}/session", driver.url))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        let id = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver could not start Chromium: {res}"))
            .to_string();
        std::fs::create_dir_all(shots).unwrap();
        Session {
            http,
            base: format!("{}/session/{id}", driver.url),
            shots: shots.to_path_buf(),
            closed: false,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let res = req.send().await.expect("chromedriver answers");
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "WebDriver {method} {path}: {status}: {}",
            v["value"]["message"].as_str().unwrap_or(&v.to_string())
        );
        v["value"].clone()
    }

    /// Navigates to `url` and waits for the load.
    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Polls `script` until it returns something truthy (not null/false/0/""), up to `within`;
    /// returns that value. On timeout panics with `what` and a screenshot.
    pub async fn wait_for(&self, what: &str, within: Duration, script: &str) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let v = self.js(script, vec![]).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() >= deadline {
                let shot = self.screenshot(&format!("timeout-{}", slug(what))).await;
                let text = self
                    .js("return document.body.innerText.slice(0, 2000)", vec![])
                    .await;
                panic!(
                    "timed out after {within:?} waiting for {what} (screenshot {}); page text:\n{}",
                    shot.display(),
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching a CSS selector, waiting up to `within` for it.
    pub async fn find(&self, css: &str, within: Duration) -> Element {
        let q = serde_json::to_string(css).unwrap();
        self.wait_for(
            &format!("element {css}"),
            within,
            &format!("return document.querySelector({q}) !== null"),
        )
        .await;
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        Element(v[ELEMENT_KEY].as_str().unwrap().to_string())
    }

    /// Clicks an element (a real pointer event through the browser).
    pub async fn click(&self, el: &Element) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/click", el.0),
            None,
        )
        .await;
    }

    /// Clears an input and types `text` into it (real key events).
    pub async fn type_into(&self, el: &Element, text: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/clear", el.0),
            None,
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The rendered text of an element.
    pub async fn text(&self, el: &Element) -> String {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{}/text", el.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Saves a PNG screenshot as `<shots>/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// The browser console's messages since the last call (Chromium's `browser` log).
    pub async fn console_log(&self) -> Vec<(String, String)> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({ "type": "browser" })),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or("").to_string(),
                            e["message"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends the session (closes Chromium).
    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        self.closed = true;
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect()
}
