//! Counters of what the node did and, above all, of what it dropped and why: dropping silently
//! is the rule for untrusted input, so counting is how an operator can see it happen.

use std::collections::BTreeMap;

use serde::Serialize;

/// Protocol counters. Shown in `roost status`; tests read them to prove where a frame stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Datagrams handed to the node.
    pub datagrams_in: u64,
    /// Signature verifications performed (the expensive step rate limits protect).
    pub verifications: u64,
    /// Frames that passed every check and were dispatched.
    pub accepted: u64,
    /// Datagrams the node asked its driver to send.
    pub transmits: u64,
    /// Announces answered with a unicast Announce.
    pub announce_replies: u64,
    /// Queries sent for asks.
    pub queries_sent: u64,
    /// Queries sent again by unicast to peers that had not answered by the retry time.
    pub queries_retried: u64,
    /// Asks that joined a Query already in flight for the same IoC.
    pub asks_coalesced: u64,
    /// Asks served from the answer cache.
    pub asks_cached: u64,
    /// Asks that completed because every active peer answered.
    pub asks_complete: u64,
    /// Asks that completed at the deadline.
    pub asks_deadline: u64,
    /// Dropped input, by reason (wire reasons plus the node's own).
    pub drops: BTreeMap<&'static str, u64>,
}

impl Stats {
    /// How many drops were counted for `reason` (0 if none).
    pub fn dropped(&self, reason: &str) -> u64 {
        self.drops.get(reason).copied().unwrap_or(0)
    }

    /// Every drop, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.drops.values().sum()
    }

    pub(crate) fn drop(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_insert(0) += 1;
    }
}
