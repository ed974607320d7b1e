//! A small W3C WebDriver client over HTTP (chromedriver driving headless Debian chromium), with
//! the WebAuthn extension's virtual authenticator. Only what the console tests use.

#![allow(dead_code)] // Each test file uses part of it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless chromium session; the driver is killed on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Whether chromium and chromedriver are installed.
pub fn available() -> bool {
    ["chromium", "chromedriver"].iter().all(|tool| {
        Command::new("which")
            .arg(tool)
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

impl Browser {
    /// Starts chromedriver and a headless chromium with a virtual passkey authenticator
    /// (CTAP2, resident keys, user verification that always succeeds).
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut browser = Self {
            driver,
            base,
            session: String::new(),
            http,
        };
        let created = browser
            .raw(
                "POST",
                "/session",
                json!({ "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--window-size=1280,1000"],
                    },
                }}}),
            )
            .await;
        browser.session = created["sessionId"].as_str().unwrap().to_owned();
        browser
            .cmd(
                "POST",
                "/webauthn/authenticator",
                json!({ "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                        "hasUserVerification": true, "isUserConsenting": true,
                        "isUserVerified": true }),
            )
            .await;
        browser
    }

    async fn raw(&self, method: &str, path: &str, body: Value) -> Value {
        let request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        let request = if method == "GET" || method == "DELETE" {
            request
        } else {
            request.json(&body)
        };
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        let value = answer["value"].clone();
        assert!(
            value.get("error").is_none(),
            "WebDriver {method} {path}: {value}"
        );
        value
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url })).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Runs `script` in the page (`arguments` are `args`) and returns its value.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// The element matching `css`, waiting up to 20 s for it to exist and be shown.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .eval(
                    "const e = document.querySelector(arguments[0]); \
                     return e && !e.closest('[hidden]') ? e : null;",
                    json!([css]),
                )
                .await;
            if let Some(id) = found.get(ELEMENT).and_then(Value::as_str) {
                return id.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}: {}",
                self.url().await,
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Whether an element matching `css` exists now.
    pub async fn exists(&self, css: &str) -> bool {
        self.eval(
            "return document.querySelector(arguments[0]) !== null;",
            json!([css]),
        )
        .await
        .as_bool()
        .unwrap()
    }

    /// Waits up to 20 s until no element matches `css` (the page it was on has been left).
    pub async fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.exists(css).await {
            assert!(
                Instant::now() < deadline,
                "{css} is still on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    /// Replaces the value of the field matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/clear"), json!({}))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Selects the option whose text is `option` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, option: &str) {
        self.find(css).await;
        self.eval(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
             return s.value;",
            json!([css, option]),
        )
        .await;
    }

    /// The visible text of the first element matching `css` (empty when there is none).
    pub async fn text(&self, css: &str) -> String {
        self.eval(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([css]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The whole HTML of the page as loaded.
    pub async fn source(&self) -> String {
        self.cmd("GET", "/source", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until the page's text contains `needle`, reloading `url` between looks when given.
    pub async fn wait_text(&self, css: &str, needle: &str, reload: Option<&str>) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.text(css).await;
            if text.contains(needle) {
                return text;
            }
            if Instant::now() >= deadline {
                let page = self.text("body").await;
                panic!(
                    "{css} never showed {needle:?}; it shows: {text}; the page at {} shows: {page}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Some(url) = reload {
                self.goto(url).await;
            }
        }
    }

    /// Saves a PNG of the window to `dir/name.png` when `dir` is given.
    pub async fn screenshot(&self, dir: Option<&std::path::Path>, name: &str) {
        let Some(dir) = dir else { return };
        let png = self.cmd("GET", "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}
