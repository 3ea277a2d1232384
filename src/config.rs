//! The daemon's settings: a TOML file (every key optional, unknown keys refused), then CLI
//! overrides, then validation that names the offending key.
//!
//! `config/roost.toml` documents every key with its default, and a test checks that this file
//! parses to exactly [`Config::default`], so the documentation cannot drift from the code.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::net::{Interface, NetConfig, DEFAULT_GROUP_V4, DEFAULT_PORT};

/// Why the configuration cannot be used; each message names the file or the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong or unknown key (the message says which).
    #[error("config file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation, with line and column.
        message: String,
    },
    /// A value is out of its allowed range.
    #[error("config key `{key}`: {why}")]
    Invalid {
        /// Dotted key, e.g. `timers.ask_deadline_ms`.
        key: &'static str,
        /// What is wrong and what is allowed.
        why: String,
    },
}

fn invalid(key: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        why: why.into(),
    }
}

/// All settings of one daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Name of the P2P network; hashed into every frame so two networks on one LAN never mix.
    pub network: String,
    /// Where keys, the database, the log and the control socket live; `None` means
    /// [`default_data_dir`].
    pub data_dir: Option<PathBuf>,
    /// Sockets and interface.
    pub net: NetSection,
    /// Protocol timers.
    pub timers: Timers,
    /// Rate limits and table sizes.
    pub limits: Limits,
    /// How long stored data is kept.
    pub retention: Retention,
    /// The link to Slips.
    pub redis: RedisSection,
    /// Logging.
    pub log: LogSection,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network: "slips".to_string(),
            data_dir: None,
            net: NetSection::default(),
            timers: Timers::default(),
            limits: Limits::default(),
            retention: Retention::default(),
            redis: RedisSection::default(),
            log: LogSection::default(),
        }
    }
}

/// `[net]`: where the daemon listens and sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetSection {
    /// Multicast group (IPv4 or IPv6) shared by every node of the network.
    pub group: IpAddr,
    /// UDP port of the group.
    pub port: u16,
    /// Interface name or address; empty means the interface of the default route.
    pub interface: String,
    /// Port of the unicast socket; 0 lets the kernel choose.
    pub unicast_port: u16,
}

impl Default for NetSection {
    fn default() -> Self {
        NetSection {
            group: IpAddr::V4(DEFAULT_GROUP_V4),
            port: DEFAULT_PORT,
            interface: String::new(),
            unicast_port: 0,
        }
    }
}

/// `[timers]`: every protocol period, in milliseconds unless the name says otherwise. The
/// names and defaults follow the node's `NodeConfig`, which they feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timers {
    /// Mean period of the discovery beacon (the heartbeat of a node).
    pub announce_interval_ms: u64,
    /// Each beacon goes out up to this much earlier or later, so nodes started together do
    /// not beacon in lockstep.
    pub announce_jitter_ms: u64,
    /// A peer silent this long is pinged (and pinged again after each missed Ping).
    pub ping_after_silence_ms: u64,
    /// Every active peer is pinged at least this often anyway, to keep its RTT current.
    pub probe_interval_ms: u64,
    /// A Ping unanswered this long counts as missed.
    pub ping_timeout_ms: u64,
    /// Silence after which a peer is considered inactive.
    pub inactive_after_ms: u64,
    /// How long an inactive peer is remembered in the database.
    pub remember_for_days: u32,
    /// How long an ask waits for answers before completing with what it has.
    pub ask_deadline_ms: u64,
    /// A completed ask is reused for asks about the same IoC within this long.
    pub ask_cache_ms: u64,
    /// A repeated report or blame from one peer about one IoC within this window is dropped.
    pub dedup_window_ms: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            announce_interval_ms: 30_000,
            announce_jitter_ms: 3_000,
            ping_after_silence_ms: 65_000,
            probe_interval_ms: 300_000,
            ping_timeout_ms: 4_000,
            inactive_after_ms: 90_000,
            remember_for_days: 30,
            ask_deadline_ms: 3_000,
            ask_cache_ms: 10_000,
            dedup_window_ms: 300_000,
        }
    }
}

