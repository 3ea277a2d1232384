//! Test harness: a real `redis-server` per test and a fake Slips that speaks Slips' side of
//! the Pigeon channels (publishes on `p2p_pygo` with `"version"`, listens on `p2p_gopy`).
//!
//! The fake Slips builds its JSON by hand, the way Python's `json.dumps` would, rather than
//! with roost's builders, so the tests check roost against Slips' format and not against
//! itself.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use crossbeam_channel::{Receiver, Sender};

/// The Slips version the tests pretend to run.
pub const VERSION: &str = "1.1.21";

/// A redis-server child on a free port, killed when dropped (even if the test panics).
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

impl RedisServer {
    /// Starts a server on a fresh free port and waits until it answers PING.
    pub fn start() -> RedisServer {
        let mut s = RedisServer {
            port: free_port(),
            child: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &self.port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (apt-get install redis-server)");
            self.child = Some(child);
            if self.wait_ping(Duration::from_secs(3)) {
                return;
            }
            // The port may still be held by the previous instance; try again.
            self.kill();
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_ping(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false; // exited (port busy)
            }
            if let Ok(mut c) = self.connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A fresh client connection (DB 0).
    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/0", self.port))?;
        let con = client.get_connection_with_timeout(Duration::from_secs(1))?;
        con.set_read_timeout(Some(Duration::from_secs(2)))?;
        Ok(con)
    }

    /// SIGKILLs the server (a crash, not a clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// How many clients are subscribed to `channel`.
    pub fn subscribers(&self, channel: &str) -> i64 {
        let Ok(mut c) = self.connection() else {
            return 0;
        };
        let r: redis::RedisResult<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(&mut c);
        r.map(|(_, n)| n).unwrap_or(0)
    }

    /// Waits until `channel` has at least `n` subscribers.
    pub fn wait_subscribers(&self, channel: &str, n: i64, timeout: Duration) -> bool {
        wait_until(timeout, || self.subscribers(channel) >= n)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Slips' side of the Pigeon channels.
pub struct FakeSlips {
    port: u16,
    pub pygo: String,
    pub gopy: String,
    /// Every (channel, payload) received on the listened channels, in order.
    pub received: Receiver<(String, String)>,
    stop: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
}

impl FakeSlips {
    /// Subscribes to `p2p_gopy` (resubscribing after Redis restarts, as redis-py would on the
    /// next `get_message`) and waits until the subscription is active.
    pub fn start(redis: &RedisServer) -> FakeSlips {
        Self::listening(redis, &["p2p_gopy"])
    }

    /// A fake Slips listening on the given channels (the first one is `gopy`).
    pub fn listening(redis: &RedisServer, channels: &[&str]) -> FakeSlips {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let port = redis.port;
        let chans: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
        let listener = {
            let stop = stop.clone();
            let chans = chans.clone();
            std::thread::spawn(move || listen(port, &chans, tx, &stop))
        };
        let f = FakeSlips {
            port,
            pygo: "p2p_pygo".into(),
            gopy: chans.first().cloned().unwrap_or_default(),
            received: rx,
            stop,
            listener: Some(listener),
        };
        for c in &chans {
            assert!(redis.wait_subscribers(c, 1, Duration::from_secs(5)));
        }
        f
    }

    fn connection(&self) -> redis::Connection {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}/0", self.port)).expect("url");
        client
            .get_connection_with_timeout(Duration::from_secs(1))
            .expect("fake Slips connects")
    }

    /// Publishes a raw payload on `p2p_pygo`; returns the number of receivers.
    pub fn publish_raw(&self, payload: impl AsRef<[u8]>) -> i64 {
        self.publish_on(&self.pygo, payload)
    }

    /// Publishes a raw payload on any channel; returns the number of receivers.
    pub fn publish_on(&self, channel: &str, payload: impl AsRef<[u8]>) -> i64 {
        let mut c = self.connection();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload.as_ref())
            .query(&mut c)
            .expect("publish")
    }

    /// Runs one command on database `db`.
    pub fn query<T: redis::FromRedisValue>(&self, db: i64, cmd: &mut redis::Cmd) -> T {
        let mut c = self.connection();
        redis::cmd("SELECT")
            .arg(db)
            .query::<()>(&mut c)
            .expect("select");
        cmd.query(&mut c).expect("query")
    }

    /// What Slips' `send_b64_to_go` publishes for a peer-message JSON text and recipient.
    pub fn pygo_payload(peer_json: &str, recipient: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(peer_json);
        format!(r#"{{"message": "{b64}", "recipient": "{recipient}", "version": "{VERSION}"}}"#)
    }

    /// Publishes a peer message the way Slips does.
    pub fn send(&self, peer_json: &str, recipient: &str) -> i64 {
        self.publish_raw(Self::pygo_payload(peer_json, recipient))
    }

    /// Next payload from the listened channels, or None after `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<String> {
        self.received.recv_timeout(timeout).ok().map(|(_, p)| p)
    }

    /// Next (channel, payload), or None after `timeout`.
    pub fn next_on(&self, timeout: Duration) -> Option<(String, String)> {
        self.received.recv_timeout(timeout).ok()
    }

    /// Reads a key from DB 0.
    pub fn get(&self, key: &str) -> Option<String> {
        let mut c = self.connection();
        redis::cmd("GET").arg(key).query(&mut c).ok()
    }
}

fn listen(port: u16, channels: &[String], tx: Sender<(String, String)>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/0")) else {
            return;
        };
        let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let mut ps = con.as_pubsub();
        if channels.iter().any(|c| ps.subscribe(c).is_err())
            || ps
                .set_read_timeout(Some(Duration::from_millis(100)))
                .is_err()
        {
            continue;
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match ps.get_message() {
                Ok(m) => {
                    let payload = String::from_utf8_lossy(m.get_payload_bytes()).into_owned();
                    let _ = tx.send((m.get_channel_name().to_owned(), payload));
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
        }
    }
}

impl Drop for FakeSlips {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.listener.take() {
            let _ = h.join();
        }
    }
}

/// Python's `json.dumps(build_go_message("request", "ip", ip, "score_confidence"))`.
pub fn request_json(ip: &str) -> String {
    format!(
        r#"{{"message_type": "request", "key_type": "ip", "key": "{ip}", "evaluation_type": "score_confidence"}}"#
    )
}

/// Python's `json.dumps` of a report message with a score/confidence evaluation.
pub fn report_json(ip: &str, score: &str, confidence: &str) -> String {
    format!(
        r#"{{"message_type": "report", "key_type": "ip", "key": "{ip}", "evaluation_type": "score_confidence", "evaluation": {{"score": {score}, "confidence": {confidence}}}}}"#
    )
}

/// Extracts `"<field>":<integer>` from compact JSON, for the timestamps the relay fills in.
pub fn int_field(json: &str, field: &str) -> Option<u64> {
    let pat = format!("\"{field}\":");
    let start = json.find(&pat)? + pat.len();
    let digits: String = json[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// Unix time now, in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
