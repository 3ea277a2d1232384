//! A simulated network that drives real [`Node`]s, deterministically from a seed.
//!
//! Nothing here touches a socket or the clock: addresses are made up (`10.0.x.y:7946`), time
//! is a virtual millisecond counter, and every datagram is an event in a priority queue. The
//! network can lose, delay (with jitter, hence reorder), duplicate and partition traffic, and
//! the partitions can change during a run. Multicast reaches every other live node in the
//! sender's partition. Because the nodes are the real ones (real signatures, real replay
//! windows), what passes here passes the protocol logic of the daemon.
//!
//! ```text
//! let mut sim = Sim::new(SimConfig { seed: 1, loss: 0.1, ..SimConfig::default() });
//! let a = sim.add_node(NodeConfig::default());
//! sim.run_until(sim.now() + 60_000);
//! let t = sim.command(a, Command::Peers);
//! sim.run_until_quiet(sim.now() + 5_000);
//! let replies = sim.take_replies(a);
//! ```

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;

use ed25519_dalek::SigningKey;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::node::{
    Action, Command, Dest, KnownPeer, Node, NodeConfig, Notification, Persist, Response,
};

/// The network's behaviour. Probabilities are per delivery (per receiver for multicast).
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Drives every random choice of the network and the nodes' seeds and keys.
    pub seed: u64,
    /// Probability that a delivery is lost.
    pub loss: f64,
    /// Base one-way delay.
    pub delay_ms: u64,
    /// Extra delay drawn uniformly in [0, jitter_ms] per delivery (this reorders traffic).
    pub jitter_ms: u64,
    /// Probability that a delivery arrives twice (the copy gets its own delay).
    pub dup: f64,
    /// Probability that a delivery is held back by up to `reorder_ms` more.
    pub reorder: f64,
    /// The hold-back of a reordered delivery, drawn uniformly in [0, reorder_ms].
    pub reorder_ms: u64,
    /// Virtual unix time at the start, in ms (frames carry realistic timestamps).
    pub start_ms: u64,
    /// Keep every `Persist` action per node (off by default: large runs make many).
    pub keep_persists: bool,
    /// Keep a log of every delivery (time, from, to, kind byte) for timing assertions.
    pub trace: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            loss: 0.0,
            delay_ms: 1,
            jitter_ms: 0,
            dup: 0.0,
            reorder: 0.0,
            reorder_ms: 0,
            start_ms: 1_800_000_000_000,
            keep_persists: false,
            trace: false,
        }
    }
}

/// A node's handle in the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeIdx(pub usize);

/// What happened to traffic, network-wide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Transmit actions carried out.
    pub sent: u64,
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Deliveries lost at random.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Deliveries stopped by a partition.
    pub partitioned: u64,
    /// Unicasts to an address no live node has.
    pub unroutable: u64,
    /// Events processed (deliveries and timers).
    pub events: u64,
}

/// One delivery in the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// When it arrived.
    pub at_ms: u64,
    /// The sender.
    pub from: NodeIdx,
    /// The receiver.
    pub to: NodeIdx,
    /// The frame's kind byte (see `wire::Kind`).
    pub kind: u8,
    /// Whether it came through multicast.
    pub multicast: bool,
}

/// A datagram as sent by a node, for tests that replay or tamper with real traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// When it was sent.
    pub at_ms: u64,
    /// The sender.
    pub from: NodeIdx,
    /// Where to.
    pub to: Dest,
    /// The frame.
    pub bytes: Vec<u8>,
}

struct SimNode {
    node: Option<Node>,
    key: SigningKey,
    addr: SocketAddr,
    group: u32,
    timer: Option<u64>,
    replies: Vec<(u64, u64, Response)>,
    notes: Vec<(u64, Notification)>,
    persists: Vec<(u64, Persist)>,
}

enum Event {
    Deliver {
        to: usize,
        from: usize,
        bytes: Rc<Vec<u8>>,
        multicast: bool,
    },
    Timer {
        node: usize,
    },
}

