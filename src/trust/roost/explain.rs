//! Why the model believes what it believes: the contributions behind an opinion and the
//! evidence behind a peer's trust, for `roost peers`, logs and tests.

use serde::{Deserialize, Serialize};

use crate::ioc::Ioc;
use crate::trust::model::PeerKey;

/// One reporter's part in an opinion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// Who reported.
    pub peer: PeerKey,
    /// Its report's score (-1 malicious .. 1 benign).
    pub s: f64,
    /// Its report's confidence.
    pub c: f64,
    /// The weight its report got (trust, IDS view of its IP, reversal discount, sybil cap).
    pub weight: f64,
    /// Its signed share of the final score: the contributions plus the local view's share
    /// (`local_share` of the explanation) sum to S.
    pub contribution: f64,
    /// True when it was still young and its weight was capped.
    pub young: bool,
    /// True when it reversed its own firm opinion on this IoC without confirmation.
    pub reversed: bool,
}

/// The last opinion formed on an IoC and who moved it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The IoC asked about; `None` when the model never formed an opinion on it.
    pub target: Option<Ioc>,
    /// When the opinion was formed.
    pub at: u64,
    /// The score returned.
    pub s: f64,
    /// The confidence returned.
    pub c: f64,
    /// The local IDS view used, if any.
    pub local: Option<(f64, f64)>,
    /// How much the local view counted as a reference for checking reporters (0..1).
    pub local_strength: f64,
    /// The local view's signed share of S (0 when it is absent or not yet steady).
    pub local_share: f64,
    /// The anchors' (pre-trusted peers') combined score, if any anchor reported.
    pub anchor: Option<f64>,
    /// Per reporter, sorted by decreasing |contribution|.
    pub contributions: Vec<Contribution>,
}

/// Why a peer has its trust.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerExplanation {
    /// The peer.
    pub peer: PeerKey,
    /// Its current trust in [0, 1].
    pub trust: f64,
    /// Operator-configured trust, when it is an anchor (then `trust` is this value).
    pub pretrust: Option<f64>,
    /// Remembered mass of verified correct reports (after forgetting).
    pub success_mass: f64,
    /// Remembered mass of verified wrong reports, weighted (after forgetting).
    pub failure_mass: f64,
    /// Checks it passed / failed, all time.
    pub checks_passed: u64,
    /// Checks it failed, all time.
    pub checks_failed: u64,
    /// Remembered mass of failures found by strong references (our IDS, anchors, its own
    /// reversals, overclaims); above `impeach_min` its dissent no longer disputes an opinion.
    pub impeachment: f64,
    /// Unconfirmed reversals of its own firm opinions.
    pub reversals_unconfirmed: u64,
    /// Reversals confirmed by the local IDS or anchors.
    pub reversals_confirmed: u64,
    /// True while it has not earned enough verified evidence (its weight is sybil-capped).
    pub young: bool,
    /// What our IDS thinks of its IP, if known.
    pub ids_view: Option<(f64, f64)>,
    /// Requests and alerts received from it: counted, never rewarded.
    pub requests: u64,
    /// Alerts received from it.
    pub alerts: u64,
    /// Opinions it took part in.
    pub reports: u64,
    /// When it was first seen.
    pub joined: u64,
}
