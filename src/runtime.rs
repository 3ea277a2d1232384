//! Threads, channels, signals and shutdown: the only place that knows every room.
//!
//! `run` opens the data directory (identity, database), starts the store writer, the network
//! loop and the control socket on their own threads, then drives the sans-IO [`Node`] on the
//! calling thread: it waits on the inbound channels with the node's next deadline as timeout,
//! feeds what arrives into the node, and carries out the actions the node returns. Keeping
//! this loop thin (boringtun style) keeps all protocol decisions in `node/`, where the
//! simulator can test them.
//!
//! With `redis.mode` pigeon or native (or when started as Pigeon, see `main.rs`), the loop
//! also runs the Slips relay ([`crate::slips::Relay`], its own threads) and translates
//! between it and the node with the sans-IO [`crate::slips::bridge::Bridge`], whose module
//! docs give every mapping. Redis down at start: pigeon mode fails (exit 1, like Pigeon);
//! native mode logs a warning and keeps running (the relay reconnects by itself).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use tracing::{info, warn};

use crate::config::{Config, RedisMode};
use crate::control::server::{ControlHandle, ControlServer, NodeRequest};
use crate::control::{ControlRequest, ControlResponse};
use crate::identity::{identity_path, Identity, IdentityError};
use crate::ioc::{Evaluation, Ioc};
use crate::logs::{slips_timestamp, DailyFile};
use crate::net::{self, Net, NetEvent, NetHandle};
use crate::node::{Action, Command, KnownPeer, Node, Persist, ReportKind, Response};
use crate::slips::bridge::{Bridge, BridgeConfig, BridgeMode, BridgeOutput};
use crate::slips::evidence::{reports_log_line, LocalTime};
use crate::slips::{Relay, RelayConfig, RelayMonitor, RelayStatus, SlipsCommand, SlipsEvent};
use crate::store::{
    OpinionRecord, PeerRecord, ReportKind as StoredKind, ReportRecord, Store, StoreHandle, StoreOp,
    StoreWriter, WriterConfig,
};

/// File name of the database inside the data directory.
pub const DATABASE_NAME: &str = "roost.db";
/// How often retention pruning runs.
const PRUNE_EVERY_MS: u64 = 3_600_000;
/// How often the trust model's state is saved (and at shutdown).
const TRUST_SAVE_EVERY_MS: u64 = 60_000;
/// Capacity of the channel from the network thread (a full channel is a counted drop there).
const NET_INBOUND: usize = 1024;
/// Capacity of the channel from the control socket.
const CONTROL_INBOUND: usize = 64;
/// Capacity of each channel between the node thread and the Slips relay.
const SLIPS_CHANNEL: usize = 1024;
/// How long pigeon mode waits for Redis at start before giving up (Pigeon fails at once).
const PIGEON_REDIS_WAIT: Duration = Duration::from_secs(3);

