//! The sans-IO protocol state machine: events and time in, actions out.
//!
//! A [`Node`] never touches a socket, a clock, a file or a random source. Its driver (the
//! runtime's node thread, or the simulator) feeds it datagrams, command and the current time,
//! asks it when it next wants to be woken ([`Node::poll_timeout`]), and carries out the
//! [`Action`]s it queues ([`Node::poll_action`]): send a datagram, store a row, answer a
//! command, notify the Slips relay. Randomness (announce jitter, ping nonces, request ids)
//! comes from a ChaCha8 generator seeded by the driver, so a simulation is reproducible.
//!
//! Driving loop, in short:
//!
//! ```text
//! let mut node = Node::new(cfg, key, epoch, remembered, seed, now());
//! loop {
//!     while let Some(a) = node.poll_action() { carry_out(a) }
//!     wait for a datagram, a command, or node.poll_timeout();
//!     node.handle_datagram(now(), from, &bytes, multicast)   // or
//!     node.handle_command(now(), cmd, token)                 // or
//!     node.handle_timeout(now())
//! }
//! node.shutdown(now()); drain poll_action() (it holds the Goodbye)
//! ```
//!
//! What the driver must provide:
//! - `from` is the datagram's source address, and replies go back to it, so the net layer
//!   must send multicast from the same socket (and port) that receives unicast replies.
//! - `multicast` is true for datagrams that came in through the group. It decides whether an
//!   Announce is answered and whether a peer has proved it knows our address.
//! - Looped-back own multicast is fine: the node drops its own frames before any crypto.
//! - The epoch must be persisted and increased at every start; `remembered` is the store's
//!   `Persist::PeerSeen` rows, latest per key.
//!
//! Behaviour in short: Announces (a start-up burst, then every interval with jitter) are the
//! heartbeat; an Announce from a peer that is new, inactive or restarted gets a unicast
//! Announce reply (replies are never answered). A peer that has not yet sent us a unicast
//! frame, or has been silent too long, or is due a probe, is pinged; a peer silent for
//! `inactive_after_ms` becomes inactive, one that talks again becomes active, and an inactive
//! one is forgotten after `remember_ms`. Queries, Reports and Blames follow the rules in
//! `ask.rs`; the receive path and its counted drops are in `receive.rs`.

pub mod api;
pub mod config;
pub mod judge;
pub mod peer_id;
pub mod stats;

mod ask;
mod housekeeping;
mod limiter;
mod peers;
mod receive;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use ed25519_dalek::SigningKey;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use api::{
    Action, AnswerInfo, AnsweredResponse, AskResponse, Command, Dest, ErrorResponse, KnownPeer,
    Notification, OpinionResponse, PeerInfo, Persist, ReportInfo, ReportKind, Response,
    SharedResponse, StatusResponse,
};
pub use config::{NodeConfig, RateLimit};
pub use judge::{DefaultJudge, Judge, PeerAnswer};
pub use peer_id::peer_id_text;
pub use peers::PeerView;
pub use stats::Stats;

use crate::ioc::{Evaluation, Ioc};
use crate::wire::{Announce, Goodbye, Message, NetworkTag, Sealer};
use ask::{CachedAsk, IncomingQuery, PendingAsk, ReceivedReport};
use limiter::{SourceLimiter, TokenBucket};
use peers::Peer;

/// The protocol state of one roost node. See the module documentation for how to drive it.
pub struct Node {
    cfg: NodeConfig,
    sealer: Sealer,
    public: [u8; 32],
    id: String,
    network: NetworkTag,
    rng: ChaCha8Rng,
    judge: Box<dyn Judge + Send>,
    peers: BTreeMap<[u8; 32], Peer>,
    sources: SourceLimiter,
    global: TokenBucket,
    asks: BTreeMap<u64, PendingAsk>,
    asks_by_ioc: BTreeMap<Ioc, u64>,
    /// Requests completed recently: their late Answers are not "unsolicited".
    finished: BTreeMap<u64, u64>,
    cache: BTreeMap<Ioc, CachedAsk>,
    /// Own detections, the source of our Answers to peers' Queries.
    own: BTreeMap<Ioc, Evaluation>,
    own_sent: BTreeMap<(Ioc, ReportKind), u64>,
    seen_reports: BTreeMap<([u8; 32], Ioc, ReportKind), u64>,
    reports: BTreeMap<Ioc, VecDeque<ReceivedReport>>,
    incoming: BTreeMap<([u8; 32], u64), IncomingQuery>,
    next_announce_ms: u64,
    /// Announces of the start-up burst still to send after the next one.
    burst_left: u32,
    next_tick_ms: u64,
    actions: VecDeque<Action>,
    stats: Stats,
    shut_down: bool,
}

