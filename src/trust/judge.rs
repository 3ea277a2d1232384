//! The adapter that lets the node consult a [`TrustModel`] through its [`Judge`] seam.
//!
//! The node speaks Slips' convention (threat in [0, 1], 1 = malicious, milliseconds); trust
//! models speak the arena's (S in [-1, 1], -1 = malicious, seconds). This is the one place
//! where the two meet, so the sign mistake the study found in Dovecot cannot creep in
//! elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use crate::ioc::{Evaluation, Ioc};
use crate::node::{Judge, PeerAnswer, ReportKind};

use super::model::{PeerKey, Report, TrustModel};
use super::roost::RoostModel;

/// Seconds of real time that count as one arena round for the roost model's clocks (trust
/// half-lives, the age below which an identity is young, how long a reversal is remembered).
/// Five minutes makes a success fade over about a day and a half and a failure over about a
/// week, and keeps a new identity "young" for its first two and a half hours.
pub const SECONDS_PER_ROUND: f64 = 300.0;

/// Confidence factor of an opinion resting on young identities only, in the daemon. The
/// arena's default (0.6) lets enough agreeing newcomers reach a confidence of about 0.6; in
/// the daemon a network opinion with `threat * confidence >= 0.5` becomes a `new_blame` in
/// Slips, so unverified identities alone, however many, must stay below that.
pub const PRODUCTION_YOUNG_CONFIDENCE: f64 = 0.45;

/// How far recommendations may move a newcomer's trust in the daemon: not at all. roost's
/// wire protocol carries no recommendation messages, so there is nothing to weigh, and until
/// one exists the hook stays inert (nobody is asked, answers are ignored). A future protocol
/// must first show on real traffic what the arena's X6 shows in simulation, that a colluding
/// clique cannot vouch its own fresh identities into trust, before this becomes positive.
pub const PRODUCTION_RECOMMENDATION_CAP: f64 = 0.0;

/// The roost model's parameters for a daemon that passes time in seconds.
pub fn production_params() -> super::roost::RoostParams {
    let mut p = super::roost::RoostParams::default().with_time_unit(SECONDS_PER_ROUND);
    p.young_confidence = PRODUCTION_YOUNG_CONFIDENCE;
    p.recommendation_cap = PRODUCTION_RECOMMENDATION_CAP;
    p
}

/// Most IoCs whose last aggregate is remembered (to avoid learning twice from one input).
const MAX_REMEMBERED: usize = 4096;

/// The roost trust model seen as a node [`Judge`] (production uses no other model; the
/// baselines live in the arena).
pub struct TrustJudge {
    model: RoostModel,
    joined: BTreeSet<[u8; 32]>,
    /// Per IoC, the inputs of the last aggregate and its result: asking the same question
    /// twice (e.g. `roost opinion` after `roost ask`) must not count the same evidence twice.
    last: BTreeMap<Ioc, (Fingerprint, Option<Evaluation>)>,
}

/// The exact inputs of one aggregate: (peer key, (threat bits, confidence bits)) per answer,
/// and the own view under the all-zero key.
type Fingerprint = Vec<([u8; 32], (u64, u64))>;

fn bits(e: &Evaluation) -> (u64, u64) {
    (e.threat().to_bits(), e.confidence().to_bits())
}

impl TrustJudge {
    /// Wraps a model.
    pub fn new(model: RoostModel) -> Self {
        TrustJudge {
            model,
            joined: BTreeSet::new(),
            last: BTreeMap::new(),
        }
    }

    /// The wrapped model.
    pub fn model(&self) -> &RoostModel {
        &self.model
    }

    fn join(&mut self, peer: [u8; 32], now_s: u64) {
        if self.joined.insert(peer) {
            self.model.peer_joined(PeerKey(peer), None, now_s);
        }
    }
}

/// Converts a threat in [0, 1] (1 = malicious) to a score in [-1, 1] (-1 = malicious).
pub fn score_of(e: &Evaluation) -> f64 {
    e.to_score()
}

/// Converts a model's (S, C) back to an evaluation; `None` when it is not a finite opinion.
pub fn evaluation_of(s: f64, c: f64) -> Option<Evaluation> {
    if !(s.is_finite() && c.is_finite()) {
        return None;
    }
    Evaluation::new(((1.0 - s) / 2.0).clamp(0.0, 1.0), c.clamp(0.0, 1.0)).ok()
}

impl Judge for TrustJudge {
    fn observe(&mut self, peer: [u8; 32], _ioc: &Ioc, _ev: Evaluation, _k: ReportKind, now: u64) {
        // Evidence is weighed when an opinion is formed; here we only make the peer known.
        self.join(peer, now / 1000);
    }

