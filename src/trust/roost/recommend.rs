//! Recommendations about newcomers (trust-arena study X6): what roost lets other peers say
//! about an identity it has never seen.
//!
//! Fides lets recommendations set a newcomer's trust outright (`st = max(st, r_ij)`), weighed
//! by history sizes and counts the recommenders report about themselves, so a colluding
//! clique can vouch its own fresh identities into full trust. roost takes only a small,
//! bounded prior from them:
//! - only established peers count: anchors, and peers that are no longer young and whose
//!   trust is above a stranger's; everything else is ignored;
//! - only one field is read, the recommender's competence belief `cb` (its own experience
//!   with the subject), clamped to [0, 1]; the self-reported `sh`, `η`, `r` and `ib` carry
//!   no weight, and each recommender counts once, weighted by the trust roost itself gives it;
//! - the weighted mean `v` of those views shifts the newcomer's trust by
//!   `recommendation_cap * (2v - 1)`, so the combined effect is at most the cap in absolute
//!   value whatever the number of recommenders or what they claim;
//! - the shift is stored as pseudo-evidence (extra successes or failures) that fades like any
//!   evidence and is outweighed by what the peer is then verified to do; it does not count
//!   as earned evidence, so a recommended newcomer stays young (sybil-capped);
//! - it applies once, to a newcomer with no evidence of its own yet.

use std::collections::BTreeMap;

use super::{clean, RoostModel};
use crate::trust::model::{PeerKey, Recommendation};
use crate::trust::roost::state::PeerState;

/// Most peers asked about one newcomer (as many as Fides asks).
const MAX_RECOMMENDERS: usize = 100;

/// Largest cap honoured: keeps the shifted trust strictly inside (0, 1).
const MAX_CAP: f64 = 0.45;

impl RoostModel {
    /// The cap in use, made safe (NaN or negative = 0).
    fn recommendation_cap(&self) -> f64 {
        clean(self.params.recommendation_cap, 0.0, MAX_CAP).unwrap_or(0.0)
    }

    /// Whether a peer's recommendations count: an anchor, or an established peer trusted
    /// more than a stranger.
    fn can_recommend(&self, p: &PeerState, now: u64) -> bool {
        let (ps, pf) = (self.params.prior_success, self.params.prior_failure);
        let stranger = ps / (ps + pf);
        p.pretrust.is_some() || (!self.is_young(p, now) && p.trust(ps, pf) > stranger)
    }

    /// A newcomer with no evidence of its own, the only kind a recommendation may touch.
    fn is_pristine(p: &PeerState) -> bool {
        p.pretrust.is_none()
            && p.success == 0.0
            && p.failure == 0.0
            && p.reports == 0
            && p.checks_passed == 0
            && p.checks_failed == 0
    }

    /// Whom to ask about `subject`: the established, trusted peers, most trusted first.
    pub(super) fn recommenders_for(&self, subject: PeerKey, now: u64) -> Vec<PeerKey> {
        if self.recommendation_cap() <= 0.0 {
            return Vec::new();
        }
        if !self.peers.get(&subject).is_some_and(Self::is_pristine) {
            return Vec::new();
        }
        let (ps, pf) = (self.params.prior_success, self.params.prior_failure);
        let mut c: Vec<(f64, PeerKey)> = self
            .peers
            .iter()
            .filter(|(k, p)| **k != subject && self.can_recommend(p, now))
            .map(|(k, p)| (p.trust(ps, pf), *k))
            .collect();
        c.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        c.into_iter()
            .take(MAX_RECOMMENDERS)
            .map(|(_, k)| k)
            .collect()
    }

    /// Applies one round of recommendations about `subject` as a bounded prior (see the
    /// module documentation). Returns the trust shift applied (0 when ignored).
    pub(super) fn apply_recommendations(
        &mut self,
        subject: PeerKey,
        answers: &[Recommendation],
        now: u64,
    ) -> f64 {
        let cap = self.recommendation_cap();
        if cap <= 0.0 || !self.peers.get(&subject).is_some_and(Self::is_pristine) {
            return 0.0;
        }
        // One voice per recommender (its last answer); only its competence belief is read.
        let mut views: BTreeMap<PeerKey, f64> = BTreeMap::new();
        for a in answers {
            if a.from != subject {
                if let Some(cb) = clean(a.cb, 0.0, 1.0) {
                    views.insert(a.from, cb);
                }
            }
        }
        let (ps, pf) = (self.params.prior_success, self.params.prior_failure);
        let (mut num, mut den) = (0.0, 0.0);
        for (k, v) in views {
            let Some(p) = self.peers.get(&k) else {
                continue;
            };
            if self.can_recommend(p, now) {
                let t = p.trust(ps, pf);
                num += t * v;
                den += t;
            }
        }
        if den <= 0.0 || !den.is_finite() {
            return 0.0;
        }
        let shift = cap * (2.0 * (num / den) - 1.0);
        let p = self.peer_mut(subject, now);
        let a = ps + p.success;
        let b = pf + p.failure;
        let before = a / (a + b);
        let goal = (before + shift).clamp(1.0 - MAX_CAP - 0.5, MAX_CAP + 0.5);
        // Pseudo-evidence that moves the Beta mean to `goal`: successes when it rises,
        // failures when it falls. Not `earned`: the newcomer stays young.
        if goal > before {
            p.success += (goal * (a + b) - a) / (1.0 - goal);
        } else if goal < before {
            p.failure += a / goal - a - b;
        }
        let after = p.trust(ps, pf);
        after - before
    }
}
