//! Fides (L. Forst, 2022), the SORT-derived trust model Slips can run, kept as a baseline that
//! roost's own model must beat in the arena.
//!
//! Re-implemented from its description (trust-arena study, section 2) with its quirks intact,
//! because the point is to measure the published model, not an improved one:
//! - service trust `st = clamp01(hf * (cb - ib/2) + (1 - hf) * r)` over the last `sh_max`
//!   interactions, with `hf = |H| / sh_max`;
//! - the integrity belief uses the *mean* weight of the window, so it is not zero for a
//!   perfectly consistent peer whose records have different weights (a new peer's single
//!   first-encounter record gives `ib = 0.9`);
//! - pre-trusted peers keep a frozen trust (`max(r, pretrust)`) for ever;
//! - requests and alerts a peer sends us are rewarded as satisfied interactions (trust farming);
//! - recommendations (section 2.4) are an option, off by default as in the published
//!   simulations (name suffix `+rec`): when a peer that is not pre-trusted joins, the peers
//!   with recommendation trust or service trust of at least 0.8 (at most 100, by service
//!   trust) are asked; the answers' self-reported history sizes and counts weigh them,
//!   the result `r_ij` is not clamped, the subject gets `st = max(st, r_ij)`, `r = rt = r_ij`,
//!   and every recommender's recommendation trust is recomputed (not clamped; its
//!   satisfaction can be negative) and it gets a satisfied interaction of weight 1 whatever
//!   it said. Since a badmouthed peer's reputation, and hence its recommendation trust, can
//!   fall below 0, its answers then enter the estimates with a negative weight, and `r_ij`,
//!   and so a service trust, can leave [0, 1] (the arena's X6 sees trust above 1).
//!
//! Reports are keyed by peer per opinion (a peer's later duplicate replaces the earlier one), as
//! Fides keeps responses in a map.

use std::collections::{HashMap, VecDeque};

use crate::ioc::Ioc;

use super::model::{PeerKey, Recommendation, Report, TrustModel};

/// Interaction weights (Fides `interaction.py`), why an interaction counts more or less.
pub mod weight {
    /// A peer was seen for the first time.
    pub const FIRST_ENCOUNTER: f64 = 0.1;
    /// The peer asked us for threat intelligence.
    pub const INTELLIGENCE_REQUEST: f64 = 0.5;
    /// The peer sent us an alert.
    pub const ALERT: f64 = 0.7;
    /// The peer answered a threat-intelligence request with data.
    pub const INTELLIGENCE_DATA_REPORT: f64 = 1.0;
    /// The peer answered a recommendation request (rewarded whatever it said).
    pub const RECOMMENDATION_RESPONSE: f64 = 1.0;
}

/// Fides' recommendation settings (`fides.conf.yml` defaults), why a peer is asked and how
/// much its answer counts.
pub mod recommendation {
    /// Recommendation or service trust from which a peer is asked (`trustedPeerThreshold`).
    pub const TRUSTED_PEER_THRESHOLD: f64 = 0.8;
    /// Fewer candidates than this and nobody is asked (`requiredTrustedPeersCount`).
    pub const REQUIRED_TRUSTED_PEERS: usize = 1;
    /// Most peers asked (`peersMaxCount`); also the `η_max` that normalises a recommender's
    /// self-reported count in its recommendation weight.
    pub const PEERS_MAX_COUNT: usize = 100;
    /// Length of a recommender's recommendation history (`rh_max`, `historyMaxSize`).
    pub const HISTORY_MAX_SIZE: usize = 100;
}

/// "Satisfied" in Fides' satisfaction scale.
const SATISFIED: f64 = 1.0;

/// How Fides scores the satisfaction of each answer after aggregating (config
/// `interactionEvaluationStrategies`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Evaluation {
    /// Every answer satisfies fully.
    Even,
    /// Closeness to the aggregate, multiplied by the aggregate confidence.
    Distance,
    /// Closeness to the local IDS view; falls back to `Distance` without one.
    LocalCompare,
    /// Mix of distance, local and even, weighted by the aggregate and local confidences.
    MaxConfidence,
    /// `Distance` when the aggregate confidence reaches the threshold, else `Even`.
    Threshold(f64),
}

