//! One entry of the peer table: membership state, replay window, liveness and the evidence
//! that makes up a peer's protocol reliability.

use std::net::SocketAddr;

use ed25519_dalek::VerifyingKey;

use super::api::KnownPeer;
use super::config::RateLimit;
use super::limiter::TokenBucket;
use super::peer_id::peer_id_text;
use crate::wire::ReplayWindow;

/// Bad evidence added by one validly signed but malformed frame: the peer's own key vouched
/// for garbage, which says more than a lost Pong does.
pub(crate) const MISBEHAVIOUR_WEIGHT: u64 = 5;

/// A Ping in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingPing {
    pub nonce: u64,
    pub sent_ms: u64,
}

#[derive(Debug)]
pub(crate) struct Peer {
    pub key: [u8; 32],
    /// Parsed once: point decompression is a fair share of a verification.
    pub vkey: Option<VerifyingKey>,
    pub id: String,
    pub addr: Option<SocketAddr>,
    pub active: bool,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub replay: ReplayWindow,
    pub good: u64,
    pub bad: u64,
    pub ping: Option<PendingPing>,
    /// It sent us a unicast frame since it became active, so it knows our address. Until
    /// then it is pinged, which makes discovery robust to a lost Announce reply.
    pub confirmed: bool,
    pub last_ping_ms: u64,
    pub rtt_ms: Option<u64>,
    pub bucket: TokenBucket,
    pub last_persist_ms: u64,
    /// Something other than last-seen changed since the last Persist.
    pub dirty: bool,
}

impl Peer {
    pub(crate) fn new(key: [u8; 32], limit: &RateLimit, now_ms: u64) -> Peer {
        Peer {
            key,
            vkey: None,
            id: peer_id_text(&key),
            addr: None,
            active: false,
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            replay: ReplayWindow::new(),
            good: 0,
            bad: 0,
            ping: None,
            confirmed: false,
            last_ping_ms: now_ms,
            rtt_ms: None,
            bucket: TokenBucket::full(limit, now_ms),
            last_persist_ms: 0,
            dirty: true,
        }
    }

    /// A peer restored from the store: inactive until it talks, refusing older epochs.
    pub(crate) fn restored(k: &KnownPeer, limit: &RateLimit, now_ms: u64) -> Peer {
        let mut p = Peer::new(k.key, limit, now_ms);
        p.vkey = VerifyingKey::from_bytes(&k.key).ok();
        p.addr = k.addr;
        p.first_seen_ms = k.first_seen_ms;
        p.last_seen_ms = k.last_seen_ms;
        p.replay = ReplayWindow::starting_at_epoch(k.last_epoch);
        p.good = k.evidence_good;
        p.bad = k.evidence_bad;
        p.last_persist_ms = now_ms;
        p.dirty = false;
        p
    }

    /// Protocol reliability: the mean of a Beta(good + 1, bad + 1), so a new peer starts at
    /// 0.5 and a few events move it less than many.
    pub(crate) fn reliability(&self) -> f64 {
        (self.good as f64 + 1.0) / (self.good as f64 + self.bad as f64 + 2.0)
    }

    pub(crate) fn record(&self) -> KnownPeer {
        KnownPeer {
            key: self.key,
            addr: self.addr,
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            reliability: self.reliability(),
            evidence_good: self.good,
            evidence_bad: self.bad,
            last_epoch: self.replay.epoch().unwrap_or(0),
        }
    }
}

/// A peer as tests and tools see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerView {
    /// Public key.
    pub key: [u8; 32],
    /// Peer id text.
    pub id: String,
    /// Heard from recently.
    pub active: bool,
    /// Last address.
    pub addr: Option<SocketAddr>,
    /// Protocol reliability.
    pub reliability: f64,
    /// Last heard from, unix ms.
    pub last_seen_ms: u64,
    /// Newest epoch seen.
    pub epoch: Option<u32>,
    /// Last measured round-trip time.
    pub rtt_ms: Option<u64>,
}

impl From<&Peer> for PeerView {
    fn from(p: &Peer) -> Self {
        PeerView {
            key: p.key,
            id: p.id.clone(),
            active: p.active,
            addr: p.addr,
            reliability: p.reliability(),
            last_seen_ms: p.last_seen_ms,
            epoch: p.replay.epoch(),
            rtt_ms: p.rtt_ms,
        }
    }
}