struct Scheduled {
    at: u64,
    seq: u64,
    ev: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest event, ties in scheduling order.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// The simulated network and its nodes.
pub struct Sim {
    cfg: SimConfig,
    now: u64,
    rng: ChaCha8Rng,
    nodes: Vec<SimNode>,
    by_addr: HashMap<SocketAddr, usize>,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    in_flight: usize,
    next_token: u64,
    stats: SimStats,
    trace: Vec<Delivery>,
    sent_log: Option<Vec<Sent>>,
}

impl Sim {
    /// An empty network at `cfg.start_ms`.
    pub fn new(cfg: SimConfig) -> Sim {
        Sim {
            now: cfg.start_ms,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            cfg,
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            in_flight: 0,
            next_token: 1,
            stats: SimStats::default(),
            trace: Vec::new(),
            sent_log: None,
        }
    }

    /// The virtual clock, unix ms.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Network-wide traffic counters.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Every delivery so far (only with `SimConfig::trace`).
    pub fn trace(&self) -> &[Delivery] {
        &self.trace
    }

    /// Starts (or stops, with false) keeping a copy of every datagram sent.
    pub fn record_sent(&mut self, on: bool) {
        self.sent_log = if on { Some(Vec::new()) } else { None };
    }

    /// The datagrams recorded since `record_sent(true)`, emptied.
    pub fn take_sent(&mut self) -> Vec<Sent> {
        self.sent_log
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The simulated address of node `i`: 10.0.(i / 250).(i % 250 + 1):7946.
    pub fn addr_of(i: usize) -> SocketAddr {
        SocketAddr::from((
            Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250 + 1) as u8),
            7946,
        ))
    }

    /// Adds a node with a fresh key (from the sim's seed), epoch 1 and no remembered peers.
    pub fn add_node(&mut self, cfg: NodeConfig) -> NodeIdx {
        let mut secret = [0u8; 32];
        self.rng.fill_bytes(&mut secret);
        self.add_node_with(cfg, SigningKey::from_bytes(&secret), 1, Vec::new())
    }

    /// Adds a node with a given identity, epoch and remembered peers.
    pub fn add_node_with(
        &mut self,
        cfg: NodeConfig,
        key: SigningKey,
        epoch: u32,
        remembered: Vec<KnownPeer>,
    ) -> NodeIdx {
        let i = self.nodes.len();
        let addr = Sim::addr_of(i);
        let seed = self.rng.next_u64();
        let node = Node::new(cfg, key.clone(), epoch, remembered, seed, self.now);
        self.nodes.push(SimNode {
            node: Some(node),
            key,
            addr,
            group: 0,
            timer: None,
            replies: Vec::new(),
            notes: Vec::new(),
            persists: Vec::new(),
        });
        self.by_addr.insert(addr, i);
        self.after(i);
        NodeIdx(i)
    }

    /// Stops a node. With `goodbye` it shuts down properly (its Goodbye is sent); without, it
    /// simply vanishes (a crash or a pulled cable).
    pub fn stop_node(&mut self, idx: NodeIdx, goodbye: bool) {
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(idx.0).and_then(|n| n.node.as_mut()) {
            if goodbye {
                n.shutdown(now);
            }
        }
        self.after(idx.0);
        if let Some(n) = self.nodes.get_mut(idx.0) {
            n.node = None;
            n.timer = None;
        }
    }

    /// Restarts a stopped (or running) node at the same address with the same key, a new
    /// epoch and the peers its store would give back.
    pub fn restart_node(
        &mut self,
        idx: NodeIdx,
        cfg: NodeConfig,
        epoch: u32,
        remembered: Vec<KnownPeer>,
    ) {
        let seed = self.rng.next_u64();
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(idx.0) {
            n.node = Some(Node::new(cfg, n.key.clone(), epoch, remembered, seed, now));
            n.timer = None;
        }
        self.after(idx.0);
    }