/// How Fides combines answers into one opinion (config `tiAggregationStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Trust-weighted score, confidence `sum(c * st) / n`.
    Average,
    /// Trust-weighted score and confidence.
    WeightedAverage,
    /// Score `sum(s * c * st) / sum(st)`, confidence `1 - std` of those terms.
    StdevFromScore,
}

/// One Fides configuration: what the arena compares as `fides:<eval>/<agg>/<r>[/<sh_max>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FidesConfig {
    /// Interaction-evaluation strategy.
    pub evaluation: Evaluation,
    /// Opinion aggregation strategy.
    pub aggregation: Aggregation,
    /// Initial reputation of a new peer, in [0, 1].
    pub initial_reputation: f64,
    /// Length of the service-history window (`historyMaxSize`).
    pub sh_max: usize,
    /// Whether recommendations are asked for and processed (off in the published
    /// simulations; spelled `+rec` at the end of the model name).
    pub recommendations: bool,
    /// The spelling of the evaluation in the model name (e.g. `threshold05`).
    eval_token: String,
    /// The spelling of the aggregation in the model name.
    agg_token: String,
}

impl FidesConfig {
    /// Parses the arena spelling `<eval>/<agg>/<r>[/<sh_max>][+rec]`, e.g. `maxconf/avg/0.0`,
    /// `threshold07/avg/0.5/200` or `maxconf/avg/0.0+rec` (recommendations on). Evaluations: `even`, `distance`, `local`, `maxconf`,
    /// `threshold<digits>` (`threshold05` = 0.5) or `threshold<x>` (`threshold0.6`).
    /// Aggregations: `avg`, `wavg`, `stdev`. Returns `None` for anything else.
    pub fn parse(spec: &str) -> Option<FidesConfig> {
        let (spec, recommendations) = match spec.strip_suffix("+rec") {
            Some(rest) => (rest, true),
            None => (spec, false),
        };
        let parts: Vec<&str> = spec.split('/').collect();
        if !(3..=4).contains(&parts.len()) {
            return None;
        }
        let eval_token = parts[0].to_ascii_lowercase();
        let evaluation = match eval_token.as_str() {
            "even" => Evaluation::Even,
            "distance" => Evaluation::Distance,
            "local" | "localdistance" => Evaluation::LocalCompare,
            "maxconf" | "maxconfidence" => Evaluation::MaxConfidence,
            t => {
                let x = t.strip_prefix("threshold")?;
                let v = if x.contains('.') {
                    x.parse::<f64>().ok()?
                } else if !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()) {
                    format!("0.{}", &x[1.min(x.len())..])
                        .parse::<f64>()
                        .ok()
                        .filter(|_| x.starts_with('0'))?
                } else {
                    return None;
                };
                if !(0.0..=1.0).contains(&v) {
                    return None;
                }
                Evaluation::Threshold(v)
            }
        };
        let agg_token = parts[1].to_ascii_lowercase();
        let aggregation = match agg_token.as_str() {
            "avg" | "average" => Aggregation::Average,
            "wavg" | "weightedaverage" => Aggregation::WeightedAverage,
            "stdev" | "stdevfromscore" => Aggregation::StdevFromScore,
            _ => return None,
        };
        let r: f64 = parts[2].parse().ok()?;
        if !(r.is_finite() && (0.0..=1.0).contains(&r)) {
            return None;
        }
        let sh_max = match parts.get(3) {
            Some(t) => t.parse::<usize>().ok().filter(|&n| n > 0)?,
            None => 100,
        };
        Some(FidesConfig {
            evaluation,
            aggregation,
            initial_reputation: r,
            sh_max,
            recommendations,
            eval_token,
            agg_token,
        })
    }

    /// The canonical arena name of this configuration.
    pub fn name(&self) -> String {
        let mut n = format!(
            "fides:{}/{}/{:?}",
            self.eval_token, self.agg_token, self.initial_reputation
        );
        if self.sh_max != 100 {
            n.push_str(&format!("/{}", self.sh_max));
        }
        if self.recommendations {
            n.push_str("+rec");
        }
        n
    }
}

