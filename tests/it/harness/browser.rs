//! [`Browser`]: a real headless Chromium (Debian's `chromium`), driven over the W3C WebDriver
//! protocol by its `chromedriver`, both installed by `tests/run.sh`.
//!
//! The protocol is plain JSON over HTTP, so the blocking reqwest client the harness already uses
//! drives it: a session per browser, then navigate, find elements by CSS selector, read their
//! attributes and text, click, take screenshots and read the browser's console log (Chromium's
//! `goog:loggingPrefs` capability, read back from chromedriver's `/se/log`). Chromium runs
//! headless, as root, hence `--no-sandbox`. Dropping the handle ends the session and the
//! driver.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::free_port;

/// The key under which WebDriver returns an element's id.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Window width: the page's widest layout.
const WIDTH: u64 = 1360;

/// One element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// A headless Chromium and the chromedriver that drives it.
pub struct Browser {
    driver: Child,
    /// `http://127.0.0.1:{port}/session/{id}`.
    session: String,
    http: reqwest::blocking::Client,
}

/// The program `name` on `PATH`, or a failure that says how to get it.
fn program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("{name} is not installed: tests/run.sh installs Debian's chromium and chromium-driver")
        })
}

/// The elements of a WebDriver answer.
fn elements(found: &Value) -> Vec<Element> {
    let list = found.as_array().unwrap_or_else(|| panic!("not a list of elements: {found}"));
    list.iter()
        .map(|e| Element(e[ELEMENT].as_str().unwrap_or_else(|| panic!("not an element: {e}")).to_string()))
        .collect()
}

impl Browser {
    /// Starts chromedriver (its log in `dir`) and a headless Chromium session.
    pub fn start(dir: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new(program("chromedriver"))
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", dir.join("chromedriver.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while !http.get(format!("{base}/status")).send().is_ok_and(|r| r.status().is_success()) {
            assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": program("chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--hide-scrollbars", format!("--window-size={WIDTH},1000")],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut b = Browser { driver, session: String::new(), http };
        let created = b.call("POST", &format!("{base}/session"), Some(capabilities));
        let id = created["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}"));
        b.session = format!("{base}/session/{id}");
        b
    }

    /// A WebDriver command; returns its `value`, failing the test on a WebDriver error.
    fn call(&self, method: &str, url: &str, body: Option<Value>) -> Value {
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = request.send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status();
        let v: Value = response.json().unwrap_or_else(|e| panic!("{method} {url}: not JSON: {e}"));
        assert!(status.is_success(), "{method} {url}: {status}: {}", v["value"]);
        v["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
    }

    /// Loads `url` and waits for the document (WebDriver's default page-load strategy).
    pub fn goto(&self, url: &str) {
        self.session("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        self.session("GET", "/url", None).as_str().expect("a URL").to_string()
    }

    /// Every element matching the CSS `selector`, in document order.
    pub fn find_all(&self, selector: &str) -> Vec<Element> {
        let found = self.session("POST", "/elements", Some(json!({"using": "css selector", "value": selector})));
        elements(&found)
    }

    /// The one element matching `selector` (fails if none or several do).
    pub fn find(&self, selector: &str) -> Element {
        let mut all = self.find_all(selector);
        assert_eq!(all.len(), 1, "{selector:?} matched {} elements, not one", all.len());
        all.remove(0)
    }

    /// Elements matching `selector` inside `e`.
    pub fn find_in(&self, e: &Element, selector: &str) -> Vec<Element> {
        let found = self.session(
            "POST",
            &format!("/element/{}/elements", e.0),
            Some(json!({"using": "css selector", "value": selector})),
        );
        elements(&found)
    }

    /// An attribute's value (`None` when absent).
    pub fn attr(&self, e: &Element, name: &str) -> Option<String> {
        self.session("GET", &format!("/element/{}/attribute/{name}", e.0), None).as_str().map(str::to_string)
    }

    /// A number held in an attribute, exactly as written.
    pub fn number(&self, e: &Element, name: &str) -> f64 {
        let text = self.attr(e, name).unwrap_or_else(|| panic!("no {name} attribute"));
        text.parse().unwrap_or_else(|_| panic!("{name}={text:?} is not a number"))
    }

    /// The element's rendered text.
    pub fn text(&self, e: &Element) -> String {
        self.session("GET", &format!("/element/{}/text", e.0), None).as_str().unwrap_or_default().to_string()
    }

    /// Clicks the element (as a person would: it must be visible and not covered).
    pub fn click(&self, e: &Element) {
        self.session("POST", &format!("/element/{}/click", e.0), None);
    }

    /// The browser console's entries since the last call (level, message), such as the errors a
    /// failed load, a blocked resource or a script would log.
    pub fn console(&self) -> Vec<(String, String)> {
        let entries = self.session("POST", "/se/log", Some(json!({"type": "browser"})));
        entries
            .as_array()
            .expect("log entries")
            .iter()
            .map(|e| (e["level"].as_str().unwrap_or("").to_string(), e["message"].as_str().unwrap_or("").to_string()))
            .collect()
    }

    /// Saves a PNG of the whole page (the window resized to the page's height) at `path`.
    pub fn screenshot(&self, path: &Path) {
        let height = self.session(
            "POST",
            "/execute/sync",
            Some(json!({"script": "return document.body.scrollHeight", "args": []})),
        );
        // The window's height includes the browser's own bars, about a hundred pixels.
        let height = height.as_u64().expect("the page's height").clamp(600, 8000) + 160;
        self.session("POST", "/window/rect", Some(json!({"width": WIDTH, "height": height})));
        let png = self.session("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 PNG"))
            .expect("a base64 screenshot");
        assert!(bytes.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        fs::create_dir_all(path.parent().expect("a directory")).expect("create the artifact directory");
        fs::write(path, bytes).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.http.delete(&self.session).send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