    fn aggregate(
        &mut self,
        ioc: &Ioc,
        answers: &[PeerAnswer],
        own: Option<Evaluation>,
        now_ms: u64,
    ) -> Option<Evaluation> {
        if answers.is_empty() && own.is_none() {
            return None;
        }
        let now = now_ms / 1000;
        // Whole keys and exact bits: a shortened key could make two different inputs look alike.
        let mut fingerprint: Fingerprint = answers
            .iter()
            .map(|a| (a.peer, bits(&a.evaluation)))
            .collect();
        if let Some(o) = own {
            fingerprint.push(([0; 32], bits(&o)));
        }
        if let Some((prev, result)) = self.last.get(ioc) {
            if *prev == fingerprint {
                return *result;
            }
        }
        let mut reports = Vec::with_capacity(answers.len());
        for a in answers {
            self.join(a.peer, now);
            self.model
                .peer_reliability(PeerKey(a.peer), a.reliability.clamp(0.0, 1.0), now);
            reports.push(Report {
                peer: PeerKey(a.peer),
                s: score_of(&a.evaluation),
                c: a.evaluation.confidence(),
            });
        }
        let local = own.map(|e| (score_of(&e), e.confidence()));
        if let Some((s, c)) = local {
            self.model.local_observation(ioc, s, c, now);
        }
        let (s, c) = self.model.opinion(ioc, &reports, local, now);
        let result = evaluation_of(s, c);
        if self.last.len() >= MAX_REMEMBERED {
            if let Some(k) = self.last.keys().next().cloned() {
                self.last.remove(&k);
            }
        }
        self.last.insert(ioc.clone(), (fingerprint, result));
        result
    }

    fn trust(&self, peer: &[u8; 32]) -> f64 {
        self.model.trust(PeerKey(*peer))
    }

    fn explain_peer(&self, peer: &[u8; 32]) -> Option<serde_json::Value> {
        let e = self.model.explain_peer(PeerKey(*peer))?;
        let mut v = serde_json::to_value(e).ok()?;
        if let Some(obj) = v.as_object_mut() {
            // The peer is already the row's `id`; the raw key would only add noise.
            obj.remove("peer");
        }
        Some(v)
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(self.model.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(i: u8, threat: f64, conf: f64) -> PeerAnswer {
        PeerAnswer {
            peer: [i; 32],
            reliability: 1.0,
            evaluation: Evaluation::new(threat, conf).unwrap(),
        }
    }

    #[test]
    fn conventions_meet_here() {
        assert_eq!(evaluation_of(-1.0, 1.0).unwrap().threat(), 1.0);
        assert_eq!(evaluation_of(1.0, 0.5).unwrap().threat(), 0.0);
        assert!(evaluation_of(f64::NAN, 0.5).is_none());
        let e = Evaluation::new(0.9, 0.8).unwrap();
        assert!((score_of(&e) + 0.8).abs() < 1e-12);
    }

    #[test]
    fn nobody_knew_is_none_and_malicious_stays_malicious() {
        let mut j = TrustJudge::new(RoostModel::with_params(production_params()));
        let ioc: Ioc = "10.0.0.1".parse().unwrap();
        assert!(j.aggregate(&ioc, &[], None, 1_000).is_none());
        let own = Evaluation::new(0.9, 0.9).unwrap();
        let got = j
            .aggregate(&ioc, &[answer(1, 0.9, 0.9)], Some(own), 2_000)
            .unwrap();
        assert!(got.threat() > 0.5, "{got:?}");
        // The same question twice gives the same answer and does not learn twice.
        let again = j
            .aggregate(&ioc, &[answer(1, 0.9, 0.9)], Some(own), 3_000)
            .unwrap();
        assert_eq!(got, again);
    }
}
#[cfg(test)]
mod sybil {
    use super::*;

    /// Native mode turns a network opinion into a `new_blame` when threat * confidence
    /// reaches 0.5 (`redis.blame_threshold`). Fresh identities that nobody has verified must
    /// not get there on their own, however loudly and however many of them speak.
    #[test]
    fn fresh_identities_alone_cannot_reach_the_default_blame_threshold() {
        let mut j = TrustJudge::new(RoostModel::with_params(production_params()));
        let ioc: Ioc = "10.0.0.1".parse().unwrap();
        for n in [1u8, 3, 10, 50] {
            let answers: Vec<PeerAnswer> = (0..n)
                .map(|i| PeerAnswer {
                    peer: [i; 32],
                    reliability: 1.0,
                    evaluation: Evaluation::new(1.0, 1.0).unwrap(),
                })
                .collect();
            let e = j
                .aggregate(&ioc, &answers, None, 1_000 * u64::from(n))
                .unwrap();
            assert!(e.threat() > 0.5, "they all said malicious: {e:?}");
            assert!(
                e.threat() * e.confidence() < 0.5,
                "{n} fresh identities reached the blame threshold: {e:?}"
            );
        }
    }
}
