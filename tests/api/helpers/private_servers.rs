//! Servers a test runs itself, on a loopback port of its own, so that it may kill them and
//! start them again: a MariaDB (the database outage tests) and a Redis (the shared-store outage
//! tests). Each is killed when the test drops it, even by panic, and its files go with it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a private server may take to start (or to recover after a kill) on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A redis-server of the test's own, without persistence: what it held is lost when it stops.
pub struct OwnRedis(Child);

impl OwnRedis {
    /// Starts redis-server on `port` and waits until it accepts connections; `None` when
    /// redis-server is not installed.
    pub fn start(port: u16) -> Option<Self> {
        let started = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match started {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("redis-server does not start: {e}"),
        };
        let mut redis = Self(child);
        wait_until_listening(&mut redis.0, port, String::new);
        Some(redis)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A MariaDB server of the test's own: a data directory in a temporary directory, prepared
/// once, and a `mariadbd` on it that the test kills (SIGKILL, as a crash would) and restarts
/// on the same data. It trusts every client (`--skip-grant-tables`): it listens on loopback
/// only and lives as long as one test.
pub struct OwnMariaDb {
    server: Option<Child>,
    mariadbd: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
}

impl OwnMariaDb {
    /// Prepares a data directory and starts the server on `port`; when `mariadbd` or
    /// `mariadb-install-db` is not installed, the name of the missing one instead.
    pub fn start(port: u16) -> Result<Self, &'static str> {
        let server = installed("mariadbd").ok_or("mariadbd")?;
        let install = installed("mariadb-install-db").ok_or("mariadb-install-db")?;
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        let prepared = Command::new(install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--user=root", "--auth-root-authentication-method=normal"])
            .args(SMALL)
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            prepared.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&prepared.stdout),
            String::from_utf8_lossy(&prepared.stderr)
        );
        let mut mariadb = Self {
            server: None,
            mariadbd: server,
            port,
            dir,
        };
        mariadb.restart();
        Ok(mariadb)
    }

    /// The URL of `database` on this server, as root without a password.
    pub fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    /// Kills the server with SIGKILL, as a crash or the OOM killer would: no clean shutdown,
    /// and every connection to it breaks at once.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Starts the server (again) on the same port and data, and waits until it accepts
    /// connections; after a kill this includes InnoDB's crash recovery.
    pub fn restart(&mut self) {
        self.kill();
        let data = self.dir.path().join("data");
        let mut server = Command::new(&self.mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={}", self.port))
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("pid").display()
            ))
            .arg(format!("--log-error={}", self.log().display()))
            .args([
                "--user=root",
                "--bind-address=127.0.0.1",
                "--skip-grant-tables",
                "--skip-name-resolve",
            ])
            .args(SMALL)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        let log = self.log();
        wait_until_listening(&mut server, self.port, || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        self.server = Some(server);
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }
}

impl Drop for OwnMariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Options that keep a test's MariaDB small: the defaults preallocate over 100 MB.
const SMALL: [&str; 2] = ["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=4M"];

/// Where `name` is installed: on the PATH, or in an sbin directory (where Debian puts
/// `mariadbd`, often outside a user's PATH).
fn installed(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_file(candidate))
}

fn is_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file())
}

/// Waits until `port` accepts connections, or panics (with what `log` says) when `server`
/// exits first or does not listen within [`START_TIMEOUT`].
fn wait_until_listening(server: &mut Child, port: u16, log: impl Fn() -> String) {
    let deadline = Instant::now() + START_TIMEOUT;
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(status)) = server.try_wait() {
            panic!("the server on port {port} exited ({status}): {}", log());
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            let _ = server.wait();
            panic!(
                "nothing listens on port {port} after {START_TIMEOUT:?}: {}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
