//! The receive path, cheapest check first, and the dispatch of verified messages.
//!
//! Order: parse (length, magic, version, network, kind) -> per-source and global rate limits
//! -> own frame -> timestamp -> replay window "would accept" -> signature -> replay "mark" ->
//! peer table -> per-peer rate limit -> body decode -> dispatch. Every early exit is a counted
//! drop and nothing that fails a check is ever answered.

use std::net::SocketAddr;

use super::api::{Action, Dest, Notification, ReportKind};
use super::peers::{Peer, MISBEHAVIOUR_WEIGHT};
use super::Node;
use crate::wire::{Announce, Answer, Frame, Message, Pong, WireError};

/// What touching the peer table learned about the sender, for the Announce reply rule.
struct Seen {
    /// Unknown before this frame.
    new: bool,
    /// Known but inactive before this frame.
    was_inactive: bool,
    /// Its epoch went up: it restarted and may have lost its table.
    restarted: bool,
}

impl Node {
    /// A datagram arrived from `from`; `multicast` says whether it came through the group.
    pub fn handle_datagram(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        bytes: &[u8],
        multicast: bool,
    ) {
        if self.shut_down {
            return;
        }
        self.stats.datagrams_in += 1;
        let frame = match Frame::parse(bytes, &self.network) {
            Ok(f) => f,
            Err(e) => return self.refuse(e.reason(), from),
        };
        let cfg = &self.cfg;
        if !self
            .sources
            .allow(from, &cfg.source_limit, cfg.max_sources, now_ms)
        {
            return self.refuse("rate_source", from);
        }
        if !self.global.take(&cfg.global_limit, now_ms) {
            return self.refuse("rate_global", from);
        }
        let sender = frame.sender();
        if sender == self.public {
            return self.refuse("own_frame", from);
        }
        if let Err(e) = frame.check_time(now_ms, self.cfg.time_tolerance_ms) {
            return self.refuse(e.reason(), from);
        }
        let (epoch, counter) = (frame.epoch(), frame.counter());
        let known = self.peers.get(&sender);
        if let Some(p) = known {
            if let Err(e) = p.replay.check(epoch, counter) {
                return self.refuse(e.reason(), from);
            }
        }
        let vkey = match known.and_then(|p| p.vkey) {
            Some(k) => k,
            None => match frame.sender_key() {
                Ok(k) => k,
                Err(e) => return self.refuse(e.reason(), from),
            },
        };
        self.stats.verifications += 1;
        let verified = match frame.verify(&vkey) {
            Ok(v) => v,
            Err(e) => return self.refuse(e.reason(), from),
        };
        // Authenticated from here on: the sender's own key vouches for the frame.
        let Some(seen) = self.touch_peer(now_ms, sender, vkey, from, epoch, counter) else {
            return self.refuse("peer_table_full", from);
        };
        if !multicast {
            if let Some(p) = self.peers.get_mut(&sender) {
                p.confirmed = true;
            }
        }
        let limit = self.cfg.peer_limit;
        if let Some(p) = self.peers.get_mut(&sender) {
            if !p.bucket.take(&limit, now_ms) {
                p.bad += 1;
                p.dirty = true;
                return self.refuse("rate_peer", from);
            }
        }
        let msg = match verified.message() {
            Ok(m) => m,
            Err(e) => {
                if let WireError::Misbehaving(_) = e {
                    if let Some(p) = self.peers.get_mut(&sender) {
                        p.bad += MISBEHAVIOUR_WEIGHT;
                        p.dirty = true;
                    }
                }
                return self.refuse(e.reason(), from);
            }
        };
        self.stats.accepted += 1;
        self.dispatch(now_ms, sender, from, multicast, seen, msg);
    }

    /// Records a verified frame's sender: creates or refreshes its entry, marks the replay
    /// window, and reports arrivals, returns and address changes. None when the table is full
    /// of active peers.
    fn touch_peer(
        &mut self,
        now_ms: u64,
        key: [u8; 32],
        vkey: ed25519_dalek::VerifyingKey,
        from: SocketAddr,
        epoch: u32,
        counter: u64,
    ) -> Option<Seen> {
        let new = !self.peers.contains_key(&key);
        if new && self.peers.len() >= self.cfg.max_peers && !self.evict_one() {
            return None;
        }
        let limit = self.cfg.peer_limit;
        let p = self
            .peers
            .entry(key)
            .or_insert_with(|| Peer::new(key, &limit, now_ms));
        let was_inactive = !new && !p.active;
        let restarted = p.replay.epoch().is_some_and(|e| epoch > e);
        p.replay.mark(epoch, counter);
        p.vkey = Some(vkey);
        p.last_seen_ms = now_ms;
        let moved = p.addr != Some(from);
        p.addr = Some(from);
        let arrived = !p.active;
        p.active = true;
        if arrived || restarted {
            p.confirmed = false;
        }
        if arrived || moved || restarted {
            p.dirty = true;
            let note = Notification::PeerUpdate {
                peer: p.id.clone(),
                addr: from,
                reliability: p.reliability(),
            };
            self.actions.push_back(Action::Notify(note));
            self.persist_peer(&key, now_ms);
        }
        Some(Seen {
            new,
            was_inactive,
            restarted,
        })
    }