/// What Fides keeps about one peer.
#[derive(Debug, Clone)]
struct PeerTrust {
    reputation: f64,
    service_trust: f64,
    /// (satisfaction, weight) of the last `sh_max` interactions.
    history: VecDeque<(f64, f64)>,
    fixed: bool,
    /// How far the peer's recommendations are believed (`rt`).
    recommendation_trust: f64,
    /// (satisfaction rs, weight rw) of its last `rh_max` recommendations.
    rec_history: VecDeque<(f64, f64)>,
}

/// The Fides model: service trust, and recommendations when the configuration enables them.
#[derive(Debug, Clone)]
pub struct FidesModel {
    config: FidesConfig,
    peers: HashMap<PeerKey, PeerTrust>,
    local: HashMap<Ioc, (f64, f64)>,
}

impl FidesModel {
    /// A Fides instance with the given configuration and no known peers.
    pub fn new(config: FidesConfig) -> Self {
        FidesModel {
            config,
            peers: HashMap::new(),
            local: HashMap::new(),
        }
    }

    fn ensure_peer(&mut self, peer: PeerKey, pretrust: Option<f64>) {
        if self.peers.contains_key(&peer) {
            return;
        }
        let mut reputation = self.config.initial_reputation;
        let mut fixed = false;
        let mut service_trust = 0.0;
        if let Some(p) = pretrust {
            // Pre-trusted peers inherit max(r, trust) and, with enforceTrust, keep it.
            reputation = reputation.max(p);
            fixed = true;
            service_trust = reputation;
        }
        self.peers.insert(
            peer,
            PeerTrust {
                reputation,
                service_trust,
                history: VecDeque::new(),
                fixed,
                recommendation_trust: reputation,
                rec_history: VecDeque::new(),
            },
        );
        self.interact(peer, SATISFIED, weight::FIRST_ENCOUNTER);
    }

    /// How far Fides believes `peer`'s recommendations (`rt`, not clamped); `None` for a
    /// peer never seen. Lets tests and reports look inside the recommendation quirks.
    pub fn recommendation_trust(&self, peer: PeerKey) -> Option<f64> {
        self.peers.get(&peer).map(|p| p.recommendation_trust)
    }

    /// Appends an interaction to the peer's window and recomputes its service trust.
    fn interact(&mut self, peer: PeerKey, satisfaction: f64, w: f64) {
        let sh_max = self.config.sh_max;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.history.push_back((satisfaction, w));
        while p.history.len() > sh_max {
            p.history.pop_front();
        }
        if p.fixed {
            return;
        }
        let n = p.history.len() as f64;
        let mut norm = 0.0;
        let mut belief = 0.0;
        let mut wsum = 0.0;
        for &(s, w) in &p.history {
            norm += w;
            belief += s * w;
            wsum += w;
        }
        let cb = belief / norm;
        let w_mean = wsum / n;
        let mut sq = 0.0;
        for &(s, _) in &p.history {
            let d = s * w_mean - cb;
            sq += d * d;
        }
        let ib = (sq / n).sqrt();
        let hf = n / sh_max as f64;
        let st = hf * (cb - 0.5 * ib) + (1.0 - hf) * p.reputation;
        p.service_trust = st.clamp(0.0, 1.0);
    }

