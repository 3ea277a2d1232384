//! What goes into a node and what comes out of it: commands from the CLI or Slips, and the
//! actions its driver must carry out (send, store, reply, notify).
//!
//! Everything here is plain data so that the runtime can pass it over channels and the
//! simulator can collect it.

use std::net::SocketAddr;

use serde::Serialize;

use super::stats::Stats;
use crate::ioc::{Evaluation, Ioc};

/// Where a datagram goes: the network's multicast group, or one peer's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// Every node of the network (the configured multicast group).
    Multicast,
    /// One node.
    Unicast(SocketAddr),
}

/// Something the driver must do on the node's behalf, because the node does no IO.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send one datagram.
    Transmit {
        /// Where to.
        to: Dest,
        /// A complete signed frame.
        bytes: Vec<u8>,
    },
    /// Write something to the store.
    Persist(Persist),
    /// Answer the command that was given `token`.
    Reply {
        /// The token passed to `Node::handle_command`.
        token: u64,
        /// The answer.
        response: Response,
    },
    /// Tell the Slips relay about something that happened on the network.
    Notify(Notification),
}

/// Why a piece of threat intelligence was sent to us: it tells the trust model and Slips how
/// to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// An own detection shared by a peer.
    Report,
    /// An accusation: the peer was attacked by the IoC.
    Blame,
    /// A reply to one of our Queries.
    Answer,
}

impl ReportKind {
    /// The lowercase name used in JSON and in the store.
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Report => "report",
            ReportKind::Blame => "blame",
            ReportKind::Answer => "answer",
        }
    }
}

/// What the store keeps about a peer, and gives back at start as `remembered`. Exists so that
/// reliability, the replay floor (epoch) and the address survive a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownPeer {
    /// The peer's ed25519 public key.
    pub key: [u8; 32],
    /// Where it was last heard from.
    pub addr: Option<SocketAddr>,
    /// When it was first heard from, unix ms.
    pub first_seen_ms: u64,
    /// When it was last heard from, unix ms.
    pub last_seen_ms: u64,
    /// Protocol reliability in [0, 1] (derived from the evidence; stored for display).
    pub reliability: f64,
    /// Weighted count of good protocol behaviour (answered pings, solicited answers).
    pub evidence_good: u64,
    /// Weighted count of bad protocol behaviour (missed pings, malformed frames, floods).
    pub evidence_bad: u64,
    /// The newest epoch seen; older epochs are refused after a restart.
    pub last_epoch: u32,
}

/// A row for the store thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Persist {
    /// Insert or update a peer.
    PeerSeen(KnownPeer),
    /// The peer was silent longer than the remember time; delete it.
    PeerForgotten {
        /// The peer's public key.
        key: [u8; 32],
    },
    /// A peer told us something about an IoC.
    ReportReceived {
        /// The peer's public key.
        peer: [u8; 32],
        /// Report, blame or answer.
        kind: ReportKind,
        /// What it was about.
        ioc: Ioc,
        /// What the peer thinks.
        evaluation: Evaluation,
        /// When we received it, unix ms.
        at_ms: u64,
    },
    /// Our own detection (from Slips or the CLI).
    OwnDetection {
        /// What it is about.
        ioc: Ioc,
        /// Our evaluation.
        evaluation: Evaluation,
        /// Report or blame.
        kind: ReportKind,
        /// When, unix ms.
        at_ms: u64,
    },
    /// The network's aggregated opinion after an ask (None: nobody knew).
    Opinion {
        /// What it is about.
        ioc: Ioc,
        /// The aggregate, if anyone knew.
        evaluation: Option<Evaluation>,
        /// When, unix ms.
        at_ms: u64,
    },
}

/// An event for the Slips relay. Peers are named by their peer id text.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// A peer appeared, came back, or changed address.
    PeerUpdate {
        /// Peer id text.
        peer: String,
        /// Its address.
        addr: SocketAddr,
        /// Its protocol reliability.
        reliability: f64,
    },
    /// A peer shared a report or blame (answers come as `AnswerReceived`).
    ReportReceived {
        /// Peer id text.
        peer: String,
        /// Report or blame.
        kind: ReportKind,
        /// What it is about.
        ioc: Ioc,
        /// What the peer thinks.
        evaluation: Evaluation,
        /// When we received it, unix ms.
        timestamp_ms: u64,
    },
    /// A peer asked about an IoC. In Pigeon mode the relay lets Slips answer through
    /// `Command::AnswerQuery`.
    QueryReceived {
        /// Peer id text.
        peer: String,
        /// The request id to echo.
        request: u64,
        /// What it asked about.
        ioc: Ioc,
    },
    /// A peer answered one of our Queries, as soon as its Answer is accepted, before the ask
    /// completes. Exists so that the Pigeon bridge can hand each answer to Slips as it
    /// arrives, as Pigeon forwarded each peer's reply; the aggregate still comes with the
    /// ask's reply.
    AnswerReceived {
        /// Peer id text.
        peer: String,
        /// What the ask is about.
        ioc: Ioc,
        /// What the peer thinks; None when it answered "no data".
        evaluation: Option<Evaluation>,
        /// When we received it, unix ms.
        timestamp_ms: u64,
        /// The tokens of the commands waiting for this ask (coalesced asks share one), so
        /// that a driver can tell its own asks from the CLI's.
        waiting: Vec<u64>,
    },
    /// A peer said goodbye or went silent.
    PeerGone {
        /// Peer id text.
        peer: String,
    },
}

