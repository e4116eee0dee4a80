//! A real SMTP server on a loopback port (mailin-embedded, in a thread of its own) that keeps
//! what it receives, for the tests to read.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, SslConfig, response};

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

/// A running SMTP server. It runs until the test binary ends: mailin's server has no stop, and
/// each server has a port of its own.
pub struct SmtpServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

/// Collects each message as it arrives; mailin clones it for every session. Recipients that
/// contain `bounce` are refused, as a mailbox that does not exist would be.
#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<Received>>>,
    current: Option<Received>,
}

impl Handler for Collector {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.contains("bounce") {
            response::NO_MAILBOX
        } else {
            response::OK
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            rcpt_to: to.to_vec(),
            data: String::new(),
        });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(message) = self.current.as_mut() {
            message.data.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(message) = self.current.take() {
            self.received.lock().unwrap().push(message);
        }
        response::OK
    }
}

impl SmtpServer {
    /// Listens on 127.0.0.1:`port` (0 for any free port).
    pub async fn start_on(port: u16) -> Self {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("smtp port");
        let addr = listener.local_addr().expect("smtp address");
        let collector = Collector::default();
        let received = collector.received.clone();
        let mut server = Server::new(collector);
        server
            .with_name("test.local")
            // One thread per connection, held while a client keeps its connection pooled:
            // enough for several instances of the server at once.
            .with_num_threads(32)
            .with_ssl(SslConfig::None)
            .expect("no TLS")
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { addr, received }
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