/// `[limits]`: bounds that keep one source, one peer, or all of them from overloading the
/// node, and cap its memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Sustained datagrams per second accepted from one source address (checked before any
    /// signature verification).
    pub source_rate_per_s: u32,
    /// Burst accepted from one source address.
    pub source_burst: u32,
    /// Sustained messages per second accepted from one verified peer; the excess lowers its
    /// reliability.
    pub peer_rate_per_s: u32,
    /// Burst accepted from one verified peer.
    pub peer_burst: u32,
    /// Sustained datagrams per second accepted from everyone together.
    pub global_rate_per_s: u32,
    /// Burst accepted from everyone together.
    pub global_burst: u32,
    /// Most peers kept; beyond it the oldest inactive one is evicted.
    pub max_peers: u32,
    /// Most source addresses tracked by the per-source rate limit.
    pub max_sources: u32,
    /// Most entries in each bounded in-memory table (reports, dedup, cache, queries).
    pub max_entries: u32,
    /// Received reports kept in memory per IoC.
    pub max_reports_per_ioc: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            source_rate_per_s: 128,
            source_burst: 256,
            peer_rate_per_s: 128,
            peer_burst: 256,
            global_rate_per_s: 2_048,
            global_burst: 4_096,
            max_peers: 1_024,
            max_sources: 4_096,
            max_entries: 10_000,
            max_reports_per_ioc: 64,
        }
    }
}

/// `[retention]`: how long stored data is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Days a received report or blame is kept in the database.
    pub reports_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { reports_days: 30 }
    }
}

/// How the daemon talks to Slips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// roost replaces the whole Slips P2P module (reads Slips' own channels).
    Native,
    /// roost replaces only the Pigeon binary and speaks p2p_pygo / p2p_gopy.
    Pigeon,
    /// No Redis at all: the CLI is the only interface.
    Off,
}

impl RedisMode {
    /// The name used in the config file and in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RedisMode::Native => "native",
            RedisMode::Pigeon => "pigeon",
            RedisMode::Off => "off",
        }
    }
}

/// `[redis]`: the link to Slips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSection {
    /// `native`, `pigeon` or `off`. Default `off`, so a daemon started by hand never writes
    /// into a Redis it was not pointed at.
    pub mode: RedisMode,
    /// Slips' main Redis database (pub/sub channels, DB 0).
    pub url: String,
    /// Slips' cache database (`IPsInfo`, DB 1 on port 6379 in Slips).
    pub cache_url: String,
    /// Pigeon mode: channel Slips publishes on and roost subscribes to.
    pub pygo_channel: String,
    /// Pigeon mode: channel roost publishes on.
    pub gopy_channel: String,
    /// Messages to Slips held while Redis is unreachable; older ones are dropped beyond it.
    pub outbox: u32,
    /// Native mode: a network opinion whose `threat * confidence` reaches this becomes a
    /// `new_blame` for Slips. Confidence reflects how much the answering peers are trusted,
    /// so a handful of fresh identities cannot reach it on their own.
    pub blame_threshold: f64,
    /// Native mode: the trust (0..1) a peer needs for its report or blame to become a
    /// P2P_REPORT evidence in Slips. The default is the trust of a peer with no record yet.
    pub evidence_trust: f64,
    /// Native mode: whether young identities (the trust model's first hours of a peer) may
    /// create P2P_REPORT evidence. Off: Slips adds evidence up, and fresh identities cost an
    /// attacker nothing.
    pub evidence_from_young: bool,
    /// Native mode: a data request's network opinion whose `threat * confidence` reaches this
    /// becomes MALICIOUS_IP_FROM_P2P_NETWORK evidence (a weaker statement than a blame).
    pub evidence_threshold: f64,
    /// Native mode: Slips' `parameters.time_window_width` in seconds (9999999999 for
    /// `only_one_tw`): time windows of stored evidence, Slips' TTLs, and the once-per-window
    /// limits of `new_blame` and of the opinion-cache sharing rule.
    pub time_window_width: u64,
    /// Native mode: Slips' `DisabledAlerts.disabled_detections`; `P2P_REPORT` or
    /// `MALICIOUS_IP_FROM_P2P_NETWORK` listed here are not written.
    pub disabled_detections: Vec<String>,
    /// Native mode: Slips' output directory; `p2p_reports.log` goes to its `p2p_trust/`.
    /// Empty: the data directory.
    pub slips_output_dir: PathBuf,
    /// Native mode: `p2p_reports.log` is rotated daily; this many past days are kept.
    pub reports_log_keep_days: u32,
}