/// Why the daemon could not start. Once running it does not fail: it counts and logs.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The data directory cannot be created or used.
    #[error("data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The identity file is unusable (never replaced silently).
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The database is unusable.
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The sockets could not be set up.
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    /// The control socket could not be set up (e.g. another daemon uses this data dir).
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    /// The signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The Slips version to stamp into messages is unknown (Slips would drop them all).
    #[error(transparent)]
    SlipsVersion(#[from] crate::slips::version::VersionError),
    /// The `[redis]` settings cannot be used by the relay.
    #[error("redis settings: {0}")]
    RedisConfig(String),
    /// The relay could not be started.
    #[error(transparent)]
    Relay(#[from] crate::slips::RelayError),
    /// Pigeon mode: Slips' Redis did not answer at start (Pigeon exits 1 then).
    #[error("cannot reach Slips' Redis at {0}")]
    RedisUnreachable(String),
}

/// How the daemon talks to Slips: the relay to start and how the bridge translates. Built
/// from `[redis]` by [`slips_link_from_config`], or from Pigeon's argv by `main.rs`.
#[derive(Debug, Clone)]
pub struct SlipsLink {
    /// Redis address, channels, version, queue size.
    pub relay: RelayConfig,
    /// The translation between relay and node.
    pub bridge: BridgeConfig,
    /// Fail at start when Redis does not answer within a few seconds (Pigeon's behaviour).
    pub require_redis: bool,
}

/// Splits a `redis://host[:port][/db]` URL into what the relay needs. TLS and unix sockets
/// are not supported by the relay (Slips uses plain TCP on localhost).
pub fn parse_redis_url(url: &str) -> Result<(String, u16, i64), RuntimeError> {
    let bad = |why: &str| RuntimeError::RedisConfig(format!("{url:?}: {why}"));
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| bad("only redis:// URLs are supported by the Slips relay"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not supported"));
    }
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let (h, tail) = r.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        (h.to_owned(), tail.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    let host = if host.is_empty() {
        "127.0.0.1".to_owned()
    } else {
        host
    };
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
        None => 6379,
    };
    let db = if path.is_empty() {
        0
    } else {
        path.parse::<i64>()
            .map_err(|_| bad("bad database number"))?
    };
    Ok((host, port, db))
}

/// The Slips link `[redis]` asks for (None with `mode = "off"`). The Slips version comes from
/// `find_slips_version` (`$ROOST_SLIPS_VERSION`, the parent's or the binary's Slips root,
/// the current directory); without one every message would be dropped by Slips, so it is
/// an error.
pub fn slips_link_from_config(cfg: &Config) -> Result<Option<SlipsLink>, RuntimeError> {
    let r = &cfg.redis;
    if r.mode == RedisMode::Off {
        return Ok(None);
    }
    let (version, source) = crate::slips::version::find_slips_version(None)?;
    info!(version = %version, source = ?source, "Slips version");
    let (host, port, db) = parse_redis_url(&r.url)?;
    let (mut relay, bridge, require_redis) = match r.mode {
        RedisMode::Pigeon => (
            RelayConfig::pigeon(host, port, &r.pygo_channel, &r.gopy_channel, version),
            BridgeConfig::new(BridgeMode::Pigeon),
            true,
        ),
        _ => {
            let mut relay = RelayConfig::native(host, port, version);
            let (ch, cp, cd) = parse_redis_url(&r.cache_url)?;
            if let crate::slips::RelayMode::Native {
                cache_host,
                cache_port,
                cache_db,
                peer_trust_ttl,
                tw_width_s,
            } = &mut relay.mode
            {
                *cache_host = ch;
                *cache_port = cp;
                *cache_db = cd;
                // Slips' extended TTL: 48 time windows.
                *peer_trust_ttl = Some(r.time_window_width.saturating_mul(48));
                *tw_width_s = r.time_window_width;
            }
            let mut bridge = BridgeConfig::new(BridgeMode::Native);
            bridge.malicious_threshold = r.blame_threshold;
            bridge.evidence_trust = r.evidence_trust;
            bridge.evidence_from_young = r.evidence_from_young;
            bridge.evidence_threshold = r.evidence_threshold;
            bridge.tw_width_ms = r.time_window_width.saturating_mul(1000);
            bridge.disabled_detections = r.disabled_detections.clone();
            let mut seed = [0u8; 8];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
            bridge.seed = u64::from_le_bytes(seed);
            (relay, bridge, false)
        }
    };
    relay.redis_db = db;
    relay.queue_capacity = (r.outbox as usize).max(1);
    Ok(Some(SlipsLink {
        relay,
        bridge,
        require_redis,
    }))
}

/// The current unix time in milliseconds: the only clock the node ever sees.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Loads the node's identity, creating one on the very first start so that `roost run` works
/// with no setup. A file that exists but cannot be used is an error, never a new identity.
pub fn load_or_create_identity(data_dir: &Path) -> Result<Identity, RuntimeError> {
    let path = identity_path(data_dir);
    if path.exists() {
        return Ok(Identity::load(&path)?);
    }
    let identity = Identity::generate();
    identity.save(&path, false)?;
    info!(path = %path.display(), id = %identity.peer_id(), "created a new identity");
    Ok(identity)
}

fn create_data_dir(path: &Path) -> Result<(), RuntimeError> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| RuntimeError::DataDir {
            path: path.to_path_buf(),
            source,
        })
}

