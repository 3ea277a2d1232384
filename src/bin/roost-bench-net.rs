//! `cargo run --release --bin roost-bench-net [-- --asks N --peers N --idle-secs N]`
//!
//! Measures, with real `roost` daemons, the figures issue 3 asks for and prints them as one
//! table against their targets:
//!
//! - ask round trip: 10 daemons on loopback, 9 of which hold a report for the asked IoC; the
//!   10th is asked N times through its control socket (the same path `roost ask` and Slips
//!   take). p50/p99 of the wall time per ask, compared with the fixed 2 s Slips waits today.
//! - idle cost: one daemon that knows `--peers` live peers (that many more real `roost`
//!   processes with the default timers, i.e. real beacons every ~30 s, not rows in a
//!   database). After discovery settles, its utime+stime over `--idle-secs` (default 30, one
//!   full beacon period, so every peer's beacon lands in the window) and its VmRSS.
//! - size of the stripped release binary `target/release/roost`.
//!
//! The whole run happens in a fresh network namespace (`unshare -rn`, root or rootless), so no
//! datagram reaches a real network and other roost processes on this machine cannot interfere.
//! Timing figures belong here rather than in tests (house rule): nothing here asserts a speed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use roost::control::{client, ControlRequest, ControlResponse};
use serde_json::Value;

/// Set in the environment of the re-executed bench inside its namespace: the roost binary.
const INNER_ENV: &str = "ROOST_BENCH_NET_ROOST";
/// What Slips' P2P module waits today before reading the answers to a query.
const SLIPS_WAIT_MS: f64 = 2000.0;
/// Targets of issue 3.
const TARGET_RSS_MB: f64 = 10.0;
const TARGET_CPU_PCT: f64 = 1.0;
const TARGET_SIZE_MB: f64 = 5.0;
/// Daemons in the latency run (one asks, the others answer).
const LATENCY_NODES: usize = 10;
const IOC: &str = "203.0.113.50";
const CALL: Duration = Duration::from_secs(10);

/// Why the bench could not produce its table.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    /// A command, file or daemon misbehaved; the message says which.
    #[error("{0}")]
    Setup(String),
}

fn setup(msg: impl Into<String>) -> BenchError {
    BenchError::Setup(msg.into())
}

/// Command-line knobs, with defaults that keep one run around a minute.
struct Opts {
    asks: usize,
    peers: usize,
    idle_secs: u64,
}

fn parse_opts() -> Result<Opts, BenchError> {
    let mut o = Opts {
        asks: 200,
        peers: 100,
        idle_secs: 30,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let val = args
            .next()
            .ok_or_else(|| setup(format!("{flag} needs a value")))?;
        let n: u64 = val
            .parse()
            .map_err(|_| setup(format!("{flag}: {val:?} is not a number")))?;
        match flag.as_str() {
            "--asks" => o.asks = n.max(1) as usize,
            "--peers" => o.peers = n as usize,
            "--idle-secs" => o.idle_secs = n.max(1),
            _ => {
                return Err(setup(format!(
                    "unknown flag {flag} (--asks, --peers, --idle-secs)"
                )))
            }
        }
    }
    Ok(o)
}

