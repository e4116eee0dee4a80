//! Just enough of the W3C WebDriver protocol, over HTTP, to drive headless Chromium through
//! chromedriver: open pages, run scripts, take screenshots.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or says why not and returns `None`.
    pub async fn start() -> Option<Self> {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            if !std::path::Path::new(binary).exists() {
                eprintln!(
                    "skipped: {binary} is not installed (apt-get install chromium chromium-driver)"
                );
                return None;
            }
        }
        let port = crate::smtp_server::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not come up");
        let profile = tempfile::tempdir().expect("profile directory");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"));
        Some(Self {
            session: format!("{base}/session/{id}"),
            http,
            driver,
            _profile: profile,
        })
    }

    async fn command(&self, path: &str, body: Value) -> Value {
        let response: Value = self
            .http
            .post(format!("{}{path}", self.session))
            .json(&body)
            .send()
            .await
            .expect("webdriver command")
            .json()
            .await
            .expect("webdriver json");
        response["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command("/url", json!({ "url": url })).await;
    }

    /// Runs `script` as a function body with `args`; returns what it returns.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.command("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Runs `script`, which must call its last argument (the callback) with the result.
    pub async fn eval_async(&self, script: &str, args: Value) -> Value {
        self.command("/execute/async", json!({ "script": script, "args": args }))
            .await
    }

    /// Polls the JavaScript expression `condition` until it is true, for at most `within`.
    pub async fn wait_for(&self, condition: &str, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        let script = format!("return Boolean({condition});");
        while tokio::time::Instant::now() < deadline {
            if self.eval(&script, json!([])).await == Value::Bool(true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let encoded = self
            .http
            .get(format!("{}/screenshot", self.session))
            .send()
            .await
            .expect("screenshot")
            .json::<Value>()
            .await
            .expect("screenshot json");
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded["value"].as_str().expect("base64 png"))
            .expect("valid base64");
        std::fs::write(path, png).expect("screenshot written");
    }

    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}
