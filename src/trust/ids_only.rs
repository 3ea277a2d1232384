//! The trivial baseline that ignores the network: the opinion is the local IDS's own view.
//!
//! Any trust model that does worse than this in some scenario is doing harm there; the arena
//! reports it as the "do no harm" floor (0.750 on every Arena D scenario).

use crate::ioc::Ioc;

use super::model::{PeerKey, Report, TrustModel};

/// Answers every question with the local IDS's view (or "unknown" when there is none).
#[derive(Debug, Default, Clone)]
pub struct IdsOnlyModel {
    ids: std::collections::HashMap<Ioc, (f64, f64)>,
}

impl IdsOnlyModel {
    /// A fresh baseline.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TrustModel for IdsOnlyModel {
    fn name(&self) -> String {
        "ids-only".to_owned()
    }

    fn peer_joined(&mut self, _peer: PeerKey, _pretrust: Option<f64>, _now: u64) {}

    fn local_observation(&mut self, subject: &Ioc, s: f64, c: f64, _now: u64) {
        self.ids.insert(subject.clone(), (s, c));
    }

    fn peer_address(&mut self, _peer: PeerKey, _ip: &Ioc, _now: u64) {}

    fn opinion(
        &mut self,
        target: &Ioc,
        _reports: &[Report],
        local: Option<(f64, f64)>,
        _now: u64,
    ) -> (f64, f64) {
        local
            .or_else(|| self.ids.get(target).copied())
            .unwrap_or((0.0, 0.0))
    }

    fn trust(&self, _peer: PeerKey) -> f64 {
        0.0
    }
}
