//! The contract every trust model fulfils, so the arena and the node can drive any of them.
//!
//! Conventions (see the trust-arena study, section 4.0): scores S are in [-1, 1] with -1 =
//! malicious and +1 = benign; confidences C are in [0, 1]. Slips' threat levels (1 =
//! malicious) are converted at the boundary with `S = 1 - 2 * threat`
//! ([`crate::ioc::Evaluation::to_score`]); models never see the other convention.
//!
//! Models are sans-IO and deterministic: time arrives as `now` (seconds in production,
//! rounds or clicks in the arena), and nothing reads a clock or OS randomness.

use serde::{Deserialize, Serialize};

use crate::ioc::Ioc;

/// Opaque peer identity inside a trust model: the 32 bytes of an ed25519 public key in
/// production; the arena builds them from indices ([`PeerKey::from_index`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct PeerKey(pub [u8; 32]);

impl PeerKey {
    /// A synthetic key for simulations and tests, so scenarios can name peers by number.
    pub fn from_index(index: u32) -> PeerKey {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&index.to_be_bytes());
        PeerKey(k)
    }
}

/// One peer's answer about a target, as handed to [`TrustModel::opinion`].
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Who answered.
    pub peer: PeerKey,
    /// The answer's score, in [-1, 1] (-1 = malicious).
    pub s: f64,
    /// The answer's confidence, in [0, 1].
    pub c: f64,
}

/// One peer's answer to "what do you think of peer j?" (the SORT-style recommendations of
/// Fides, trust-arena study 2.4), handed to [`TrustModel::recommendations_received`]. Every
/// field is reported by `from` about itself and its own experience, so none of it is
/// verified evidence: a sound model must not let the self-reported history size `sh` or
/// recommender count `eta` buy weight.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Recommendation {
    /// Who recommended.
    pub from: PeerKey,
    /// Its competence belief about the subject (its mean satisfaction), nominally [0, 1].
    pub cb: f64,
    /// Its integrity belief about the subject (spread of its satisfaction), nominally [0, 1].
    pub ib: f64,
    /// How many interactions with the subject it claims to have (`sh`, 0..=sh_max).
    pub sh: u32,
    /// Its reputation value for the subject, nominally [0, 1].
    pub r: f64,
    /// How many peers it claims its own view of the subject rests on (`η`, 0..=η_max).
    pub eta: u32,
}

/// A trust model: learns how far each peer can be trusted and combines peers' reports into
/// one opinion. Implementations must be deterministic functions of the calls they receive.
pub trait TrustModel {
    /// A short stable name, used in arena tables and logs (e.g. `dovecot`, `fides:maxconf/avg/0.0`).
    fn name(&self) -> String;

    /// A new peer appeared. `pretrust` is an operator-configured trust in [0, 1] (Fides'
    /// pre-trusted organisation peers); `None` for ordinary peers.
    fn peer_joined(&mut self, peer: PeerKey, pretrust: Option<f64>, now: u64);

    /// Own IDS knowledge about a subject (a target IoC or a reporter's IP): S in [-1, 1]
    /// (-1 malicious), C in [0, 1]. The latest call for a subject replaces earlier ones.
    fn local_observation(&mut self, subject: &Ioc, s: f64, c: f64, now: u64);

    /// Tells the model which IP a peer is seen at (Dovecot weighs reporters by what the IDS
    /// thinks of their IP).
    fn peer_address(&mut self, peer: PeerKey, ip: &Ioc, now: u64);

    /// Network-level liveness of a peer in [0, 1] (Dovecot's Go "reliability": ping/hello
    /// success ratio). Models that do not use it ignore it.
    fn peer_reliability(&mut self, _peer: PeerKey, _reliability: f64, _now: u64) {}

    /// Aggregates the reports about `target` AND learns from them (updates peers' trust).
    /// `local` is the own IDS view of the target at this moment, if any. Returns (S, C).
    fn opinion(
        &mut self,
        target: &Ioc,
        reports: &[Report],
        local: Option<(f64, f64)>,
        now: u64,
    ) -> (f64, f64);

    /// Current trust in a peer, in [0, 1] (0 for unknown peers).
    fn trust(&self, peer: PeerKey) -> f64;

    /// A peer sent us a request (threat-intelligence or recommendation request). Fides
    /// rewards this; a sound model must not let it earn trust.
    fn request_received(&mut self, _peer: PeerKey, _now: u64) {}

    /// A peer sent us an unsolicited alert about `target`. Fides rewards the sender; a sound
    /// model must not let it earn trust before the alert is verified.
    fn alert_received(&mut self, _peer: PeerKey, _target: &Ioc, _s: f64, _c: f64, _now: u64) {}

    /// A peer that is new to us, `subject`, has just joined: whom the model wants to ask for
    /// recommendations about it (Fides asks its most trusted peers). Empty (the default) means
    /// the model does not use recommendations and nobody is asked.
    fn recommendation_recipients(&self, _subject: PeerKey, _now: u64) -> Vec<PeerKey> {
        Vec::new()
    }

    /// The answers to one recommendation round about `subject`, all at once, because Fides
    /// weighs each answer against the round's combined estimate. Models that do not use
    /// recommendations ignore them (the default).
    fn recommendations_received(
        &mut self,
        _subject: PeerKey,
        _answers: &[Recommendation],
        _now: u64,
    ) {
    }
}
