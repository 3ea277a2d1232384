//! Three roost daemons on three "hosts": network namespaces joined by a Linux bridge.
//!
//! Each test builds its own lab: a bridge namespace holding `br0`, and one namespace per host
//! with a veth pair into the bridge and an address in 10.77.0.0/24. Those addresses exist only
//! inside the namespaces this file creates; nothing is routed to or from the host. Each host
//! runs a real `roost run` bound to its veth; the test drives the daemons with the real `roost`
//! CLI over their control sockets, which are plain files reachable from the host.
//!
//! Faults are injected with nftables inside a host's namespace: a drop-everything table cuts a
//! host off, a `numgen random` rule drops a share of every datagram. The kernel here has no
//! `tc netem`, so delay and reordering are the simulator's business (`sim/`), not this file's.
//!
//! Needs root (network namespaces), `ip` and `nft`. Without them the tests fail with a clear
//! message: a silent pass would hide that nothing was tested.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Short timers so that discovery, loss of a peer and its return take seconds, not minutes.
/// Inactive after ~6 missed beacons, so 20 % random loss does not flap a peer.
const CONFIG: &str = r#"
network = "multihost"
[net]
port = 47901
[timers]
announce_interval_ms = 300
announce_jitter_ms = 100
ping_after_silence_ms = 900
ping_timeout_ms = 300
inactive_after_ms = 2000
ask_deadline_ms = 1000
ask_cache_ms = 0
[log]
file = ""
"#;

/// Upper bound for any single wait in these tests.
const WAIT: Duration = Duration::from_secs(15);

static LAB_SEQ: AtomicUsize = AtomicUsize::new(0);

fn require_root_and_tools() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "tests/multihost.rs needs root to create network namespaces (euid is {euid}); \
         run it as root (CI does) or with `sudo -E cargo test --test multihost`"
    );
    for tool in ["ip", "nft"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(
            found,
            "tests/multihost.rs needs `{tool}` (iproute2 / nftables) on PATH"
        );
    }
}

