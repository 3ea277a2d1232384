//! The translation between the Slips relay and the node, kept sans-IO so that it can be
//! tested without Redis or sockets: relay events, node notifications and node replies go in,
//! node commands and relay commands come out. The runtime only carries them.
//!
//! # Pigeon mode (Slips' Python module talks to roost as if it were the Go Pigeon)
//!
//! | from | to |
//! |---|---|
//! | `p2p_pygo` request to `*` | `Command::Ask`; each peer answer that carries an evaluation goes to Slips as a `go_data` report from that peer as soon as it arrives (`Notification::AnswerReceived`); answers not streamed that way (an ask served from the node's cache) go when the ask's reply comes |
//! | `p2p_pygo` report to `*` | `Command::Report` (a "no data" report is dropped) |
//! | `p2p_pygo` blame to `*` | `Command::Blame` |
//! | `p2p_pygo` report to a peer | `Command::AnswerQuery` for the oldest pending query of that peer about that IoC |
//! | `stop_process` | the node leaves the network (Goodbye); the process stays up until a signal |
//! | peer appears / moves | `peer_update` with the peer's IP and reliability |
//! | peer's Query | `go_data` request from that peer (Slips answers with a report to it) |
//! | peer's Report / Blame | `go_data` report / blame (the relay refuses blames: Slips 1.1.21 would crash) |
//!
//! Answers are streamed one by one, as Pigeon forwarded each peer's reply, so a slow or
//! silent peer does not hold back the others' answers until the node's `ask_deadline_ms`.
//! Slips does not use them for the opinion of the request they answer (spec 0.5), but it
//! stores each one as that peer's report when it reads it, and later opinions use those.
//! Each answer reaches Slips once per request: the bridge remembers, per ask, which peers'
//! answers it already published and skips them when the ask's reply comes. "No data"
//! answers are not forwarded: Slips only prints that the peer has nothing to share, and a
//! Slips peer behind the Go Pigeon never sends one (it stays silent when it knows nothing),
//! so Slips never saw them from Pigeon. Answers to asks that Slips did not make (the CLI's)
//! are not forwarded either.
//!
//! The `peer_update` of a peer always precedes its first `go_data`: the node emits
//! `PeerUpdate` while it records the sender, before it dispatches the message, and the relay
//! clamps `report_time` to be no older than the peer's last `peer_update`.
//!
//! # Native mode (roost replaces Slips' P2P module)
//!
//! | from | to |
//! |---|---|
//! | `report_to_peers` evidence | `Command::Report`: shared with peers and remembered as an own detection, unless the network gave a non-zero opinion on the IP within one time window (Dovecot's `opinion_cache` rule) |
//! | `p2p_data_request` | `Command::Ask`; if the aggregate `threat * confidence >= evidence_threshold`, the two MALICIOUS_IP_FROM_P2P_NETWORK evidences (spec B.4.2); if it is `>= malicious_threshold`, also a `new_blame` |
//! | peer's Report or Blame about an IP | `Command::Peers` (the reporter's trust), then `Command::Opinion`: an opinion with `threat * confidence >= malicious_threshold` becomes a `new_blame`; if the reporter's trust is `>= evidence_trust` and it is no longer young (unless `evidence_from_young`), a P2P_REPORT evidence (spec B.4.1) and a `p2p_reports.log` line, once per (peer, IP) per time window |
//! | peer's Query about an IP | `LookupIp`, then `Command::AnswerQuery` with Slips' `IPsInfo` view (see below) |
//! | peer appears / moves, and every minute | `Command::Peers`, then `peer_trust` (the trust model's value) for every active peer whose trust changed |
//!
//! A `new_blame` goes out at most once per IP per time window (`tw_width_ms`), so a stream of
//! reports or requests about one address does not make Slips block it again and again.
//! Evidence is a weaker statement than a blame (Slips weighs it with its own alert threshold;
//! a blame blocks at once), hence the lower `evidence_threshold`; Dovecot sets the evidence
//! at any `score * confidence > 0`, which would turn a lone, barely trusted whisper into
//! evidence.
//!
//! A peer's Query about an IP is answered with Slips' own view (`SlipsCommand::LookupIp`,
//! the `IPsInfo` score and confidence Dovecot answers with); Queries about other IoCs, or
//! while Redis is away, go back to the node at once (`AnswerQuery` without evaluation), which
//! answers from its own detections: the evidence Slips shared on `report_to_peers`. The
//! same happens when the bridge stored P2P evidence about the IP within one time window:
//! Slips folded it into `IPsInfo`, which then speaks the network's words, and answering
//! with it would let one peer's claim bounce back through every honest node (and count
//! again at the asker). Peers' individual blames are not forwarded to
//! `new_blame`: that would let any single peer make Slips block an address; only the
//! trust-weighted aggregate of an ask can.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tracing::{debug, info, warn};

use crate::ioc::{Evaluation, Ioc};
use crate::node::{Command, Notification, PeerInfo, ReportKind, Response};
use crate::slips::dovecot::DovecotMessage;
use crate::slips::events::{SlipsCommand, SlipsEvent};
use crate::slips::evidence::{
    peer_report_log_text, peer_update_log_text, uuid4_text, EvidenceKind, EvidenceWindow,
    LocalTime, P2pEvidence,
};
use crate::slips::native::DataRequest;

/// Node command tokens at or above this value belong to the bridge; the control socket's
/// tokens count up from 1 and never get there.
pub const BRIDGE_TOKEN_BASE: u64 = 1 << 62;

/// Default for [`BridgeConfig::malicious_threshold`]: a `threat * confidence` of 0.5 is, for
/// example, a unanimous "high" (0.8) at 0.625 confidence. Lower values let weaker, less
/// certain network opinions make Slips block addresses.
pub const DEFAULT_MALICIOUS_THRESHOLD: f64 = 0.5;

/// Default for [`BridgeConfig::evidence_trust`]: the trust of a peer the model has no record
/// on yet (its neutral prior). A peer whose reports were found wrong more often than right
/// falls below it and its reports stop becoming evidence; Dovecot writes evidence for every
/// peer's report.
pub const DEFAULT_EVIDENCE_TRUST: f64 = 0.5;

/// Default for [`BridgeConfig::evidence_threshold`]: e.g. a "medium" (0.5) opinion at 0.4
/// confidence.
pub const DEFAULT_EVIDENCE_THRESHOLD: f64 = 0.2;

/// Which side of Slips the bridge speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeMode {
    /// Drop-in Pigeon: Slips' Python module is the trust model.
    Pigeon,
    /// roost is Slips' P2P module.
    Native,
}

/// The bridge's tunables; the runtime fills them from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    /// Which mapping.
    pub mode: BridgeMode,
    /// Native mode: the aggregate `threat * confidence` at or above which the network's
    /// opinion is published to Slips as a `new_blame` (Slips then blocks the IP).
    pub malicious_threshold: f64,
    /// Pigeon mode: how long a peer's Query waits for Slips' answer before it is forgotten
    /// (the node itself gives up after its `query_answer_window_ms`).
    pub query_ttl_ms: u64,
    /// Most pending Queries and in-flight commands remembered (oldest dropped beyond it).
    pub max_pending: usize,
    /// Native mode: how often `peer_trust` is refreshed even without peer changes.
    pub trust_refresh_ms: u64,
    /// Native mode: the trust (0..1, from the trust model) a reporting peer needs for its
    /// report or blame to become a P2P_REPORT evidence in Slips.
    pub evidence_trust: f64,
    /// Native mode: whether a young identity (the trust model's `young`: known for less
    /// than its first hours) may create P2P_REPORT evidence. Off by default: Slips adds up
    /// evidence, so a wave of fresh identities, each at the neutral trust, would otherwise
    /// add up to an alert about whatever address they name. Their reports still reach the
    /// trust-weighted opinion, where young identities together carry bounded weight.
    pub evidence_from_young: bool,
    /// Native mode: the aggregate `threat * confidence` at or above which a data request's
    /// answer becomes MALICIOUS_IP_FROM_P2P_NETWORK evidence.
    pub evidence_threshold: f64,
    /// Native mode: Slips' time-window width. One `new_blame` per IP per window, and a
    /// network opinion suppresses re-sharing the IP for one window.
    pub tw_width_ms: u64,
    /// Native mode: evidence types not to write (Slips' `DisabledAlerts.disabled_detections`,
    /// which lives in Slips' YAML, not in Redis).
    pub disabled_detections: Vec<String>,
    /// Seed of the generator of evidence ids (UUID4); the runtime draws it from the OS.
    pub seed: u64,
}