impl Default for RedisSection {
    fn default() -> Self {
        RedisSection {
            mode: RedisMode::Off,
            url: "redis://127.0.0.1:6379/0".to_string(),
            cache_url: "redis://127.0.0.1:6379/1".to_string(),
            pygo_channel: "p2p_pygo".to_string(),
            gopy_channel: "p2p_gopy".to_string(),
            outbox: 1_000,
            blame_threshold: 0.5,
            evidence_trust: 0.5,
            evidence_from_young: false,
            evidence_threshold: 0.2,
            time_window_width: 3600,
            disabled_detections: Vec::new(),
            slips_output_dir: PathBuf::new(),
            reports_log_keep_days: 1,
        }
    }
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Normal operation.
    Info,
    /// Troubleshooting.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The name `tracing` filters understand.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            _ => Err(format!(
                "unknown log level {s:?} (use error, warn, info, debug or trace)"
            )),
        }
    }
}

impl std::str::FromStr for RedisMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "native" => Ok(RedisMode::Native),
            "pigeon" => Ok(RedisMode::Pigeon),
            "off" => Ok(RedisMode::Off),
            _ => Err(format!(
                "unknown redis mode {s:?} (use native, pigeon or off)"
            )),
        }
    }
}

/// `[log]`: where and how much to log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// Verbosity.
    pub level: LogLevel,
    /// Log file; relative paths are inside the data dir; empty logs to stderr only.
    pub file: PathBuf,
    /// The file is rotated daily; this many old files are kept.
    pub keep_days: u32,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: LogLevel::Info,
            file: PathBuf::from("p2p.log"),
            keep_days: 1,
        }
    }
}

/// Values from the command line, each replacing the file's value when set. The CLI fills
/// this; keeping it a plain struct keeps clap out of this module.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--network`.
    pub network: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--group`.
    pub group: Option<IpAddr>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--interface`.
    pub interface: Option<String>,
    /// `--unicast-port`.
    pub unicast_port: Option<u16>,
    /// `--ask-deadline-ms`.
    pub ask_deadline_ms: Option<u64>,
    /// `--redis-mode`.
    pub redis_mode: Option<RedisMode>,
    /// `--redis-url`.
    pub redis_url: Option<String>,
    /// `--log-level`.
    pub log_level: Option<LogLevel>,
    /// `--log-file`.
    pub log_file: Option<PathBuf>,
}

