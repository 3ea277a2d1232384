//! Token buckets: the cheap gate in front of signature verification.
//!
//! A flood of forged frames must not cost a signature check each, so every datagram first
//! takes a token from its source address's bucket and from the global bucket. Time comes in
//! as an argument; nothing here reads a clock.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::config::RateLimit;

/// One bucket. Starts full.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    pub(crate) fn full(limit: &RateLimit, now_ms: u64) -> Self {
        TokenBucket {
            tokens: limit.burst,
            last_ms: now_ms,
        }
    }

    /// Refills for the time passed and takes one token if there is one.
    pub(crate) fn take(&mut self, limit: &RateLimit, now_ms: u64) -> bool {
        let dt = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + dt * limit.per_sec).min(limit.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// True when the bucket would be full again by `now_ms` (so forgetting it changes nothing).
    fn refilled(&self, limit: &RateLimit, now_ms: u64) -> bool {
        let dt = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens + dt * limit.per_sec >= limit.burst
    }
}

/// Buckets per source address, bounded in number. Keyed by the full socket address (not the
/// IP alone) because several roost processes on one host are a supported setup; the global
/// bucket is what bounds an attacker who varies its source port.
#[derive(Debug, Default)]
pub(crate) struct SourceLimiter {
    buckets: BTreeMap<SocketAddr, TokenBucket>,
}

impl SourceLimiter {
    /// Takes a token for `from`. When the table is full, buckets that have refilled are
    /// forgotten first; if none has, the least recently used one is.
    pub(crate) fn allow(
        &mut self,
        from: SocketAddr,
        limit: &RateLimit,
        max: usize,
        now_ms: u64,
    ) -> bool {
        if let Some(b) = self.buckets.get_mut(&from) {
            return b.take(limit, now_ms);
        }
        if self.buckets.len() >= max {
            self.prune(limit, now_ms);
            if self.buckets.len() >= max {
                let oldest = self
                    .buckets
                    .iter()
                    .min_by_key(|(_, b)| b.last_ms)
                    .map(|(a, _)| *a);
                if let Some(a) = oldest {
                    self.buckets.remove(&a);
                }
            }
        }
        let mut b = TokenBucket::full(limit, now_ms);
        let ok = b.take(limit, now_ms);
        self.buckets.insert(from, b);
        ok
    }

    /// Forgets buckets that are full again: they carry no information.
    pub(crate) fn prune(&mut self, limit: &RateLimit, now_ms: u64) {
        self.buckets.retain(|_, b| !b.refilled(limit, now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_rate() {
        let l = RateLimit {
            burst: 3.0,
            per_sec: 2.0,
        };
        let mut b = TokenBucket::full(&l, 0);
        assert!(b.take(&l, 0) && b.take(&l, 0) && b.take(&l, 0));
        assert!(!b.take(&l, 0));
        assert!(!b.take(&l, 400));
        assert!(b.take(&l, 500));
        assert!(!b.take(&l, 500));
    }

    #[test]
    fn source_table_is_bounded() {
        let l = RateLimit {
            burst: 1.0,
            per_sec: 0.0,
        };
        let mut s = SourceLimiter::default();
        for port in 0..100u16 {
            assert!(s.allow(SocketAddr::from(([10, 0, 0, 1], port)), &l, 10, port as u64));
        }
        assert!(s.buckets.len() <= 10);
    }
}