/// The release `roost` next to this binary, (re)built first when run through cargo.
fn roost_binary() -> Result<PathBuf, BenchError> {
    let me = std::env::current_exe().map_err(|e| setup(format!("current exe: {e}")))?;
    let dir = me
        .parent()
        .ok_or_else(|| setup("current exe has no directory"))?;
    if let Some(cargo) = std::env::var_os("CARGO") {
        let release = dir.ends_with("release");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--bin", "roost"]);
        if release {
            cmd.arg("--release");
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        if !ok {
            return Err(setup("cargo build --bin roost failed"));
        }
    }
    let roost = dir.join("roost");
    if !roost.is_file() {
        return Err(setup(format!(
            "{} not found: run `cargo build --release --bin roost` first",
            roost.display()
        )));
    }
    Ok(roost)
}

/// A daemon started by the bench; killed when dropped.
struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(roost: &Path, config: &Path, dir: PathBuf) -> Result<Daemon, BenchError> {
        std::fs::create_dir_all(&dir).map_err(|e| setup(format!("{}: {e}", dir.display())))?;
        let log = std::fs::File::create(dir.join("stderr.log"))
            .map_err(|e| setup(format!("log file: {e}")))?;
        let child = Command::new(roost)
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(&dir)
            .args(["--interface", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| setup(format!("spawn {}: {e}", roost.display())))?;
        Ok(Daemon { child, dir })
    }

    fn call(&self, req: &ControlRequest) -> Result<Value, BenchError> {
        match client::call(&self.dir, req, CALL) {
            Ok(ControlResponse::Ok(v)) => Ok(v),
            Ok(ControlResponse::Err { message }) => Err(setup(message)),
            Err(e) => Err(setup(e.to_string())),
        }
    }

    fn wait_ready(&self) -> Result<(), BenchError> {
        wait_for(
            "a daemon to open its control socket",
            Duration::from_secs(20),
            || self.call(&ControlRequest::Status).ok().map(|_| ()),
        )
    }

    fn wait_active_peers(&self, n: u64, limit: Duration) -> Result<(), BenchError> {
        wait_for(&format!("{n} active peers"), limit, || {
            let s = self.call(&ControlRequest::Status).ok()?;
            (s["peers_active"].as_u64()? >= n).then_some(())
        })
    }
}

fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T, BenchError> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > limit {
            return Err(setup(format!(
                "timed out after {limit:?} waiting for {what}"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The bench's scratch directory, removed at the end.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_config(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|e| setup(format!("{}: {e}", path.display())))
}

/// The q-quantile (nearest rank) of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

/// Results of the ask round-trip run.
struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    daemon_p50_ms: f64,
    asks: usize,
    complete: usize,
    answerers: usize,
    cached: u64,
}

fn latency_run(roost: &Path, scratch: &Path, asks: usize) -> Result<Latency, BenchError> {
    let config = scratch.join("latency.toml");
    write_config(
        &config,
        "network = \"bench-latency\"\n[net]\nport = 47951\n\
         [timers]\nannounce_interval_ms = 1000\nannounce_jitter_ms = 200\n\
         ask_deadline_ms = 2000\nask_cache_ms = 0\n[log]\nlevel = \"warn\"\nfile = \"\"\n",
    )?;
    let mut nodes = Vec::new();
    for i in 0..LATENCY_NODES {
        nodes.push(Daemon::start(
            roost,
            &config,
            scratch.join(format!("lat{i}")),
        )?);
    }
    for n in &nodes {
        n.wait_ready()?;
    }
    let (asker, answerers) = nodes
        .split_first()
        .ok_or_else(|| setup("no latency nodes"))?;
    for n in answerers {
        n.call(&ControlRequest::Report {
            ioc: IOC.into(),
            threat: 0.8,
            confidence: 0.9,
        })?;
    }
    asker.wait_active_peers(answerers.len() as u64, Duration::from_secs(20))?;
    let ask = ControlRequest::Ask { ioc: IOC.into() };
    for _ in 0..5 {
        asker.call(&ask)?;
    }
    let cached0 = counter(asker, "asks_cached")?;
    let mut wall = Vec::with_capacity(asks);
    let mut daemon = Vec::with_capacity(asks);
    let mut complete = 0;
    for _ in 0..asks {
        let t = Instant::now();
        let v = asker.call(&ask)?;
        wall.push(t.elapsed().as_secs_f64() * 1000.0);
        daemon.push(v["elapsed_ms"].as_f64().unwrap_or(f64::NAN));
        let with_data = v["answers"].as_array().map_or(0, Vec::len);
        if with_data == answerers.len() {
            complete += 1;
        }
    }
    let cached = counter(asker, "asks_cached")?.saturating_sub(cached0);
    wall.sort_by(f64::total_cmp);
    daemon.sort_by(f64::total_cmp);
    Ok(Latency {
        p50_ms: quantile(&wall, 0.5),
        p99_ms: quantile(&wall, 0.99),
        max_ms: wall.last().copied().unwrap_or(f64::NAN),
        daemon_p50_ms: quantile(&daemon, 0.5),
        asks,
        complete,
        answerers: answerers.len(),
        cached,
    })
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| setup(format!("/proc/{pid}/stat: {e}")))?;
    // Fields after the command name (which may hold spaces) start at field 3 ("state").
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| setup("malformed /proc stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, BenchError> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| setup("malformed /proc stat"))
    };
    // utime is field 14 and stime field 15 of the full line: 11 and 12 after "state".
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(total / if hz > 0 { hz as f64 } else { 100.0 })
}

/// A `VmXXX:` line of /proc/PID/status, in MB.
fn vm_mb(pid: u32, key: &str) -> Result<f64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| setup(format!("/proc/{pid}/status: {e}")))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .ok_or_else(|| setup(format!("no {key} in /proc/{pid}/status")))
}