fn known_peer(r: PeerRecord) -> KnownPeer {
    KnownPeer {
        key: r.key,
        addr: r.addr,
        first_seen_ms: r.first_seen.saturating_mul(1000),
        last_seen_ms: r.last_seen.saturating_mul(1000),
        reliability: r.reliability,
        evidence_good: r.evidence_good,
        evidence_bad: r.evidence_bad,
        last_epoch: r.last_epoch,
    }
}

fn stored_kind(k: ReportKind) -> StoredKind {
    match k {
        ReportKind::Report => StoredKind::Report,
        ReportKind::Blame => StoredKind::Blame,
        ReportKind::Answer => StoredKind::Answer,
    }
}

/// Maps a node's persistence request onto the store's vocabulary. Own detections are stored
/// as reports by our own key, so that `opinion` and a later boot can see them.
fn store_op(p: Persist, own_key: [u8; 32], remember_ms: u64, now_ms: u64) -> StoreOp {
    match p {
        Persist::PeerSeen(k) => StoreOp::UpsertPeer(PeerRecord {
            key: k.key,
            addr: k.addr,
            first_seen: k.first_seen_ms / 1000,
            last_seen: k.last_seen_ms / 1000,
            version: crate::wire::limits::VERSION,
            reliability: k.reliability,
            evidence_good: k.evidence_good,
            evidence_bad: k.evidence_bad,
            last_epoch: k.last_epoch,
        }),
        Persist::PeerForgotten { .. } => {
            StoreOp::ForgetPeersBefore(now_ms.saturating_sub(remember_ms) / 1000)
        }
        Persist::ReportReceived {
            peer,
            kind,
            ioc,
            evaluation,
            at_ms,
        } => StoreOp::AddReport(report_record(peer, kind, ioc, evaluation, at_ms)),
        Persist::OwnDetection {
            ioc,
            evaluation,
            kind,
            at_ms,
        } => StoreOp::AddReport(report_record(own_key, kind, ioc, evaluation, at_ms)),
        Persist::Opinion {
            ioc,
            evaluation,
            at_ms,
        } => StoreOp::PutOpinion(OpinionRecord {
            ioc,
            threat: evaluation.map(|e| e.threat()),
            confidence: evaluation.map(|e| e.confidence()),
            at: at_ms / 1000,
        }),
    }
}

fn report_record(
    peer: [u8; 32],
    kind: ReportKind,
    ioc: Ioc,
    evaluation: Evaluation,
    at_ms: u64,
) -> ReportRecord {
    ReportRecord {
        peer,
        kind: stored_kind(kind),
        ioc,
        threat: evaluation.threat(),
        confidence: evaluation.confidence(),
        at: at_ms / 1000,
    }
}

/// The trust model as it was saved, or a fresh one. A state that cannot be decoded is logged
/// and replaced: trust is learned again, which is better than a daemon that cannot start.
fn load_trust(store: &Store) -> crate::trust::roost::RoostModel {
    use crate::trust::roost::RoostModel;
    let fresh = || RoostModel::with_params(crate::trust::judge::production_params());
    match store.load_trust_state() {
        Ok(Some(bytes)) => RoostModel::from_bytes(&bytes, crate::trust::judge::production_params())
            .unwrap_or_else(|e| {
                warn!(error = %e, "saved trust state unusable; starting with fresh trust");
                fresh()
            }),
        Ok(None) => fresh(),
        Err(e) => {
            warn!(error = %e, "cannot read the saved trust state; starting with fresh trust");
            fresh()
        }
    }
}