impl BridgeConfig {
    /// Defaults for `mode`.
    pub fn new(mode: BridgeMode) -> Self {
        BridgeConfig {
            mode,
            malicious_threshold: DEFAULT_MALICIOUS_THRESHOLD,
            query_ttl_ms: 10_000,
            max_pending: 4096,
            trust_refresh_ms: 60_000,
            evidence_trust: DEFAULT_EVIDENCE_TRUST,
            evidence_from_young: false,
            evidence_threshold: DEFAULT_EVIDENCE_THRESHOLD,
            tw_width_ms: 3_600_000,
            disabled_detections: Vec::new(),
            seed: 0,
        }
    }
}

/// Something the runtime must carry out for the bridge.
#[derive(Debug, Clone, PartialEq)]
pub enum BridgeOutput {
    /// Give this command to the node with this token (its reply comes back through
    /// [`Bridge::on_reply`]).
    Node {
        /// The command.
        command: Command,
        /// A bridge token (>= [`BRIDGE_TOKEN_BASE`]).
        token: u64,
    },
    /// Send this to the relay.
    Slips(SlipsCommand),
    /// Slips said `stop_process`: leave the network, keep the process running.
    StopNetwork,
    /// Native mode: append a line to Slips' `p2p_reports.log` (`<local time> - <text>`).
    ReportsLog {
        /// When it happened, unix ms (the line's time stamp).
        at_ms: u64,
        /// The text after the time stamp.
        text: String,
    },
}

/// Counters of what the bridge could not translate, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BridgeStats {
    /// Slips answered a peer that has no pending query about that IoC.
    pub unmatched_answers: u64,
    /// Slips broadcast a report without evaluation (nothing to share).
    pub empty_reports: u64,
    /// Node commands that came back with an error.
    pub command_errors: u64,
    /// Pending entries dropped because a table was full.
    pub pending_dropped: u64,
    /// Native: peer reports not turned into evidence (reporter's trust below the bar).
    pub untrusted_reports: u64,
    /// Native: evidence not re-shared because the network already had an opinion.
    pub not_reshared: u64,
    /// Native: blames not sent again within the same time window.
    pub blames_suppressed: u64,
    /// Native: a peer's report on an IP it already made evidence of in this time window.
    pub repeated_reports: u64,
    /// Native: Slips' view of an IP not given to a peer because it holds peers' reports.
    pub echoes_withheld: u64,
}

/// Why the bridge sent a command to the node, so it knows what to do with the reply.
#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    /// Pigeon: Slips' request; deliver the answers as `go_data`. `streamed` holds the peers
    /// whose answers already went to Slips as they arrived.
    PigeonAsk { streamed: BTreeSet<String> },
    /// Native: Slips' data request; evidence and blame if the network says malicious.
    NativeAsk(DataRequest),
    /// Native: list peers to refresh `peer_trust` and to weigh waiting peer reports.
    PeerTrust,
    /// Native: the network's opinion after a peer's report about this IP.
    ReportOpinion(IpAddr),
    /// Report, Blame, AnswerQuery: only errors matter.
    Other,
}

/// The translator. One per daemon; lives on the node thread.
pub struct Bridge {
    cfg: BridgeConfig,
    next_token: u64,
    purposes: BTreeMap<u64, Purpose>,
    /// Pigeon: peers' Queries waiting for Slips, by (peer id, IoC): (request id, expiry).
    queries: BTreeMap<(String, Ioc), VecDeque<(u64, u64)>>,
    queries_len: usize,
    /// Native: the `peer_trust` value last written per peer IP.
    trust_written: BTreeMap<IpAddr, f64>,
    last_trust_ms: u64,
    next_trust_ms: u64,
    /// Native: peer reports waiting for their reporter's trust (the next `Peers` reply).
    pending_reports: VecDeque<PendingReport>,
    /// Native: when the network last gave a non-zero opinion per IP (Dovecot's
    /// `opinion_cache` rule for sharing).
    opinions: BTreeMap<IpAddr, u64>,
    /// Native: when a `new_blame` was last sent per IP.
    blamed: BTreeMap<IpAddr, u64>,
    /// Native: when a peer's report about an IP last became evidence: one P2P_REPORT per
    /// (peer, IP) per time window, however often the peer repeats or rewords it.
    evidenced: BTreeMap<(String, IpAddr), u64>,
    /// Native: when the bridge last stored P2P-derived evidence per IP. Slips folds that
    /// evidence into `IPsInfo`, so for one time window `IPsInfo` about such an IP is the
    /// network's own voice and is not given back to peers as ours.
    echoed: BTreeMap<IpAddr, u64>,
    /// Native: when an `IPsInfo` look-up was last requested per IP (one per burst of Queries).
    lookups: BTreeMap<IpAddr, u64>,
    /// Native: whether the relay is connected (look-ups are pointless without it).
    redis_up: bool,
    /// Evidence ids.
    rng: ChaCha8Rng,
    stats: BridgeStats,
}

/// A peer's report or blame about an IP, waiting for the reporter's trust.
#[derive(Debug, Clone, PartialEq)]
struct PendingReport {
    peer: String,
    ip: IpAddr,
    evaluation: Evaluation,
}

/// Inserts into a bounded time table, evicting the oldest entry when full.
fn remember_time(table: &mut BTreeMap<IpAddr, u64>, cap: usize, ip: IpAddr, now_ms: u64) {
    if !table.contains_key(&ip) && table.len() >= cap.max(1) {
        if let Some(oldest) = table.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k) {
            table.remove(&oldest);
        }
    }
    table.insert(ip, now_ms);
}

fn unix_secs(ms: u64) -> u64 {
    ms / 1000
}

impl Bridge {
    /// A bridge with nothing pending.
    pub fn new(cfg: BridgeConfig) -> Bridge {
        let seed = cfg.seed;
        Bridge {
            cfg,
            next_token: BRIDGE_TOKEN_BASE,
            purposes: BTreeMap::new(),
            queries: BTreeMap::new(),
            queries_len: 0,
            trust_written: BTreeMap::new(),
            last_trust_ms: 0,
            next_trust_ms: 0,
            pending_reports: VecDeque::new(),
            opinions: BTreeMap::new(),
            blamed: BTreeMap::new(),
            echoed: BTreeMap::new(),
            evidenced: BTreeMap::new(),
            lookups: BTreeMap::new(),
            redis_up: false,
            rng: ChaCha8Rng::seed_from_u64(seed),
            stats: BridgeStats::default(),
        }
    }

    /// Whether a node reply token belongs to the bridge.
    pub fn owns_token(token: u64) -> bool {
        token >= BRIDGE_TOKEN_BASE
    }

    /// The counters.
    pub fn stats(&self) -> BridgeStats {
        self.stats
    }

    /// The mode.
    pub fn mode(&self) -> BridgeMode {
        self.cfg.mode
    }

