//! The periodic sweep: liveness (Pings, missed Pings, silent peers), forgetting, persisting,
//! and expiry of every bounded table.
//!
//! An active peer is pinged when (a) it has not yet sent us a unicast frame since it became
//! active (it may not know us: our Announce reply may have been lost), (b) it has been silent
//! for `ping_after_silence_ms`, or (c) it was last pinged `probe_interval_ms` ago. Only one
//! Ping is in flight per peer; a missed one lowers reliability and the next goes out at the
//! following tick.

use super::api::{Action, Dest, Persist};
use super::peers::PendingPing;
use super::Node;
use crate::wire::{Message, Ping};

impl Node {
    pub(super) fn housekeeping(&mut self, now_ms: u64) {
        let cfg = self.cfg.clone();
        let mut pings = Vec::new();
        let mut gone = Vec::new();
        let mut forget = Vec::new();
        let mut persist = Vec::new();
        for p in self.peers.values_mut() {
            let silent = now_ms.saturating_sub(p.last_seen_ms);
            if let Some(pp) = p.ping {
                if now_ms.saturating_sub(pp.sent_ms) >= cfg.ping_timeout_ms {
                    p.ping = None;
                    p.bad += 1;
                    p.dirty = true;
                }
            }
            if p.active {
                if silent >= cfg.inactive_after_ms {
                    gone.push(p.key);
                } else if p.ping.is_none()
                    && (!p.confirmed
                        || silent >= cfg.ping_after_silence_ms
                        || now_ms.saturating_sub(p.last_ping_ms) >= cfg.probe_interval_ms)
                {
                    if let Some(addr) = p.addr {
                        pings.push((p.key, addr));
                    }
                }
            } else if silent > cfg.remember_ms {
                forget.push(p.key);
            }
            let stale = p.dirty || p.last_seen_ms > p.last_persist_ms;
            if stale && now_ms.saturating_sub(p.last_persist_ms) >= cfg.persist_interval_ms {
                persist.push(p.key);
            }
        }
        for k in gone {
            self.peer_left(now_ms, &k);
        }
        for (k, addr) in pings {
            let nonce = self.random_u64();
            if self.send(now_ms, Dest::Unicast(addr), &Message::Ping(Ping { nonce })) {
                if let Some(p) = self.peers.get_mut(&k) {
                    p.ping = Some(PendingPing {
                        nonce,
                        sent_ms: now_ms,
                    });
                    p.last_ping_ms = now_ms;
                }
            }
        }
        for k in persist {
            self.persist_peer(&k, now_ms);
        }
        for k in forget {
            self.peers.remove(&k);
            self.actions
                .push_back(Action::Persist(Persist::PeerForgotten { key: k }));
        }
        self.sources.prune(&cfg.source_limit, now_ms);
        let keep_finished = cfg.ask_deadline_ms.saturating_mul(10);
        self.finished
            .retain(|_, t| now_ms.saturating_sub(*t) < keep_finished);
        self.cache
            .retain(|_, c| now_ms.saturating_sub(c.at_ms) <= cfg.ask_cache_ms);
        self.own_sent
            .retain(|_, t| now_ms.saturating_sub(*t) < cfg.dedup_window_ms);
        self.seen_reports
            .retain(|_, t| now_ms.saturating_sub(*t) < cfg.dedup_window_ms);
        self.incoming.retain(|_, q| q.expires_ms >= now_ms);
    }
}
