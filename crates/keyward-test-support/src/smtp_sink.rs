//! A real SMTP server for tests: `scripts/smtp-sink.py` (aiosmtpd), which writes every message it
//! accepts to `DIR/<n>.eml`. Stopped when dropped.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running SMTP sink.
pub struct SmtpSink {
    child: Child,
    dir: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl SmtpSink {
    /// Starts a plain SMTP sink on a free port writing to `dir`.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(free_port(), dir, &[])
    }

    /// Starts one on `port` with extra `smtp-sink.py` options (`--tls`, `--cert`, `--key`,
    /// `--delay`).
    pub fn start_with(port: u16, dir: &Path, extra: &[&str]) -> Self {
        Self::spawn(port, dir, extra, None)
    }

    /// Starts one on `port` that accepts mail only after SMTP AUTH as `user` with `password`
    /// and answers 535 to any other login (`--auth-user`). With `--tls starttls` among `extra`,
    /// it offers AUTH only after STARTTLS. The password goes to the script in its environment,
    /// not on its command line, where any process on the machine could read it.
    pub fn start_with_auth(
        port: u16,
        dir: &Path,
        extra: &[&str],
        user: &str,
        password: &str,
    ) -> Self {
        Self::spawn(port, dir, extra, Some((user, password)))
    }

    fn spawn(port: u16, dir: &Path, extra: &[&str], auth: Option<(&str, &str)>) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp-sink.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .args(extra);
        if let Some((user, password)) = auth {
            command
                .args(["--auth-user", user])
                .env("SMTP_SINK_PASSWORD", password);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the sink's first line");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Self {
            child,
            dir: dir.to_owned(),
            port,
        }
    }

    /// Every message received so far, in order of arrival.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("the sink's directory")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        // Numeric order of arrival: 10.eml comes after 9.eml.
        names.sort_by_key(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(u64::MAX)
        });
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