    /// Processes one recommendation round about `subject` (trust-arena study 2.4), quirks
    /// included: the answers weigh themselves (`rt * η` for the reputation estimate,
    /// `rt * sh` for the belief estimates, both self-reported), `r_ij` is not clamped, the
    /// subject's service trust only ever rises (`max(st, r_ij)`) while its reputation and
    /// recommendation trust become `r_ij`, recommendation trust is not clamped, and every
    /// recommender gets a satisfied interaction of weight 1 whatever it said. Answers from
    /// unknown peers, from the subject itself or with non-finite values are dropped (Fides
    /// would fail an assertion or propagate NaN). The subject's `η` is not kept: only
    /// answering others' requests would use it, and this model never answers.
    fn process_recommendations(&mut self, subject: PeerKey, answers: &[Recommendation]) {
        use recommendation::{HISTORY_MAX_SIZE, PEERS_MAX_COUNT};
        // One answer per recommender (its last), in first-seen order, as Fides keys by sender.
        let mut order: Vec<PeerKey> = Vec::new();
        let mut latest: HashMap<PeerKey, Recommendation> = HashMap::new();
        for a in answers {
            let finite = a.cb.is_finite() && a.ib.is_finite() && a.r.is_finite();
            if a.from == subject || !finite || !self.peers.contains_key(&a.from) {
                continue;
            }
            if latest.insert(a.from, *a).is_none() {
                order.push(a.from);
            }
        }
        if order.is_empty() {
            return;
        }
        self.ensure_peer(subject, None);
        let rows: Vec<(Recommendation, f64)> = order
            .iter()
            .filter_map(|k| {
                let rec = latest.get(k)?;
                let rt = self.peers.get(k)?.recommendation_trust;
                Some((*rec, rt))
            })
            .collect();
        let sh_max = self.config.sh_max as f64;
        let (mut er_num, mut er_den) = (0.0, 0.0);
        let (mut cb_num, mut ib_num, mut b_den) = (0.0, 0.0, 0.0);
        for (rec, rt) in &rows {
            let w = rt * f64::from(rec.eta);
            er_num += w * rec.r;
            er_den += w;
            let w = rt * f64::from(rec.sh);
            cb_num += w * rec.cb;
            ib_num += w * rec.ib;
            b_den += w;
        }
        let er = if er_den > 0.0 { er_num / er_den } else { 0.0 };
        let (ecb, eib) = if b_den > 0.0 {
            (cb_num / b_den, ib_num / b_den)
        } else {
            (0.0, 0.0)
        };
        // The mean claimed history size, truncated to an integer as Fides does.
        let sh_sum: u64 = rows.iter().map(|(rec, _)| u64::from(rec.sh)).sum();
        let mean_sh = (sh_sum / rows.len() as u64) as f64;
        let hf = mean_sh / sh_max;
        let r_ij = hf * (ecb - 0.5 * eib) + (1.0 - hf) * er;
        if let Some(p) = self.peers.get_mut(&subject) {
            p.service_trust = p.service_trust.max(r_ij);
            p.reputation = r_ij;
            p.recommendation_trust = r_ij;
        }
        // Each recommender is judged by how close it came to the round's estimates (relative
        // error, so the satisfaction can be far below 0), weighted by its claims.
        let closeness = |x: f64, e: f64| {
            if e > 0.0 {
                1.0 - (x - e).abs() / e
            } else {
                0.0
            }
        };
        for (rec, _) in &rows {
            let rs = (closeness(rec.r, er) + closeness(rec.cb, ecb) + closeness(rec.ib, eib)) / 3.0;
            let rw = hf * f64::from(rec.sh) / sh_max
                + (1.0 - hf) * f64::from(rec.eta) / PEERS_MAX_COUNT as f64;
            let Some(p) = self.peers.get_mut(&rec.from) else {
                continue;
            };
            p.rec_history.push_back((rs, rw));
            while p.rec_history.len() > HISTORY_MAX_SIZE {
                p.rec_history.pop_front();
            }
            let n = p.rec_history.len() as f64;
            let norm: f64 = p.rec_history.iter().map(|&(_, w)| w).sum();
            let rcb = if norm > 0.0 {
                p.rec_history.iter().map(|&(s, w)| s * w).sum::<f64>() / norm
            } else {
                0.0
            };
            let w_mean = norm / n;
            let sq: f64 = p
                .rec_history
                .iter()
                .map(|&(s, _)| (s * w_mean - rcb) * (s * w_mean - rcb))
                .sum();
            let rib = (sq / n).sqrt();
            let rh = n / HISTORY_MAX_SIZE as f64;
            p.recommendation_trust = rh * (rcb - 0.5 * rib) + (1.0 - rh) * p.reputation;
        }
        for from in order {
            self.interact(from, SATISFIED, weight::RECOMMENDATION_RESPONSE);
        }
    }