/// A request from the CLI or the Slips relay. The reply comes back as `Action::Reply` with the
/// token given alongside.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Ask the network about an IoC.
    Ask {
        /// What to ask about.
        ioc: Ioc,
    },
    /// An own detection: remember it, answer Queries with it, and broadcast it.
    Report {
        /// What it is about.
        ioc: Ioc,
        /// Our evaluation.
        evaluation: Evaluation,
    },
    /// An own accusation: remember it and broadcast it.
    Blame {
        /// The attacker.
        ioc: Ioc,
        /// Our evaluation.
        evaluation: Evaluation,
    },
    /// Slips' answer to a forwarded Query (Pigeon mode).
    AnswerQuery {
        /// Peer id text from `QueryReceived`.
        peer: String,
        /// Request id from `QueryReceived`.
        request: u64,
        /// The answer, or None for "no data".
        evaluation: Option<Evaluation>,
    },
    /// The node's own status.
    Status,
    /// Every known peer.
    Peers,
    /// What the network has told us about an IoC so far, without asking.
    Opinion {
        /// What to look up.
        ioc: Ioc,
    },
}

/// The reply to a `Command`. Serialised untagged: each variant's JSON is exactly its struct,
/// which is the public contract of `roost <command> --json` and of the control socket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// Reply to `Ask`.
    Ask(AskResponse),
    /// Reply to `Peers`.
    Peers(Vec<PeerInfo>),
    /// Reply to `Opinion`.
    Opinion(OpinionResponse),
    /// Reply to `Status`.
    Status(StatusResponse),
    /// Reply to `Report` and `Blame`.
    Shared(SharedResponse),
    /// Reply to `AnswerQuery`.
    Answered(AnsweredResponse),
    /// A command that could not be carried out.
    Error(ErrorResponse),
}

/// One peer as shown by `roost peers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerInfo {
    /// Peer id text.
    pub id: String,
    /// "active" or "inactive".
    pub state: &'static str,
    /// Last known address, if any.
    pub addr: Option<String>,
    /// Protocol reliability in [0, 1].
    pub reliability: f64,
    /// Service trust from the trust model in [0, 1].
    pub trust: f64,
    /// Last heard from, unix seconds.
    pub last_seen: u64,
    /// Why the trust model trusts this peer as it does (absent when it keeps no record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<serde_json::Value>,
}

/// One peer's answer inside an `AskResponse`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerInfo {
    /// Peer id text.
    pub peer: String,
    /// Its threat value.
    pub threat: f64,
    /// Its confidence.
    pub confidence: f64,
}

/// The result of asking the network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AskResponse {
    /// The IoC in its text form.
    pub ioc: String,
    /// Aggregated threat; null when nobody knew.
    pub threat: Option<f64>,
    /// Aggregated confidence; null when nobody knew.
    pub confidence: Option<f64>,
    /// The answers that carried an evaluation ("no data" answers are only counted).
    pub answers: Vec<AnswerInfo>,
    /// How many active peers were asked.
    pub asked: usize,
    /// How many answered (with or without data).
    pub answered: usize,
    /// From the Query to the reply.
    pub elapsed_ms: u64,
}

/// One received report inside an `OpinionResponse`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportInfo {
    /// Peer id text.
    pub peer: String,
    /// "report" or "blame".
    pub kind: ReportKind,
    /// Its threat value.
    pub threat: f64,
    /// Its confidence.
    pub confidence: f64,
    /// When received, unix seconds.
    pub at: u64,
}

/// What the network has said about an IoC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpinionResponse {
    /// The IoC in its text form.
    pub ioc: String,
    /// Aggregated threat; null when nobody said anything.
    pub threat: Option<f64>,
    /// Aggregated confidence; null when nobody said anything.
    pub confidence: Option<f64>,
    /// The reports and blames received, oldest first.
    pub reports: Vec<ReportInfo>,
}

/// The node's status. `mode` and `redis` are the runtime's to fill in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusResponse {
    /// Our peer id text.
    pub id: String,
    /// The network name.
    pub network: String,
    /// Peers currently active.
    pub peers_active: usize,
    /// Peers known (active or remembered).
    pub peers_known: usize,
    /// Slips mode (native, pigeon, off); set by the runtime.
    pub mode: String,
    /// Redis connection state; set by the runtime.
    pub redis: String,
    /// Protocol counters, including every drop reason.
    pub counters: Stats,
    /// Socket counters of the network room (datagrams, send errors, drops); set by the runtime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net: Option<serde_json::Value>,
    /// Counters of the Slips relay (received, malformed, published, queued, dropped); set by
    /// the runtime when a relay runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slips: Option<serde_json::Value>,
}

/// Reply to `Report` / `Blame`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedResponse {
    /// The IoC in its text form.
    pub ioc: String,
    /// "report" or "blame".
    pub kind: ReportKind,
    /// False when the same detection was already broadcast within the dedup window.
    pub sent: bool,
}

/// Reply to `AnswerQuery`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnsweredResponse {
    /// True when the Answer was sent.
    pub sent: bool,
}

/// A command that could not be carried out, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorResponse {
    /// Human-readable reason.
    pub error: String,
}