/// Turns an operator's request into a node command, or an error message for the operator.
/// This is the one place where CLI text becomes validated `Ioc` and `Evaluation` values.
pub fn command_for(req: &ControlRequest) -> Result<Command, String> {
    let ioc = |text: &str| text.parse::<Ioc>().map_err(|e| e.to_string());
    let eval = |t: f64, c: f64| Evaluation::new(t, c).map_err(|e| e.to_string());
    Ok(match req {
        ControlRequest::Status => Command::Status,
        ControlRequest::Peers => Command::Peers,
        ControlRequest::Ask { ioc: i } => Command::Ask { ioc: ioc(i)? },
        ControlRequest::Opinion { ioc: i } => Command::Opinion { ioc: ioc(i)? },
        ControlRequest::Report {
            ioc: i,
            threat,
            confidence,
        } => Command::Report {
            ioc: ioc(i)?,
            evaluation: eval(*threat, *confidence)?,
        },
        ControlRequest::Blame {
            ioc: i,
            threat,
            confidence,
        } => Command::Blame {
            ioc: ioc(i)?,
            evaluation: eval(*threat, *confidence)?,
        },
        ControlRequest::Shutdown => return Err("shutdown is handled by the runtime".into()),
    })
}

/// Everything the node thread drives besides the node itself.
struct Driver {
    node: Node,
    net: net::NetSender,
    net_counters: std::sync::Arc<net::NetCounters>,
    store: StoreHandle,
    pending: BTreeMap<u64, Sender<ControlResponse>>,
    next_token: u64,
    own_key: [u8; 32],
    remember_ms: u64,
    mode: &'static str,
    reads: Option<Store>,
    saved_trust: Option<Vec<u8>>,
    slips: Option<SlipsSide>,
}

/// The node thread's end of the Slips relay.
struct SlipsSide {
    bridge: Bridge,
    commands: Sender<SlipsCommand>,
    monitor: RelayMonitor,
    /// Commands lost because the relay's channel was full.
    dropped: u64,
    /// Native mode: Slips' `p2p_reports.log`.
    reports_log: Option<DailyFile>,
}

impl Driver {
    /// Persists the trust model's state when it changed since the last save.
    fn save_trust(&mut self) {
        let Some(bytes) = self.node.judge_snapshot() else {
            return;
        };
        if self.saved_trust.as_deref() == Some(bytes.as_slice()) {
            return;
        }
        match self.store.submit(StoreOp::PutTrustState(bytes.clone())) {
            Ok(()) => self.saved_trust = Some(bytes),
            Err(e) => warn!(error = %e, "cannot save the trust state"),
        }
    }

    fn drain(&mut self) {
        while let Some(action) = self.node.poll_action() {
            match action {
                Action::Transmit { to, bytes } => {
                    let to = match to {
                        crate::node::Dest::Multicast => net::Dest::Multicast,
                        crate::node::Dest::Unicast(a) => net::Dest::Unicast(a),
                    };
                    // Drops are counted by the network room; nothing to add here.
                    let _ = self.net.send_to(to, bytes);
                }
                Action::Persist(p) => {
                    let op = store_op(p, self.own_key, self.remember_ms, now_ms());
                    if let Err(e) = self.store.submit(op) {
                        warn!(error = %e, "store refused a write");
                    }
                }
                Action::Reply { token, response } if Bridge::owns_token(token) => {
                    let out = match self.slips.as_mut() {
                        Some(s) => s.bridge.on_reply(now_ms(), token, response),
                        None => Vec::new(),
                    };
                    self.carry_out(out);
                }
                Action::Reply { token, response } => self.reply(token, response),
                Action::Notify(note) => {
                    // Without a Slips relay (mode off) notifications have nobody to go to.
                    let out = match self.slips.as_mut() {
                        Some(s) => s.bridge.on_notification(now_ms(), note),
                        None => Vec::new(),
                    };
                    self.carry_out(out);
                }
            }
        }
    }