    /// The node, if it is running.
    pub fn node(&self, idx: NodeIdx) -> Option<&Node> {
        self.nodes.get(idx.0).and_then(|n| n.node.as_ref())
    }

    /// The node's signing key (to forge or replay traffic in tests).
    pub fn key(&self, idx: NodeIdx) -> Option<&SigningKey> {
        self.nodes.get(idx.0).map(|n| &n.key)
    }

    /// How many nodes were added.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True before any node is added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Splits the network: each listed group can only reach itself; unlisted nodes form one
    /// more group together. Replaces any earlier partition.
    pub fn partition(&mut self, groups: &[&[NodeIdx]]) {
        for n in &mut self.nodes {
            n.group = 0;
        }
        for (g, members) in groups.iter().enumerate() {
            for m in members.iter() {
                if let Some(n) = self.nodes.get_mut(m.0) {
                    n.group = g as u32 + 1;
                }
            }
        }
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        for n in &mut self.nodes {
            n.group = 0;
        }
    }

    /// Gives a command to a node now; returns the token its reply will carry.
    pub fn command(&mut self, idx: NodeIdx, cmd: Command) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(idx.0).and_then(|n| n.node.as_mut()) {
            n.handle_command(now, cmd, token);
        }
        self.after(idx.0);
        token
    }

    /// Hands a raw datagram to a node now, as if it came from `from` (tests of hostile input).
    pub fn inject(&mut self, to: NodeIdx, from: SocketAddr, bytes: &[u8], multicast: bool) {
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(to.0).and_then(|n| n.node.as_mut()) {
            n.handle_datagram(now, from, bytes, multicast);
        }
        self.after(to.0);
    }

    /// The replies a node produced so far, as (time, token, response), emptied.
    pub fn take_replies(&mut self, idx: NodeIdx) -> Vec<(u64, u64, Response)> {
        self.nodes
            .get_mut(idx.0)
            .map(|n| std::mem::take(&mut n.replies))
            .unwrap_or_default()
    }

    /// The notifications a node produced so far, emptied.
    pub fn take_notifications(&mut self, idx: NodeIdx) -> Vec<(u64, Notification)> {
        self.nodes
            .get_mut(idx.0)
            .map(|n| std::mem::take(&mut n.notes))
            .unwrap_or_default()
    }

    /// The Persist actions a node produced so far (with `keep_persists`), emptied.
    pub fn take_persists(&mut self, idx: NodeIdx) -> Vec<(u64, Persist)> {
        self.nodes
            .get_mut(idx.0)
            .map(|n| std::mem::take(&mut n.persists))
            .unwrap_or_default()
    }

    /// Runs every event up to and including `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: u64) {
        while self.queue.peek().is_some_and(|e| e.at <= t) {
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// Runs until no datagram is in flight (timers due before that run too), or until the
    /// clock would pass `limit`. Returns true when the network went quiet.
    pub fn run_until_quiet(&mut self, limit: u64) -> bool {
        while self.in_flight > 0 {
            if !self.queue.peek().is_some_and(|e| e.at <= limit) {
                self.now = self.now.max(limit);
                return false;
            }
            self.step();
        }
        true
    }

    fn step(&mut self) {
        let Some(Scheduled { at, ev, .. }) = self.queue.pop() else {
            return;
        };
        self.now = self.now.max(at);
        self.stats.events += 1;
        let now = self.now;
        match ev {
            Event::Timer { node } => {
                let Some(n) = self.nodes.get_mut(node) else {
                    return;
                };
                if n.timer != Some(at) {
                    return; // superseded
                }
                n.timer = None;
                if let Some(nd) = n.node.as_mut() {
                    nd.handle_timeout(now);
                }
                self.after(node);
            }
            Event::Deliver {
                to,
                from,
                bytes,
                multicast,
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                let (src_addr, src_group) = match self.nodes.get(from) {
                    Some(f) => (f.addr, f.group),
                    None => return,
                };
                let Some(n) = self.nodes.get_mut(to) else {
                    return;
                };
                if n.group != src_group {
                    self.stats.partitioned += 1;
                    return;
                }
                let Some(nd) = n.node.as_mut() else {
                    self.stats.unroutable += 1;
                    return;
                };
                self.stats.delivered += 1;
                if self.cfg.trace {
                    self.trace.push(Delivery {
                        at_ms: now,
                        from: NodeIdx(from),
                        to: NodeIdx(to),
                        kind: bytes.get(3).copied().unwrap_or(0),
                        multicast,
                    });
                }
                nd.handle_datagram(now, src_addr, &bytes, multicast);
                self.after(to);
            }
        }
    }

    fn push(&mut self, at: u64, ev: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Carries out a node's queued actions and re-arms its timer.
    fn after(&mut self, i: usize) {
        let now = self.now;
        while let Some(action) = self
            .nodes
            .get_mut(i)
            .and_then(|n| n.node.as_mut())
            .and_then(|n| n.poll_action())
        {
            match action {
                Action::Transmit { to, bytes } => self.transmit(i, to, bytes),
                Action::Reply { token, response } => {
                    if let Some(n) = self.nodes.get_mut(i) {
                        n.replies.push((now, token, response));
                    }
                }
                Action::Notify(note) => {
                    if let Some(n) = self.nodes.get_mut(i) {
                        n.notes.push((now, note));
                    }
                }
                Action::Persist(p) => {
                    if self.cfg.keep_persists {
                        if let Some(n) = self.nodes.get_mut(i) {
                            n.persists.push((now, p));
                        }
                    }
                }
            }
        }
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        let want = n
            .node
            .as_ref()
            .and_then(|nd| nd.poll_timeout())
            .map(|t| t.max(now));
        if want != n.timer {
            n.timer = want;
            if let Some(t) = n.timer {
                self.push(t, Event::Timer { node: i });
            }
        }
    }

    fn transmit(&mut self, from: usize, to: Dest, bytes: Vec<u8>) {
        self.stats.sent += 1;
        if let Some(log) = self.sent_log.as_mut() {
            log.push(Sent {
                at_ms: self.now,
                from: NodeIdx(from),
                to,
                bytes: bytes.clone(),
            });
        }
        let group = self.nodes.get(from).map_or(0, |n| n.group);
        let bytes = Rc::new(bytes);
        match to {
            Dest::Multicast => {
                for j in 0..self.nodes.len() {
                    let reachable = j != from
                        && self
                            .nodes
                            .get(j)
                            .is_some_and(|n| n.node.is_some() && n.group == group);
                    if reachable {
                        self.schedule(from, j, bytes.clone(), true);
                    }
                }
            }
            Dest::Unicast(addr) => match self.by_addr.get(&addr).copied() {
                Some(j) if self.nodes.get(j).is_some_and(|n| n.group == group) => {
                    self.schedule(from, j, bytes, false)
                }
                Some(_) => self.stats.partitioned += 1,
                None => self.stats.unroutable += 1,
            },
        }
    }

    fn schedule(&mut self, from: usize, to: usize, bytes: Rc<Vec<u8>>, multicast: bool) {
        if self.cfg.loss > 0.0 && self.rng.gen_bool(self.cfg.loss.min(1.0)) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.cfg.dup > 0.0 && self.rng.gen_bool(self.cfg.dup.min(1.0)) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = self.cfg.delay_ms;
            if self.cfg.jitter_ms > 0 {
                delay += self.rng.gen_range(0..=self.cfg.jitter_ms);
            }
            if self.cfg.reorder > 0.0 && self.rng.gen_bool(self.cfg.reorder.min(1.0)) {
                delay += self.rng.gen_range(0..=self.cfg.reorder_ms);
            }
            self.in_flight += 1;
            self.push(
                self.now + delay,
                Event::Deliver {
                    to,
                    from,
                    bytes: bytes.clone(),
                    multicast,
                },
            );
        }
    }
}
