//! The seam between the protocol and the trust model.
//!
//! The node decides who said what; a [`Judge`] decides what to believe. The roost trust model
//! (in `trust/`) is plugged in by the runtime through an adapter that implements this trait;
//! [`DefaultJudge`] is the simple stand-in used until then and by the simulator.

use crate::ioc::{Evaluation, Ioc};

use super::api::ReportKind;

/// One peer's evaluation, with what the protocol knows about that peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerAnswer {
    /// The peer's public key.
    pub peer: [u8; 32],
    /// The peer's protocol reliability in [0, 1].
    pub reliability: f64,
    /// What it said.
    pub evaluation: Evaluation,
}

/// A trust model as the node sees it. Kept minimal on purpose: the node reports what it
/// received and asks for aggregates; everything else belongs to the model.
pub trait Judge {
    /// A verified peer told us something (a Report, a Blame, or an Answer to our Query).
    fn observe(&mut self, peer: [u8; 32], ioc: &Ioc, ev: Evaluation, kind: ReportKind, now_ms: u64);

    /// Combines peers' evaluations (only those that had data) and our own detection into one,
    /// or None when nobody knew anything.
    fn aggregate(
        &mut self,
        ioc: &Ioc,
        answers: &[PeerAnswer],
        own: Option<Evaluation>,
        now_ms: u64,
    ) -> Option<Evaluation>;

    /// How much the model trusts what this peer says, in [0, 1] (shown by `roost peers`).
    fn trust(&self, peer: &[u8; 32]) -> f64;

    /// Why the model trusts this peer as it does (evidence counts, checks, reversals), for
    /// `roost peers --json`; `None` when the model keeps no such record.
    fn explain_peer(&self, _peer: &[u8; 32]) -> Option<serde_json::Value> {
        None
    }

    /// The model's state as bytes for the store, so trust survives restarts; `None` for
    /// models without memory.
    fn snapshot(&self) -> Option<Vec<u8>> {
        None
    }
}

/// Confidence-and-reliability-weighted mean. Own detections count with reliability 1. Has no
/// memory, so every peer's trust is the neutral 0.5.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultJudge;

impl Judge for DefaultJudge {
    fn observe(&mut self, _: [u8; 32], _: &Ioc, _: Evaluation, _: ReportKind, _: u64) {}

    fn aggregate(
        &mut self,
        _ioc: &Ioc,
        answers: &[PeerAnswer],
        own: Option<Evaluation>,
        _now_ms: u64,
    ) -> Option<Evaluation> {
        let all = answers
            .iter()
            .map(|a| (a.evaluation, a.reliability.clamp(0.0, 1.0)))
            .chain(own.map(|e| (e, 1.0)));
        let (mut sw, mut swt, mut sr, mut st, mut n) = (0.0, 0.0, 0.0, 0.0, 0usize);
        for (e, r) in all {
            let w = e.confidence() * r;
            sw += w;
            swt += w * e.threat();
            sr += r;
            st += e.threat();
            n += 1;
        }
        if n == 0 {
            return None;
        }
        let threat = if sw > 0.0 { swt / sw } else { st / n as f64 };
        let confidence = if sr > 0.0 { sw / sr } else { 0.0 };
        Evaluation::new(threat.clamp(0.0, 1.0), confidence.clamp(0.0, 1.0)).ok()
    }

    fn trust(&self, _peer: &[u8; 32]) -> f64 {
        0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: f64, c: f64) -> Evaluation {
        Evaluation::new(t, c).unwrap()
    }

    #[test]
    fn weighted_mean() {
        let ioc: Ioc = "1.2.3.4".parse().unwrap();
        let mut j = DefaultJudge;
        assert_eq!(j.aggregate(&ioc, &[], None, 0), None);
        let a = [
            PeerAnswer {
                peer: [1; 32],
                reliability: 1.0,
                evaluation: ev(1.0, 1.0),
            },
            PeerAnswer {
                peer: [2; 32],
                reliability: 0.5,
                evaluation: ev(0.0, 0.5),
            },
        ];
        let r = j.aggregate(&ioc, &a, None, 0).unwrap();
        // weights 1.0 and 0.25: threat = 1/1.25 = 0.8; confidence = 1.25/1.5.
        assert!((r.threat() - 0.8).abs() < 1e-12);
        assert!((r.confidence() - 1.25 / 1.5).abs() < 1e-12);
        let own = j.aggregate(&ioc, &[], Some(ev(0.3, 0.0)), 0).unwrap();
        assert_eq!((own.threat(), own.confidence()), (0.3, 0.0));
    }
}
