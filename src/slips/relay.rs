//! The Redis relay: the only code in roost that talks to Slips' Redis.
//!
//! Two threads, each with its own connection (a subscribed Redis connection cannot publish):
//! - the subscriber reads Slips' channels, validates every payload and turns the good ones
//!   into [`SlipsEvent`]s for the node; malformed input is logged, counted and dropped;
//! - the publisher turns the node's [`SlipsCommand`]s into Slips JSON and publishes them,
//!   holding them in a bounded queue while Redis (or Slips' subscription) is away.
//!
//! Both reconnect with exponential backoff and never give up; the subscriber resubscribes
//! after a Redis restart. Nothing that comes from Redis can stop or crash the relay. Shutdown
//! is [`Relay::shutdown`] (or dropping the [`Relay`]); both threads are joined.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use tracing::{debug, info, warn};

use crate::slips::dovecot::DovecotError;
use crate::slips::events::{SlipsCommand, SlipsEvent};
use crate::slips::native::{
    ip_info_evaluation, new_blame_json, parse_data_request, parse_report_to_peers, py_float_text,
    ShareDecision, NEW_BLAME, P2P_DATA_REQUEST, PEER_TRUST, REPORT_TO_PEERS,
};
use crate::slips::pigeon_args::{PigeonArgs, PigeonArgsError};
use crate::slips::pigeon_channels::{
    go_data_json, parse_pygo, peer_update_json, PygoMessage, Recipient, MAX_PEER_ID_LEN,
};
use crate::slips::set_evidence::{store_evidence, EvidenceJob, SlipsTimes, Stored};

/// Key Pigeon stores its multiaddress under (DB 0); Slips prints it once at start.
pub const MULTIADDRESS_KEY: &str = "multiAddress";

/// Why the relay could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// A configuration value that cannot work (empty channel name, zero capacity...).
    #[error("invalid relay configuration: {0}")]
    Config(&'static str),
    /// The OS refused to create a thread.
    #[error("cannot spawn relay thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Which Slips integration the relay speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayMode {
    /// Drop-in replacement of the Pigeon binary: subscribe to `channel_pygo`, publish on
    /// `channel_gopy` (spec part A).
    Pigeon {
        /// Slips -> network channel (`p2p_pygo`).
        channel_pygo: String,
        /// Network -> Slips channel (`p2p_gopy`).
        channel_gopy: String,
    },
    /// roost replaces Slips' P2P module: subscribe to `report_to_peers` and
    /// `p2p_data_request`, publish `new_blame`, write `peer_trust`, read `IPsInfo` (spec B).
    Native {
        /// Host of Slips' cache Redis (`IPsInfo`); Slips hard-codes port 6379, DB 1.
        cache_host: String,
        /// Port of the cache Redis (6379 in Slips 1.1.21 whatever `-P` says).
        cache_port: u16,
        /// Database of the cache (1).
        cache_db: i64,
        /// `HEXPIRE` for `peer_trust` fields (Slips uses its extended TTL; needs Redis >= 7.4,
        /// silently skipped on older servers). `None` = no expiry.
        peer_trust_ttl: Option<u64>,
        /// Slips' `parameters.time_window_width` in seconds (3600 by default; 9999999999 for
        /// `only_one_tw`): the width of the time windows and TTLs of stored evidence.
        tw_width_s: u64,
    },
}

impl RelayMode {
    fn name(&self) -> &'static str {
        match self {
            RelayMode::Pigeon { .. } => "pigeon",
            RelayMode::Native { .. } => "native",
        }
    }
}

/// Everything the relay needs; built by the runtime from the config or Pigeon argv.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Redis host (Slips' Redis, DB 0).
    pub redis_host: String,
    /// Redis port (6379 unless Slips runs with `-P`/`-m`).
    pub redis_port: u16,
    /// Redis logical database; Slips' pub/sub is on DB 0.
    pub redis_db: i64,
    /// Which channels and messages.
    pub mode: RelayMode,
    /// The Slips version stamped into every message (see [`crate::slips::version`]).
    pub slips_version: String,
    /// How many outgoing messages are held while Redis or Slips is away; beyond this the
    /// oldest is dropped and counted.
    pub queue_capacity: usize,
    /// First reconnect/retry delay.
    pub backoff_initial: Duration,
    /// Largest reconnect/retry delay.
    pub backoff_max: Duration,
    /// Timeout for connecting and for each command.
    pub io_timeout: Duration,
    /// How long the subscriber blocks in a read before checking for shutdown; bounds the
    /// shutdown latency (a blocking Redis read cannot be woken otherwise).
    pub poll_interval: Duration,
    /// Keep a message queued while nobody is subscribed to its channel (PUBLISH returns 0),
    /// so that messages survive a Slips/Redis restart until Slips resubscribes.
    pub hold_without_subscribers: bool,
    /// How many peer ids the relay remembers (for recipient checks and timestamp ordering).
    pub known_peers_capacity: usize,
}

