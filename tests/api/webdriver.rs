//! Headless Chromium, driven over WebDriver (fantoccini) through a chromedriver process of the
//! test's own: open pages, run scripts, take screenshots.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    client: Client,
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
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = reqwest::get(format!("{base}/status")).await
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
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&base)
            .await
            .expect("a WebDriver session");
        Some(Self {
            client,
            driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("page opened");
    }

    /// Runs `script` as a function body with `args` (a JSON array); returns what it returns.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.client
            .execute(script, arguments(args))
            .await
            .expect("script ran")
    }

    /// Runs `script`, which must call its last argument (the callback) with the result.
    pub async fn eval_async(&self, script: &str, args: Value) -> Value {
        self.client
            .execute_async(script, arguments(args))
            .await
            .expect("script ran")
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
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).expect("screenshot written");
    }

    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}

/// A JSON array's items, as WebDriver script arguments.
fn arguments(args: Value) -> Vec<Value> {
    match args {
        Value::Array(items) => items,
        other => vec![other],
    }
}