/// Results of the idle run.
struct Idle {
    peers_active: u64,
    rss_mb: f64,
    hwm_mb: f64,
    cpu_pct: f64,
    cpu_ms: f64,
    secs: u64,
    peer_rss_mean_mb: f64,
    discovery_s: f64,
    settle_s: f64,
    datagrams_in_window: u64,
    drops: String,
}

fn idle_run(roost: &Path, scratch: &Path, peers: usize, secs: u64) -> Result<Idle, BenchError> {
    let config = scratch.join("idle.toml");
    // Default timers: this is what an idle deployment does.
    write_config(
        &config,
        "network = \"bench-idle\"\n[net]\nport = 47952\n[log]\nlevel = \"warn\"\nfile = \"\"\n",
    )?;
    let measured = Daemon::start(roost, &config, scratch.join("idle-measured"))?;
    measured.wait_ready()?;
    let start = Instant::now();
    let mut others = Vec::with_capacity(peers);
    for i in 0..peers {
        others.push(Daemon::start(
            roost,
            &config,
            scratch.join(format!("idle{i}")),
        )?);
    }
    measured.wait_active_peers(peers as u64, Duration::from_secs(120))?;
    let discovery_s = start.elapsed().as_secs_f64();
    // Let the start-up announces, their replies and the peers' own discovery die down: wait
    // until the daemon receives no more than a few datagrams per second (steady state is
    // one beacon per peer per ~30 s).
    let calm = (peers as u64 / 10).max(3);
    let settle_start = Instant::now();
    let mut last = datagrams_in(&measured)?;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = datagrams_in(&measured)?;
        if now.saturating_sub(last) <= calm || settle_start.elapsed() > Duration::from_secs(60) {
            break;
        }
        last = now;
    }
    let settle_s = settle_start.elapsed().as_secs_f64();
    let pid = measured.child.id();
    let in0 = datagrams_in(&measured)?;
    let cpu0 = cpu_seconds(pid)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let cpu1 = cpu_seconds(pid)?;
    let wall = t0.elapsed().as_secs_f64();
    let in1 = datagrams_in(&measured)?;
    let status = measured.call(&ControlRequest::Status)?;
    let mut peer_rss = 0.0;
    for o in &others {
        peer_rss += vm_mb(o.child.id(), "VmRSS:")?;
    }
    Ok(Idle {
        peers_active: status["peers_active"].as_u64().unwrap_or(0),
        rss_mb: vm_mb(pid, "VmRSS:")?,
        hwm_mb: vm_mb(pid, "VmHWM:")?,
        cpu_pct: (cpu1 - cpu0) / wall * 100.0,
        cpu_ms: (cpu1 - cpu0) * 1000.0,
        secs,
        peer_rss_mean_mb: peer_rss / peers.max(1) as f64,
        discovery_s,
        settle_s,
        datagrams_in_window: in1.saturating_sub(in0),
        drops: status["counters"]["drops"].to_string(),
    })
}

/// One counter of the daemon's status.
fn counter(d: &Daemon, name: &str) -> Result<u64, BenchError> {
    d.call(&ControlRequest::Status)?["counters"][name]
        .as_u64()
        .ok_or_else(|| setup(format!("status without counters.{name}")))
}

/// Datagrams the daemon has received so far.
fn datagrams_in(d: &Daemon) -> Result<u64, BenchError> {
    counter(d, "datagrams_in")
}

fn row(metric: &str, measured: String, target: &str, ratio: String) {
    println!("{metric:<44} {measured:>14} {target:>18} {ratio:>16}");
}