    /// Does what the bridge asked; node commands queue more actions for `drain`.
    fn carry_out(&mut self, out: Vec<BridgeOutput>) {
        for o in out {
            match o {
                BridgeOutput::Node { command, token } => {
                    self.node.handle_command(now_ms(), command, token)
                }
                BridgeOutput::Slips(cmd) => {
                    if let Some(s) = self.slips.as_mut() {
                        if s.commands.try_send(cmd).is_err() {
                            s.dropped += 1;
                            if s.dropped <= 10 || s.dropped.is_power_of_two() {
                                warn!(dropped_total = s.dropped, "the Slips relay is not keeping up; dropped a message for Slips");
                            }
                        }
                    }
                }
                BridgeOutput::ReportsLog { at_ms, text } => {
                    if let Some(log) = self.slips.as_ref().and_then(|s| s.reports_log.as_ref()) {
                        let us = at_ms.saturating_mul(1000);
                        let line = i64::try_from(us)
                            .ok()
                            .and_then(LocalTime::from_unix_micros)
                            .map(|t| reports_log_line(&t, &text))
                            .unwrap_or_else(|| format!("{} - {text}\n", slips_timestamp(us)));
                        if let Err(e) = log.write_at(at_ms / 1000, line.as_bytes()) {
                            warn!(error = %e, path = %log.path().display(), "cannot write p2p_reports.log");
                        }
                    }
                }
                BridgeOutput::StopNetwork => {
                    info!(
                        "Slips asked to stop the P2P network; leaving it and waiting for a signal"
                    );
                    self.node.shutdown(now_ms());
                }
            }
        }
    }

    fn slips_event(&mut self, event: SlipsEvent) {
        let out = match self.slips.as_mut() {
            Some(s) => s.bridge.on_event(now_ms(), event),
            None => Vec::new(),
        };
        self.carry_out(out);
    }

    fn tick(&mut self) {
        let out = match self.slips.as_mut() {
            Some(s) => s.bridge.on_tick(now_ms()),
            None => Vec::new(),
        };
        self.carry_out(out);
    }

    fn reply(&mut self, token: u64, response: Response) {
        let Some(tx) = self.pending.remove(&token) else {
            return;
        };
        let out = match response {
            Response::Error(e) => ControlResponse::err(e.error),
            Response::Status(mut s) => {
                s.mode = self.mode.to_string();
                s.redis = match self.slips.as_ref().map(|x| x.monitor.status()) {
                    Some(RelayStatus::Connected) => "connected",
                    Some(RelayStatus::Disconnected) => "disconnected",
                    None => "off",
                }
                .to_string();
                s.slips = self.slips.as_ref().and_then(|x| {
                    let mut v = serde_json::to_value(x.monitor.stats()).ok()?;
                    if let Some(o) = v.as_object_mut() {
                        o.insert(
                            "bridge".into(),
                            serde_json::to_value(x.bridge.stats()).ok()?,
                        );
                    }
                    Some(v)
                });
                s.net = serde_json::to_value(self.net_counters.snapshot()).ok();
                json_ok(&s)
            }
            Response::Opinion(mut o) => {
                // The node keeps this boot's reports in memory; the store has every boot's.
                if let (Some(reads), Ok(ioc)) = (self.reads.as_ref(), o.ioc.parse::<Ioc>()) {
                    if let Ok(rows) = reads.reports_about(&ioc) {
                        o.reports = rows
                            .into_iter()
                            .filter(|r| r.peer != self.own_key)
                            .filter_map(|r| {
                                let kind = match r.kind {
                                    StoredKind::Report => ReportKind::Report,
                                    StoredKind::Blame => ReportKind::Blame,
                                    StoredKind::Answer => return None,
                                };
                                Some(crate::node::ReportInfo {
                                    peer: crate::node::peer_id_text(&r.peer),
                                    kind,
                                    threat: r.threat,
                                    confidence: r.confidence,
                                    at: r.at,
                                })
                            })
                            .collect();
                    }
                }
                json_ok(&o)
            }
            other => json_ok(&other),
        };
        let _ = tx.send(out);
    }

    fn control(&mut self, req: ControlRequest, reply: Sender<ControlResponse>) {
        match command_for(&req) {
            Ok(cmd) => {
                let token = self.next_token;
                self.next_token += 1;
                self.pending.insert(token, reply);
                self.node.handle_command(now_ms(), cmd, token);
            }
            Err(message) => {
                let _ = reply.send(ControlResponse::err(message));
            }
        }
    }
}

fn json_ok<T: serde::Serialize>(v: &T) -> ControlResponse {
    match serde_json::to_value(v) {
        Ok(v) => ControlResponse::Ok(v),
        Err(e) => ControlResponse::err(format!("cannot encode the reply: {e}")),
    }
}