impl RelayConfig {
    /// Native-mode defaults: Slips' Redis at `redis_host:redis_port`, its cache at
    /// `redis_host:6379` DB 1, `peer_trust` expiring after 48 one-hour time windows.
    pub fn native(
        redis_host: impl Into<String>,
        redis_port: u16,
        slips_version: impl Into<String>,
    ) -> Self {
        let host = redis_host.into();
        RelayConfig {
            mode: RelayMode::Native {
                cache_host: host.clone(),
                cache_port: 6379,
                cache_db: 1,
                peer_trust_ttl: Some(48 * 3600),
                tw_width_s: 3600,
            },
            ..RelayConfig::pigeon(host, redis_port, "p2p_pygo", "p2p_gopy", slips_version)
        }
    }

    /// The Pigeon-mode relay that Slips' argv asks for: `-redis-db` address, the channel
    /// flags, `-rename-with-port` applied as Pigeon does.
    pub fn from_pigeon_args(
        args: &PigeonArgs,
        slips_version: impl Into<String>,
    ) -> Result<Self, PigeonArgsError> {
        let eff = args.effective();
        let (host, port) = eff.redis_host_port()?;
        Ok(RelayConfig::pigeon(
            host,
            port,
            eff.channel_pygo,
            eff.channel_gopy,
            slips_version,
        ))
    }

    /// Pigeon-mode defaults for the given Redis address, channels and Slips version.
    pub fn pigeon(
        redis_host: impl Into<String>,
        redis_port: u16,
        channel_pygo: impl Into<String>,
        channel_gopy: impl Into<String>,
        slips_version: impl Into<String>,
    ) -> Self {
        RelayConfig {
            redis_host: redis_host.into(),
            redis_port,
            redis_db: 0,
            mode: RelayMode::Pigeon {
                channel_pygo: channel_pygo.into(),
                channel_gopy: channel_gopy.into(),
            },
            slips_version: slips_version.into(),
            queue_capacity: 1024,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            io_timeout: Duration::from_secs(2),
            poll_interval: Duration::from_millis(250),
            hold_without_subscribers: true,
            known_peers_capacity: 4096,
        }
    }

    fn validate(&self) -> Result<(), RelayError> {
        if let RelayMode::Pigeon {
            channel_pygo,
            channel_gopy,
        } = &self.mode
        {
            if channel_pygo.is_empty() || channel_gopy.is_empty() {
                return Err(RelayError::Config("empty channel name"));
            }
        }
        if self.slips_version.is_empty() {
            return Err(RelayError::Config("empty Slips version"));
        }
        if self.queue_capacity == 0 || self.known_peers_capacity == 0 {
            return Err(RelayError::Config("capacities must be at least 1"));
        }
        if self.poll_interval.is_zero()
            || self.io_timeout.is_zero()
            || self.backoff_initial.is_zero()
        {
            return Err(RelayError::Config("timeouts must be positive"));
        }
        Ok(())
    }

    fn url(&self) -> String {
        redis_url(&self.redis_host, self.redis_port, self.redis_db)
    }

    fn cache_url(&self) -> Option<String> {
        match &self.mode {
            RelayMode::Native {
                cache_host,
                cache_port,
                cache_db,
                ..
            } => Some(redis_url(cache_host, *cache_port, *cache_db)),
            RelayMode::Pigeon { .. } => None,
        }
    }
}

fn redis_url(host: &str, port: u16, db: i64) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    format!("redis://{host}:{port}/{db}")
}

/// Whether the relay currently has a subscribed Redis connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayStatus {
    /// Subscribed; Slips' messages are being received.
    Connected,
    /// Redis is away; reconnecting with backoff.
    Disconnected,
}

/// A snapshot of the relay counters, for `roost status` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayStats {
    /// Payloads read from Redis.
    pub received: u64,
    /// Events handed to the node.
    pub forwarded: u64,
    /// Payloads refused by validation (never forwarded).
    pub malformed: u64,
    /// Valid messages for a recipient roost never announced to Slips (never forwarded).
    pub unknown_recipient: u64,
    /// Native mode: well-formed evidence that Dovecot's rules say not to share.
    pub not_shared: u64,
    /// Events lost because the node's channel was full or closed.
    pub events_dropped: u64,
    /// Commands received from the node.
    pub commands: u64,
    /// Commands refused (bad peer id) or not suitable for Slips (blame, non-IP key).
    pub commands_rejected: u64,
    /// Messages written to Redis.
    pub published: u64,
    /// Messages currently waiting for Redis.
    pub queued: u64,
    /// Oldest queued messages dropped because the queue was full.
    pub queue_dropped: u64,
    /// Successful (re)connections, both threads together.
    pub connects: u64,
    /// Native mode: P2P evidences stored in Slips' Redis the way `set_evidence` does.
    pub evidence_stored: u64,
    /// Native mode: evidences not stored (duplicate or whitelisted id, or refused by Redis).
    pub evidence_skipped: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    forwarded: AtomicU64,
    malformed: AtomicU64,
    unknown_recipient: AtomicU64,
    not_shared: AtomicU64,
    events_dropped: AtomicU64,
    commands: AtomicU64,
    commands_rejected: AtomicU64,
    published: AtomicU64,
    queued: AtomicU64,
    queue_dropped: AtomicU64,
    connects: AtomicU64,
    evidence_stored: AtomicU64,
    evidence_skipped: AtomicU64,
}