fn inner(roost: &Path, opts: &Opts) -> Result<(), BenchError> {
    let lo = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !lo {
        return Err(setup(
            "`ip link set lo up` failed inside the bench namespace",
        ));
    }
    let scratch =
        Scratch(std::env::temp_dir().join(format!("roost-bench-net-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).map_err(|e| setup(format!("scratch dir: {e}")))?;
    let size_mb = std::fs::metadata(roost)
        .map_err(|e| setup(format!("{}: {e}", roost.display())))?
        .len() as f64
        / 1_048_576.0;

    eprintln!(
        "latency: {LATENCY_NODES} daemons on loopback, {} asks ...",
        opts.asks
    );
    let lat = latency_run(roost, &scratch.0, opts.asks)?;
    eprintln!(
        "idle: 1 daemon + {} peers, {} s idle window ...",
        opts.peers, opts.idle_secs
    );
    let idle = idle_run(roost, &scratch.0, opts.peers, opts.idle_secs)?;

    println!();
    println!(
        "roost-bench-net (own network namespace, loopback multicast, {} binary)",
        roost.display()
    );
    row(
        "metric",
        "measured".into(),
        "target",
        "measured/target".into(),
    );
    println!("{}", "-".repeat(95));
    row(
        &format!("ask round trip p50 ({} answer with data)", lat.answerers),
        format!("{:.2} ms", lat.p50_ms),
        "2000 ms (Slips)",
        format!(
            "{:.5} ({:.0}x less)",
            lat.p50_ms / SLIPS_WAIT_MS,
            SLIPS_WAIT_MS / lat.p50_ms
        ),
    );
    row(
        "ask round trip p99",
        format!("{:.2} ms", lat.p99_ms),
        "2000 ms (Slips)",
        format!(
            "{:.5} ({:.0}x less)",
            lat.p99_ms / SLIPS_WAIT_MS,
            SLIPS_WAIT_MS / lat.p99_ms
        ),
    );
    row(
        "ask round trip max",
        format!("{:.2} ms", lat.max_ms),
        "",
        String::new(),
    );
    row(
        "ask p50 as timed by the daemon (elapsed_ms)",
        format!("{:.0} ms", lat.daemon_p50_ms),
        "",
        String::new(),
    );
    row(
        "asks with every answer carrying data",
        format!("{}/{}", lat.complete, lat.asks),
        "",
        String::new(),
    );
    row(
        "asks answered from the cache (must be 0)",
        format!("{}", lat.cached),
        "",
        String::new(),
    );
    row(
        &format!(
            "idle VmRSS, daemon knowing {} live peers",
            idle.peers_active
        ),
        format!("{:.2} MB", idle.rss_mb),
        &format!("{TARGET_RSS_MB} MB"),
        format!("{:.2}", idle.rss_mb / TARGET_RSS_MB),
    );
    row(
        "idle VmHWM (peak RSS) of that daemon",
        format!("{:.2} MB", idle.hwm_mb),
        "",
        String::new(),
    );
    row(
        &format!("idle CPU (utime+stime over {} s)", idle.secs),
        format!("{:.3} % ({:.0} ms)", idle.cpu_pct, idle.cpu_ms),
        &format!("{TARGET_CPU_PCT} %"),
        format!("{:.3}", idle.cpu_pct / TARGET_CPU_PCT),
    );
    row(
        "mean VmRSS of the peer daemons",
        format!("{:.2} MB", idle.peer_rss_mean_mb),
        "",
        String::new(),
    );
    row(
        &format!("time until all {} peers active", opts.peers),
        format!("{:.1} s", idle.discovery_s),
        "",
        String::new(),
    );
    row(
        "settling after that (start-up traffic)",
        format!("{:.1} s", idle.settle_s),
        "",
        String::new(),
    );
    row(
        "datagrams received in the idle window",
        format!("{}", idle.datagrams_in_window),
        "",
        String::new(),
    );
    println!("drops counted by the idle daemon: {}", idle.drops);
    row(
        "release binary size (stripped)",
        format!("{size_mb:.2} MB"),
        &format!("{TARGET_SIZE_MB} MB"),
        format!("{:.2}", size_mb / TARGET_SIZE_MB),
    );
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_opts().and_then(|opts| match std::env::var_os(INNER_ENV) {
        Some(roost) => inner(Path::new(&roost), &opts),
        None => {
            // Re-run this binary in a network namespace of its own.
            let roost = roost_binary()?;
            let me = std::env::current_exe().map_err(|e| setup(format!("current exe: {e}")))?;
            let status = Command::new("unshare")
                .arg("-rn")
                .arg(me)
                .args(std::env::args().skip(1))
                .env(INNER_ENV, &roost)
                .status()
                .map_err(|e| setup(format!("cannot run unshare -rn: {e}")))?;
            if status.success() {
                Ok(())
            } else {
                Err(setup(format!("bench in its namespace failed ({status})")))
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roost-bench-net: {e}");
            ExitCode::FAILURE
        }
    }
}
