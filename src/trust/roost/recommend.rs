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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::Ioc;
    use crate::trust::model::{Report, TrustModel};
    use crate::trust::roost::RoostParams;
    use proptest::prelude::*;

    const CAP: f64 = 0.05;

    /// A model where peers 0..n have been confirmed right by a steady, attacked local IDS
    /// for 40 rounds (established and trusted) and peer 500 has just joined.
    fn established(n: u32) -> RoostModel {
        let mut m = RoostModel::with_params(RoostParams {
            recommendation_cap: CAP,
            ..RoostParams::default()
        });
        let t = Ioc::Ipv4([10, 0, 0, 1]);
        for k in 0..n {
            m.peer_joined(PeerKey::from_index(k), None, 0);
        }
        for round in 0..40 {
            let reports: Vec<Report> = (0..n)
                .map(|k| Report {
                    peer: PeerKey::from_index(k),
                    s: -0.9,
                    c: 0.9,
                })
                .collect();
            m.opinion(&t, &reports, Some((-1.0, 0.95)), round);
        }
        m.peer_joined(PeerKey::from_index(500), None, 40);
        m
    }

    fn praise(from: PeerKey, cb: f64) -> Recommendation {
        Recommendation {
            from,
            cb,
            ib: 0.0,
            sh: u32::MAX,
            r: 1.0,
            eta: u32::MAX,
        }
    }

    #[test]
    fn only_established_peers_are_asked_and_their_effect_is_capped() {
        let mut m = established(6);
        let j = PeerKey::from_index(500);
        for k in 0..6 {
            let p = m.explain_peer(PeerKey::from_index(k)).unwrap();
            assert!(!p.young && p.trust > 0.5, "peer {k} is established: {p:?}");
        }
        // A second newcomer is young: never asked, and its praise is ignored.
        let y = PeerKey::from_index(501);
        m.peer_joined(y, None, 40);
        let asked = m.recommendation_recipients(j, 40);
        assert_eq!(asked.len(), 6);
        assert!(!asked.contains(&y) && !asked.contains(&j));
        let before = m.trust(j);
        let mut young_only = m.clone();
        young_only.recommendations_received(j, &[praise(y, 1.0)], 40);
        assert_eq!(young_only.trust(j), before);
        // Unanimous praise from every established peer moves it by exactly the cap ...
        let all: Vec<Recommendation> = asked.iter().map(|&k| praise(k, 1.0)).collect();
        let mut up = m.clone();
        up.recommendations_received(j, &all, 40);
        assert!((up.trust(j) - before - CAP).abs() < 1e-12);
        // ... it stays young (sybil-capped), and a second round changes nothing.
        assert!(up.explain_peer(j).unwrap().young);
        let once = up.trust(j);
        up.recommendations_received(j, &all, 41);
        assert_eq!(up.trust(j), once);
        // Unanimous badmouthing lowers it by the cap.
        let all: Vec<Recommendation> = asked.iter().map(|&k| praise(k, 0.0)).collect();
        m.recommendations_received(j, &all, 40);
        assert!((m.trust(j) - before + CAP).abs() < 1e-12);
    }

    #[test]
    fn a_zero_cap_asks_nobody_and_ignores_answers() {
        let mut m = established(4);
        m.params.recommendation_cap = 0.0;
        let j = PeerKey::from_index(500);
        assert!(m.recommendation_recipients(j, 40).is_empty());
        let before = m.clone();
        let all: Vec<Recommendation> = (0..4)
            .map(|k| praise(PeerKey::from_index(k), 1.0))
            .collect();
        m.recommendations_received(j, &all, 40);
        assert_eq!(m, before);
        // The daemon runs with the hook inert.
        let daemon = crate::trust::judge::production_params();
        assert_eq!(daemon.recommendation_cap, 0.0);
    }

    #[test]
    fn saved_state_carries_no_parameters() {
        // Version 1 carried the parameters; its bytes must not be misread as this layout.
        let m = established(2);
        let mut bytes = m.to_bytes();
        let tuned = RoostParams {
            recommendation_cap: 0.2,
            ..m.params().clone()
        };
        // The state runs with the parameters it is loaded with, whatever it was saved with.
        let back = RoostModel::from_bytes(&bytes, tuned.clone()).unwrap();
        assert_eq!(back.params(), &tuned);
        assert_eq!(back.to_bytes(), bytes);
        bytes[0] = 1;
        assert!(RoostModel::from_bytes(&bytes, tuned).is_err());
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            -2.0..3.0f64,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(1e300),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever 1..50 recommenders (established or not, even the subject itself) say,
        /// with any self-reported fields, in one or two rounds, the newcomer moves by at
        /// most the cap.
        #[test]
        fn newcomer_shift_never_exceeds_the_cap(
            recs in prop::collection::vec(
                (0u32..60, any_f64(), any_f64(), any::<u32>(), any_f64(), any::<u32>()),
                1..50,
            ),
            twice in any::<bool>(),
        ) {
            thread_local! {
                static BASE: RoostModel = established(40);
            }
            let mut m = BASE.with(|b| b.clone());
            let j = PeerKey::from_index(500);
            let answers: Vec<Recommendation> = recs
                .iter()
                .map(|&(k, cb, ib, sh, r, eta)| Recommendation {
                    from: if k == 59 { j } else { PeerKey::from_index(k) },
                    cb,
                    ib,
                    sh,
                    r,
                    eta,
                })
                .collect();
            let before = m.trust(j);
            m.recommendations_received(j, &answers, 40);
            if twice {
                m.recommendations_received(j, &answers, 41);
            }
            let after = m.trust(j);
            prop_assert!(after.is_finite());
            prop_assert!((after - before).abs() <= CAP + 1e-12, "moved {}", after - before);
        }
    }
}
