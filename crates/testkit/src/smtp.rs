//! A real SMTP server for tests: aiosmtpd, run from `smtp_server.py` beside this crate with
//! the python in `TD_TEST_PYTHON`, else the virtualenv `ensure_aiosmtpd`
//! (scripts/lib/services.sh) makes, else `python3`. Each test starts its own server on a
//! free port; it stops when dropped (and when the test process dies: it exits once its
//! standard input closes).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TD_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return p.into();
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = Path::new(&home).join(".cache/ticket-distribution/venv/bin/python");
        if venv.exists() {
            return venv;
        }
    }
    "python3".into()
}

/// One aiosmtpd process and the directory it stores messages in.
pub struct SmtpServer {
    child: Option<(Child, ChildStdin)>,
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct Stored {
    pub queue_id: String,
    /// The bytes received after DATA.
    pub eml: Vec<u8>,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
}

impl SmtpServer {
    /// Starts a server on a free port. `args` as documented in `smtp_server.py`:
    /// `--reject REGEX`, `--tempfail N`, `--stall N`.
    pub fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self {
            child: None,
            port: 0,
            args: args.iter().map(|a| a.to_string()).collect(),
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp_server.py");
        let python = python();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(self.dir.path())
            .args(["--port", &self.port.to_string()])
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let Some(port) = line
            .strip_prefix("LISTENING ")
            .and_then(|p| p.trim().parse().ok())
        else {
            let _ = child.kill();
            let status = child.wait().ok();
            panic!(
                "the SMTP test server did not start ({status:?}, said {line:?}): it needs \
                 {} with the Python package aiosmtpd (run ensure_aiosmtpd from \
                 scripts/lib/services.sh, or set TD_TEST_PYTHON)",
                python.display()
            );
        };
        self.port = port;
        self.child = Some((child, stdin));
    }

    /// Kills the server at once, as a crash would: connections drop mid-conversation.
    pub fn stop(&mut self) {
        if let Some((mut child, _stdin)) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same store, without the failure
    /// options (`--tempfail`, `--stall`) it was started with; `--reject` stays.
    pub fn restart(&mut self) {
        self.stop();
        let mut kept = Vec::new();
        let mut args = self.args.iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--tempfail" | "--stall" => {
                    args.next();
                }
                _ => kept.push(a.clone()),
            }
        }
        self.args = kept;
        self.spawn();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far, in no particular order.
    pub fn stored(&self) -> Vec<Stored> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).expect("maildir") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("eml") {
                continue;
            }
            let queue_id = path
                .file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let envelope: serde_json::Value = serde_json::from_slice(
                &std::fs::read(path.with_extension("json")).expect("envelope file"),
            )
            .expect("envelope JSON");
            out.push(Stored {
                queue_id,
                eml: std::fs::read(&path).expect("message file"),
                mail_from: envelope["mail_from"].as_str().unwrap_or("").to_owned(),
                rcpt_tos: envelope["rcpt_tos"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            });
        }
        out
    }

    fn events(&self, kind: &str) -> Vec<serde_json::Value> {
        let log = std::fs::read_to_string(self.dir.path().join("events.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == kind)
            .collect()
    }

    /// Every RCPT TO address the server was given, accepted or not, in order.
    pub fn rcpt_attempts(&self) -> Vec<String> {
        self.events("rcpt")
            .iter()
            .filter_map(|e| e["address"].as_str().map(str::to_owned))
            .collect()
    }

    /// How many DATA commands the server was given, answered or not.
    pub fn data_attempts(&self) -> usize {
        self.events("data").len()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
