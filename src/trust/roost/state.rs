//! What the roost model remembers between calls: per peer, per (peer, IoC) and per IoC.
//! Everything is in ordered maps and plain numbers so that the state serialises to the same
//! bytes every time and restores bit for bit.

use serde::{Deserialize, Serialize};

use crate::ioc::Ioc;

use super::explain::Explanation;

/// `0.5^(dt / half_life)`, the share of evidence that survives `dt` time units.
pub(crate) fn survival(dt: u64, half_life: f64) -> f64 {
    if dt == 0 || !(half_life.is_finite() && half_life > 0.0) {
        return 1.0;
    }
    (0.5f64).powf(dt as f64 / half_life)
}

/// Everything known about one peer, built only from verified evidence.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PeerState {
    /// When the peer was first seen.
    pub joined: u64,
    /// Operator-configured trust (an anchor); frozen, never learned.
    pub pretrust: Option<f64>,
    /// The IP the peer is seen at, to look up what our IDS thinks of it.
    pub address: Option<Ioc>,
    /// Network reliability (protocol behaviour), in [0, 1]; `None` until told.
    pub reliability: Option<f64>,
    /// Remembered (decayed) mass of verified correct reports.
    pub success: f64,
    /// Remembered (decayed) mass of verified wrong reports, already multiplied by the
    /// failure weight.
    pub failure: f64,
    /// When `success` and `failure` were last decayed.
    pub updated: u64,
    /// Total success mass ever earned (not decayed): decides when a peer stops being young.
    pub earned: f64,
    /// Number of checks that found the peer right.
    pub checks_passed: u64,
    /// Number of checks that found the peer wrong.
    pub checks_failed: u64,
    /// Reversals of its own firm opinion that nothing confirmed.
    pub flips_unconfirmed: u64,
    /// Reversals confirmed by the local IDS or by anchors (a real change: X9).
    pub flips_confirmed: u64,
    /// Requests received from the peer (never earn trust, counted for explanations).
    pub requests: u64,
    /// Unsolicited alerts received from the peer (never earn trust by themselves).
    pub alerts: u64,
    /// Opinions this peer contributed to.
    pub reports: u64,
    /// Decayed mass of failures found by strong references (our IDS, anchors, its own
    /// reversals, overclaims): an impeached peer's dissent does not make an opinion disputed.
    pub impeached: f64,
    /// Last time the peer was heard of.
    pub last_seen: u64,
    /// Firm accusations the peer ever made (reports with s*c at or below -flip_threshold).
    /// A peer that never accused anything has only ever said "I saw nothing".
    pub accusations: u64,
    /// Last time the peer turned its own firm accusation into praise with nothing to confirm
    /// it (a proven lie): its other unconfirmed reversals are read as lies too.
    pub lied_at: Option<u64>,
    /// When the peer last reversed itself unconfirmed, and the time before that (on any
    /// IoC): a liar that swaps its stances flips on several IoCs, a retraction on one.
    pub last_flips: (Option<u64>, Option<u64>),
}

impl PeerState {
    /// Applies forgetting up to `now` (asymmetric: failures fade slower than successes).
    pub fn decay(&mut self, now: u64, success_half_life: f64, failure_half_life: f64) {
        if now > self.updated {
            let dt = now - self.updated;
            self.success *= survival(dt, success_half_life);
            self.failure *= survival(dt, failure_half_life);
            self.impeached *= survival(dt, failure_half_life);
            self.updated = now;
        }
    }

    /// Posterior mean of "this peer's next report is right", or the frozen anchor trust.
    pub fn trust(&self, prior_success: f64, prior_failure: f64) -> f64 {
        if let Some(p) = self.pretrust {
            return p;
        }
        let a = prior_success + self.success;
        let b = prior_failure + self.failure;
        let t = a / (a + b);
        if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// One peer's record on one IoC: used to spot a peer that reverses its own firm opinion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReportHistory {
    /// Moving average of the peer's s*c on this IoC.
    pub mean: f64,
    /// Firm reports seen (|s*c| above the flip threshold).
    pub firm: u32,
    /// Last report.
    pub last_s: f64,
    /// Last report's confidence.
    pub last_c: f64,
    /// When it was last reported.
    pub last_at: u64,
    /// When the peer last reversed itself here without confirmation.
    pub flip_at: Option<u64>,
    /// Number of unconfirmed reversals here.
    pub flips: u32,
    /// Sign of the stance the peer reversed to; while it keeps it, the reversal stands.
    pub flip_sign: f64,
}

/// What roost knows about one IoC: the local IDS view and its consistency, and the last
/// opinion with its explanation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SubjectState {
    /// Latest local IDS view (s, c) of this subject, from `local_observation` or `opinion`.
    pub local: Option<(f64, f64)>,
    /// When `local` was set.
    pub local_at: u64,
    /// Decayed sum of the local views' s*c.
    pub sum_x: f64,
    /// Decayed sum of |s*c|.
    pub sum_abs: f64,
    /// Decayed number of local views.
    pub count: f64,
    /// When the counters were last decayed.
    pub counted_at: u64,
    /// The last opinion on this subject, with who moved it.
    pub last: Option<Explanation>,
    /// Last time this subject was touched (for eviction).
    pub last_seen: u64,
}