impl Config {
    /// Reads and validates the file at `path`, or validates the defaults when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with(path, &Overrides::default())
    }

    /// Reads the file (if any), applies the CLI overrides, then validates the result.
    pub fn load_with(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut cfg = match path {
            None => Config::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                Self::parse(&text).map_err(|message| ConfigError::Parse {
                    path: p.to_path_buf(),
                    message,
                })?
            }
        };
        cfg.apply(overrides);
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text without validating values (the error is the parser's message).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    /// Replaces file values with the CLI's.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(v) = &o.network {
            self.network = v.clone();
        }
        if let Some(v) = &o.data_dir {
            self.data_dir = Some(v.clone());
        }
        if let Some(v) = o.group {
            self.net.group = v;
        }
        if let Some(v) = o.port {
            self.net.port = v;
        }
        if let Some(v) = &o.interface {
            self.net.interface = v.clone();
        }
        if let Some(v) = o.unicast_port {
            self.net.unicast_port = v;
        }
        if let Some(v) = o.ask_deadline_ms {
            self.timers.ask_deadline_ms = v;
        }
        if let Some(v) = o.redis_mode {
            self.redis.mode = v;
        }
        if let Some(v) = &o.redis_url {
            self.redis.url = v.clone();
        }
        if let Some(v) = o.log_level {
            self.log.level = v;
        }
        if let Some(v) = &o.log_file {
            self.log.file = v.clone();
        }
    }

    /// Checks every value; the first problem found is returned, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let n = self.network.chars().count();
        if n == 0 || n > 64 || self.network.chars().any(char::is_control) {
            return Err(invalid("network", "must be 1 to 64 printable characters"));
        }
        if let Some(d) = &self.data_dir {
            if d.as_os_str().is_empty() {
                return Err(invalid(
                    "data_dir",
                    "must not be empty (leave it out for the default)",
                ));
            }
        }

        if !self.net.group.is_multicast() {
            return Err(invalid(
                "net.group",
                format!(
                    "{} is not a multicast address (e.g. {DEFAULT_GROUP_V4})",
                    self.net.group
                ),
            ));
        }
        if self.net.port == 0 {
            return Err(invalid("net.port", "must be > 0"));
        }
        if self.net.interface.contains('\0') {
            return Err(invalid("net.interface", "must not contain NUL"));
        }

        let t = &self.timers;
        positive("timers.announce_interval_ms", t.announce_interval_ms)?;
        if t.announce_jitter_ms > t.announce_interval_ms / 2 {
            return Err(invalid(
                "timers.announce_jitter_ms",
                format!(
                    "must be at most half of timers.announce_interval_ms ({})",
                    t.announce_interval_ms
                ),
            ));
        }
        positive("timers.ping_after_silence_ms", t.ping_after_silence_ms)?;
        positive("timers.probe_interval_ms", t.probe_interval_ms)?;
        positive("timers.ping_timeout_ms", t.ping_timeout_ms)?;
        if t.inactive_after_ms <= t.ping_after_silence_ms {
            return Err(invalid(
                "timers.inactive_after_ms",
                format!(
                    "must be > timers.ping_after_silence_ms ({}), or peers go inactive before \
                     they are ever pinged",
                    t.ping_after_silence_ms
                ),
            ));
        }
        positive("timers.remember_for_days", u64::from(t.remember_for_days))?;
        positive("timers.ask_deadline_ms", t.ask_deadline_ms)?;
        if t.ask_deadline_ms > 60_000 {
            return Err(invalid("timers.ask_deadline_ms", "must be <= 60000"));
        }

        let l = &self.limits;
        for (key, v) in [
            ("limits.source_rate_per_s", l.source_rate_per_s),
            ("limits.source_burst", l.source_burst),
            ("limits.peer_rate_per_s", l.peer_rate_per_s),
            ("limits.peer_burst", l.peer_burst),
            ("limits.global_rate_per_s", l.global_rate_per_s),
            ("limits.global_burst", l.global_burst),
            ("limits.max_peers", l.max_peers),
            ("limits.max_sources", l.max_sources),
            ("limits.max_entries", l.max_entries),
            ("limits.max_reports_per_ioc", l.max_reports_per_ioc),
        ] {
            positive(key, u64::from(v))?;
        }

        positive(
            "retention.reports_days",
            u64::from(self.retention.reports_days),
        )?;

        let r = &self.redis;
        for (key, url) in [("redis.url", &r.url), ("redis.cache_url", &r.cache_url)] {
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
            {
                return Err(invalid(
                    key,
                    format!("{url:?} must start with redis://, rediss:// or unix://"),
                ));
            }
        }
        if r.pygo_channel.is_empty() {
            return Err(invalid("redis.pygo_channel", "must not be empty"));
        }
        if r.gopy_channel.is_empty() {
            return Err(invalid("redis.gopy_channel", "must not be empty"));
        }
        positive("redis.outbox", u64::from(r.outbox))?;
        for (key, v) in [
            ("redis.blame_threshold", r.blame_threshold),
            ("redis.evidence_trust", r.evidence_trust),
            ("redis.evidence_threshold", r.evidence_threshold),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(invalid(key, "must be a number in [0, 1]"));
            }
        }
        positive("redis.time_window_width", r.time_window_width)?;
        Ok(())
    }

    /// The data dir to use: the configured one or [`default_data_dir`].
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The log file to write, if any (relative paths resolved inside the data dir).
    pub fn log_path(&self) -> Option<PathBuf> {
        if self.log.file.as_os_str().is_empty() {
            None
        } else if self.log.file.is_absolute() {
            Some(self.log.file.clone())
        } else {
            Some(self.data_dir().join(&self.log.file))
        }
    }

    /// Where native mode writes Slips' `p2p_reports.log`: `<slips_output_dir>/p2p_trust/`,
    /// or `<data dir>/p2p_trust/` when no Slips output directory is set (relative paths are
    /// inside the data dir).
    pub fn reports_log_path(&self) -> PathBuf {
        let dir = &self.redis.slips_output_dir;
        let base = if dir.as_os_str().is_empty() {
            self.data_dir()
        } else if dir.is_absolute() {
            dir.clone()
        } else {
            self.data_dir().join(dir)
        };
        base.join("p2p_trust").join("p2p_reports.log")
    }

    /// The node's tunables, from `[network]`, `[timers]`, `[limits]` and the Slips mode.
    pub fn node_config(&self) -> crate::node::NodeConfig {
        let t = &self.timers;
        let l = &self.limits;
        let rate = |per_s: u32, burst: u32| crate::node::RateLimit {
            burst: f64::from(burst),
            per_sec: f64::from(per_s),
        };
        crate::node::NodeConfig {
            network: self.network.clone(),
            announce_interval_ms: t.announce_interval_ms,
            announce_jitter_ms: t.announce_jitter_ms,
            ping_after_silence_ms: t.ping_after_silence_ms,
            probe_interval_ms: t.probe_interval_ms,
            ping_timeout_ms: t.ping_timeout_ms,
            inactive_after_ms: t.inactive_after_ms,
            remember_ms: u64::from(t.remember_for_days) * 24 * 3600 * 1000,
            ask_deadline_ms: t.ask_deadline_ms,
            ask_cache_ms: t.ask_cache_ms,
            dedup_window_ms: t.dedup_window_ms,
            source_limit: rate(l.source_rate_per_s, l.source_burst),
            global_limit: rate(l.global_rate_per_s, l.global_burst),
            peer_limit: rate(l.peer_rate_per_s, l.peer_burst),
            max_peers: l.max_peers as usize,
            max_sources: l.max_sources as usize,
            max_entries: l.max_entries as usize,
            max_reports_per_ioc: l.max_reports_per_ioc as usize,
            // With Slips attached, its view answers peers' questions (Pigeon: Slips' Python
            // module replies; native: the bridge reads `IPsInfo`); without, the node does.
            answer_queries: self.redis.mode == RedisMode::Off,
            ..crate::node::NodeConfig::default()
        }
    }

    /// What the network room needs, from `[net]`.
    pub fn net_config(&self) -> NetConfig {
        NetConfig {
            group: SocketAddr::new(self.net.group, self.net.port),
            interface: Interface::parse(&self.net.interface),
            unicast_port: self.net.unicast_port,
        }
    }
}

