//! Shared harness for tests that run real `roost` processes: a private network namespace per
//! test, daemons with their own data directories, and the CLI with `--json`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod netns;

/// Runs the calling test inside a fresh network namespace with only `lo` up. Returns `true`
/// in the parent, which has already checked that the child ran the test and passed; the test
/// body must return at once. Returns `false` where the body should run.
pub fn in_own_netns(test_name: &str) -> bool {
    !netns::enter(test_name, "ip link set lo up")
}

/// Short timers so liveness tests take seconds, not minutes.
pub const FAST_CONFIG: &str = r#"
[timers]
announce_interval_ms = 1000
announce_jitter_ms = 200
ping_after_silence_ms = 700
probe_interval_ms = 2000
ping_timeout_ms = 300
inactive_after_ms = 2500
ask_deadline_ms = 2000
"#;

/// The roost binary built for this test run.
pub fn roost_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_roost"))
}

/// One running daemon with its own data directory. Killed when dropped.
pub struct Daemon {
    pub dir: PathBuf,
    pub child: Option<Child>,
    config: PathBuf,
}

impl Daemon {
    /// Starts `roost run` on `lo` in `dir` (created if needed) and waits until it answers.
    pub fn start(dir: &Path, config_text: &str) -> Daemon {
        std::fs::create_dir_all(dir).expect("data dir");
        let config = dir.join("test-config.toml");
        std::fs::write(&config, config_text).expect("config");
        let mut d = Daemon {
            dir: dir.to_path_buf(),
            child: None,
            config,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))
            .expect("log file");
        let child = Command::new(roost_bin())
            .args(["run", "--interface", "127.0.0.1", "--log-level", "debug"])
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn roost run");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.try_cli(&["status"]).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("roost exited early with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("roost did not answer within 10 s: {}", self.log());
    }

    /// The daemon's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// Runs a CLI command against this daemon with `--json`.
    pub fn try_cli(&self, args: &[&str]) -> Result<Value, String> {
        let out = Command::new(roost_bin())
            .args(args)
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--json")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }

    /// Like `try_cli`, panicking with the daemon log on failure.
    pub fn cli(&self, args: &[&str]) -> Value {
        self.try_cli(args)
            .unwrap_or_else(|e| panic!("roost {args:?} failed: {e}\n{}", self.log()))
    }

    /// This daemon's peer id.
    pub fn id(&self) -> String {
        self.cli(&["status"])["id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Peers in the given state.
    pub fn peers_in(&self, state: &str) -> Vec<String> {
        self.cli(&["peers"])
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|p| p["state"] == state)
            .filter_map(|p| p["id"].as_str().map(str::to_string))
            .collect()
    }

    /// Sends a signal to the daemon process.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// SIGKILL and reap, as a crash would.
    pub fn crash(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the daemon again on the same data directory.
    pub fn restart(&mut self) {
        self.crash();
        self.spawn();
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        // SAFETY: as above.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.crash();
    }
}

/// Polls `f` every 50 ms until it returns true or `limit` passes; returns the time it took.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if f() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
