//! The real `authd` binary, started as a process: what it refuses at start, and what it writes
//! to its log.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A started `authd` process whose output (stdout and stderr) is collected as it comes.
pub struct Binary {
    child: Child,
    output: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
}

impl Binary {
    /// Starts the binary in an empty directory (so no `.env` is read) on an SQLite database
    /// there, port 0, with `env` on top.
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::start_in(tempfile::tempdir().expect("temporary directory"), env)
    }

    /// Starts the binary in `dir`, on the SQLite database there (a new one, or the one a
    /// killed process left), port 0, with `env` on top.
    pub fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        let database = format!("sqlite://{}", dir.path().join("auth.db").display());
        let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("PORT", "0")
            .env("DATABASE_URL", database)
            .env("BCRYPT_COST", "4")
            .env("PASSWORD_BREACH_CHECK", "false")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("authd starts");
        let output = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut all = output.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        Self { child, output, dir }
    }

    /// Everything the process wrote so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The exit status, if the process ends within `within`.
    pub fn exit_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The base URL once the log says where the server listens.
    pub fn base_url(&self, within: Duration) -> Option<String> {
        self.word_after("listening on ", within)
    }

    /// The word the log writes after `marker` (up to a space or a quote), once it has written
    /// it, within `within`.
    pub fn word_after(&self, marker: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let output = self.output();
            if let Some(rest) = output.split(marker).nth(1) {
                let word = rest.split(|c: char| c.is_whitespace() || c == '"').next();
                return word.map(str::to_owned);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The code of the newest console email of `kind` (`verification_code`,
    /// `password_reset_code`…) to `email`, once the log has it (within ten seconds).
    pub fn mailed_code(&self, email: &str, kind: &str) -> String {
        let marker = format!("console email to {email}: {kind} ");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let output = self.output();
            let code = output.lines().rev().find_map(|line| {
                let after = line.split(&marker).nth(1)?;
                let code = after.split_whitespace().next()?;
                (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| code.to_owned())
            });
            if let Some(code) = code {
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} to {email} in the log: {output}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id, to look at what the process holds open.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Binary {
    /// Kills the process at once (SIGKILL: no shutdown of any kind) and gives back its
    /// directory, database included, to start it again in.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("temporary directory");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const STRONG: &str = "a-jwt-secret-of-at-least-thirty-two-bytes-0123";

#[test]
fn a_short_jwt_secret_stops_the_start_in_every_environment() {
    for app_env in ["development", "production"] {
        let mut authd = Binary::start(&[("APP_ENV", app_env), ("JWT_SECRET", "x")]);
        let status = authd
            .exit_within(Duration::from_secs(30))
            .expect("the server refuses to start instead of serving");
        assert!(!status.success());
        assert!(authd.output().contains("JWT_SECRET"), "{}", authd.output());
    }
    // Also beside REDIS_URL, where several instances share the secret.
    let mut authd = Binary::start(&[
        ("JWT_SECRET", "short-shared-secret"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0"),
    ]);
    let status = authd.exit_within(Duration::from_secs(30)).expect("refused");
    assert!(!status.success());
    assert!(authd.output().contains("JWT_SECRET"));
}

#[test]
fn production_with_the_console_mailer_starts_only_when_explicitly_allowed() {
    let mut refused = Binary::start(&[("APP_ENV", "production"), ("JWT_SECRET", STRONG)]);
    let status = refused
        .exit_within(Duration::from_secs(30))
        .expect("refused");
    assert!(!status.success());
    let output = refused.output();
    assert!(
        output.contains("EMAIL_TRANSPORT") && output.contains("ALLOW_CONSOLE_EMAIL_IN_PRODUCTION"),
        "{output}"
    );
    let allowed = Binary::start(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", STRONG),
        ("ALLOW_CONSOLE_EMAIL_IN_PRODUCTION", "true"),
    ]);
    assert!(
        allowed.base_url(Duration::from_secs(30)).is_some(),
        "{}",
        allowed.output()
    );
}

#[tokio::test]
async fn a_forged_or_oversized_request_id_is_replaced_and_never_logged() {
    let authd = Binary::start(&[("JWT_SECRET", STRONG), ("RUST_LOG", "info")]);
    let base = authd.base_url(Duration::from_secs(30)).expect("listening");
    let client = crate::helpers::client();
    let forged = "x status=500 request_id=forged-by-client";
    let huge = "A".repeat(8_000);
    for id in [forged, huge.as_str(), "trace me", "\"quoted\""] {
        let response = client
            .get(format!("{base}/health"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(echoed, id);
        assert!(
            echoed.len() <= 64
                && echoed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{echoed}"
        );
    }
    let kept = client
        .get(format!("{base}/health"))
        .header("x-request-id", "trace-me.123_ok")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-me.123_ok");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = authd.output();
    assert!(
        log.contains("trace-me.123_ok"),
        "a safe id is logged: {log}"
    );
    assert!(!log.contains("forged-by-client"), "{log}");
    assert!(!log.contains(&huge[..100]));
}