fn bump(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed) + 1
}

/// Logs the first few occurrences of a recurring problem and then only at powers of two, so a
/// flood of garbage cannot flood the log.
fn worth_logging(count: u64) -> bool {
    count <= 10 || count.is_power_of_two()
}

/// Peer ids the relay has announced to Slips, with the time of their latest `peer_update`.
/// Bounded: when full, the least recently announced peer is forgotten.
struct KnownPeers {
    capacity: usize,
    last_update: HashMap<String, u64>,
    order: VecDeque<String>,
}

impl KnownPeers {
    fn new(capacity: usize) -> Self {
        KnownPeers {
            capacity,
            last_update: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn note(&mut self, peer: &str, update_time: Option<u64>) {
        match self.last_update.get_mut(peer) {
            Some(t) => {
                if let Some(u) = update_time {
                    *t = (*t).max(u);
                }
            }
            None => {
                while self.last_update.len() >= self.capacity {
                    match self.order.pop_front() {
                        Some(old) => {
                            self.last_update.remove(&old);
                        }
                        None => break,
                    }
                }
                self.last_update
                    .insert(peer.to_owned(), update_time.unwrap_or(0));
                self.order.push_back(peer.to_owned());
            }
        }
    }

    fn contains(&self, peer: &str) -> bool {
        self.last_update.contains_key(peer)
    }

    fn last_update(&self, peer: &str) -> u64 {
        self.last_update.get(peer).copied().unwrap_or(0)
    }
}

struct Shared {
    counters: Counters,
    connected: AtomicBool,
    peers: Mutex<KnownPeers>,
}

impl Shared {
    fn peers(&self) -> std::sync::MutexGuard<'_, KnownPeers> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Exponential backoff without jitter (one relay per host, nothing to de-synchronise).
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            next: initial,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// A running relay. Dropping it shuts it down and joins its threads.
pub struct Relay {
    shared: Arc<Shared>,
    stop: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Starts the subscriber and publisher threads. Redis need not be up: the relay connects
    /// when it can (see [`Relay::wait_connected`] for Pigeon's "exit 1 if Redis is down").
    /// `events` should be bounded; a full channel is a counted drop.
    pub fn spawn(
        config: RelayConfig,
        events: Sender<SlipsEvent>,
        commands: Receiver<SlipsCommand>,
    ) -> Result<Relay, RelayError> {
        config.validate()?;
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            connected: AtomicBool::new(false),
            peers: Mutex::new(KnownPeers::new(config.known_peers_capacity)),
        });
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let mut relay = Relay {
            shared: shared.clone(),
            stop: Some(stop_tx),
            threads: Vec::new(),
        };
        let open = |url: String| {
            redis::Client::open(url).map_err(|_| RelayError::Config("bad Redis address"))
        };
        let cache = config.cache_url().map(open).transpose()?;
        let sub = Subscriber {
            client: open(config.url())?,
            config: config.clone(),
            shared: shared.clone(),
            events: events.clone(),
            stop: stop_rx.clone(),
        };
        relay.threads.push(
            std::thread::Builder::new()
                .name("slips-sub".into())
                .spawn(move || sub.run())?,
        );
        let publisher = Publisher {
            client: open(config.url())?,
            cache,
            cache_con: None,
            events,
            config,
            shared,
            commands,
            stop: stop_rx,
            queue: VecDeque::new(),
            con: None,
        };
        relay.threads.push(
            std::thread::Builder::new()
                .name("slips-pub".into())
                .spawn(move || publisher.run())?,
        );
        Ok(relay)
    }

    /// Current link state.
    pub fn status(&self) -> RelayStatus {
        self.monitor().status()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RelayStats {
        self.monitor().stats()
    }

    /// A cheap, clonable read-only view for other threads (e.g. the control socket's
    /// `roost status`), which cannot own the [`Relay`] itself.
    pub fn monitor(&self) -> RelayMonitor {
        RelayMonitor {
            shared: self.shared.clone(),
        }
    }

    /// Waits up to `timeout` for the first subscription; `false` if Redis did not come up.
    /// Checks every 10 ms (startup only).
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status() == RelayStatus::Connected {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops both threads and waits for them (at most about one `poll_interval`). Messages
    /// still queued are lost and logged.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.take();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                warn!("a Slips relay thread panicked");
            }
        }
    }
}