    fn aggregate(&self, reports: &[(PeerKey, f64, f64, f64)]) -> (f64, f64) {
        let n = reports.len() as f64;
        let total: f64 = reports.iter().map(|r| r.3).sum();
        match self.config.aggregation {
            Aggregation::Average => {
                let mut s = 0.0;
                let mut c = 0.0;
                for &(_, rs, rc, st) in reports {
                    if total > 0.0 {
                        s += rs * (st / total);
                    }
                    c += rc * st;
                }
                (s, c / n)
            }
            Aggregation::WeightedAverage => {
                // Fides divides by zero here; we answer "unknown" instead.
                if total <= 0.0 {
                    return (0.0, 0.0);
                }
                let mut s = 0.0;
                let mut c = 0.0;
                for &(_, rs, rc, st) in reports {
                    s += rs * (st / total);
                    c += rc * (st / total);
                }
                (s, c)
            }
            Aggregation::StdevFromScore => {
                if total <= 0.0 {
                    return (0.0, 0.0);
                }
                let merged: Vec<f64> = reports
                    .iter()
                    .map(|&(_, rs, rc, st)| rs * rc * (st / total))
                    .collect();
                let s: f64 = merged.iter().sum();
                let mean = s / n;
                let var = merged.iter().map(|m| (m - mean) * (m - mean)).sum::<f64>() / n;
                (s, (1.0 - var.sqrt()).clamp(0.0, 1.0))
            }
        }
    }

    fn satisfaction(&self, agg: (f64, f64), report: (f64, f64), local: Option<(f64, f64)>) -> f64 {
        let dist = |base: (f64, f64)| (1.0 - ((base.0 - report.0).abs() / 2.0) * report.1) * base.1;
        match self.config.evaluation {
            Evaluation::Even => SATISFIED,
            Evaluation::Distance => dist(agg),
            Evaluation::LocalCompare => dist(local.unwrap_or(agg)),
            Evaluation::MaxConfidence => {
                let w_dist = agg.1;
                let d = if w_dist > 0.0 { dist(agg) } else { 0.0 };
                let w_local = local.map(|l| (1.0 - w_dist).min(l.1)).unwrap_or(0.0);
                let l = match local {
                    Some(loc) if w_local > 0.0 => dist(loc),
                    _ => 0.0,
                };
                let w_even = 1.0 - w_dist - w_local;
                let e = if w_even > 0.0 { SATISFIED } else { 0.0 };
                w_dist * d + w_local * l + w_even * e
            }
            Evaluation::Threshold(t) => {
                if t <= agg.1 {
                    dist(agg)
                } else {
                    SATISFIED
                }
            }
        }
    }
}

impl TrustModel for FidesModel {
    fn name(&self) -> String {
        self.config.name()
    }

    fn peer_joined(&mut self, peer: PeerKey, pretrust: Option<f64>, _now: u64) {
        self.ensure_peer(peer, pretrust);
    }

    fn local_observation(&mut self, subject: &Ioc, s: f64, c: f64, _now: u64) {
        self.local.insert(subject.clone(), (s, c));
    }

    fn peer_address(&mut self, _peer: PeerKey, _ip: &Ioc, _now: u64) {}

    fn opinion(
        &mut self,
        target: &Ioc,
        reports: &[Report],
        local: Option<(f64, f64)>,
        _now: u64,
    ) -> (f64, f64) {
        // One answer per peer (the last one), in first-seen order, as a Python dict keeps them.
        let mut order: Vec<PeerKey> = Vec::new();
        let mut latest: HashMap<PeerKey, (f64, f64)> = HashMap::new();
        for r in reports {
            if latest.insert(r.peer, (r.s, r.c)).is_none() {
                order.push(r.peer);
            }
        }
        if order.is_empty() {
            return (0.0, 0.0);
        }
        for &p in &order {
            self.ensure_peer(p, None);
        }
        let rows: Vec<(PeerKey, f64, f64, f64)> = order
            .iter()
            .map(|p| {
                let (s, c) = latest.get(p).copied().unwrap_or((0.0, 0.0));
                let st = self.peers.get(p).map(|t| t.service_trust).unwrap_or(0.0);
                (*p, s, c, st)
            })
            .collect();
        let agg = self.aggregate(&rows);
        let local = local.or_else(|| self.local.get(target).copied());
        let sats: Vec<(PeerKey, f64)> = rows
            .iter()
            .map(|&(p, s, c, _)| (p, self.satisfaction(agg, (s, c), local)))
            .collect();
        for (p, sat) in sats {
            self.interact(p, sat, weight::INTELLIGENCE_DATA_REPORT);
        }
        agg
    }

    fn trust(&self, peer: PeerKey) -> f64 {
        self.peers
            .get(&peer)
            .map(|p| p.service_trust)
            .unwrap_or(0.0)
    }

    fn request_received(&mut self, peer: PeerKey, _now: u64) {
        self.ensure_peer(peer, None);
        self.interact(peer, SATISFIED, weight::INTELLIGENCE_REQUEST);
    }

