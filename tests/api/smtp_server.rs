//! A small SMTP server of the test suite's own: speaks enough of RFC 5321 over TCP for a real
//! client (lettre) to deliver to it, and keeps what it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub rcpt_to: Vec<String>,
    /// The DATA section: headers, blank line, body (dot-unstuffed, CRLF line ends).
    pub data: String,
}

impl Received {
    /// The value of header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = value.as_mut() {
                    v.push_str(line.trim_start());
                }
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }

    /// The six digits after "code is: " in the message, from its plain-text part.
    pub fn code(&self) -> String {
        let at = self.data.find("code is: ").expect("a code in the message") + "code is: ".len();
        let code: String = self.data[at..].chars().take(6).collect();
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code:?}");
        code
    }
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    /// Listens on 127.0.0.1:`port` (0 for any free port).
    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("smtp port");
        let addr = listener.local_addr().expect("smtp address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, store.clone()));
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Waits until at least `count` messages have arrived, for at most `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received.lock().unwrap().clone();
            if got.len() >= count || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A free loopback port with nothing listening on it (for "the mail server is down").
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    probe.local_addr().expect("address").port()
}

async fn reply(write: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> bool {
    write.write_all(text.as_bytes()).await.is_ok()
}

async fn session(stream: TcpStream, store: Arc<Mutex<Vec<Received>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if !reply(&mut write, "220 test.local ESMTP\r\n").await {
        return;
    }
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let answer = if command.starts_with("EHLO") {
            "250-test.local\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".to_owned()
        } else if command.starts_with("HELO") || command.starts_with("MAIL FROM") {
            "250 OK\r\n".to_owned()
        } else if command.starts_with("RCPT TO") {
            let address = line.trim_end()[8..]
                .trim()
                .trim_matches(['<', '>'])
                .to_owned();
            rcpt_to.push(address);
            "250 OK\r\n".to_owned()
        } else if command == "DATA" {
            if !reply(&mut write, "354 End data with <CR><LF>.<CR><LF>\r\n").await {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let message = Received {
                rcpt_to: std::mem::take(&mut rcpt_to),
                data,
            };
            store.lock().unwrap().push(message);
            "250 OK queued\r\n".to_owned()
        } else if command == "RSET" || command == "NOOP" {
            rcpt_to.clear();
            "250 OK\r\n".to_owned()
        } else if command == "QUIT" {
            let _ = reply(&mut write, "221 Bye\r\n").await;
            return;
        } else {
            "502 Command not implemented\r\n".to_owned()
        };
        if !reply(&mut write, &answer).await {
            return;
        }
    }
}
