//! Services of a test's own, for tests that disturb them: a broker (tansu, in memory) and a
//! Redis on free ports, started as child processes, paused, killed and started again by the
//! test; and the machine's PostgreSQL restarted in place (`pg_ctlcluster`). The shared
//! services other tests use are never touched, except PostgreSQL by [`restart_postgres`].

use crate::free_addr;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits until something accepts connections on `addr`, or panics after `within`.
pub fn wait_port(addr: &str, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {}", child.id());
}

/// The tansu binary: `TD_TEST_TANSU`, else `tansu` on the PATH, else `~/.cargo/bin/tansu`
/// (where `tansu_bin` in scripts/lib/services.sh installs it).
fn tansu() -> PathBuf {
    if let Some(p) = std::env::var_os("TD_TEST_TANSU").filter(|p| !p.is_empty()) {
        return p.into();
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("tansu");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let home = std::env::var_os("HOME").expect("HOME");
    PathBuf::from(home).join(".cargo/bin/tansu")
}

/// A tansu broker of the test's own, in memory, on a free loopback port.
pub struct Broker {
    child: Child,
    addr: String,
    paused: bool,
}

impl Broker {
    pub fn start() -> Self {
        let addr = free_addr();
        let url = format!("tcp://{addr}");
        let bin = tansu();
        let child = Command::new(&bin)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): run tansu_bin from scripts/lib/services.sh, or set \
                     TD_TEST_TANSU",
                    bin.display()
                )
            });
        wait_port(&addr, Duration::from_secs(15), "tansu");
        Self {
            child,
            addr,
            paused: false,
        }
    }

    /// `host:port`, for `bootstrap.servers`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Stops the broker's process (SIGSTOP): connections stay open and nothing answers.
    pub fn pause(&mut self) {
        signal(&self.child, "-STOP");
        self.paused = true;
    }

    /// Lets the paused broker run again (SIGCONT).
    pub fn resume(&mut self) {
        signal(&self.child, "-CONT");
        self.paused = false;
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.paused {
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A redis-server of the test's own on a free loopback port, without persistence: a
/// restart loses every stream, as a Redis without a volume does.
pub struct Redis {
    child: Option<Child>,
    addr: String,
}

impl Redis {
    pub fn start() -> Self {
        let mut redis = Self {
            child: None,
            addr: free_addr(),
        };
        redis.spawn();
        redis
    }

    fn spawn(&mut self) {
        let port = self.addr.rsplit_once(':').expect("host:port").1.to_owned();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run redis-server ({e}): run ensure_redis from scripts/lib/services.sh"
                )
            });
        self.child = Some(child);
        wait_port(&self.addr, Duration::from_secs(10), "redis-server");
    }

    /// `redis://host:port`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Kills the server (SIGKILL) and starts an empty one on the same port.
    pub fn restart(&mut self, down_for: Duration) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        std::thread::sleep(down_for);
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Restarts the machine's PostgreSQL cluster (`pg_ctlcluster <version> main restart`, the
/// newest version under /etc/postgresql) and waits until it accepts connections again.
/// Every connection of every process using it is cut.
pub fn restart_postgres() {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("PostgreSQL is installed as a Debian cluster (/etc/postgresql)")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .max_by_key(|v| v.parse::<u32>().unwrap_or(0))
        .expect("a PostgreSQL version");
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .stdin(Stdio::null())
        .status()
        .expect("run pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster {version} main restart");
    wait_port("127.0.0.1:5432", Duration::from_secs(30), "PostgreSQL");
}