    /// Makes room by forgetting the inactive peer silent for longest.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .peers
            .values()
            .filter(|p| !p.active)
            .min_by_key(|p| p.last_seen_ms)
            .map(|p| p.key);
        match victim {
            Some(k) => {
                self.peers.remove(&k);
                self.actions
                    .push_back(Action::Persist(super::Persist::PeerForgotten { key: k }));
                true
            }
            None => false,
        }
    }

    fn dispatch(
        &mut self,
        now_ms: u64,
        sender: [u8; 32],
        from: SocketAddr,
        multicast: bool,
        seen: Seen,
        msg: Message,
    ) {
        match msg {
            Message::Announce(a) => {
                // Replies are never answered (no loops); only a newcomer, a returning peer or
                // a restarted one gets one, so steady-state beacons cost no replies.
                if multicast && !a.reply && (seen.new || seen.was_inactive || seen.restarted) {
                    self.stats.announce_replies += 1;
                    let reply = Message::Announce(Announce {
                        reply: true,
                        features: 0,
                    });
                    self.send(now_ms, Dest::Unicast(from), &reply);
                }
            }
            Message::Ping(p) => {
                self.send(
                    now_ms,
                    Dest::Unicast(from),
                    &Message::Pong(Pong { nonce: p.nonce }),
                );
            }
            Message::Pong(p) => {
                let Some(peer) = self.peers.get_mut(&sender) else {
                    return;
                };
                match peer.ping {
                    Some(pp) if pp.nonce == p.nonce => {
                        peer.rtt_ms = Some(now_ms.saturating_sub(pp.sent_ms));
                        peer.ping = None;
                        peer.good += 1;
                        peer.dirty = true;
                    }
                    _ => self.note_drop("pong_unsolicited"),
                }
            }
            Message::Query(q) => self.on_query(now_ms, sender, from, q),
            Message::Answer(a) => self.on_answer(now_ms, sender, a),
            Message::Report(r) => {
                self.on_report(now_ms, sender, r.ioc, r.evaluation, ReportKind::Report)
            }
            Message::Blame(b) => {
                self.on_report(now_ms, sender, b.ioc, b.evaluation, ReportKind::Blame)
            }
            Message::Goodbye(_) => self.peer_left(now_ms, &sender),
        }
    }

    /// Marks a peer inactive at once (Goodbye, or silence found by housekeeping), tells the
    /// relay, and stops waiting for its answers.
    pub(super) fn peer_left(&mut self, now_ms: u64, key: &[u8; 32]) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        if !p.active {
            return;
        }
        p.active = false;
        p.ping = None;
        p.dirty = true;
        let note = Notification::PeerGone { peer: p.id.clone() };
        self.actions.push_back(Action::Notify(note));
        self.persist_peer(key, now_ms);
        self.forget_expected(now_ms, key);
    }

    /// Our answer to a Query: from our own detection when the node answers itself, otherwise
    /// kept for the relay's `AnswerQuery`.
    fn on_query(&mut self, now_ms: u64, sender: [u8; 32], from: SocketAddr, q: crate::wire::Query) {
        let Some(peer_id) = self.peers.get(&sender).map(|p| p.id.clone()) else {
            return;
        };
        self.actions
            .push_back(Action::Notify(Notification::QueryReceived {
                peer: peer_id,
                request: q.request,
                ioc: q.ioc.clone(),
            }));
        if self.cfg.answer_queries {
            let evaluation = self.own.get(&q.ioc).copied();
            let answer = Message::Answer(Answer {
                request: q.request,
                ioc: q.ioc,
                evaluation,
            });
            self.send(now_ms, Dest::Unicast(from), &answer);
        } else if self.incoming.len() < self.cfg.max_entries {
            self.incoming.insert(
                (sender, q.request),
                super::ask::IncomingQuery {
                    ioc: q.ioc,
                    addr: from,
                    expires_ms: now_ms + self.cfg.query_answer_window_ms,
                },
            );
        } else {
            self.note_drop("incoming_queries_full");
        }
    }
}