fn signal_channel() -> Result<Receiver<i32>, RuntimeError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let (tx, rx) = bounded(4);
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(RuntimeError::Signals)?;
    std::thread::Builder::new()
        .name("roost-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let _ = tx.try_send(sig);
            }
        })
        .map_err(RuntimeError::Signals)?;
    Ok(rx)
}

/// Runs the daemon until SIGINT, SIGTERM or a `shutdown` control request, then says goodbye
/// to the peers, flushes the database and returns. The Slips link is the one `[redis]` asks
/// for.
pub fn run(cfg: &Config) -> Result<(), RuntimeError> {
    let link = slips_link_from_config(cfg)?;
    run_with(cfg, link)
}

/// [`run`] with an explicit Slips link (None: no Redis at all), e.g. the one built from
/// Pigeon's command line.
pub fn run_with(cfg: &Config, link: Option<SlipsLink>) -> Result<(), RuntimeError> {
    let data_dir = cfg.data_dir();
    create_data_dir(&data_dir)?;
    let identity = load_or_create_identity(&data_dir)?;
    let own_key = identity.public_key();
    let signals = signal_channel()?;

    // The relay first: in pigeon mode a missing Redis must fail before anything else starts.
    let (slips_events_tx, slips_events) = bounded::<SlipsEvent>(SLIPS_CHANNEL);
    let mut relay: Option<Relay> = None;
    let mut slips: Option<(SlipsSide, BridgeMode)> = None;
    if let Some(link) = link {
        let (cmd_tx, cmd_rx) = bounded::<SlipsCommand>(SLIPS_CHANNEL);
        let addr = format!("{}:{}", link.relay.redis_host, link.relay.redis_port);
        let r = Relay::spawn(link.relay.clone(), slips_events_tx.clone(), cmd_rx)?;
        if link.require_redis && !r.wait_connected(PIGEON_REDIS_WAIT) {
            r.shutdown();
            return Err(RuntimeError::RedisUnreachable(addr));
        }
        if r.status() != RelayStatus::Connected && !r.wait_connected(Duration::from_millis(500)) {
            warn!(addr = %addr, "Slips' Redis is not reachable yet; running anyway and retrying in the background");
        }
        let mode = link.bridge.mode;
        let reports_log = (mode == BridgeMode::Native).then(|| {
            let path = cfg.reports_log_path();
            info!(path = %path.display(), "peer reports are logged in Slips' format");
            DailyFile::new(path, cfg.redis.reports_log_keep_days)
        });
        slips = Some((
            SlipsSide {
                bridge: Bridge::new(link.bridge),
                commands: cmd_tx,
                monitor: r.monitor(),
                dropped: 0,
                reports_log,
            },
            mode,
        ));
        relay = Some(r);
    }
    drop(slips_events_tx);

    let db_path = data_dir.join(DATABASE_NAME);
    let mut store = Store::open(&db_path)?;
    let epoch = store.next_epoch()?;
    let node_cfg = cfg.node_config();
    let start = now_ms();
    let remembered: Vec<KnownPeer> = store
        .load_peers(start.saturating_sub(node_cfg.remember_ms) / 1000)?
        .into_iter()
        .map(known_peer)
        .collect();
    let trust = load_trust(&store);
    let reads = Store::open(&db_path).ok();
    let (store_handle, store_thread) = StoreWriter::from_store(store, WriterConfig::default())?;

    let (net_tx, net_rx) = bounded::<NetEvent>(NET_INBOUND);
    let net: NetHandle = Net::spawn(cfg.net_config(), net_tx)?;
    let (ctl_tx, ctl_rx) = bounded::<NodeRequest>(CONTROL_INBOUND);
    let control: ControlHandle = ControlServer::spawn(&data_dir, ctl_tx)?;

    let mut seed = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
    let remember_ms = node_cfg.remember_ms;
    let mut node = Node::new(
        node_cfg,
        identity.signing_key().clone(),
        epoch,
        remembered,
        u64::from_le_bytes(seed),
        start,
    );
    node.set_judge(Box::new(crate::trust::judge::TrustJudge::new(trust)));
    info!(
        id = %identity.peer_id(),
        network = %cfg.network,
        epoch,
        unicast = %net.local_unicast_addr(),
        group = %net.group_addr(),
        interface = %net.interface().name,
        data_dir = %data_dir.display(),
        "roost is running"
    );
    let mut d = Driver {
        node,
        net: net.sender(),
        net_counters: net.counters(),
        store: store_handle,
        pending: BTreeMap::new(),
        next_token: 1,
        own_key,
        remember_ms,
        mode: match slips.as_ref().map(|(_, m)| *m) {
            Some(BridgeMode::Pigeon) => "pigeon",
            Some(BridgeMode::Native) => "native",
            None => "off",
        },
        reads,
        saved_trust: None,
        slips: slips.map(|(s, _)| s),
    };
    let start_out = match d.slips.as_mut() {
        Some(s) => s
            .bridge
            .on_start(net.local_unicast_addr(), &identity.peer_id().to_string()),
        None => Vec::new(),
    };
    d.carry_out(start_out);
    let retention_ms = u64::from(cfg.retention.reports_days) * 24 * 3600 * 1000;
    let mut next_prune = start;
    let mut next_trust_save = start + TRUST_SAVE_EVERY_MS;

    let never = crossbeam_channel::never();
    let slips_rx = if d.slips.is_some() {
        &slips_events
    } else {
        &never
    };
    loop {
        d.tick();
        d.drain();
        let now = now_ms();
        if now >= next_prune {
            next_prune = now + PRUNE_EVERY_MS;
            for op in [
                StoreOp::PruneReportsBefore(now.saturating_sub(retention_ms) / 1000),
                StoreOp::PruneOpinionsBefore(now.saturating_sub(retention_ms) / 1000),
                StoreOp::ForgetPeersBefore(now.saturating_sub(remember_ms) / 1000),
            ] {
                let _ = d.store.submit(op);
            }
        }
        if now >= next_trust_save {
            next_trust_save = now + TRUST_SAVE_EVERY_MS;
            d.save_trust();
        }
        let deadline = d
            .node
            .poll_timeout()
            .unwrap_or(now + 1_000)
            .min(next_prune)
            .min(next_trust_save);
        let wait = Duration::from_millis(deadline.saturating_sub(now));
        select! {
            recv(net_rx) -> ev => match ev {
                Ok(NetEvent::Datagram { from, bytes, multicast }) => {
                    d.node.handle_datagram(now_ms(), from, &bytes, multicast);
                }
                Err(_) => { warn!("the network thread stopped"); break; }
            },
            recv(ctl_rx) -> req => match req {
                Ok((ControlRequest::Shutdown, reply)) => {
                    let _ = reply.send(ControlResponse::Ok(serde_json::json!({"stopping": true})));
                    break;
                }
                Ok((req, reply)) => d.control(req, reply),
                Err(_) => { warn!("the control thread stopped"); break; }
            },
            recv(slips_rx) -> ev => match ev {
                Ok(ev) => d.slips_event(ev),
                Err(_) => { warn!("the Slips relay stopped"); break; }
            },
            recv(signals) -> sig => {
                info!(signal = sig.unwrap_or(0), "stopping");
                break;
            }
            default(wait) => d.node.handle_timeout(now_ms()),
        }
    }

    d.node.shutdown(now_ms());
    d.drain();
    d.save_trust();
    for (_, tx) in std::mem::take(&mut d.pending) {
        let _ = tx.send(ControlResponse::err("the daemon is shutting down"));
    }
    // Closing the sockets after the Goodbye has been queued: the loop sends what it has.
    net.shutdown();
    control.shutdown();
    if let Some(r) = relay {
        // Give the relay a moment to publish what the last drain queued.
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        while r.stats().queued > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        info!(stats = ?r.stats(), "Slips relay stopping");
        r.shutdown();
    }
    match d.store.shutdown(store_thread) {
        Ok(stats) => info!(ops = stats.ops_written, "database flushed"),
        Err(e) => warn!(error = %e, "database flush at shutdown failed"),
    }
    Ok(())
}
