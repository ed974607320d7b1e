//! A built `keyward-server` run as a child process for end-to-end tests.

// Each test file includes this module and uses part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use keyward_test_support::bin_path;

/// A `keyward-server` child process on a free loopback port.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Server {
    /// A server left running would hold the test's output pipes open and hang the runner.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(db_url: &str) -> Self {
        Self::start_with_env(db_url, &[])
    }

    /// [`Server::start`] with more environment variables (settings as `KEYWARD_*`).
    pub fn start_with_env(db_url: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(bin_path("keyward-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--database-url",
                db_url,
            ])
            .env_remove("KEYWARD_CONFIG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start keyward-server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr: String = rest
                        .chars()
                        .take_while(|c| *c != '"' && !c.is_whitespace())
                        .collect();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_mins(1))
            .expect("the server prints its address within 60 s");
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = self.terminate_inner();
        std::mem::forget(self);
        status
    }

    fn terminate_inner(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill().ok();
        panic!("keyward-server did not stop within 10 s of SIGTERM");
    }
}