/// Read-only access to a running relay's state and counters.
#[derive(Clone)]
pub struct RelayMonitor {
    shared: Arc<Shared>,
}

impl RelayMonitor {
    /// Current link state.
    pub fn status(&self) -> RelayStatus {
        if self.shared.connected.load(Ordering::Acquire) {
            RelayStatus::Connected
        } else {
            RelayStatus::Disconnected
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RelayStats {
        let c = &self.shared.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RelayStats {
            received: l(&c.received),
            forwarded: l(&c.forwarded),
            malformed: l(&c.malformed),
            unknown_recipient: l(&c.unknown_recipient),
            not_shared: l(&c.not_shared),
            events_dropped: l(&c.events_dropped),
            commands: l(&c.commands),
            commands_rejected: l(&c.commands_rejected),
            published: l(&c.published),
            queued: l(&c.queued),
            queue_dropped: l(&c.queue_dropped),
            connects: l(&c.connects),
            evidence_stored: l(&c.evidence_stored),
            evidence_skipped: l(&c.evidence_skipped),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// True once [`Relay`] has dropped the stop sender.
fn stopping(stop: &Receiver<()>) -> bool {
    matches!(stop.try_recv(), Err(TryRecvError::Disconnected))
}

/// Sleeps `d` unless shutdown starts first; returns true if it did.
fn sleep_or_stop(stop: &Receiver<()>, d: Duration) -> bool {
    !matches!(stop.recv_timeout(d), Err(RecvTimeoutError::Timeout))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct Subscriber {
    client: redis::Client,
    config: RelayConfig,
    shared: Arc<Shared>,
    events: Sender<SlipsEvent>,
    stop: Receiver<()>,
}

impl Subscriber {
    fn channels(&self) -> Vec<String> {
        match &self.config.mode {
            RelayMode::Pigeon { channel_pygo, .. } => vec![channel_pygo.clone()],
            RelayMode::Native { .. } => vec![REPORT_TO_PEERS.into(), P2P_DATA_REQUEST.into()],
        }
    }

    fn run(self) {
        let mut backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        let mut failures: u64 = 0;
        while !stopping(&self.stop) {
            match self.session(&mut backoff) {
                Ok(()) => return, // shutdown requested
                Err(e) => {
                    if self.shared.connected.swap(false, Ordering::AcqRel) {
                        warn!(error = %e, "lost Slips' Redis; reconnecting");
                        self.emit(SlipsEvent::RedisDown);
                    } else {
                        failures += 1;
                        if worth_logging(failures) {
                            warn!(error = %e, addr = %self.config.url(), attempts = failures, "cannot reach Slips' Redis; retrying");
                        }
                    }
                    if sleep_or_stop(&self.stop, backoff.next_delay()) {
                        return;
                    }
                }
            }
        }
    }

    /// One connection's life: connect, subscribe, read until error (Err) or shutdown (Ok).
    fn session(&self, backoff: &mut Backoff) -> redis::RedisResult<()> {
        let mut con = self
            .client
            .get_connection_with_timeout(self.config.io_timeout)?;
        con.set_write_timeout(Some(self.config.io_timeout))?;
        let mut pubsub = con.as_pubsub();
        pubsub.set_read_timeout(Some(self.config.io_timeout))?;
        let channels = self.channels();
        for ch in &channels {
            pubsub.subscribe(ch)?;
        }
        pubsub.set_read_timeout(Some(self.config.poll_interval))?;
        backoff.reset();
        bump(&self.shared.counters.connects);
        self.shared.connected.store(true, Ordering::Release);
        info!(addr = %self.config.url(), mode = self.config.mode.name(), channels = ?channels, "subscribed to Slips' Redis");
        self.emit(SlipsEvent::RedisUp);
        loop {
            if stopping(&self.stop) {
                self.shared.connected.store(false, Ordering::Release);
                return Ok(());
            }
            match pubsub.get_message() {
                Ok(msg) => self.handle(msg.get_channel_name(), msg.get_payload_bytes()),
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn handle(&self, channel: &str, payload: &[u8]) {
        let c = &self.shared.counters;
        bump(&c.received);
        let parsed = match &self.config.mode {
            RelayMode::Pigeon { .. } => self.pigeon_event(channel, payload),
            RelayMode::Native { .. } => self.native_event(channel, payload),
        };
        match parsed {
            Ok(Some(event)) => {
                debug!(channel, ?event, "message from Slips");
                self.emit(event);
            }
            Ok(None) => {}
            Err(e) => {
                let n = bump(&c.malformed);
                if worth_logging(n) {
                    warn!(channel, error = %e, len = payload.len(), malformed_total = n, "dropping malformed message from Slips");
                }
            }
        }
    }

    fn native_event(
        &self,
        channel: &str,
        payload: &[u8],
    ) -> Result<Option<SlipsEvent>, DovecotError> {
        if channel == P2P_DATA_REQUEST {
            return parse_data_request(payload)
                .map(|request| Some(SlipsEvent::DataRequest { request }));
        }
        match parse_report_to_peers(payload)? {
            ShareDecision::Share(evidence) => Ok(Some(SlipsEvent::ReportToPeers { evidence })),
            ShareDecision::Skip(why) => {
                bump(&self.shared.counters.not_shared);
                debug!(channel, why, "evidence not shared");
                Ok(None)
            }
        }
    }

    fn pigeon_event(
        &self,
        channel: &str,
        payload: &[u8],
    ) -> Result<Option<SlipsEvent>, DovecotError> {
        let c = &self.shared.counters;
        let event = match parse_pygo(payload)? {
            PygoMessage::Stop => {
                info!(
                    channel,
                    "Slips asked to stop the P2P network (stop_process)"
                );
                SlipsEvent::Stop
            }
            PygoMessage::Send {
                recipient: Recipient::Broadcast,
                msg,
            } => SlipsEvent::Broadcast { msg },
            PygoMessage::Send {
                recipient: Recipient::Peer(peer),
                msg,
            } => {
                if !self.shared.peers().contains(&peer) {
                    let n = bump(&c.unknown_recipient);
                    if worth_logging(n) {
                        warn!(channel, peer = %peer, "dropping message for a peer never announced to Slips");
                    }
                    return Ok(None);
                }
                SlipsEvent::SendTo { peer, msg }
            }
        };
        Ok(Some(event))
    }

    fn emit(&self, event: SlipsEvent) {
        let c = &self.shared.counters;
        match self.events.try_send(event) {
            Ok(()) => {
                bump(&c.forwarded);
            }
            Err(TrySendError::Full(ev)) | Err(TrySendError::Disconnected(ev)) => {
                let n = bump(&c.events_dropped);
                if worth_logging(n) {
                    warn!(event = ?ev, dropped_total = n, "node is not taking Slips events; dropped");
                }
            }
        }
    }
}

/// One write to Redis, prepared when the command arrived.
#[derive(Debug)]
enum Outgoing {
    Publish {
        channel: String,
        payload: String,
    },
    Set {
        key: &'static str,
        value: String,
    },
    PeerTrust {
        field: String,
        value: String,
        ttl: Option<u64>,
    },
    /// Native mode: `set_evidence`'s writes (several commands; see `set_evidence.rs`).
    Evidence(Box<EvidenceJob>),
}

/// What happened to the head of the queue.
enum Flush {
    /// Queue empty.
    Done,
    /// Try again after a delay (Redis away, or nobody subscribed yet).
    RetryLater,
}

struct Publisher {
    client: redis::Client,
    /// Native mode: Slips' cache database (`IPsInfo`), read for `LookupIp`.
    cache: Option<redis::Client>,
    cache_con: Option<redis::Connection>,
    events: Sender<SlipsEvent>,
    config: RelayConfig,
    shared: Arc<Shared>,
    commands: Receiver<SlipsCommand>,
    stop: Receiver<()>,
    queue: VecDeque<Outgoing>,
    con: Option<redis::Connection>,
}

impl Publisher {
    /// The `p2p_gopy` channel, or None in native mode.
    fn gopy(&self) -> Option<String> {
        match &self.config.mode {
            RelayMode::Pigeon { channel_gopy, .. } => Some(channel_gopy.clone()),
            RelayMode::Native { .. } => None,
        }
    }

    fn peer_trust_ttl(&self) -> Option<u64> {
        match &self.config.mode {
            RelayMode::Native { peer_trust_ttl, .. } => *peer_trust_ttl,
            RelayMode::Pigeon { .. } => None,
        }
    }

    fn slips_times(&self) -> SlipsTimes {
        let width = match &self.config.mode {
            RelayMode::Native { tw_width_s, .. } => *tw_width_s,
            RelayMode::Pigeon { .. } => 3600,
        };
        SlipsTimes {
            width: width as f64,
        }
    }

    fn run(mut self) {
        let mut backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        let mut retry_at: Option<Instant> = None;
        let mut commands_open = true;
        loop {
            if retry_at.map_or(true, |t| Instant::now() >= t) {
                retry_at = match self.flush() {
                    Flush::Done => {
                        backoff.reset();
                        None
                    }
                    Flush::RetryLater => Some(Instant::now() + backoff.next_delay()),
                };
            }
            self.shared
                .counters
                .queued
                .store(self.queue.len() as u64, Ordering::Relaxed);
            if !commands_open && self.queue.is_empty() {
                debug!("node closed the command channel; Slips publisher exits");
                return;
            }
            let wait = retry_at
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(3600));
            let never = crossbeam_channel::never();
            let commands = if commands_open {
                &self.commands
            } else {
                &never
            };
            crossbeam_channel::select! {
                recv(self.stop) -> _ => {
                    if !self.queue.is_empty() {
                        warn!(lost = self.queue.len(), "Slips relay stopping with unsent messages");
                    }
                    return;
                }
                recv(commands) -> cmd => match cmd {
                    Ok(cmd) => {
                        self.enqueue(cmd);
                        // Take what is already waiting, but bounded, so a flood cannot
                        // starve the flush.
                        for _ in 0..self.config.queue_capacity {
                            match self.commands.try_recv() {
                                Ok(more) => self.enqueue(more),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(_) => commands_open = false,
                },
                default(wait) => {}
            }
        }
    }

    fn push(&mut self, out: Outgoing) {
        if self.queue.len() >= self.config.queue_capacity {
            if let Some(old) = self.queue.pop_front() {
                let n = bump(&self.shared.counters.queue_dropped);
                if worth_logging(n) {
                    warn!(dropped = ?old, dropped_total = n, "outgoing queue for Slips is full; dropped the oldest message");
                }
            }
        }
        self.queue.push_back(out);
    }

    fn reject(&self, why: &str, cmd: &SlipsCommand) {
        let n = bump(&self.shared.counters.commands_rejected);
        if worth_logging(n) {
            warn!(why, ?cmd, "not passing command to Slips");
        }
    }

    fn enqueue(&mut self, cmd: SlipsCommand) {
        bump(&self.shared.counters.commands);
        let now = unix_now();
        let version = self.config.slips_version.clone();
        match &cmd {
            SlipsCommand::PeerUpdate {
                peer,
                ip,
                reliability,
            } => {
                let Some(channel) = self.gopy() else {
                    return self.reject("a pigeon-mode command in native mode", &cmd);
                };
                if !valid_peer_id(peer) {
                    return self.reject("invalid peer id", &cmd);
                }
                self.shared.peers().note(peer, Some(now));
                let payload = peer_update_json(peer, *ip, *reliability, now, &version);
                self.push(Outgoing::Publish { channel, payload });
            }
            SlipsCommand::GoData {
                reporter,
                report_time,
                msg,
            } => {
                let Some(channel) = self.gopy() else {
                    return self.reject("a pigeon-mode command in native mode", &cmd);
                };
                if !valid_peer_id(reporter) {
                    return self.reject("invalid peer id", &cmd);
                }
                if !msg.is_safe_for_slips() {
                    return self.reject("Slips 1.1.21 only takes IP reports and requests", &cmd);
                }
                let report_time = {
                    let mut peers = self.shared.peers();
                    let floor = peers.last_update(reporter);
                    peers.note(reporter, None);
                    (*report_time).min(now).max(floor)
                };
                let payload = go_data_json(reporter, report_time, msg, &version);
                self.push(Outgoing::Publish { channel, payload });
            }
            SlipsCommand::Blame { ip, evaluation } => {
                if self.gopy().is_some() {
                    return self.reject("a native-mode command in pigeon mode", &cmd);
                }
                let payload = new_blame_json(*ip, *evaluation, &version);
                self.push(Outgoing::Publish {
                    channel: NEW_BLAME.into(),
                    payload,
                });
            }
            SlipsCommand::SetPeerTrust { ip, trust } => {
                if self.gopy().is_some() {
                    return self.reject("a native-mode command in pigeon mode", &cmd);
                }
                if !trust.is_finite() {
                    return self.reject("trust is not a finite number", &cmd);
                }
                let ttl = self.peer_trust_ttl();
                self.push(Outgoing::PeerTrust {
                    field: ip.to_string(),
                    value: py_float_text(*trust),
                    ttl,
                });
            }
            SlipsCommand::LookupIp { ip } => {
                if self.gopy().is_some() {
                    return self.reject("a native-mode command in pigeon mode", &cmd);
                }
                let evaluation = self.lookup_ip(*ip);
                let event = SlipsEvent::IpInfo {
                    ip: *ip,
                    evaluation,
                };
                if self.events.try_send(event).is_ok() {
                    bump(&self.shared.counters.forwarded);
                } else {
                    bump(&self.shared.counters.events_dropped);
                }
            }
            SlipsCommand::SetEvidence {
                evidence,
                profile_start,
                window,
            } => {
                if self.gopy().is_some() {
                    return self.reject("a native-mode command in pigeon mode", &cmd);
                }
                if !(profile_start.is_finite() && evidence.confidence.is_finite()) {
                    return self.reject("evidence with a non-finite number", &cmd);
                }
                self.push(Outgoing::Evidence(Box::new(EvidenceJob {
                    evidence: evidence.clone(),
                    profile_start: *profile_start,
                    window: *window,
                })));
            }
            SlipsCommand::SetMultiAddress { value } => {
                self.push(Outgoing::Set {
                    key: MULTIADDRESS_KEY,
                    value: value.clone(),
                });
            }
        }
    }

    fn connect(&mut self) -> redis::RedisResult<&mut redis::Connection> {
        if self.con.is_none() {
            let con = self
                .client
                .get_connection_with_timeout(self.config.io_timeout)?;
            con.set_read_timeout(Some(self.config.io_timeout))?;
            con.set_write_timeout(Some(self.config.io_timeout))?;
            bump(&self.shared.counters.connects);
            info!(addr = %self.config.url(), "publisher connected to Slips' Redis");
            self.con = Some(con);
        }
        match self.con.as_mut() {
            Some(c) => Ok(c),
            None => Err(redis::RedisError::from((
                redis::ErrorKind::ClientError,
                "no connection",
            ))),
        }
    }

    /// Opens the cache database connection (native mode) unless it is open; a failure is
    /// logged and leaves it closed (the next use tries again).
    fn connect_cache(&mut self) {
        let Some(client) = self.cache.as_ref() else {
            return;
        };
        if self.cache_con.is_some() {
            return;
        }
        match client.get_connection_with_timeout(self.config.io_timeout) {
            Ok(con) => {
                let _ = con.set_read_timeout(Some(self.config.io_timeout));
                let _ = con.set_write_timeout(Some(self.config.io_timeout));
                self.cache_con = Some(con);
            }
            Err(e) => {
                warn!(error = %e, "cannot reach Slips' cache database (IPsInfo)");
            }
        }
    }

    /// Stores the evidence at the head of the queue. `Some(RetryLater)` when Redis is away
    /// (the evidence stays queued); `None` when it is done with (stored or given up).
    fn flush_evidence(&mut self, job: &EvidenceJob) -> Option<Flush> {
        let times = self.slips_times();
        let version = self.config.slips_version.clone();
        self.connect_cache();
        let mut cache = self.cache_con.take();
        let result = match self.connect() {
            Ok(con) => store_evidence(con, &mut cache, job, times, &version),
            Err(e) => {
                debug!(error = %e, "publisher cannot reach Redis");
                self.cache_con = cache;
                return Some(Flush::RetryLater);
            }
        };
        self.cache_con = cache;
        let c = &self.shared.counters;
        match result {
            Ok(Stored::Set { timewindow }) => {
                bump(&c.evidence_stored);
                bump(&c.published);
                info!(
                    kind = job.evidence.kind.name(),
                    attacker = %job.evidence.attacker,
                    profile = %job.evidence.profile,
                    timewindow,
                    id = %job.evidence.id,
                    "evidence stored in Slips' Redis"
                );
                None
            }
            Ok(other) => {
                bump(&c.evidence_skipped);
                debug!(?other, id = %job.evidence.id, "evidence not stored");
                None
            }
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                warn!(error = %e, queued = self.queue.len(), "storing evidence failed; will reconnect");
                self.con = None;
                Some(Flush::RetryLater)
            }
            Err(e) => {
                // Redis refused a command (e.g. a key of another type): retrying would block
                // the queue forever.
                let n = bump(&c.evidence_skipped);
                if worth_logging(n) {
                    warn!(error = %e, id = %job.evidence.id, "Redis refused an evidence write; dropped it");
                }
                None
            }
        }
    }

    /// Reads what Slips knows about `ip` from its cache database (spec B.5). Failures are
    /// logged and answered with `None`; the next lookup reconnects.
    fn lookup_ip(&mut self, ip: std::net::IpAddr) -> Option<crate::ioc::Evaluation> {
        self.connect_cache();
        let con = self.cache_con.as_mut()?;
        let field = ip.to_string();
        let mut read = |key: &str| -> redis::RedisResult<Option<String>> {
            redis::cmd("HGET").arg(key).arg(&field).query(con)
        };
        let result = (|| {
            Ok::<_, redis::RedisError>((
                read("IPsInfo:threat_level")?,
                read("IPsInfo:score")?,
                read("IPsInfo:confidence")?,
            ))
        })();
        match result {
            Ok((t, s, c)) => ip_info_evaluation(t.as_deref(), s.as_deref(), c.as_deref()),
            Err(e) => {
                warn!(error = %e, "IP lookup in Slips' cache database failed");
                self.cache_con = None;
                None
            }
        }
    }

    fn flush(&mut self) -> Flush {
        let hold = self.config.hold_without_subscribers;
        while let Some(front) = self.queue.front() {
            if let Outgoing::Evidence(job) = front {
                let job = job.clone();
                if let Some(retry) = self.flush_evidence(&job) {
                    return retry;
                }
                self.queue.pop_front();
                continue;
            }
            let cmd = match front {
                Outgoing::Publish { channel, payload } => {
                    let mut c = redis::cmd("PUBLISH");
                    c.arg(channel).arg(payload);
                    c
                }
                Outgoing::Set { key, value } => {
                    let mut c = redis::cmd("SET");
                    c.arg(*key).arg(value);
                    c
                }
                Outgoing::PeerTrust { field, value, .. } => {
                    let mut c = redis::cmd("HSET");
                    c.arg(PEER_TRUST).arg(field).arg(value);
                    c
                }
                // Handled above; never reached.
                Outgoing::Evidence(_) => continue,
            };
            let expire = match front {
                Outgoing::PeerTrust {
                    field,
                    ttl: Some(ttl),
                    ..
                } => {
                    let mut c = redis::cmd("HEXPIRE");
                    c.arg(PEER_TRUST)
                        .arg(*ttl)
                        .arg("NX")
                        .arg("FIELDS")
                        .arg(1)
                        .arg(field);
                    Some(c)
                }
                _ => None,
            };
            let is_publish = matches!(front, Outgoing::Publish { .. });
            let con = match self.connect() {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, queued = self.queue.len(), "publisher cannot reach Redis");
                    return Flush::RetryLater;
                }
            };
            match cmd.query::<redis::Value>(con) {
                Ok(redis::Value::Int(0)) if is_publish && hold => {
                    debug!(
                        queued = self.queue.len(),
                        "nobody subscribed on the Slips channel yet; holding"
                    );
                    return Flush::RetryLater;
                }
                Ok(_) => {
                    if let Some(expire) = expire {
                        // HEXPIRE exists from Redis 7.4; older servers keep the field forever.
                        if let Err(e) = expire.query::<redis::Value>(con) {
                            debug!(error = %e, "HEXPIRE on peer_trust failed (Redis < 7.4?)");
                        }
                    }
                    self.queue.pop_front();
                    bump(&self.shared.counters.published);
                }
                Err(e) => {
                    warn!(error = %e, queued = self.queue.len(), "publishing to Slips failed; will reconnect");
                    self.con = None;
                    return Flush::RetryLater;
                }
            }
        }
        Flush::Done
    }
}

fn valid_peer_id(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PEER_ID_LEN
        && p != "*"
        && p.bytes().all(|b| (0x21..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let got: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }

    #[test]
    fn known_peers_are_bounded_and_keep_latest_time() {
        let mut k = KnownPeers::new(2);
        k.note("a", Some(10));
        k.note("a", Some(5));
        assert_eq!(k.last_update("a"), 10);
        k.note("b", None);
        k.note("c", Some(1));
        assert!(!k.contains("a") && k.contains("b") && k.contains("c"));
        assert_eq!(k.last_update("b"), 0);
    }

    #[test]
    fn config_is_checked() {
        let ok = RelayConfig::pigeon("localhost", 6379, "p2p_pygo", "p2p_gopy", "1.1.21");
        assert!(ok.validate().is_ok());
        assert_eq!(ok.url(), "redis://localhost:6379/0");
        let v6 = RelayConfig {
            redis_host: "::1".into(),
            ..ok.clone()
        };
        assert_eq!(v6.url(), "redis://[::1]:6379/0");
        for bad in [
            RelayConfig {
                slips_version: String::new(),
                ..ok.clone()
            },
            RelayConfig {
                queue_capacity: 0,
                ..ok.clone()
            },
            RelayConfig::pigeon("h", 1, "", "x", "v"),
        ] {
            assert!(bad.validate().is_err());
        }
        assert!(valid_peer_id("QmAbc") && !valid_peer_id("*") && !valid_peer_id("a b"));
        let argv = [
            "-port",
            "32769",
            "-host",
            "172.16.2.4",
            "-key-file",
            "pigeon.keys",
            "--redis-db",
            "localhost:32850",
            "-redis-channel-pygo",
            "p2p_pygo",
            "-redis-channel-gopy",
            "p2p_gopy",
        ];
        let from_args =
            RelayConfig::from_pigeon_args(&PigeonArgs::parse(argv).unwrap(), "1.1.21").unwrap();
        assert_eq!(from_args.url(), "redis://localhost:32850/0");
        assert_eq!(
            from_args.mode,
            RelayMode::Pigeon {
                channel_pygo: "p2p_pygo".into(),
                channel_gopy: "p2p_gopy".into()
            }
        );
    }
}
