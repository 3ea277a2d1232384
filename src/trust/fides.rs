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
//! - recommendations are not modelled (the published simulations disabled them too).
//!
//! Reports are keyed by peer per opinion (a peer's later duplicate replaces the earlier one), as
//! Fides keeps responses in a map.

use std::collections::{HashMap, VecDeque};

use crate::ioc::Ioc;

use super::model::{PeerKey, Report, TrustModel};

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
    /// The spelling of the evaluation in the model name (e.g. `threshold05`).
    eval_token: String,
    /// The spelling of the aggregation in the model name.
    agg_token: String,
}

impl FidesConfig {
    /// Parses the arena spelling `<eval>/<agg>/<r>[/<sh_max>]`, e.g. `maxconf/avg/0.0` or
    /// `threshold07/avg/0.5/200`. Evaluations: `even`, `distance`, `local`, `maxconf`,
    /// `threshold<digits>` (`threshold05` = 0.5) or `threshold<x>` (`threshold0.6`).
    /// Aggregations: `avg`, `wavg`, `stdev`. Returns `None` for anything else.
    pub fn parse(spec: &str) -> Option<FidesConfig> {
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
}

/// The Fides model (service trust only; recommendations disabled as in its simulations).
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
            },
        );
        self.interact(peer, SATISFIED, weight::FIRST_ENCOUNTER);
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