fn positive(key: &'static str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        Err(invalid(key, "must be > 0"))
    } else {
        Ok(())
    }
}

/// Where the daemon keeps its files when neither the config nor the CLI says: first
/// `$ROOST_DATA_DIR`, then `/var/lib/roost` for root, then `$XDG_DATA_HOME/roost`, then
/// `~/.local/share/roost` (and `./roost-data` when even `$HOME` is unset).
pub fn default_data_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    default_data_dir_from(|k| std::env::var_os(k), is_root)
}

/// [`default_data_dir`] with the environment and the root test passed in, for tests.
pub fn default_data_dir_from(env: impl Fn(&str) -> Option<OsString>, is_root: bool) -> PathBuf {
    let get = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = get("ROOST_DATA_DIR") {
        return d;
    }
    if is_root {
        return PathBuf::from("/var/lib/roost");
    }
    if let Some(x) = get("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return x.join("roost");
    }
    match get("HOME") {
        Some(h) => h.join(".local/share/roost"),
        None => PathBuf::from("roost-data"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all = &[
            ("ROOST_DATA_DIR", "/srv/r"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(
            default_data_dir_from(env(all), true),
            PathBuf::from("/srv/r")
        );
        let no_roost = &[("XDG_DATA_HOME", "/x"), ("HOME", "/home/u")];
        assert_eq!(
            default_data_dir_from(env(no_roost), true),
            PathBuf::from("/var/lib/roost")
        );
        assert_eq!(
            default_data_dir_from(env(no_roost), false),
            PathBuf::from("/x/roost")
        );
        let rel_xdg = &[("XDG_DATA_HOME", "rel"), ("HOME", "/home/u")];
        assert_eq!(
            default_data_dir_from(env(rel_xdg), false),
            PathBuf::from("/home/u/.local/share/roost")
        );
        assert_eq!(
            default_data_dir_from(env(&[("ROOST_DATA_DIR", "")]), false),
            PathBuf::from("roost-data")
        );
    }

    #[test]
    fn reports_log_goes_under_p2p_trust() {
        let mut c = Config {
            data_dir: Some(PathBuf::from("/var/lib/roost")),
            ..Config::default()
        };
        assert_eq!(
            c.reports_log_path(),
            PathBuf::from("/var/lib/roost/p2p_trust/p2p_reports.log")
        );
        c.redis.slips_output_dir = PathBuf::from("/opt/slips/output");
        assert_eq!(
            c.reports_log_path(),
            PathBuf::from("/opt/slips/output/p2p_trust/p2p_reports.log")
        );
        c.redis.slips_output_dir = PathBuf::from("out");
        assert_eq!(
            c.reports_log_path(),
            PathBuf::from("/var/lib/roost/out/p2p_trust/p2p_reports.log")
        );
    }

    #[test]
    fn shipped_file_documents_exactly_the_defaults() {
        let text = include_str!("../config/roost.toml");
        assert_eq!(Config::parse(text), Ok(Config::default()));
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn shipped_file_mentions_every_key() {
        // Every key of every section (taken from the struct itself) must appear in the file,
        // possibly commented out, so a new setting cannot go undocumented.
        let text = include_str!("../config/roost.toml");
        let v = serde_json::to_value(Config::default()).unwrap();
        let mut keys = Vec::new();
        for (k, val) in v.as_object().unwrap() {
            match val.as_object() {
                Some(section) => {
                    assert!(text.contains(&format!("[{k}]")), "[{k}] missing");
                    keys.extend(section.keys().cloned());
                }
                None => keys.push(k.clone()),
            }
        }
        assert!(keys.len() > 20);
        for key in keys {
            assert!(
                text.lines()
                    .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} ="))),
                "{key} is not documented in config/roost.toml"
            );
        }
    }

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("roost.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    fn err_of(text: &str) -> String {
        let (_d, p) = write(text);
        Config::load(Some(&p)).unwrap_err().to_string()
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let (_d, p) = write(
            "network = \"lab\"\n[timers]\nask_deadline_ms = 500\n[redis]\nmode = \"pigeon\"\n",
        );
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.network, "lab");
        assert_eq!(c.timers.ask_deadline_ms, 500);
        assert_eq!(c.timers.announce_interval_ms, 30_000);
        assert_eq!(c.redis.mode, RedisMode::Pigeon);
        assert_eq!(Config::load(None).unwrap(), Config::default());
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            err_of("[timers]\nask_deadline_ms = 0\n"),
            "config key `timers.ask_deadline_ms`: must be > 0"
        );
        let e = err_of("[timers]\nask_deadline_msx = 1\n");
        assert!(
            e.contains("ask_deadline_msx") && e.contains("unknown field"),
            "{e}"
        );
        let e = err_of("[net]\ngroup = \"10.1.2.3\"\n");
        assert!(
            e.starts_with("config key `net.group`: 10.1.2.3 is not a multicast"),
            "{e}"
        );
        let e = err_of("[net]\ngroup = \"nonsense\"\n");
        assert!(e.contains("roost.toml") && e.contains("group"), "{e}");
        let e = err_of("[timers]\nannounce_jitter_ms = 15001\n");
        assert!(
            e.starts_with("config key `timers.announce_jitter_ms`"),
            "{e}"
        );
        let e = err_of("[timers]\ninactive_after_ms = 35000\n");
        assert!(
            e.starts_with("config key `timers.inactive_after_ms`"),
            "{e}"
        );
        let e = err_of("[redis]\nmode = \"sometimes\"\n");
        assert!(
            e.contains("unknown variant") && e.contains("sometimes"),
            "{e}"
        );
        let e = err_of("[redis]\nurl = \"localhost:6379\"\n");
        assert!(e.starts_with("config key `redis.url`"), "{e}");
        let e = err_of("[redis]\nevidence_trust = 1.5\n");
        assert!(e.starts_with("config key `redis.evidence_trust`"), "{e}");
        let e = err_of("[redis]\nevidence_threshold = -0.1\n");
        assert!(
            e.starts_with("config key `redis.evidence_threshold`"),
            "{e}"
        );
        let e = err_of("[redis]\ntime_window_width = 0\n");
        assert!(e.starts_with("config key `redis.time_window_width`"), "{e}");
        let e = err_of("network = \"\"\n");
        assert!(e.starts_with("config key `network`"), "{e}");
        let e = err_of("[net]\nport = 70000\n");
        assert!(e.contains("port"), "{e}");
        let missing = Config::load(Some(Path::new("/nonexistent/roost.toml"))).unwrap_err();
        assert!(missing
            .to_string()
            .starts_with("cannot read config file /nonexistent/roost.toml"));
    }

    #[test]
    fn overrides_win_and_are_validated() {
        let (_d, p) = write("network = \"lab\"\n[net]\nport = 5000\ninterface = \"eth0\"\n");
        let o = Overrides {
            network: Some("other".into()),
            interface: Some("127.0.0.1".into()),
            data_dir: Some(PathBuf::from("/srv/roost")),
            log_level: Some("debug".parse().unwrap()),
            redis_mode: Some("native".parse().unwrap()),
            ..Overrides::default()
        };
        let c = Config::load_with(Some(&p), &o).unwrap();
        assert_eq!(c.network, "other");
        assert_eq!(c.net.port, 5000);
        assert_eq!(c.data_dir(), PathBuf::from("/srv/roost"));
        assert_eq!(c.log_path(), Some(PathBuf::from("/srv/roost/p2p.log")));
        assert_eq!(c.log.level, LogLevel::Debug);
        assert_eq!(c.redis.mode, RedisMode::Native);
        let n = c.net_config();
        assert_eq!(n.group, "239.255.77.77:5000".parse().unwrap());
        assert_eq!(n.interface, Interface::Addr("127.0.0.1".parse().unwrap()));

        let bad = Overrides {
            port: Some(0),
            ..Overrides::default()
        };
        let e = Config::load_with(Some(&p), &bad).unwrap_err();
        assert_eq!(e.to_string(), "config key `net.port`: must be > 0");
        assert!("loud".parse::<LogLevel>().is_err());
        assert!("maybe".parse::<RedisMode>().is_err());
    }
}
