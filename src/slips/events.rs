//! The typed values exchanged between the Slips relay thread and the node over crossbeam
//! channels. They are the whole contract between the two: the node never sees Redis or JSON,
//! the relay never sees peers or the wire protocol.

use std::net::IpAddr;

use crate::ioc::Evaluation;
use crate::slips::dovecot::DovecotMessage;
use crate::slips::evidence::{EvidenceWindow, P2pEvidence};
use crate::slips::native::{DataRequest, SharedEvidence};

/// Something Slips asked for, or a change in the Redis link (relay -> node).
#[derive(Debug, Clone, PartialEq)]
pub enum SlipsEvent {
    /// Pigeon mode: Slips wants `msg` sent to every active peer (`recipient: "*"`).
    Broadcast {
        /// The validated peer message.
        msg: DovecotMessage,
    },
    /// Pigeon mode: Slips wants `msg` sent to one peer. `peer` is exactly a `reporter` /
    /// `peerid` string that the node gave the relay earlier, so the node can route by it.
    SendTo {
        /// The peer, as the node named it.
        peer: String,
        /// The validated peer message.
        msg: DovecotMessage,
    },
    /// Pigeon mode: Slips published `stop_process`. Pigeon closes its network side and keeps
    /// running until SIGINT/SIGTERM; the node should do the same (stay up, exit 0 on signal).
    Stop,
    /// Native mode: Slips produced evidence that Dovecot's rules say to share with peers
    /// (`report_to_peers`). Dovecot then broadcasts a report unless the network's cached
    /// opinion on the IP is non-zero; that check is the node's.
    ReportToPeers {
        /// The attacker and the evaluation to share.
        evidence: SharedEvidence,
    },
    /// Native mode: Slips asks for the network's opinion on an IP (`p2p_data_request`).
    DataRequest {
        /// The IP and the flow it came from.
        request: DataRequest,
    },
    /// Native mode: the answer to [`SlipsCommand::LookupIp`]: what Slips itself knows about
    /// `ip` (from `IPsInfo` in DB 1), `None` when it knows nothing usable or the read failed.
    IpInfo {
        /// The IP asked about.
        ip: IpAddr,
        /// Slips' own opinion.
        evaluation: Option<Evaluation>,
    },
    /// The relay is subscribed again (after start or a Redis restart).
    RedisUp,
    /// The relay lost Redis; outgoing commands are queued until it is back.
    RedisDown,
}

/// Something the node wants Slips to know (node -> relay).
#[derive(Debug, Clone, PartialEq)]
pub enum SlipsCommand {
    /// Pigeon mode: a peer was seen, or its address or reliability changed. Published as a
    /// `peer_update`; an absent or zero reliability is omitted (never `"reliability": 0`).
    /// Send it, with `ip`, before the first `GoData` of that peer: Slips ignores reports of a
    /// peer whose address it does not know.
    PeerUpdate {
        /// The peer id string; Slips will use it verbatim as a `recipient`.
        peer: String,
        /// The peer's address, when known.
        ip: Option<IpAddr>,
        /// Reliability in (0, 1]; anything else is omitted.
        reliability: Option<f64>,
    },
    /// Pigeon mode: a peer sent `msg`. Published as `go_data`. `report_time` (unix seconds)
    /// is clamped by the relay to `[last peer_update time of reporter, now]`, because Slips
    /// drops future timestamps and pairs reports with the address known at that time.
    GoData {
        /// The sending peer, as in `PeerUpdate::peer`.
        reporter: String,
        /// When the message arrived, unix seconds.
        report_time: u64,
        /// The message; blames and non-IP keys are not forwarded (Slips cannot take them).
        msg: DovecotMessage,
    },
    /// Pigeon mode: `SET multiAddress <value>` in DB 0 (no TTL), which Slips prints once
    /// about 2 s after start (spec A.3 step 4, A.8.11). Any text roost wants to show there.
    SetMultiAddress {
        /// The address text, e.g. `/ip4/192.168.1.10/udp/4001/roost/<peer id>`.
        value: String,
    },
    /// Native mode: a peer blamed `ip`; Slips' evidence handler records it and blocks the IP
    /// (`new_blame`).
    Blame {
        /// The accused address.
        ip: IpAddr,
        /// The blaming peer's evaluation.
        evaluation: Evaluation,
    },
    /// Native mode: `HSET peer_trust <ip> <trust>` (plus `HEXPIRE` where Redis has it), which
    /// Slips' ARP filter reads to recognise peers (trust >= 0.3).
    SetPeerTrust {
        /// The peer's address.
        ip: IpAddr,
        /// The trust value, written as Python would print the float.
        trust: f64,
    },
    /// Native mode: ask what Slips knows about `ip` (to answer a peer's request); answered
    /// by [`SlipsEvent::IpInfo`].
    LookupIp {
        /// The IP.
        ip: IpAddr,
    },
    /// Native mode: store a P2P evidence the way Slips' `db.set_evidence` does (profile,
    /// time window, `profile_<ip>_timewindow<n>_evidence`, `number_of_evidence`,
    /// `evidence_added`, threat level; spec B.4.3), so that Slips' evidence handler treats it
    /// like one of its own. The relay documents the steps it leaves out.
    SetEvidence {
        /// The evidence; its `timewindow` is replaced when `window` says so.
        evidence: P2pEvidence,
        /// `starttime` of the profile if it has to be created (unix seconds; Slips uses
        /// the report time for P2P_REPORT and the flow's `stime` otherwise).
        profile_start: f64,
        /// How the time window is found.
        window: EvidenceWindow,
    },
}