    fn alert_received(&mut self, peer: PeerKey, _target: &Ioc, _s: f64, _c: f64, _now: u64) {
        self.ensure_peer(peer, None);
        self.interact(peer, SATISFIED, weight::ALERT);
    }

    fn recommendation_recipients(&self, subject: PeerKey, _now: u64) -> Vec<PeerKey> {
        use recommendation::{PEERS_MAX_COUNT, REQUIRED_TRUSTED_PEERS, TRUSTED_PEER_THRESHOLD};
        if !self.config.recommendations {
            return Vec::new();
        }
        // Pre-trusted peers are never the subject of a round.
        if self.peers.get(&subject).is_some_and(|p| p.fixed) {
            return Vec::new();
        }
        let mut candidates: Vec<(f64, PeerKey)> = self
            .peers
            .iter()
            .filter(|(k, p)| {
                **k != subject
                    && (p.recommendation_trust >= TRUSTED_PEER_THRESHOLD
                        || p.service_trust >= TRUSTED_PEER_THRESHOLD)
            })
            .map(|(k, p)| (p.service_trust, *k))
            .collect();
        if candidates.len() < REQUIRED_TRUSTED_PEERS {
            return Vec::new();
        }
        // Highest service trust first; ties by key, so the choice does not depend on hashing.
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates
            .into_iter()
            .take(PEERS_MAX_COUNT)
            .map(|(_, k)| k)
            .collect()
    }