    fn command(&mut self, command: Command, purpose: Purpose) -> BridgeOutput {
        if self.purposes.len() >= self.cfg.max_pending {
            // The oldest in-flight command lost its reply handler; its reply is ignored.
            self.purposes.pop_first();
            self.stats.pending_dropped += 1;
        }
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1).max(BRIDGE_TOKEN_BASE);
        self.purposes.insert(token, purpose);
        BridgeOutput::Node { command, token }
    }

    /// The messages to send once at start: Pigeon's `multiAddress` (spec A.3 step 4), here
    /// `/ip4/<interface address>/udp/<unicast port>/p2p/<peer id>`; nothing in native mode.
    pub fn on_start(&mut self, unicast: SocketAddr, peer_id: &str) -> Vec<BridgeOutput> {
        match self.cfg.mode {
            BridgeMode::Pigeon => vec![BridgeOutput::Slips(SlipsCommand::SetMultiAddress {
                value: multiaddress(unicast, peer_id),
            })],
            BridgeMode::Native => Vec::new(),
        }
    }

    /// Periodic work (native `peer_trust` refresh); call it every loop iteration.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<BridgeOutput> {
        self.expire_queries(now_ms);
        if self.cfg.mode != BridgeMode::Native {
            return Vec::new();
        }
        if now_ms < self.next_trust_ms || self.purposes.values().any(|p| *p == Purpose::PeerTrust) {
            return Vec::new();
        }
        self.last_trust_ms = now_ms;
        self.next_trust_ms = now_ms + self.cfg.trust_refresh_ms;
        vec![self.command(Command::Peers, Purpose::PeerTrust)]
    }

    /// Brings the next `peer_trust` refresh forward, but no closer than a second after the
    /// last one, so that churning peers cannot turn it into a busy loop.
    fn trust_soon(&mut self) {
        self.next_trust_ms = self.next_trust_ms.min(self.last_trust_ms + 1_000);
    }

    /// Slips asked for something (relay -> node).
    pub fn on_event(&mut self, now_ms: u64, event: SlipsEvent) -> Vec<BridgeOutput> {
        match event {
            SlipsEvent::Broadcast { msg } => match msg {
                DovecotMessage::Request { ioc } => {
                    vec![self.command(
                        Command::Ask { ioc },
                        Purpose::PigeonAsk {
                            streamed: BTreeSet::new(),
                        },
                    )]
                }
                DovecotMessage::Report { .. } | DovecotMessage::Blame { .. } => {
                    let blame = matches!(msg, DovecotMessage::Blame { .. });
                    let ioc = msg.ioc().clone();
                    let Some(evaluation) = msg.evaluation() else {
                        self.stats.empty_reports += 1;
                        debug!(ioc = %ioc, "Slips broadcast a report without data; nothing to share");
                        return Vec::new();
                    };
                    let command = if blame {
                        Command::Blame { ioc, evaluation }
                    } else {
                        Command::Report { ioc, evaluation }
                    };
                    vec![self.command(command, Purpose::Other)]
                }
            },
            SlipsEvent::SendTo { peer, msg } => {
                let evaluation = msg.evaluation();
                let ioc = msg.ioc().clone();
                match self.take_query(now_ms, &peer, &ioc) {
                    Some(request) => vec![self.command(
                        Command::AnswerQuery {
                            peer,
                            request,
                            evaluation,
                        },
                        Purpose::Other,
                    )],
                    None => {
                        self.stats.unmatched_answers += 1;
                        debug!(peer = %peer, ioc = %ioc, "Slips answered a query that is not pending (late or never asked)");
                        Vec::new()
                    }
                }
            }
            SlipsEvent::Stop => vec![BridgeOutput::StopNetwork],
            SlipsEvent::ReportToPeers { evidence } => {
                if let Some(ip) = evidence.ioc.as_ip() {
                    if self.network_has_opinion(now_ms, ip) {
                        self.stats.not_reshared += 1;
                        debug!(%ip, id = %evidence.evidence_id, "the network already has an opinion on this IP; not sharing the evidence again");
                        return Vec::new();
                    }
                }
                vec![self.command(
                    Command::Report {
                        ioc: evidence.ioc,
                        evaluation: evidence.evaluation,
                    },
                    Purpose::Other,
                )]
            }
            SlipsEvent::DataRequest { request } => vec![self.command(
                Command::Ask {
                    ioc: Ioc::ip(request.ip),
                },
                Purpose::NativeAsk(request),
            )],
            SlipsEvent::IpInfo { ip, evaluation } => self.answer_from_slips(now_ms, ip, evaluation),
            SlipsEvent::RedisUp => {
                self.redis_up = true;
                // Slips may have restarted with an empty Redis: rewrite peer_trust in full.
                self.trust_written.clear();
                self.trust_soon();
                Vec::new()
            }
            SlipsEvent::RedisDown => {
                self.redis_up = false;
                // Queries waiting for a look-up the relay may never make: answer them now.
                let ips: Vec<IpAddr> = self.lookups.keys().copied().collect();
                ips.into_iter()
                    .flat_map(|ip| self.answer_from_slips(now_ms, ip, None))
                    .collect()
            }
        }
    }

    /// The node told the relay about the network (node -> Slips).
    pub fn on_notification(&mut self, now_ms: u64, note: Notification) -> Vec<BridgeOutput> {
        match (self.cfg.mode, note) {
            (
                BridgeMode::Pigeon,
                Notification::PeerUpdate {
                    peer,
                    addr,
                    reliability,
                },
            ) => vec![BridgeOutput::Slips(SlipsCommand::PeerUpdate {
                peer,
                ip: Some(addr.ip()),
                reliability: Some(reliability),
            })],
            (BridgeMode::Pigeon, Notification::QueryReceived { peer, request, ioc }) => {
                self.remember_query(now_ms, &peer, &ioc, request);
                vec![BridgeOutput::Slips(SlipsCommand::GoData {
                    reporter: peer,
                    report_time: unix_secs(now_ms),
                    msg: DovecotMessage::Request { ioc },
                })]
            }
            (
                BridgeMode::Pigeon,
                Notification::ReportReceived {
                    peer,
                    kind,
                    ioc,
                    evaluation,
                    timestamp_ms,
                },
            ) => {
                let score = Some(evaluation.into());
                let msg = match kind {
                    ReportKind::Blame => DovecotMessage::Blame {
                        ioc,
                        evaluation: score,
                    },
                    ReportKind::Report | ReportKind::Answer => DovecotMessage::Report {
                        ioc,
                        evaluation: score,
                    },
                };
                vec![BridgeOutput::Slips(SlipsCommand::GoData {
                    reporter: peer,
                    report_time: unix_secs(timestamp_ms),
                    msg,
                })]
            }
            (
                BridgeMode::Pigeon,
                Notification::AnswerReceived {
                    peer,
                    ioc,
                    evaluation,
                    timestamp_ms,
                    waiting,
                },
            ) => self.stream_answer(peer, ioc, evaluation, timestamp_ms, &waiting),
            (
                BridgeMode::Native,
                Notification::PeerUpdate {
                    peer,
                    addr,
                    reliability,
                },
            ) => {
                self.trust_soon();
                // Dovecot logs every peer update Pigeon gives it.
                vec![BridgeOutput::ReportsLog {
                    at_ms: now_ms,
                    text: peer_update_log_text(&peer, addr.ip(), Some(reliability)),
                }]
            }
            (BridgeMode::Native, Notification::QueryReceived { peer, request, ioc }) => {
                self.native_query(now_ms, peer, request, ioc)
            }
            (
                BridgeMode::Native,
                Notification::ReportReceived {
                    peer,
                    ioc,
                    evaluation,
                    ..
                },
            ) => {
                // Slips' evidence is about IPs only.
                let Some(ip) = ioc.as_ip() else {
                    return Vec::new();
                };
                if self.pending_reports.len() >= self.cfg.max_pending {
                    self.pending_reports.pop_front();
                    self.stats.pending_dropped += 1;
                }
                self.pending_reports.push_back(PendingReport {
                    peer,
                    ip,
                    evaluation,
                });
                if self.purposes.values().any(|p| *p == Purpose::PeerTrust) {
                    // The reply already on its way will carry the reporter's trust.
                    return Vec::new();
                }
                vec![self.command(Command::Peers, Purpose::PeerTrust)]
            }
            _ => Vec::new(),
        }
    }

    /// The node replied to a bridge command (`owns_token(token)` was true).
    pub fn on_reply(&mut self, now_ms: u64, token: u64, response: Response) -> Vec<BridgeOutput> {
        let Some(purpose) = self.purposes.remove(&token) else {
            return Vec::new();
        };
        if let Response::Error(e) = &response {
            self.stats.command_errors += 1;
            debug!(error = %e.error, ?purpose, "node refused a command from Slips");
            return Vec::new();
        }
        match (purpose, response) {
            (Purpose::PigeonAsk { streamed }, Response::Ask(a)) => {
                let Ok(ioc) = a.ioc.parse::<Ioc>() else {
                    return Vec::new();
                };
                a.answers
                    .into_iter()
                    .filter(|ans| !streamed.contains(&ans.peer))
                    .filter_map(|ans| {
                        let evaluation = Evaluation::new(ans.threat, ans.confidence).ok()?;
                        Some(BridgeOutput::Slips(SlipsCommand::GoData {
                            reporter: ans.peer,
                            report_time: unix_secs(now_ms),
                            msg: DovecotMessage::report(ioc.clone(), evaluation),
                        }))
                    })
                    .collect()
            }
            (Purpose::NativeAsk(request), Response::Ask(a)) => {
                let ip = request.ip;
                let (Some(t), Some(c)) = (a.threat, a.confidence) else {
                    debug!(%ip, asked = a.asked, "the network has no opinion");
                    return Vec::new();
                };
                self.note_opinion(now_ms, ip, t, c);
                let mut out = Vec::new();
                if t * c >= self.cfg.evidence_threshold && t > 0.0 {
                    out.extend(self.malicious_ip_evidence(now_ms, &request, t, c));
                }
                out.extend(self.maybe_blame(now_ms, ip, t, c));
                if out.is_empty() {
                    debug!(%ip, threat = t, confidence = c, "the network does not find it malicious enough");
                }
                out
            }
            (Purpose::ReportOpinion(ip), Response::Opinion(o)) => {
                let (Some(t), Some(c)) = (o.threat, o.confidence) else {
                    return Vec::new();
                };
                self.note_opinion(now_ms, ip, t, c);
                self.maybe_blame(now_ms, ip, t, c).into_iter().collect()
            }
            (Purpose::PeerTrust, Response::Peers(peers)) => {
                let mut out = self.weigh_pending_reports(now_ms, &peers);
                for p in peers {
                    if p.state != "active" {
                        continue;
                    }
                    let Some(ip) = p
                        .addr
                        .as_deref()
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                        .map(|a| a.ip())
                    else {
                        continue;
                    };
                    if !p.trust.is_finite() {
                        continue;
                    }
                    let changed = self
                        .trust_written
                        .get(&ip)
                        .map_or(true, |old| (old - p.trust).abs() >= 0.005);
                    if changed {
                        if self.trust_written.len() >= self.cfg.max_pending {
                            self.trust_written.pop_first();
                        }
                        self.trust_written.insert(ip, p.trust);
                        out.push(BridgeOutput::Slips(SlipsCommand::SetPeerTrust {
                            ip,
                            trust: p.trust,
                        }));
                    }
                }
                out
            }
            (purpose, other) => {
                debug!(?purpose, ?other, "reply to a Slips command");
                Vec::new()
            }
        }
    }

    /// Pigeon: one peer's answer, published at once if Slips is waiting for that ask (one of
    /// `waiting` is a Slips request still in flight) and the answer carries data.
    fn stream_answer(
        &mut self,
        peer: String,
        ioc: Ioc,
        evaluation: Option<Evaluation>,
        timestamp_ms: u64,
        waiting: &[u64],
    ) -> Vec<BridgeOutput> {
        let Some(evaluation) = evaluation else {
            debug!(peer = %peer, ioc = %ioc, "peer has no data; not telling Slips");
            return Vec::new();
        };
        let mut ours = false;
        for t in waiting {
            if let Some(Purpose::PigeonAsk { streamed }) = self.purposes.get_mut(t) {
                streamed.insert(peer.clone());
                ours = true;
            }
        }
        if !ours {
            return Vec::new();
        }
        vec![BridgeOutput::Slips(SlipsCommand::GoData {
            reporter: peer,
            report_time: unix_secs(timestamp_ms),
            msg: DovecotMessage::report(ioc, evaluation),
        })]
    }

    /// True when the network gave a non-zero opinion on `ip` within the last time window:
    /// Dovecot does not share evidence about such an IP (its `opinion_cache` rule).
    fn network_has_opinion(&self, now_ms: u64, ip: IpAddr) -> bool {
        self.opinions
            .get(&ip)
            .is_some_and(|t| now_ms.saturating_sub(*t) < self.cfg.tw_width_ms)
    }

    fn note_opinion(&mut self, now_ms: u64, ip: IpAddr, threat: f64, confidence: f64) {
        if threat > 0.0 && confidence > 0.0 {
            remember_time(&mut self.opinions, self.cfg.max_pending, ip, now_ms);
        }
    }

    /// A `new_blame` when the opinion crosses `malicious_threshold`, at most once per IP per
    /// time window.
    fn maybe_blame(
        &mut self,
        now_ms: u64,
        ip: IpAddr,
        threat: f64,
        confidence: f64,
    ) -> Option<BridgeOutput> {
        if threat * confidence < self.cfg.malicious_threshold {
            return None;
        }
        let evaluation = Evaluation::new(threat, confidence).ok()?;
        if let Some(t) = self.blamed.get(&ip) {
            if now_ms.saturating_sub(*t) < self.cfg.tw_width_ms {
                self.stats.blames_suppressed += 1;
                debug!(%ip, "already blamed in this time window");
                return None;
            }
        }
        remember_time(&mut self.blamed, self.cfg.max_pending, ip, now_ms);
        info!(%ip, threat, confidence, "the network says malicious; telling Slips (new_blame)");
        Some(BridgeOutput::Slips(SlipsCommand::Blame { ip, evaluation }))
    }

    fn new_evidence_id(&mut self) -> String {
        let mut b = [0u8; 16];
        self.rng.fill_bytes(&mut b);
        uuid4_text(b)
    }

    fn enabled(&self, kind: EvidenceKind) -> bool {
        !self
            .cfg
            .disabled_detections
            .iter()
            .any(|d| d == kind.name())
    }

    /// The two MALICIOUS_IP_FROM_P2P_NETWORK evidences of a data request (spec B.4.2).
    fn malicious_ip_evidence(
        &mut self,
        now_ms: u64,
        request: &DataRequest,
        threat: f64,
        confidence: f64,
    ) -> Vec<BridgeOutput> {
        if !self.enabled(EvidenceKind::MaliciousIpFromP2pNetwork) {
            return Vec::new();
        }
        let ids = [self.new_evidence_id(), self.new_evidence_id()];
        let Some(pair) = P2pEvidence::malicious_ip_from_network(request, threat, confidence, ids)
        else {
            debug!(ip = %request.ip, "data request without flow details; no evidence");
            return Vec::new();
        };
        let profile_start = request.stime.unwrap_or(now_ms as f64 / 1000.0);
        remember_time(&mut self.echoed, self.cfg.max_pending, request.ip, now_ms);
        info!(ip = %request.ip, threat, confidence, "the network says malicious; storing MALICIOUS_IP_FROM_P2P_NETWORK evidence");
        pair.into_iter()
            .map(|evidence| {
                BridgeOutput::Slips(SlipsCommand::SetEvidence {
                    evidence,
                    profile_start,
                    window: EvidenceWindow::Given,
                })
            })
            .collect()
    }

    /// Turns the waiting peer reports whose reporter is trusted enough into P2P_REPORT
    /// evidence, log lines and opinion look-ups.
    fn weigh_pending_reports(&mut self, now_ms: u64, peers: &[PeerInfo]) -> Vec<BridgeOutput> {
        let mut out = Vec::new();
        for r in std::mem::take(&mut self.pending_reports) {
            let peer = peers.iter().find(|p| p.id == r.peer);
            // Whatever the reporter, the trust-weighted opinion (young identities bounded)
            // decides about a blame.
            out.push(self.command(
                Command::Opinion { ioc: Ioc::ip(r.ip) },
                Purpose::ReportOpinion(r.ip),
            ));
            // A NaN trust counts as none; a peer the model does not explain counts as young.
            let trust = peer.map_or(0.0, |p| p.trust);
            let young = peer
                .and_then(|p| p.why.as_ref())
                .and_then(|w| w.get("young"))
                .and_then(|y| y.as_bool())
                .unwrap_or(true);
            let trusted = trust.is_finite()
                && trust >= self.cfg.evidence_trust
                && (self.cfg.evidence_from_young || !young);
            if !trusted {
                self.stats.untrusted_reports += 1;
                debug!(peer = %r.peer, ip = %r.ip, trust, young, "reporter not trusted enough; no evidence");
                continue;
            }
            let key = (r.peer.clone(), r.ip);
            if self
                .evidenced
                .get(&key)
                .is_some_and(|t| now_ms.saturating_sub(*t) < self.cfg.tw_width_ms)
            {
                self.stats.repeated_reports += 1;
                debug!(peer = %r.peer, ip = %r.ip, "this peer's report on this IP is already evidence in this window");
                continue;
            }
            if self.evidenced.len() >= self.cfg.max_pending {
                if let Some(oldest) = self
                    .evidenced
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone())
                {
                    self.evidenced.remove(&oldest);
                }
            }
            self.evidenced.insert(key, now_ms);
            let reporter_ip = peer
                .and_then(|p| p.addr.as_deref())
                .and_then(|a| a.parse::<SocketAddr>().ok())
                .map(|a| a.ip());
            let (score, confidence) = (r.evaluation.threat(), r.evaluation.confidence());
            if self.enabled(EvidenceKind::P2pReport) {
                let now_s = now_ms as f64 / 1000.0;
                let timestamp = LocalTime::from_unix_micros((now_ms as i64).saturating_mul(1000))
                    .map(|t| t.alerts_format())
                    .unwrap_or_else(|| crate::logs::slips_timestamp(now_ms.saturating_mul(1000)));
                let id = self.new_evidence_id();
                if let Some(evidence) = P2pEvidence::p2p_report(
                    r.ip,
                    &r.peer,
                    reporter_ip,
                    score,
                    confidence,
                    0,
                    timestamp,
                    id,
                ) {
                    info!(peer = %r.peer, ip = %r.ip, trust, "peer report becomes P2P_REPORT evidence");
                    remember_time(&mut self.echoed, self.cfg.max_pending, r.ip, now_ms);
                    out.push(BridgeOutput::Slips(SlipsCommand::SetEvidence {
                        evidence,
                        profile_start: now_s,
                        window: EvidenceWindow::OfTime(now_s),
                    }));
                }
            }
            out.push(BridgeOutput::ReportsLog {
                at_ms: now_ms,
                text: peer_report_log_text(r.ip, score, confidence, &r.peer),
            });
        }
        out
    }

    /// Native: a peer's Query. About an IP, Slips' own view (`IPsInfo`, as Dovecot answers)
    /// is looked up and the answer waits for it; anything else, or with Redis away, is
    /// answered at once by the node from its own detections (`evaluation: None`).
    fn native_query(
        &mut self,
        now_ms: u64,
        peer: String,
        request: u64,
        ioc: Ioc,
    ) -> Vec<BridgeOutput> {
        let ip = match ioc.as_ip() {
            Some(ip) if self.redis_up => ip,
            _ => return vec![self.own_answer(peer, request)],
        };
        if !self.remember_query(now_ms, &peer, &ioc, request) {
            // No room to wait: answer from the node's own detections.
            return vec![self.own_answer(peer, request)];
        }
        let recent = self
            .lookups
            .get(&ip)
            .is_some_and(|t| now_ms.saturating_sub(*t) < LOOKUP_REPEAT_MS);
        if recent {
            return Vec::new();
        }
        remember_time(&mut self.lookups, self.cfg.max_pending, ip, now_ms);
        vec![BridgeOutput::Slips(SlipsCommand::LookupIp { ip })]
    }

    fn own_answer(&mut self, peer: String, request: u64) -> BridgeOutput {
        self.command(
            Command::AnswerQuery {
                peer,
                request,
                evaluation: None,
            },
            Purpose::Other,
        )
    }

    /// Native: Slips' view of `ip` arrived; every Query waiting for it gets it, except when
    /// that view may only echo what peers told us (see `echoed`): then the node answers
    /// from its own detections.
    fn answer_from_slips(
        &mut self,
        now_ms: u64,
        ip: IpAddr,
        evaluation: Option<Evaluation>,
    ) -> Vec<BridgeOutput> {
        self.lookups.remove(&ip);
        if self.cfg.mode != BridgeMode::Native {
            return Vec::new();
        }
        self.expire_queries(now_ms);
        let echo = self
            .echoed
            .get(&ip)
            .is_some_and(|t| now_ms.saturating_sub(*t) < self.cfg.tw_width_ms);
        let evaluation = if echo {
            if evaluation.is_some() {
                self.stats.echoes_withheld += 1;
                debug!(%ip, "Slips' view of this IP holds peers' reports; answering from own detections");
            }
            None
        } else {
            evaluation
        };
        let ioc = Ioc::ip(ip);
        let keys: Vec<(String, Ioc)> = self
            .queries
            .keys()
            .filter(|(_, i)| *i == ioc)
            .cloned()
            .collect();
        let mut out = Vec::new();
        for key in keys {
            let Some(list) = self.queries.remove(&key) else {
                continue;
            };
            self.queries_len -= list.len();
            for (request, _) in list {
                out.push(self.command(
                    Command::AnswerQuery {
                        peer: key.0.clone(),
                        request,
                        evaluation,
                    },
                    Purpose::Other,
                ));
            }
        }
        out
    }

    fn remember_query(&mut self, now_ms: u64, peer: &str, ioc: &Ioc, request: u64) -> bool {
        self.expire_queries(now_ms);
        if self.queries_len >= self.cfg.max_pending {
            self.stats.pending_dropped += 1;
            warn!(
                peer,
                "too many peer queries waiting for Slips; dropping this one"
            );
            return false;
        }
        self.queries
            .entry((peer.to_owned(), ioc.clone()))
            .or_default()
            .push_back((request, now_ms + self.cfg.query_ttl_ms));
        self.queries_len += 1;
        true
    }

    fn take_query(&mut self, now_ms: u64, peer: &str, ioc: &Ioc) -> Option<u64> {
        self.expire_queries(now_ms);
        let key = (peer.to_owned(), ioc.clone());
        let list = self.queries.get_mut(&key)?;
        let request = list.pop_front().map(|(r, _)| r);
        if list.is_empty() {
            self.queries.remove(&key);
        }
        if request.is_some() {
            self.queries_len -= 1;
        }
        request
    }

    fn expire_queries(&mut self, now_ms: u64) {
        let mut removed = 0;
        self.queries.retain(|_, list| {
            let before = list.len();
            list.retain(|(_, exp)| *exp >= now_ms);
            removed += before - list.len();
            !list.is_empty()
        });
        self.queries_len -= removed;
    }
}

