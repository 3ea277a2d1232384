//! Helpers shared by the `slips_daemon_*` tests: real `roost` processes, each test in a
//! private network namespace, and readers for what roost publishes to Slips.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::fake_slips::{FakeSlips, VERSION};

#[path = "../support/netns.rs"]
mod netns;

/// True when the caller should run the test body here (inside a private namespace with only
/// `lo` up, or on the host when `unshare -rn` is unavailable); false when a child ran it.
pub fn in_private_netns(test_name: &str) -> bool {
    netns::enter(test_name, "ip link set lo up")
}

/// The roost binary under test.
pub fn roost_bin() -> &'static str {
    env!("CARGO_BIN_EXE_roost")
}

/// A running roost process; SIGKILLed when dropped if it is still running.
pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
    pub name: &'static str,
}

impl Daemon {
    /// Starts `roost` with `args` in `cwd`, stdout and stderr to files in `cwd/..`.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        cwd: &Path,
        env: &[(&str, &str)],
    ) -> Daemon {
        let logs = cwd.parent().unwrap_or(cwd);
        let out = std::fs::File::create(logs.join(format!("{name}.stdout"))).unwrap();
        let err = std::fs::File::create(logs.join(format!("{name}.stderr"))).unwrap();
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(cwd)
            .env_remove("ROOST_SLIPS_VERSION")
            .env_remove("ROOST_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().expect("start roost"),
            dir: cwd.to_path_buf(),
            name,
        }
    }

    /// A Pigeon-mode node started with Slips' argv on `redis_port`.
    pub fn pigeon(name: &'static str, cwd: &Path, port: u16, redis_port: u16) -> Daemon {
        let args: Vec<String> = [
            "-port",
            &port.to_string(),
            "-host",
            "127.0.0.1",
            "-key-file",
            "pigeon.keys",
            "--redis-db",
            &format!("localhost:{redis_port}"),
            "-redis-channel-pygo",
            "p2p_pygo",
            "-redis-channel-gopy",
            "p2p_gopy",
            "-slips-version",
            VERSION,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Daemon::spawn(name, Path::new(roost_bin()), &args, cwd, &[])
    }

    /// A native-mode node (`roost run`) with its own Redis (DB 0 and cache DB 1).
    pub fn native(name: &'static str, dir: &Path, redis_port: u16) -> Daemon {
        Daemon::native_with(name, dir, redis_port, "")
    }

    /// Where a native node started by [`Daemon::native_with`] writes `p2p_reports.log`.
    pub fn reports_log(dir: &Path) -> PathBuf {
        dir.join("slips_output/p2p_trust/p2p_reports.log")
    }

    /// A native-mode node with extra `[redis]` lines (e.g. `evidence_trust = 0.9`).
    pub fn native_with(
        name: &'static str,
        dir: &Path,
        redis_port: u16,
        extra_redis: &str,
    ) -> Daemon {
        let out = dir.join("slips_output");
        // The peers of these tests are seconds old: let them make evidence unless the test
        // says otherwise.
        let young = if extra_redis.contains("evidence_from_young") {
            ""
        } else {
            "evidence_from_young = true\n"
        };
        let toml = format!(
            "[net]\ninterface = \"127.0.0.1\"\n\n[redis]\nmode = \"native\"\nurl = \"redis://127.0.0.1:{redis_port}/0\"\ncache_url = \"redis://127.0.0.1:{redis_port}/1\"\n# One fresh peer is all these tests have; its reports carry little trust yet.\nblame_threshold = 0.05\nevidence_threshold = 0.05\n{young}slips_output_dir = \"{}\"\n{extra_redis}\n",
            out.display()
        );
        Daemon::with_config(name, dir, &toml)
    }

    /// `roost run --config <dir>/roost.toml --data-dir <dir>` with `toml` as the file, and
    /// Slips' version in the environment.
    pub fn with_config(name: &'static str, dir: &Path, toml: &str) -> Daemon {
        std::fs::create_dir_all(dir).unwrap();
        let cfg = dir.join("roost.toml");
        std::fs::write(&cfg, toml).unwrap();
        let args: Vec<String> = [
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
            dir.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Daemon::spawn(
            name,
            Path::new(roost_bin()),
            &args,
            dir,
            &[("ROOST_SLIPS_VERSION", VERSION)],
        )
    }

    /// Panics with the daemon's stderr if it has exited.
    pub fn assert_alive(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("{} exited with {st}: {}", self.name, self.stderr());
        }
    }

    /// What the daemon wrote to stderr so far.
    /// Everything the daemon logged: stderr, and stdout (where Pigeon mode logs, since Slips
    /// sends a Pigeon's stdout to its p2p.log).
    pub fn stderr(&self) -> String {
        let logs = self.dir.parent().unwrap_or(&self.dir);
        let read = |ext: &str| {
            std::fs::read_to_string(logs.join(format!("{}.{ext}", self.name))).unwrap_or_default()
        };
        read("stderr") + &read("stdout")
    }

    /// Sends `sig` and waits up to 10 s for the exit status.
    pub fn signal(&mut self, sig: i32) -> ExitStatus {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid, sig);
        }
        self.wait(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{} did not exit after signal {sig}", self.name))
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `roost <cmd> --json --data-dir <dir>` against this daemon, parsed.
    pub fn ctl(&self, cmd: &[&str]) -> Option<Value> {
        let out = Command::new(roost_bin())
            .args(cmd)
            .arg("--json")
            .arg("--data-dir")
            .arg(&self.dir)
            .env_remove("ROOST_DATA_DIR")
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Waits until the daemon has at least `n` active peers.
    pub fn wait_peers(&self, n: u64, timeout: Duration) -> bool {
        crate::fake_slips::wait_until(timeout, || {
            self.ctl(&["status"])
                .and_then(|s| s["peers_active"].as_u64())
                .is_some_and(|p| p >= n)
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One message roost published on `p2p_gopy`, decoded.
#[derive(Debug, Clone)]
pub struct Gopy {
    pub raw: Value,
    pub message_type: String,
    pub contents: Value,
    /// go_data only: the decoded peer message.
    pub peer_msg: Option<Value>,
}

impl Gopy {
    pub fn parse(text: &str) -> Gopy {
        let raw: Value = serde_json::from_str(text).expect("gopy payload is JSON");
        assert_eq!(
            raw["version"], VERSION,
            "every message carries the version: {text}"
        );
        let message_type = raw["message_type"].as_str().unwrap_or_default().to_owned();
        let contents = raw["message_contents"].clone();
        let peer_msg = contents["message"].as_str().map(|m| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(m)
                .expect("standard base64");
            serde_json::from_slice(&bytes).expect("peer message is JSON")
        });
        Gopy {
            raw,
            message_type,
            contents,
            peer_msg,
        }
    }

    pub fn reporter(&self) -> &str {
        self.contents["reporter"].as_str().unwrap_or_default()
    }

    /// A go_data from `reporter` whose peer message has this type and key.
    pub fn is_data(&self, reporter: &str, kind: &str, key: &str) -> bool {
        self.message_type == "go_data"
            && self.reporter() == reporter
            && self
                .peer_msg
                .as_ref()
                .is_some_and(|m| m["message_type"] == kind && m["key"] == key)
    }
}

/// Everything a fake Slips received, in order, parsed as gopy messages.
pub struct Inbox<'a> {
    pub fake: &'a FakeSlips,
    pub seen: Vec<Gopy>,
}

impl<'a> Inbox<'a> {
    pub fn new(fake: &'a FakeSlips) -> Self {
        Inbox {
            fake,
            seen: Vec::new(),
        }
    }

    /// Index (into `seen`) of the first message matching `pred`, waiting up to `timeout`.
    pub fn wait(&mut self, timeout: Duration, pred: impl Fn(&Gopy) -> bool) -> Option<usize> {
        if let Some(i) = self.seen.iter().position(&pred) {
            return Some(i);
        }
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(p) = self.fake.next(Duration::from_millis(100)) {
                self.seen.push(Gopy::parse(&p));
                if pred(self.seen.last().unwrap()) {
                    return Some(self.seen.len() - 1);
                }
            }
        }
        None
    }
}

/// The peer id at the end of a `multiAddress` value.
pub fn id_of_multiaddress(m: &str) -> String {
    m.rsplit_once("/p2p/")
        .map(|(_, id)| id.to_owned())
        .unwrap_or_default()
}

/// Waits for `multiAddress` in DB 0.
pub fn wait_multiaddress(fake: &FakeSlips, timeout: Duration) -> Option<String> {
    let mut v = None;
    crate::fake_slips::wait_until(timeout, || {
        v = fake.get("multiAddress");
        v.is_some()
    });
    v
}
