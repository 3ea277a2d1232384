//! Tunables of the node, with the defaults a LAN deployment wants.
//!
//! Every duration is in milliseconds because the node only ever sees time as a number of
//! milliseconds passed in by its driver. The runtime maps the TOML config onto this struct; the
//! simulator sets short intervals to keep tests quick.

use crate::wire::limits::DEFAULT_TIME_TOLERANCE_MS;

/// A token bucket's shape: how many messages may arrive at once, and how fast the allowance
/// refills. Exists so the three rate limits (per source address, global, per verified peer)
/// are configured the same way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Largest burst accepted after a quiet period.
    pub burst: f64,
    /// Sustained messages per second.
    pub per_sec: f64,
}

/// How a node behaves. Built by the runtime from the config file, or by tests.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Network name, hashed into every frame so that two networks on one LAN never mix.
    pub network: String,
    /// Mean time between two multicast Announces.
    pub announce_interval_ms: u64,
    /// Each Announce is sent up to this much earlier or later than the interval, so that
    /// nodes started together do not beacon in lockstep.
    pub announce_jitter_ms: u64,
    /// The first Announce goes out after a random delay up to this much.
    pub startup_jitter_ms: u64,
    /// How many Announces make up the start-up burst. Two peers that miss each other's only
    /// Announce (1 % of pairs at 10 % loss) would otherwise wait a whole interval; a second
    /// one shortly after brings that to 0.01 %.
    pub startup_announces: u32,
    /// Spacing of the start-up burst (plus up to `startup_jitter_ms`).
    pub startup_spacing_ms: u64,
    /// A peer silent for this long (its Announces lost, or it is gone) is pinged, and pinged
    /// again after each missed Ping until it answers or becomes inactive. Announces are the
    /// heartbeat; Pings are only spent when they are needed. The default waits for two
    /// missed Announces: waiting for one costs a Ping per peer pair per lost Announce (at
    /// 10 % loss and 200 nodes, about 260 datagrams per node per minute in the simulator).
    pub ping_after_silence_ms: u64,
    /// Every active peer is pinged at least this often anyway, to keep its RTT and its
    /// "answers pings" evidence current.
    pub probe_interval_ms: u64,
    /// A Ping not answered within this long counts as missed (lowers reliability).
    pub ping_timeout_ms: u64,
    /// A peer silent for this long becomes inactive. With the defaults that is about six
    /// missed Pings after two missed Announces, so that 10 % loss does not make peers flap;
    /// a peer that leaves properly says Goodbye and is inactive at once.
    pub inactive_after_ms: u64,
    /// An inactive peer is forgotten after this much silence (default 30 days).
    pub remember_ms: u64,
    /// How often the node wakes for housekeeping (liveness, expiry) when nothing else is due.
    pub tick_ms: u64,
    /// An ask gives up waiting for answers after this long.
    pub ask_deadline_ms: u64,
    /// Peers that have not answered this long after the Query get it again by unicast (once),
    /// so that one lost datagram does not cost an answer. 0 disables the retry.
    pub ask_retry_ms: u64,
    /// A completed ask is served again from cache to asks that arrive within this long.
    pub ask_cache_ms: u64,
    /// A second Report or Blame from the same peer about the same IoC within this window is a
    /// duplicate and is dropped; own Reports are not re-broadcast within it either.
    pub dedup_window_ms: u64,
    /// Largest accepted distance between a frame's timestamp and the local clock.
    pub time_tolerance_ms: u64,
    /// Rate limit per source address, applied before any signature check.
    pub source_limit: RateLimit,
    /// Rate limit over all sources together, applied before any signature check.
    pub global_limit: RateLimit,
    /// Rate limit per verified peer; exceeding it lowers the peer's reliability.
    pub peer_limit: RateLimit,
    /// Most peers kept in memory; beyond it the oldest inactive one is evicted.
    pub max_peers: usize,
    /// Most source addresses tracked by the per-source rate limit.
    pub max_sources: usize,
    /// Most entries in each bounded table (reports, own detections, dedup, cache, queries).
    pub max_entries: usize,
    /// Received reports kept per IoC for `Opinion`.
    pub max_reports_per_ioc: usize,
    /// True: the node answers peers' Queries from its own detections. False: it only notifies
    /// the relay (`QueryReceived`) and waits for `Command::AnswerQuery` (with Slips attached,
    /// whose view answers); an `AnswerQuery` without evaluation falls back to our own
    /// detection.
    pub answer_queries: bool,
    /// How long the relay has to answer a forwarded Query when `answer_queries` is false.
    pub query_answer_window_ms: u64,
    /// A peer's record is re-persisted at most this often when only its last-seen time moved.
    pub persist_interval_ms: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            network: "slips".into(),
            announce_interval_ms: 30_000,
            announce_jitter_ms: 3_000,
            startup_jitter_ms: 500,
            startup_announces: 2,
            startup_spacing_ms: 2_000,
            ping_after_silence_ms: 65_000,
            probe_interval_ms: 300_000,
            ping_timeout_ms: 4_000,
            inactive_after_ms: 90_000,
            remember_ms: 30 * 24 * 3600 * 1000,
            tick_ms: 1_000,
            ask_deadline_ms: 3_000,
            ask_retry_ms: 1_500,
            ask_cache_ms: 10_000,
            dedup_window_ms: 300_000,
            time_tolerance_ms: DEFAULT_TIME_TOLERANCE_MS,
            source_limit: RateLimit {
                burst: 256.0,
                per_sec: 128.0,
            },
            global_limit: RateLimit {
                burst: 4096.0,
                per_sec: 2048.0,
            },
            peer_limit: RateLimit {
                burst: 256.0,
                per_sec: 128.0,
            },
            max_peers: 1024,
            max_sources: 4096,
            max_entries: 10_000,
            max_reports_per_ioc: 64,
            answer_queries: true,
            query_answer_window_ms: 3_000,
            persist_interval_ms: 60_000,
        }
    }
}

impl NodeConfig {
    /// The same config with every interval at least 1 ms and every size at least 1, so that a
    /// careless value can neither spin the node nor make a table unusable.
    pub(crate) fn sanitised(mut self) -> NodeConfig {
        for v in [
            &mut self.announce_interval_ms,
            &mut self.ping_after_silence_ms,
            &mut self.probe_interval_ms,
            &mut self.ping_timeout_ms,
            &mut self.inactive_after_ms,
            &mut self.tick_ms,
            &mut self.ask_deadline_ms,
            &mut self.persist_interval_ms,
        ] {
            *v = (*v).max(1);
        }
        self.announce_jitter_ms = self.announce_jitter_ms.min(self.announce_interval_ms / 2);
        for v in [
            &mut self.max_peers,
            &mut self.max_sources,
            &mut self.max_entries,
            &mut self.max_reports_per_ioc,
        ] {
            *v = (*v).max(1);
        }
        for l in [
            &mut self.source_limit,
            &mut self.global_limit,
            &mut self.peer_limit,
        ] {
            if !(l.burst.is_finite() && l.burst >= 1.0) {
                l.burst = 1.0;
            }
            if !(l.per_sec.is_finite() && l.per_sec >= 0.0) {
                l.per_sec = 0.0;
            }
        }
        self
    }
}