/// The `multiAddress` value roost shows Slips: Pigeon's format with roost's transport.
pub fn multiaddress(unicast: SocketAddr, peer_id: &str) -> String {
    let family = match unicast.ip() {
        IpAddr::V4(_) => "ip4",
        IpAddr::V6(_) => "ip6",
    };
    format!(
        "/{family}/{}/udp/{}/p2p/{peer_id}",
        unicast.ip(),
        unicast.port()
    )
}

/// Names of the Pigeon flags, to recognise Slips' argv before clap sees it.
/// Native: Queries about one IP within this many ms share one `IPsInfo` look-up.
const LOOKUP_REPEAT_MS: u64 = 1_000;

const PIGEON_FLAGS: [&str; 15] = [
    "rendezvous",
    "host",
    "pid",
    "port",
    "key-file",
    "key-reset",
    "peerstore-file",
    "rename-with-port",
    "redis-db",
    "redis-delete",
    "test",
    "redis-channel-pygo",
    "redis-channel-gopy",
    "help",
    "slips-version",
];

/// True when roost was started the way Slips starts Pigeon: as `p2p4slips` (the basename of
/// `argv[0]`), or with a first argument that is a Go-style flag (`-port`, `-host=...`,
/// `--redis-db`) of Pigeon's. roost's own subcommands never start with a dash, and
/// `--help`/`--version` stay clap's.
pub fn is_pigeon_invocation(argv: &[String]) -> bool {
    let by_name = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "p2p4slips");
    if by_name {
        return true;
    }
    let Some(first) = argv.get(1) else {
        return false;
    };
    let Some(body) = first.strip_prefix('-') else {
        return false;
    };
    let body = body.strip_prefix('-').unwrap_or(body);
    let name = body.split('=').next().unwrap_or(body);
    // `--help` is clap's help; Go's `-help` is single-dash only here.
    if first.starts_with("--") && name == "help" {
        return false;
    }
    PIGEON_FLAGS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{AnswerInfo, AskResponse, PeerInfo};

    fn ip(s: &str) -> Ioc {
        Ioc::ip(s.parse().unwrap())
    }

    fn node_cmd(out: &[BridgeOutput]) -> (Command, u64) {
        match out {
            [BridgeOutput::Node { command, token }] => (command.clone(), *token),
            other => panic!("expected one node command, got {other:?}"),
        }
    }

    #[test]
    fn pigeon_argv_detection() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_pigeon_invocation(&v(&[
            "/opt/slips/p2p4slips/p2p4slips"
        ])));
        assert!(is_pigeon_invocation(&v(&["roost", "-port", "1"])));
        assert!(is_pigeon_invocation(&v(&["roost", "--redis-db", "x"])));
        assert!(is_pigeon_invocation(&v(&["roost", "-host=1.2.3.4"])));
        assert!(is_pigeon_invocation(&v(&["roost", "-help"])));
        assert!(!is_pigeon_invocation(&v(&["roost", "--help"])));
        assert!(!is_pigeon_invocation(&v(&["roost", "run", "-port"])));
        assert!(!is_pigeon_invocation(&v(&["roost", "--version"])));
        assert!(!is_pigeon_invocation(&v(&["roost"])));
    }

    #[test]
    fn multiaddress_format() {
        let a: SocketAddr = "192.168.1.10:32768".parse().unwrap();
        assert_eq!(
            multiaddress(a, "Rabc"),
            "/ip4/192.168.1.10/udp/32768/p2p/Rabc"
        );
    }

    #[test]
    fn pigeon_query_answer_roundtrip() {
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Pigeon));
        let out = b.on_notification(
            5_000,
            Notification::QueryReceived {
                peer: "P".into(),
                request: 77,
                ioc: ip("1.2.3.4"),
            },
        );
        assert!(matches!(
            &out[..],
            [BridgeOutput::Slips(SlipsCommand::GoData { reporter, report_time: 5, .. })] if reporter == "P"
        ));
        let answer = DovecotMessage::report(ip("1.2.3.4"), Evaluation::new(0.8, 0.6).unwrap());
        // Another peer, or another IoC, does not match.
        let out = b.on_event(
            5_100,
            SlipsEvent::SendTo {
                peer: "Q".into(),
                msg: answer.clone(),
            },
        );
        assert!(out.is_empty());
        let out = b.on_event(
            5_100,
            SlipsEvent::SendTo {
                peer: "P".into(),
                msg: answer.clone(),
            },
        );
        let (cmd, _) = node_cmd(&out);
        assert!(matches!(
            cmd,
            Command::AnswerQuery {
                request: 77,
                evaluation: Some(_),
                ..
            }
        ));
        // Answered once only.
        let out = b.on_event(
            5_200,
            SlipsEvent::SendTo {
                peer: "P".into(),
                msg: answer,
            },
        );
        assert!(out.is_empty());
        assert_eq!(b.stats().unmatched_answers, 2);
    }

    #[test]
    fn pigeon_query_expires() {
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Pigeon));
        b.on_notification(
            0,
            Notification::QueryReceived {
                peer: "P".into(),
                request: 1,
                ioc: ip("1.2.3.4"),
            },
        );
        let answer = DovecotMessage::report(ip("1.2.3.4"), Evaluation::new(0.8, 0.6).unwrap());
        assert!(b
            .on_event(
                60_000,
                SlipsEvent::SendTo {
                    peer: "P".into(),
                    msg: answer
                }
            )
            .is_empty());
        assert_eq!(b.queries_len, 0);
    }

    #[test]
    fn pigeon_ask_answers_become_go_data() {
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Pigeon));
        let out = b.on_event(
            0,
            SlipsEvent::Broadcast {
                msg: DovecotMessage::Request { ioc: ip("1.2.3.4") },
            },
        );
        let (cmd, token) = node_cmd(&out);
        assert!(Bridge::owns_token(token));
        assert_eq!(cmd, Command::Ask { ioc: ip("1.2.3.4") });
        let resp = Response::Ask(AskResponse {
            ioc: "1.2.3.4".into(),
            threat: Some(0.9),
            confidence: Some(0.5),
            answers: vec![AnswerInfo {
                peer: "A".into(),
                threat: 0.9,
                confidence: 0.5,
            }],
            asked: 2,
            answered: 2,
            elapsed_ms: 10,
        });
        let out = b.on_reply(7_000, token, resp);
        assert!(matches!(
            &out[..],
            [BridgeOutput::Slips(SlipsCommand::GoData { reporter, report_time: 7, msg: DovecotMessage::Report { .. } })] if reporter == "A"
        ));
    }

    fn answer(peer: &str, evaluation: Option<Evaluation>, waiting: Vec<u64>) -> Notification {
        Notification::AnswerReceived {
            peer: peer.into(),
            ioc: ip("1.2.3.4"),
            evaluation,
            timestamp_ms: 4_500,
            waiting,
        }
    }

    fn reporters(out: &[BridgeOutput]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                BridgeOutput::Slips(SlipsCommand::GoData {
                    reporter,
                    msg: DovecotMessage::Report { .. },
                    ..
                }) => Some(reporter.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn pigeon_answers_stream_as_they_arrive_and_only_once() {
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Pigeon));
        let request = || SlipsEvent::Broadcast {
            msg: DovecotMessage::Request { ioc: ip("1.2.3.4") },
        };
        let (_, token) = node_cmd(&b.on_event(0, request()));
        let e = Evaluation::new(0.9, 0.5).unwrap();
        // A fast peer's answer goes to Slips at once, stamped with its arrival time.
        let out = b.on_notification(5_000, answer("A", Some(e), vec![token]));
        assert!(matches!(
            &out[..],
            [BridgeOutput::Slips(SlipsCommand::GoData { reporter, report_time: 4, msg: DovecotMessage::Report { .. } })] if reporter == "A"
        ));
        // "No data" is not forwarded; nor is an answer to an ask Slips did not make (the CLI's).
        assert!(b
            .on_notification(5_100, answer("B", None, vec![token]))
            .is_empty());
        assert!(b
            .on_notification(5_100, answer("C", Some(e), vec![7]))
            .is_empty());
        // The ask completes: nothing already streamed is sent again.
        let info = |peer: &str| AnswerInfo {
            peer: peer.into(),
            threat: 0.9,
            confidence: 0.5,
        };
        let resp = |answers| {
            Response::Ask(AskResponse {
                ioc: "1.2.3.4".into(),
                threat: Some(0.9),
                confidence: Some(0.5),
                answers,
                asked: 2,
                answered: 2,
                elapsed_ms: 10,
            })
        };
        assert!(b.on_reply(6_000, token, resp(vec![info("A")])).is_empty());
        // A second request served from the node's cache (no notifications): its reply carries
        // the answers, each sent once.
        let (_, token2) = node_cmd(&b.on_event(7_000, request()));
        let out = b.on_reply(7_000, token2, resp(vec![info("A")]));
        assert_eq!(reporters(&out), ["A"]);
        // Two Slips requests coalesced into one ask: each answer is published once, when it
        // arrives; an answer that came before Slips joined the ask comes with the reply.
        let (_, t3) = node_cmd(&b.on_event(8_000, request()));
        let (_, t4) = node_cmd(&b.on_event(8_000, request()));
        let out = b.on_notification(8_100, answer("A", Some(e), vec![t3, t4]));
        assert_eq!(reporters(&out), ["A"]);
        assert!(b.on_reply(8_200, t3, resp(vec![info("A")])).is_empty());
        assert!(b.on_reply(8_200, t4, resp(vec![info("A")])).is_empty());
        let (_, t5) = node_cmd(&b.on_event(9_000, request()));
        let out = b.on_reply(9_100, t5, resp(vec![info("Z"), info("A")]));
        assert_eq!(reporters(&out), ["Z", "A"]);
    }

    #[test]
    fn native_ignores_streamed_answers() {
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Native));
        let req = crate::slips::native::parse_data_request(
            br#"{"ip": "1.2.3.4", "profileid": "profile_10.0.0.1", "twid": "timewindow1", "version": "1"}"#,
        )
        .unwrap();
        let (_, token) = node_cmd(&b.on_event(0, SlipsEvent::DataRequest { request: req }));
        let e = Evaluation::new(0.9, 0.5).unwrap();
        assert!(b
            .on_notification(1, answer("A", Some(e), vec![token]))
            .is_empty());
    }

    /// The `AnswerQuery` commands in `out`: (peer, request, evaluation).
    fn answer_queries(out: &[BridgeOutput]) -> Vec<(String, u64, Option<Evaluation>)> {
        out.iter()
            .filter_map(|o| match o {
                BridgeOutput::Node {
                    command:
                        Command::AnswerQuery {
                            peer,
                            request,
                            evaluation,
                        },
                    ..
                } => Some((peer.clone(), *request, *evaluation)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn native_queries_are_answered_from_ipsinfo_unless_it_echoes_peers() {
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Native));
        let query = |peer: &str, request: u64, ioc: &str| Notification::QueryReceived {
            peer: peer.into(),
            request,
            ioc: ioc.parse().unwrap(),
        };
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        // Before Redis is up, the node answers from its own detections at once.
        assert_eq!(
            answer_queries(&b.on_notification(0, query("A", 1, "1.2.3.4"))),
            vec![("A".into(), 1, None)]
        );
        b.on_event(0, SlipsEvent::RedisUp);
        // Two peers ask about one IP: one look-up, both wait for it.
        let out = b.on_notification(10, query("A", 2, "1.2.3.4"));
        assert_eq!(
            out,
            vec![BridgeOutput::Slips(SlipsCommand::LookupIp { ip })]
        );
        assert!(b.on_notification(11, query("B", 7, "1.2.3.4")).is_empty());
        // A domain is not in IPsInfo: answered by the node at once.
        assert_eq!(
            answer_queries(&b.on_notification(12, query("B", 8, "evil.example"))),
            vec![("B".into(), 8, None)]
        );
        let slips = Evaluation::new(0.8, 0.6).unwrap();
        let out = b.on_event(
            20,
            SlipsEvent::IpInfo {
                ip,
                evaluation: Some(slips),
            },
        );
        assert_eq!(
            answer_queries(&out),
            vec![("A".into(), 2, Some(slips)), ("B".into(), 7, Some(slips))]
        );
        // Answered once: a late duplicate of the look-up's result answers nobody.
        assert!(b
            .on_event(
                21,
                SlipsEvent::IpInfo {
                    ip,
                    evaluation: Some(slips)
                }
            )
            .is_empty());

        // Once a peer's report about the IP became evidence in Slips, IPsInfo echoes it.
        let (_, token) = node_cmd(&b.on_notification(
            30,
            Notification::ReportReceived {
                peer: "C".into(),
                kind: ReportKind::Report,
                ioc: "1.2.3.4".parse().unwrap(),
                evaluation: Evaluation::new(1.0, 1.0).unwrap(),
                timestamp_ms: 30,
            },
        ));
        let out = b.on_reply(31, token, Response::Peers(vec![peer_info("C", 0.9)]));
        assert!(out
            .iter()
            .any(|o| matches!(o, BridgeOutput::Slips(SlipsCommand::SetEvidence { .. }))));
        let out = b.on_notification(2_000, query("A", 3, "1.2.3.4"));
        assert_eq!(
            out,
            vec![BridgeOutput::Slips(SlipsCommand::LookupIp { ip })]
        );
        let out = b.on_event(
            2_001,
            SlipsEvent::IpInfo {
                ip,
                evaluation: Some(slips),
            },
        );
        assert_eq!(answer_queries(&out), vec![("A".into(), 3, None)]);
        assert_eq!(b.stats().echoes_withheld, 1);

        // Redis goes away with a look-up outstanding: the waiting peer is answered anyway.
        b.on_notification(5_000, query("D", 4, "5.6.7.8"));
        assert_eq!(
            answer_queries(&b.on_event(5_001, SlipsEvent::RedisDown)),
            vec![("D".into(), 4, None)]
        );
    }

    #[test]
    fn native_blame_only_above_threshold() {
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Native));
        let ask = |b: &mut Bridge, t: f64, c: f64| {
            let req = crate::slips::native::parse_data_request(
                br#"{"ip": "6.6.6.6", "profileid": "profile_10.0.0.1", "twid": "timewindow1", "version": "1"}"#,
            )
            .unwrap();
            let (_, token) = node_cmd(&b.on_event(0, SlipsEvent::DataRequest { request: req }));
            b.on_reply(
                1,
                token,
                Response::Ask(AskResponse {
                    ioc: "6.6.6.6".into(),
                    threat: Some(t),
                    confidence: Some(c),
                    answers: vec![],
                    asked: 1,
                    answered: 1,
                    elapsed_ms: 1,
                }),
            )
        };
        assert!(ask(&mut b, 0.9, 0.4).is_empty());
        let out = ask(&mut b, 1.0, 0.6);
        assert!(matches!(
            &out[..],
            [BridgeOutput::Slips(SlipsCommand::Blame { .. })]
        ));
    }

    #[test]
    fn native_young_or_repeating_reporters_make_no_evidence() {
        let evidence_count = |out: &[BridgeOutput]| {
            out.iter()
                .filter(|o| matches!(o, BridgeOutput::Slips(SlipsCommand::SetEvidence { .. })))
                .count()
        };
        let young = PeerInfo {
            why: Some(serde_json::json!({ "young": true })),
            ..peer_info("Y", 0.5)
        };
        let unexplained = PeerInfo {
            why: None,
            ..peer_info("U", 0.9)
        };
        let peers = vec![young.clone(), unexplained, peer_info("A", 0.6)];
        let round = |b: &mut Bridge, now: u64, reports: &[(&str, &str)]| {
            let mut token = None;
            for (peer, addr) in reports {
                if let Some(BridgeOutput::Node { token: t, .. }) =
                    b.on_notification(now, report(peer, addr, 1.0, 0.9)).first()
                {
                    token = Some(*t);
                }
            }
            b.on_reply(now, token.unwrap(), Response::Peers(peers.clone()))
        };
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Native));
        let out = round(&mut b, 1_000, &[("Y", "6.6.6.6"), ("U", "6.6.6.6")]);
        assert_eq!(
            evidence_count(&out),
            0,
            "young and unexplained peers: no evidence"
        );
        assert_eq!(b.stats().untrusted_reports, 2);
        // An established peer: one P2P_REPORT per IP per window, whatever it repeats.
        let out = round(&mut b, 2_000, &[("A", "6.6.6.6"), ("A", "6.6.6.6")]);
        assert_eq!(evidence_count(&out), 1);
        assert_eq!(b.stats().repeated_reports, 1);
        assert_eq!(
            evidence_count(&round(&mut b, 3_000, &[("A", "7.7.7.7")])),
            1
        );
        let next_window = 2_000 + BridgeConfig::new(BridgeMode::Native).tw_width_ms;
        assert_eq!(
            evidence_count(&round(&mut b, next_window, &[("A", "6.6.6.6")])),
            1
        );
        // An operator who accepts young reporters gets Dovecot's behaviour back for them.
        let mut cfg = BridgeConfig::new(BridgeMode::Native);
        cfg.evidence_from_young = true;
        let mut b = Bridge::new(cfg);
        assert_eq!(
            evidence_count(&round(&mut b, 1_000, &[("Y", "6.6.6.6")])),
            1
        );
    }

    fn peer_info(id: &str, trust: f64) -> PeerInfo {
        PeerInfo {
            id: id.into(),
            state: "active",
            addr: Some("10.0.0.2:4000".into()),
            reliability: 1.0,
            trust,
            last_seen: 0,
            why: Some(serde_json::json!({ "young": false })),
        }
    }

    fn report(peer: &str, addr: &str, t: f64, c: f64) -> Notification {
        Notification::ReportReceived {
            peer: peer.into(),
            kind: ReportKind::Report,
            ioc: ip(addr),
            evaluation: Evaluation::new(t, c).unwrap(),
            timestamp_ms: 0,
        }
    }

    fn opinion(ioc: &str, t: f64, c: f64) -> Response {
        Response::Opinion(crate::node::OpinionResponse {
            ioc: ioc.into(),
            threat: Some(t),
            confidence: Some(c),
            reports: vec![],
        })
    }

    #[test]
    fn native_trusted_report_becomes_evidence_then_blame_once_per_window() {
        let mut cfg = BridgeConfig::new(BridgeMode::Native);
        cfg.disabled_detections = vec!["MALICIOUS_IP_FROM_P2P_NETWORK".into()];
        let mut b = Bridge::new(cfg);
        let now = 1_712_345_678_000;
        // Two reports while one Peers command is in flight: one command.
        let (cmd, token) = node_cmd(&b.on_notification(now, report("A", "6.6.6.6", 0.5, 0.8)));
        assert_eq!(cmd, Command::Peers);
        assert!(b
            .on_notification(now, report("Z", "7.7.7.7", 1.0, 1.0))
            .is_empty());
        let out = b.on_reply(
            now,
            token,
            Response::Peers(vec![peer_info("A", 0.5), peer_info("Z", 0.49)]),
        );
        // A (trust 0.5 = the default bar): evidence, log line, opinion; Z: only the opinion
        // (the trust-weighted aggregate alone decides about blames).
        let mut opinion_token = None;
        let mut z_opinion = false;
        let mut evidence = None;
        let mut log = None;
        for o in &out {
            match o {
                BridgeOutput::Slips(SlipsCommand::SetEvidence {
                    evidence: e,
                    profile_start,
                    window,
                }) => {
                    assert_eq!(*profile_start, 1_712_345_678.0);
                    assert_eq!(*window, EvidenceWindow::OfTime(1_712_345_678.0));
                    evidence = Some(e.clone());
                }
                BridgeOutput::ReportsLog { text, at_ms } => {
                    assert_eq!(*at_ms, now);
                    log = Some(text.clone());
                }
                BridgeOutput::Node {
                    command: Command::Opinion { ioc },
                    token,
                } => {
                    if ioc == &ip("6.6.6.6") {
                        opinion_token = Some(*token);
                    } else {
                        assert_eq!(ioc, &ip("7.7.7.7"));
                        z_opinion = true;
                    }
                }
                BridgeOutput::Slips(SlipsCommand::SetPeerTrust { .. }) => {}
                other => panic!("{other:?}"),
            }
        }
        let e = evidence.expect("P2P_REPORT");
        assert_eq!(e.kind, EvidenceKind::P2pReport);
        assert_eq!(e.threat_level, "medium");
        assert_eq!(
            e.description,
            "attacking another peer: 10.0.0.2 (A). confidence: 0.8"
        );
        assert_eq!(e.id.len(), 36);
        assert_eq!(
            log.unwrap(),
            "[The Network -> Slips] Peer report about 6.6.6.6 Evaluation: {'score': 0.5, 'confidence': 0.8} from peer: A"
        );
        assert_eq!(b.stats().untrusted_reports, 1);
        assert!(z_opinion);
        // The opinion crosses the blame threshold: one new_blame...
        let out = b.on_reply(now, opinion_token.unwrap(), opinion("6.6.6.6", 1.0, 0.6));
        assert!(matches!(
            &out[..],
            [BridgeOutput::Slips(SlipsCommand::Blame { .. })]
        ));
        // ... and none again in the same time window, not even from a data request, whose
        // MALICIOUS_IP_FROM_P2P_NETWORK evidence is disabled here.
        let req = crate::slips::native::parse_data_request(
            br#"{"ip": "6.6.6.6", "profileid": "profile_10.0.0.1", "twid": "timewindow1", "ip_state": "dstip", "stime": 5, "uid": "C", "version": "1"}"#,
        )
        .unwrap();
        let (_, token) = node_cmd(&b.on_event(now + 1, SlipsEvent::DataRequest { request: req }));
        let ask = Response::Ask(AskResponse {
            ioc: "6.6.6.6".into(),
            threat: Some(1.0),
            confidence: Some(0.9),
            answers: vec![],
            asked: 1,
            answered: 1,
            elapsed_ms: 1,
        });
        assert!(b.on_reply(now + 2, token, ask).is_empty());
        assert_eq!(b.stats().blames_suppressed, 1);
        // The network has an opinion on 6.6.6.6 now: Slips' own evidence about it is not
        // shared again within the window, but about another IP it is.
        let shared = |addr: &str| SlipsEvent::ReportToPeers {
            evidence: crate::slips::native::SharedEvidence {
                ioc: ip(addr),
                evaluation: Evaluation::new(0.8, 0.9).unwrap(),
                evidence_type: "HORIZONTAL_PORT_SCAN".into(),
                evidence_id: "x".into(),
            },
        };
        assert!(b.on_event(now + 3, shared("6.6.6.6")).is_empty());
        assert_eq!(b.stats().not_reshared, 1);
        assert!(matches!(
            node_cmd(&b.on_event(now + 3, shared("6.6.6.7"))).0,
            Command::Report { .. }
        ));
        let later = now + 3_700_000;
        assert!(matches!(
            node_cmd(&b.on_event(later, shared("6.6.6.6"))).0,
            Command::Report { .. }
        ));
    }

    #[test]
    fn native_ask_writes_two_malicious_ip_evidences() {
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Native));
        let ask = |b: &mut Bridge, ip: &str, t: f64, c: f64| {
            let req = crate::slips::native::parse_data_request(
                format!(r#"{{"ip": "{ip}", "profileid": "profile_10.0.0.1", "twid": "timewindow4", "ip_state": "dstip", "stime": 1712345678.5, "uid": "CU", "version": "1"}}"#).as_bytes(),
            )
            .unwrap();
            let (_, token) = node_cmd(&b.on_event(0, SlipsEvent::DataRequest { request: req }));
            b.on_reply(
                1,
                token,
                Response::Ask(AskResponse {
                    ioc: ip.into(),
                    threat: Some(t),
                    confidence: Some(c),
                    answers: vec![],
                    asked: 1,
                    answered: 1,
                    elapsed_ms: 1,
                }),
            )
        };
        // Below the evidence threshold: nothing.
        assert!(ask(&mut b, "6.6.6.1", 0.5, 0.3).is_empty());
        // Evidence but no blame.
        let out = ask(&mut b, "6.6.6.2", 0.5, 0.5);
        let evs: Vec<&P2pEvidence> = out
            .iter()
            .filter_map(|o| match o {
                BridgeOutput::Slips(SlipsCommand::SetEvidence {
                    evidence,
                    window: EvidenceWindow::Given,
                    profile_start,
                }) if *profile_start == 1712345678.5 => Some(evidence),
                _ => None,
            })
            .collect();
        assert_eq!(out.len(), 2);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].attacker.to_string(), "10.0.0.1");
        assert_eq!(evs[1].attacker.to_string(), "6.6.6.2");
        assert!(evs.iter().all(|e| e.timewindow == 4
            && e.threat_level == "MEDIUM"
            && e.profile.to_string() == "6.6.6.2"
            && e.timestamp == "1712345678.5"));
        assert_ne!(evs[0].id, evs[1].id);
        // Evidence and blame.
        let out = ask(&mut b, "6.6.6.3", 0.9, 0.9);
        assert_eq!(out.len(), 3);
        assert!(matches!(
            out.last(),
            Some(BridgeOutput::Slips(SlipsCommand::Blame { .. }))
        ));
    }

    #[test]
    fn native_peer_trust_written_on_change() {
        let mut b = Bridge::new(BridgeConfig::new(BridgeMode::Native));
        let (_, token) = node_cmd(&b.on_tick(1_000));
        let peers = |trust| {
            Response::Peers(vec![PeerInfo {
                id: "A".into(),
                state: "active",
                addr: Some("10.0.0.2:4000".into()),
                reliability: 1.0,
                trust,
                last_seen: 0,
                why: None,
            }])
        };
        let out = b.on_reply(1_000, token, peers(0.4));
        assert!(
            matches!(&out[..], [BridgeOutput::Slips(SlipsCommand::SetPeerTrust { trust, .. })] if *trust == 0.4)
        );
        // Nothing is due again before the refresh interval.
        assert!(b.on_tick(2_000).is_empty());
        let (_, token) = node_cmd(&b.on_tick(62_000));
        assert!(b.on_reply(62_000, token, peers(0.4)).is_empty());
    }
}
