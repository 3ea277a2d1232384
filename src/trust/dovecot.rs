//! Dovecot, the trust model Slips ships today (thesis-era formula), kept as a baseline that
//! roost's own model must beat in the arena.
//!
//! Dovecot is stateless: each opinion is rebuilt from the reports at hand. A reporter's weight
//! comes only from its network reliability and from what the local IDS thinks of the
//! reporter's IP address; whether its past reports were right is never looked at. Reports
//! whose reporter has no known reliability or no IDS record are dropped, as Slips' `trustdb`
//! does. Every report counts, duplicates included (the `trustdb` copy does no grouping).
//!
//! The floating-point operations follow the reference implementation's order exactly, so the
//! arena reproduces the published accuracies bit for bit.

use std::collections::HashMap;

use crate::ioc::Ioc;

use super::model::{PeerKey, Report, TrustModel};

/// Weight of the Go-level reliability in a reporter's trust (`base_model.py`).
const RELIABILITY_WEIGHT: f64 = 0.7;

/// The thesis-era Dovecot model: no clamp, scores in [-1, 1].
#[derive(Debug, Default, Clone)]
pub struct DovecotModel {
    reliability: HashMap<PeerKey, f64>,
    address: HashMap<PeerKey, Ioc>,
    ids: HashMap<Ioc, (f64, f64)>,
    /// Mirrors the current Slips copy, which clamps S and C to [0, 1] (off by default: the
    /// published experiments used the unclamped formula).
    clamp: bool,
}

impl DovecotModel {
    /// The unclamped thesis-era model used by the published experiments.
    pub fn new() -> Self {
        Self::default()
    }

    /// The variant shipped in current Slips, which clamps S and C to [0, 1].
    pub fn clamped() -> Self {
        DovecotModel {
            clamp: true,
            ..Self::default()
        }
    }

    /// A reporter's trust `(0.7 * reliability + s_ip * c_ip) / 2`, or `None` when Dovecot
    /// would drop its reports (no reliability row, no IDS record of its IP, or it is the target).
    fn peer_trust(&self, peer: PeerKey, target: &Ioc) -> Option<f64> {
        let rel = *self.reliability.get(&peer)?;
        let ip = self.address.get(&peer)?;
        if ip == target {
            return None;
        }
        let (ps, pc) = *self.ids.get(ip)?;
        Some((rel * RELIABILITY_WEIGHT + ps * pc) / 2.0)
    }
}

impl TrustModel for DovecotModel {
    fn name(&self) -> String {
        "dovecot".to_owned()
    }

    fn peer_joined(&mut self, _peer: PeerKey, _pretrust: Option<f64>, _now: u64) {}

    fn local_observation(&mut self, subject: &Ioc, s: f64, c: f64, _now: u64) {
        self.ids.insert(subject.clone(), (s, c));
    }

    fn peer_address(&mut self, peer: PeerKey, ip: &Ioc, _now: u64) {
        self.address.insert(peer, ip.clone());
    }

    fn peer_reliability(&mut self, peer: PeerKey, reliability: f64, _now: u64) {
        self.reliability.insert(peer, reliability);
    }

    fn opinion(
        &mut self,
        target: &Ioc,
        reports: &[Report],
        _local: Option<(f64, f64)>,
        _now: u64,
    ) -> (f64, f64) {
        let used: Vec<(f64, f64, f64)> = reports
            .iter()
            .filter_map(|r| self.peer_trust(r.peer, target).map(|t| (r.s, r.c, t)))
            .collect();
        if used.is_empty() {
            return (0.0, 0.0);
        }
        // Same operation order as the reference: normalise, weigh, then sum left to right.
        let norms: Vec<f64> = used.iter().map(|&(_, _, t)| (t + 1.0) / 2.0).collect();
        let mut total = 0.0;
        for n in &norms {
            total += n;
        }
        let mut score = 0.0;
        for (&(s, _, _), n) in used.iter().zip(&norms) {
            score += s * (n / total);
        }
        let mut conf = 0.0;
        for &(_, c, t) in &used {
            conf += f64::max(0.0, c * t);
        }
        conf /= used.len() as f64;
        if self.clamp {
            score = score.clamp(0.0, 1.0);
            conf = conf.clamp(0.0, 1.0);
        }
        (score, conf)
    }

    /// Dovecot has no per-peer trust of its own; this reports the normalised weight it would
    /// give the peer's reports, `(peer_trust + 1) / 2`, or 0 when they would be dropped.
    fn trust(&self, peer: PeerKey) -> f64 {
        let rel = self.reliability.get(&peer).copied();
        let ids = self.address.get(&peer).and_then(|ip| self.ids.get(ip));
        match (rel, ids) {
            (Some(rel), Some(&(ps, pc))) => {
                (((rel * RELIABILITY_WEIGHT + ps * pc) / 2.0 + 1.0) / 2.0).clamp(0.0, 1.0)
            }
            _ => 0.0,
        }
    }
}