impl Node {
    /// A node for one boot. `epoch` must be larger than any epoch this key used before (the
    /// store keeps it); `remembered` is the peer table the store kept from earlier boots;
    /// `seed` drives all randomness; `now_ms` is the current unix time in milliseconds.
    pub fn new(
        cfg: NodeConfig,
        key: SigningKey,
        epoch: u32,
        remembered: Vec<KnownPeer>,
        seed: u64,
        now_ms: u64,
    ) -> Node {
        let cfg = cfg.sanitised();
        let network = NetworkTag::derive(&cfg.network);
        let sealer = Sealer::new(key, network, epoch);
        let public = sealer.public_key();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let next_announce_ms = now_ms + rng.gen_range(0..=cfg.startup_jitter_ms);
        let mut peers = BTreeMap::new();
        for k in remembered {
            if k.key == public
                || now_ms.saturating_sub(k.last_seen_ms) > cfg.remember_ms
                || peers.len() >= cfg.max_peers
            {
                continue;
            }
            peers.insert(k.key, Peer::restored(&k, &cfg.peer_limit, now_ms));
        }
        Node {
            burst_left: cfg.startup_announces.saturating_sub(1),
            global: TokenBucket::full(&cfg.global_limit, now_ms),
            next_tick_ms: now_ms + cfg.tick_ms,
            id: peer_id_text(&public),
            cfg,
            sealer,
            public,
            network,
            rng,
            judge: Box::new(DefaultJudge),
            peers,
            sources: SourceLimiter::default(),
            asks: BTreeMap::new(),
            asks_by_ioc: BTreeMap::new(),
            finished: BTreeMap::new(),
            cache: BTreeMap::new(),
            own: BTreeMap::new(),
            own_sent: BTreeMap::new(),
            seen_reports: BTreeMap::new(),
            reports: BTreeMap::new(),
            incoming: BTreeMap::new(),
            next_announce_ms,
            actions: VecDeque::new(),
            stats: Stats::default(),
            shut_down: false,
        }
    }

    /// The trust model's state for the store (see [`Judge::snapshot`]).
    pub fn judge_snapshot(&self) -> Option<Vec<u8>> {
        self.judge.snapshot()
    }

    /// Replaces the trust model (the runtime plugs the `trust/` model in through an adapter).
    pub fn set_judge(&mut self, judge: Box<dyn Judge + Send>) {
        self.judge = judge;
    }

    /// Our public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// Our peer id text.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The epoch our frames carry.
    pub fn epoch(&self) -> u32 {
        self.sealer.epoch()
    }

    /// Protocol counters, including every drop reason.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// One peer's state, if known.
    pub fn peer(&self, key: &[u8; 32]) -> Option<PeerView> {
        self.peers.get(key).map(PeerView::from)
    }

    /// Every known peer (active and remembered), in key order.
    pub fn peer_views(&self) -> Vec<PeerView> {
        self.peers.values().map(PeerView::from).collect()
    }

    /// How many peers are active now.
    pub fn active_peers(&self) -> usize {
        self.peers.values().filter(|p| p.active).count()
    }