    fn recommendations_received(
        &mut self,
        subject: PeerKey,
        answers: &[Recommendation],
        _now: u64,
    ) {
        if self.config.recommendations {
            self.process_recommendations(subject, answers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_round_trip() {
        for n in [
            "maxconf/avg/0.0",
            "threshold05/wavg/0.95",
            "threshold07/avg/0.5",
            "distance/avg/0.0",
            "even/avg/1.0",
            "local/avg/0.0",
            "maxconf/stdev/0.5/200",
        ] {
            let c = FidesConfig::parse(n).unwrap();
            assert_eq!(c.name(), format!("fides:{n}"));
        }
        assert_eq!(
            FidesConfig::parse("threshold07/avg/0.5")
                .unwrap()
                .evaluation,
            Evaluation::Threshold(0.7)
        );
        assert!(FidesConfig::parse("threshold/avg/0.5").is_none());
        assert!(FidesConfig::parse("maxconf/avg/2").is_none());
        assert!(FidesConfig::parse("maxconf/avg").is_none());
    }

    #[test]
    fn first_encounter_gives_the_documented_trust() {
        // cb = 1, ib = |0.1 - 1| = 0.9, st = 0.01 * 0.55 + 0.99 * r.
        let mut m = FidesModel::new(FidesConfig::parse("even/avg/0.5").unwrap());
        let p = PeerKey::from_index(1);
        m.peer_joined(p, None, 0);
        assert!((m.trust(p) - (0.01 * 0.55 + 0.99 * 0.5)).abs() < 1e-12);
        let q = PeerKey::from_index(2);
        m.peer_joined(q, Some(0.95), 0);
        assert_eq!(m.trust(q), 0.95);
    }

    #[test]
    fn distance_average_r0_dead_locks() {
        let mut m = FidesModel::new(FidesConfig::parse("distance/avg/0.0").unwrap());
        let t = Ioc::Ipv4([10, 0, 0, 1]);
        let reports: Vec<Report> = (0..4)
            .map(|i| Report {
                peer: PeerKey::from_index(i),
                s: -0.9,
                c: 0.9,
            })
            .collect();
        // The first-encounter record leaves a sliver of trust; the first evaluation, scaled
        // by the tiny aggregate confidence, drives it to zero for good.
        let (s0, _) = m.opinion(&t, &reports, None, 0);
        assert!(s0 < 0.0);
        for k in 1..50 {
            let (s, c) = m.opinion(&t, &reports, None, k);
            assert_eq!((s, c), (0.0, 0.0));
        }
        assert_eq!(m.trust(PeerKey::from_index(0)), 0.0);
    }

    fn rec(from: PeerKey, cb: f64, ib: f64, sh: u32, r: f64, eta: u32) -> Recommendation {
        Recommendation {
            from,
            cb,
            ib,
            sh,
            r,
            eta,
        }
    }

    #[test]
    fn recommendations_are_off_unless_asked_for() {
        let c = FidesConfig::parse("even/avg/0.95").unwrap();
        assert!(!c.recommendations);
        let c = FidesConfig::parse("maxconf/avg/0.0/200+rec").unwrap();
        assert!(c.recommendations && c.sh_max == 200);
        assert_eq!(c.name(), "fides:maxconf/avg/0.0/200+rec");
        assert!(FidesConfig::parse("maxconf/avg/0.0+recs").is_none());
        // Off: nobody is asked and answers change nothing.
        let mut m = FidesModel::new(FidesConfig::parse("even/avg/0.95").unwrap());
        let (a, j) = (PeerKey::from_index(1), PeerKey::from_index(9));
        m.peer_joined(a, Some(0.95), 0);
        m.peer_joined(j, None, 0);
        assert!(m.recommendation_recipients(j, 0).is_empty());
        let before = m.trust(j);
        m.recommendations_received(j, &[rec(a, 1.0, 0.0, 100, 1.0, 100)], 0);
        assert_eq!(m.trust(j), before);
    }

    #[test]
    fn recipients_are_the_trusted_peers_by_service_trust() {
        // r = 0: ordinary peers start with rt = 0 and st ~ 0.0055, so only anchors qualify.
        let mut m = FidesModel::new(FidesConfig::parse("maxconf/avg/0.0+rec").unwrap());
        let keys: Vec<PeerKey> = (0..4).map(PeerKey::from_index).collect();
        m.peer_joined(keys[0], None, 0);
        m.peer_joined(keys[1], None, 0);
        assert!(m.recommendation_recipients(keys[1], 0).is_empty());
        m.peer_joined(keys[2], Some(0.85), 0);
        m.peer_joined(keys[3], Some(0.95), 0);
        assert_eq!(
            m.recommendation_recipients(keys[1], 0),
            vec![keys[3], keys[2]]
        );
        // Anchors are never subjects.
        assert!(m.recommendation_recipients(keys[2], 0).is_empty());
        assert!(m.recommendation_recipients(keys[3], 0).is_empty());
        // r = 0.95: everyone starts with rt = 0.95 and is asked.
        let mut m = FidesModel::new(FidesConfig::parse("even/avg/0.95+rec").unwrap());
        for &k in &keys {
            m.peer_joined(k, None, 0);
        }
        assert_eq!(m.recommendation_recipients(keys[0], 0).len(), 3);
    }

    #[test]
    fn recommendation_round_matches_a_hand_computation() {
        // Section 2.4 of the study, worked by hand. Initial reputation 0.95, so every peer
        // starts with r = rt = 0.95. A is an anchor (frozen st 0.95), B and C are ordinary
        // (st = 0.01 * 0.55 + 0.99 * 0.95 = 0.946), J is the newcomer.
        let mut m = FidesModel::new(FidesConfig::parse("even/avg/0.95+rec").unwrap());
        let [a, b, c, j] = [1, 2, 3, 9].map(PeerKey::from_index);
        m.peer_joined(a, Some(0.95), 0);
        m.peer_joined(b, None, 0);
        m.peer_joined(c, None, 0);
        m.peer_joined(j, None, 0);
        assert!((m.trust(j) - 0.946).abs() < 1e-12);
        assert_eq!(m.recommendation_recipients(j, 0), vec![a, b, c]);
        //        cb   ib  sh   r   eta
        // A     0.8  0.2 100  0.6  50
        // B     0.4  0.0  51  1.0 100
        // C     0.0  1.0   0  0.0  10    (a badmouther with no history)
        m.recommendations_received(
            j,
            &[
                rec(a, 0.8, 0.2, 100, 0.6, 50),
                rec(b, 0.4, 0.0, 51, 1.0, 100),
                rec(c, 0.0, 1.0, 0, 0.0, 10),
            ],
            0,
        );
        // er  = (50*0.6 + 100*1 + 10*0) / 160          = 0.8125   (rt = 0.95 cancels)
        // ecb = (100*0.8 + 51*0.4 + 0) / 151           = 100.4/151
        // eib = (100*0.2 + 0 + 0) / 151                = 20/151
        // hf  = floor(151 / 3) / 100                   = 0.5
        // r_ij = 0.5 * (ecb - 0.5 * eib) + 0.5 * er    = 0.70558774834...
        let (er, ecb, eib): (f64, f64, f64) = (0.8125, 100.4 / 151.0, 20.0 / 151.0);
        let r_ij = 0.5 * (ecb - 0.5 * eib) + 0.5 * er;
        assert!((r_ij - 0.705_587_748_344_370_9).abs() < 1e-12);
        // st = max(st, r_ij) keeps 0.946, but r = rt = r_ij ...
        assert!((m.trust(j) - 0.946).abs() < 1e-12);
        assert!((m.recommendation_trust(j).unwrap() - r_ij).abs() < 1e-12);
        // ... and takes over at the next interaction: history [(1, 0.1), (1, 1)] gives
        // cb = 1, ib = 0.45, hf = 0.02, st = 0.02 * 0.775 + 0.98 * r_ij.
        m.interact(j, SATISFIED, weight::INTELLIGENCE_DATA_REPORT);
        assert!((m.trust(j) - (0.02 * 0.775 + 0.98 * r_ij)).abs() < 1e-12);
        // Recommenders: rs = mean of the three relative closenesses, rw = 0.5 * sh/100 +
        // 0.5 * eta/100, one record each: rcb = rs, rib = |rs * rw - rs|, and
        // rt = 0.01 * (rcb - rib/2) + 0.99 * r with r = 0.95 (not clamped).
        let close = |x: f64, e: f64| 1.0 - (x - e).abs() / e;
        let rt = |rs: f64, rw: f64| 0.01 * (rs - 0.5 * (rs * rw - rs).abs()) + 0.99 * 0.95;
        let rs_a = (close(0.6, er) + close(0.8, ecb) + close(0.2, eib)) / 3.0;
        let rs_b = (close(1.0, er) + close(0.4, ecb) + close(0.0, eib)) / 3.0;
        let rs_c = (close(0.0, er) + close(0.0, ecb) + close(1.0, eib)) / 3.0;
        assert!(
            (rs_c - -1.85).abs() < 1e-12,
            "C's satisfaction is negative: {rs_c}"
        );
        for (k, rs, rw, want) in [
            (a, rs_a, 0.75, 0.946_407_050_005_107_8),
            (b, rs_b, 0.755, 0.944_509_661_354_581_7),
            (c, rs_c, 0.05, 0.913_212_5),
        ] {
            assert!((rt(rs, rw) - want).abs() < 1e-12);
            assert!((m.recommendation_trust(k).unwrap() - want).abs() < 1e-12);
        }
        // Every recommender got a satisfied interaction of weight 1, even the badmouther C:
        // history [(1, 0.1), (1, 1)] -> st = 0.02 * 0.775 + 0.98 * 0.95; the anchor is frozen.
        assert_eq!(m.trust(a), 0.95);
        for k in [b, c] {
            assert!((m.trust(k) - (0.02 * 0.775 + 0.98 * 0.95)).abs() < 1e-12);
        }
    }

    #[test]
    fn colluding_recommenders_lift_a_newcomer_at_once() {
        // r = 0: a newcomer starts near 0; two anchors that vouch for it with maximal claims
        // make its service trust jump to r_ij = 1.
        let mut m = FidesModel::new(FidesConfig::parse("maxconf/avg/0.0+rec").unwrap());
        let [a, b, j] = [1, 2, 9].map(PeerKey::from_index);
        m.peer_joined(a, Some(0.9), 0);
        m.peer_joined(b, Some(0.9), 0);
        m.peer_joined(j, None, 0);
        assert!(m.trust(j) < 0.01);
        let praise = [
            rec(a, 1.0, 0.0, 100, 1.0, 100),
            rec(b, 1.0, 0.0, 100, 1.0, 100),
        ];
        m.recommendations_received(j, &praise, 0);
        assert!((m.trust(j) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn requests_farm_trust() {
        let mut m = FidesModel::new(FidesConfig::parse("maxconf/avg/0.0").unwrap());
        let p = PeerKey::from_index(7);
        m.peer_joined(p, None, 0);
        let before = m.trust(p);
        for k in 0..50 {
            m.request_received(p, k);
        }
        assert!(m.trust(p) > before + 0.2);
    }
}
