//! Counters of everything the network room dropped or failed, because drops are never silent:
//! `roost status` and the tests read them to tell a quiet network from a broken one.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters shared between the loop thread and readers.
#[derive(Debug, Default)]
pub struct NetCounters {
    /// Datagrams handed to the node.
    pub rx_datagrams: AtomicU64,
    /// Bytes handed to the node.
    pub rx_bytes: AtomicU64,
    /// Datagrams larger than the wire limit, dropped.
    pub rx_oversized: AtomicU64,
    /// Datagrams dropped because the node's inbound channel was full.
    pub rx_channel_full: AtomicU64,
    /// Our own multicast datagrams looped back to us, dropped.
    pub rx_own_echo: AtomicU64,
    /// Receive calls that failed with something other than "would block".
    pub rx_errors: AtomicU64,
    /// Datagrams the kernel accepted for sending.
    pub tx_datagrams: AtomicU64,
    /// Bytes the kernel accepted for sending.
    pub tx_bytes: AtomicU64,
    /// Sends that failed (EPERM, ENETUNREACH, EAGAIN, ...).
    pub tx_errors: AtomicU64,
    /// Outgoing datagrams larger than the wire limit, refused.
    pub tx_oversized: AtomicU64,
    /// Commands dropped because the command channel was full.
    pub commands_dropped: AtomicU64,
}

impl NetCounters {
    /// Adds `n` to one counter and returns the new value (used to rate-limit warnings).
    pub fn add(&self, c: &AtomicU64, n: u64) -> u64 {
        c.fetch_add(n, Ordering::Relaxed).saturating_add(n)
    }

    /// Copies every counter into a plain value.
    pub fn snapshot(&self) -> NetStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetStats {
            rx_datagrams: g(&self.rx_datagrams),
            rx_bytes: g(&self.rx_bytes),
            rx_oversized: g(&self.rx_oversized),
            rx_channel_full: g(&self.rx_channel_full),
            rx_own_echo: g(&self.rx_own_echo),
            rx_errors: g(&self.rx_errors),
            tx_datagrams: g(&self.tx_datagrams),
            tx_bytes: g(&self.tx_bytes),
            tx_errors: g(&self.tx_errors),
            tx_oversized: g(&self.tx_oversized),
            commands_dropped: g(&self.commands_dropped),
        }
    }
}

/// A point-in-time copy of [`NetCounters`], serialisable for `roost status --json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetStats {
    /// See [`NetCounters::rx_datagrams`].
    pub rx_datagrams: u64,
    /// See [`NetCounters::rx_bytes`].
    pub rx_bytes: u64,
    /// See [`NetCounters::rx_oversized`].
    pub rx_oversized: u64,
    /// See [`NetCounters::rx_channel_full`].
    pub rx_channel_full: u64,
    /// See [`NetCounters::rx_own_echo`].
    pub rx_own_echo: u64,
    /// See [`NetCounters::rx_errors`].
    pub rx_errors: u64,
    /// See [`NetCounters::tx_datagrams`].
    pub tx_datagrams: u64,
    /// See [`NetCounters::tx_bytes`].
    pub tx_bytes: u64,
    /// See [`NetCounters::tx_errors`].
    pub tx_errors: u64,
    /// See [`NetCounters::tx_oversized`].
    pub tx_oversized: u64,
    /// See [`NetCounters::commands_dropped`].
    pub commands_dropped: u64,
}
