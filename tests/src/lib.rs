//! Support for end-to-end tests: find the workspace's built binaries, start them as real
//! processes with settings from the environment, wait for their ports, stop them with
//! SIGTERM. The tests themselves are in `tests/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The path of a workspace binary built next to the running test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; `cargo build --workspace --bins` (or the test command) builds it",
        path.display()
    );
    path
}

/// A free port on loopback (bound, then released for the process under test).
pub fn free_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").to_string()
}

/// A running binary, killed if the test ends without stopping it.
pub struct Process {
    pub name: String,
    child: Option<Child>,
}

impl Process {
    pub fn start(name: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut command = Command::new(binary(name));
        command
            .args(args)
            .env("TD__TELEMETRY__LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
        }
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("process still owned")
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(mut self, within: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("process still owned");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.name);
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} did not stop within {within:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `url` until it answers 200, or panics after `within`.
pub async fn wait_ok(url: &str, within: Duration) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        if let Ok(response) = client.get(url).send().await {
            if response.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer 200 within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