    /// The next action for the driver, if any. Drain it after every `handle_*` call.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When the node next wants `handle_timeout`, in unix ms; None after shutdown.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.shut_down {
            return None;
        }
        let asks = self
            .asks
            .values()
            .map(|a| a.retry_ms.map_or(a.deadline_ms, |r| r.min(a.deadline_ms)))
            .min();
        let t = self.next_announce_ms.min(self.next_tick_ms);
        Some(asks.map_or(t, |a| a.min(t)))
    }

    /// Time has passed: send what is due (Announce, Pings), expire what is late (asks,
    /// silent peers, old table entries).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.shut_down {
            return;
        }
        if now_ms >= self.next_announce_ms {
            self.send(
                now_ms,
                Dest::Multicast,
                &Message::Announce(Announce {
                    reply: false,
                    features: 0,
                }),
            );
            let interval = if self.burst_left > 0 {
                self.burst_left -= 1;
                self.cfg.startup_spacing_ms + self.rng.gen_range(0..=self.cfg.startup_jitter_ms)
            } else {
                let j = self.cfg.announce_jitter_ms;
                self.cfg.announce_interval_ms - j + self.rng.gen_range(0..=2 * j)
            };
            self.next_announce_ms = now_ms + interval.max(1);
        }
        self.expire_asks(now_ms);
        if now_ms >= self.next_tick_ms {
            self.housekeeping(now_ms);
            self.next_tick_ms = now_ms + self.cfg.tick_ms;
        }
    }

    /// Leaves the network: multicasts a Goodbye, fails pending asks with what they have, and
    /// stops reacting to anything. Drain `poll_action` afterwards to send the Goodbye.
    pub fn shutdown(&mut self, now_ms: u64) {
        if self.shut_down {
            return;
        }
        let pending: Vec<u64> = self.asks.keys().copied().collect();
        for r in pending {
            self.finish_ask(now_ms, r);
        }
        self.send(now_ms, Dest::Multicast, &Message::Goodbye(Goodbye));
        for p in self.peers.values() {
            self.actions
                .push_back(Action::Persist(Persist::PeerSeen(p.record())));
        }
        self.shut_down = true;
    }

    /// Seals and queues one message. Sealing only fails on a local bug (a body that cannot
    /// fit), which is counted rather than propagated.
    fn send(&mut self, now_ms: u64, to: Dest, msg: &Message) -> bool {
        match self.sealer.seal(now_ms, msg) {
            Ok(bytes) => {
                self.stats.transmits += 1;
                self.actions.push_back(Action::Transmit { to, bytes });
                true
            }
            Err(e) => {
                tracing::warn!("cannot seal {}: {e}", msg.kind().name());
                self.stats.drop("seal_error");
                false
            }
        }
    }

    /// Counts and logs a dropped datagram; the log names the source address.
    fn refuse(&mut self, reason: &'static str, from: std::net::SocketAddr) {
        tracing::debug!(%from, reason, "datagram dropped");
        self.stats.drop(reason);
    }

    /// Counts and logs a message dropped after it was verified.
    fn note_drop(&mut self, reason: &'static str) {
        tracing::debug!(reason, "message dropped");
        self.stats.drop(reason);
    }

    fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn reply(&mut self, token: u64, response: Response) {
        self.actions.push_back(Action::Reply { token, response });
    }

    fn persist_peer(&mut self, key: &[u8; 32], now_ms: u64) {
        if let Some(p) = self.peers.get_mut(key) {
            p.last_persist_ms = now_ms;
            p.dirty = false;
            let rec = p.record();
            self.actions
                .push_back(Action::Persist(Persist::PeerSeen(rec)));
        }
    }

    /// A command from the CLI or the Slips relay; its reply is queued as `Action::Reply` with
    /// `token` (some replies, those of `Ask`, come later).
    pub fn handle_command(&mut self, now_ms: u64, cmd: Command, token: u64) {
        if self.shut_down {
            self.reply(
                token,
                Response::Error(ErrorResponse {
                    error: "node is shutting down".into(),
                }),
            );
            return;
        }
        match cmd {
            Command::Ask { ioc } => self.start_ask(now_ms, ioc, token),
            Command::Report { ioc, evaluation } => {
                self.share(now_ms, ioc, evaluation, ReportKind::Report, token)
            }
            Command::Blame { ioc, evaluation } => {
                self.share(now_ms, ioc, evaluation, ReportKind::Blame, token)
            }
            Command::AnswerQuery {
                peer,
                request,
                evaluation,
            } => self.answer_forwarded(now_ms, &peer, request, evaluation, token),
            Command::Status => {
                let r = Response::Status(self.status());
                self.reply(token, r)
            }
            Command::Peers => {
                let r = Response::Peers(self.peer_infos());
                self.reply(token, r)
            }
            Command::Opinion { ioc } => {
                let r = Response::Opinion(self.opinion(now_ms, &ioc));
                self.reply(token, r)
            }
        }
    }

    /// The status as the node knows it; the runtime overwrites `mode` and `redis`.
    pub fn status(&self) -> StatusResponse {
        StatusResponse {
            id: self.id.clone(),
            network: self.cfg.network.clone(),
            peers_active: self.active_peers(),
            peers_known: self.peers.len(),
            mode: "off".into(),
            redis: "off".into(),
            counters: self.stats.clone(),
            net: None,
            slips: None,
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        self.peers
            .values()
            .map(|p| PeerInfo {
                id: p.id.clone(),
                state: if p.active { "active" } else { "inactive" },
                addr: p.addr.map(|a| a.to_string()),
                reliability: p.reliability(),
                trust: self.judge.trust(&p.key),
                last_seen: p.last_seen_ms / 1000,
                why: self.judge.explain_peer(&p.key),
            })
            .collect()
    }

    fn peer_by_id(&self, id: &str) -> Option<[u8; 32]> {
        self.peers.values().find(|p| p.id == id).map(|p| p.key)
    }
}