/// Runs a command and fails the test with its stderr if it does not succeed.
fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Loads an nftables ruleset into a namespace.
fn nft_in(ns: &str, rules: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nft");
    child
        .stdin
        .take()
        .expect("nft stdin")
        .write_all(rules.as_bytes())
        .expect("write nft rules");
    let out = child.wait_with_output().expect("wait for nft");
    assert!(
        out.status.success(),
        "nft in {ns} failed: {}\nrules:\n{rules}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One host of the lab: its namespace, daemon and data directory.
struct Host {
    name: &'static str,
    ns: String,
    dir: PathBuf,
    log: PathBuf,
    id: String,
}

/// The namespaces and daemons of one test. Dropping it kills every daemon and deletes every
/// namespace, also when the test panics (then the daemons' logs are printed first).
struct Lab {
    namespaces: Vec<String>,
    children: Vec<Child>,
    hosts: Vec<Host>,
    _tmp: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for h in &self.hosts {
                let log = std::fs::read_to_string(&h.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("---- last log lines of host {} ({}):", h.name, h.id);
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Lab {
    /// Builds the bridge and one namespace per host. `before_start` runs for each host
    /// namespace before its daemon starts (e.g. to install a loss rule).
    fn new(hosts: &[&'static str], before_start: impl Fn(&str)) -> Lab {
        require_root_and_tools();
        let tag = format!(
            "rmh{}-{}",
            std::process::id(),
            LAB_SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = tmp.path().join("roost.toml");
        std::fs::write(&config, CONFIG).expect("write config");
        let mut lab = Lab {
            namespaces: Vec::new(),
            children: Vec::new(),
            hosts: Vec::new(),
            _tmp: tmp,
        };

        let br = format!("{tag}-br");
        ip(&["netns", "add", &br]);
        lab.namespaces.push(br.clone());
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"]);
        // Without an IGMP querier, snooping could stop flooding the group: flood it always.
        ip(&[
            "-n",
            &br,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &br, "link", "set", "br0", "up"]);

        for (i, &name) in hosts.iter().enumerate() {
            let ns = format!("{tag}-{name}");
            ip(&["netns", "add", &ns]);
            lab.namespaces.push(ns.clone());
            let inside = format!("v{name}");
            let port = format!("p{name}");
            // Both ends are created directly inside their namespaces: nothing on the host.
            ip(&[
                "link", "add", &inside, "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &br,
            ]);
            ip(&["-n", &br, "link", "set", &port, "master", "br0", "up"]);
            let addr = format!("10.77.0.{}/24", i + 1);
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &inside]);
            ip(&["-n", &ns, "link", "set", &inside, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            before_start(&ns);

            let dir = lab._tmp.path().join(name);
            let log = lab._tmp.path().join(format!("{name}.log"));
            let log_file = std::fs::File::create(&log).expect("create log");
            let child = Command::new("ip")
                .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_roost"), "run"])
                .arg("--config")
                .arg(&config)
                .arg("--data-dir")
                .arg(&dir)
                .args(["--interface", &inside])
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .expect("spawn roost");
            lab.children.push(child);
            lab.hosts.push(Host {
                name,
                ns,
                dir,
                log,
                id: String::new(),
            });
        }
        for host in &mut lab.hosts {
            let dir = host.dir.clone();
            let status = wait_for(&format!("daemon {} to answer", host.name), || {
                cli_json(&dir, &["status"]).ok()
            });
            host.id = status["id"].as_str().expect("status.id").to_string();
        }
        lab
    }

    fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    /// The state ("active"/"inactive") in which `viewer` sees `seen`, if it knows it at all.
    fn state(&self, viewer: &str, seen: &str) -> Option<String> {
        let want = &self.host(seen).id;
        let peers = cli_json(&self.host(viewer).dir, &["peers"]).ok()?;
        peers
            .as_array()?
            .iter()
            .find(|p| p["id"].as_str() == Some(want))
            .and_then(|p| p["state"].as_str().map(str::to_string))
    }

    /// Waits until every host sees every other host in `state`.
    fn wait_all(&self, viewers: &[&str], seen: &[&str], state: &str) {
        wait_for(&format!("{viewers:?} to see {seen:?} {state}"), || {
            let ok = viewers.iter().all(|v| {
                seen.iter()
                    .filter(|s| *s != v)
                    .all(|s| self.state(v, s).as_deref() == Some(state))
            });
            ok.then_some(())
        });
    }

    fn report(&self, name: &str, ioc: &str, threat: &str, confidence: &str) {
        let v = cli_json(
            &self.host(name).dir,
            &[
                "report",
                ioc,
                "--threat",
                threat,
                "--confidence",
                confidence,
            ],
        )
        .unwrap_or_else(|e| panic!("report on {name}: {e}"));
        assert_eq!(v["sent"], true, "report on {name}: {v}");
    }

    fn ask(&self, name: &str, ioc: &str) -> Value {
        cli_json(&self.host(name).dir, &["ask", ioc])
            .unwrap_or_else(|e| panic!("ask on {name}: {e}"))
    }

    /// The peers whose answer to `ask` carried data, with their threat score.
    fn answers(&self, ask: &Value) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = ask["answers"]
            .as_array()
            .unwrap_or_else(|| panic!("ask without answers array: {ask}"))
            .iter()
            .map(|a| {
                let id = a["peer"].as_str().expect("answer.peer");
                let name = self
                    .hosts
                    .iter()
                    .find(|h| h.id == id)
                    .map_or(id.to_string(), |h| h.name.to_string());
                (name, a["threat"].as_f64().expect("answer.threat"))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Runs `roost CMD --data-dir DIR --json` from the host and parses its reply.
fn cli_json(dir: &Path, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .arg("--json")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const ALL: [&str; 3] = ["a", "b", "c"];

#[test]
fn three_hosts_discover_each_other_and_answer_asks() {
    let lab = Lab::new(&ALL, |_| {});
    lab.wait_all(&ALL, &ALL, "active");
    for h in ALL {
        let s = cli_json(&lab.host(h).dir, &["status"]).expect("status");
        assert_eq!(s["peers_active"], 2, "status of {h}: {s}");
    }

    lab.report("b", "203.0.113.7", "0.9", "0.8");
    lab.report("c", "203.0.113.7", "0.3", "0.6");
    let ask = lab.ask("a", "203.0.113.7");
    assert_eq!(ask["asked"], 2, "{ask}");
    assert_eq!(ask["answered"], 2, "{ask}");
    assert_eq!(
        lab.answers(&ask),
        vec![("b".to_string(), 0.9), ("c".to_string(), 0.3)],
        "{ask}"
    );
    let threat = ask["threat"].as_f64().expect("aggregated threat");
    assert!((0.3..=0.9).contains(&threat), "{ask}");
}

#[test]
fn a_cut_off_host_goes_inactive_and_comes_back() {
    let lab = Lab::new(&ALL, |_| {});
    lab.wait_all(&ALL, &ALL, "active");

    // Cut c off: drop everything in and out of its namespace (its sends then get EPERM).
    let c_ns = lab.host("c").ns.clone();
    nft_in(
        &c_ns,
        "table inet roostcut {\n\
           chain in { type filter hook input priority 0; policy drop; }\n\
           chain out { type filter hook output priority 0; policy drop; }\n\
         }\n",
    );
    let cut_at = Instant::now();
    lab.wait_all(&["a", "b"], &["c"], "inactive");
    eprintln!("c seen inactive by a and b after {:?}", cut_at.elapsed());
    assert_eq!(lab.state("a", "b").as_deref(), Some("active"));
    assert_eq!(lab.state("b", "a").as_deref(), Some("active"));
    // c's report is lost on the way out: a can only learn it by asking c once it is back.
    lab.report("c", "198.51.100.9", "0.8", "0.9");
    lab.report("b", "198.51.100.9", "0.6", "0.7");
    let ask = lab.ask("a", "198.51.100.9");
    assert_eq!(
        ask["asked"], 1,
        "only b should be asked while c is cut off: {ask}"
    );
    assert_eq!(lab.answers(&ask), vec![("b".to_string(), 0.6)], "{ask}");

    run(Command::new("ip").args([
        "netns", "exec", &c_ns, "nft", "delete", "table", "inet", "roostcut",
    ]));
    let back_at = Instant::now();
    lab.wait_all(&ALL, &ALL, "active");
    eprintln!("c seen active again after {:?}", back_at.elapsed());
    let ask = lab.ask("a", "198.51.100.9");
    assert_eq!(ask["asked"], 2, "{ask}");
    assert_eq!(
        lab.answers(&ask),
        vec![("b".to_string(), 0.6), ("c".to_string(), 0.8)],
        "{ask}"
    );
}

/// Packets the loss rule of a namespace has dropped so far.
fn dropped_by_loss_rule(ns: &str) -> u64 {
    let out = run(Command::new("ip").args([
        "netns",
        "exec",
        ns,
        "nft",
        "list",
        "chain",
        "inet",
        "roostloss",
        "in",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in:\n{text}"))
}

#[test]
fn twenty_percent_random_loss_breaks_neither_discovery_nor_asks() {
    let lab = Lab::new(&ALL, |ns| {
        nft_in(
            ns,
            "table inet roostloss {\n\
               chain in { type filter hook input priority 0; policy accept;\n\
                 meta l4proto udp numgen random mod 100 < 20 counter drop\n\
               }\n\
             }\n",
        );
    });
    lab.wait_all(&ALL, &ALL, "active");

    lab.report("b", "192.0.2.44", "0.95", "0.9");
    lab.report("c", "192.0.2.44", "0.85", "0.8");
    // Each ask or answer may be lost; a few asks must between them hear both b and c, and
    // every answer that arrives must carry the data its peer holds.
    let mut heard: Vec<String> = Vec::new();
    let mut asks = 0;
    while asks < 8 && heard.len() < 2 {
        asks += 1;
        let ask = lab.ask("a", "192.0.2.44");
        for (peer, threat) in lab.answers(&ask) {
            let expected = if peer == "b" { 0.95 } else { 0.85 };
            assert_eq!(threat, expected, "answer from {peer}: {ask}");
            if !heard.contains(&peer) {
                heard.push(peer);
            }
        }
    }
    heard.sort();
    assert_eq!(heard, ["b", "c"], "after {asks} asks under 20 % loss");
    eprintln!("both peers answered within {asks} asks");

    // Longer than inactive_after_ms under loss: nobody may have dropped out meanwhile.
    std::thread::sleep(Duration::from_millis(2500));
    for h in ALL {
        for other in ALL.iter().filter(|o| **o != h) {
            assert_eq!(
                lab.state(h, other).as_deref(),
                Some("active"),
                "{h} lost sight of {other} under 20 % loss"
            );
        }
    }
    // The rule really dropped traffic (each namespace alone may see only a few dozen packets).
    let dropped: u64 = ALL
        .iter()
        .map(|h| dropped_by_loss_rule(&lab.host(h).ns))
        .sum();
    eprintln!("the loss rules dropped {dropped} packets");
    assert!(dropped > 0, "the loss rules dropped nothing");
}
