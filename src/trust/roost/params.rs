//! The knobs of the roost trust model, gathered in one serialisable struct so that a node can
//! load them from its configuration and persisted state records which values produced it.

use serde::{Deserialize, Serialize};

/// Every tunable of [`super::RoostModel`]. Times are in the unit of the `now` argument the
/// model receives (rounds or clicks in the arena, seconds in production: see
/// [`RoostParams::with_time_unit`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoostParams {
    /// Beta prior pseudo-count of correct reports a stranger starts with.
    pub prior_success: f64,
    /// Beta prior pseudo-count of wrong reports a stranger starts with.
    pub prior_failure: f64,
    /// How many successes one verified failure cancels ("slow to gain, fast to lose").
    pub failure_weight: f64,
    /// Half-life of remembered successes.
    pub success_half_life: f64,
    /// Half-life of remembered failures; longer than the success one so that on-off liars
    /// cannot wash their record clean between lie windows.
    pub failure_half_life: f64,
    /// Exponent applied to trust to get a report's weight (sharpens the gap between peers).
    pub trust_exponent: f64,
    /// Verified success mass a peer must have earned before it stops being "young".
    pub young_mass: f64,
    /// Age (time since joining) below which a peer is young whatever it earned.
    pub young_age: f64,
    /// Confidence factor of an opinion resting only on young peers' reports.
    pub young_confidence: f64,
    /// Learning-rate factor of consensus checks when the consensus rests on young peers only.
    pub young_consensus_factor: f64,
    /// Weight of the local IDS view of the target in the score, scaled by its consistency.
    pub local_weight: f64,
    /// Local confidence from which a malicious local view is taken as an attack on us (a
    /// fact, checked without waiting for consistency).
    pub local_attack_conf: f64,
    /// Share of a peer's remembered successes wiped per unit of failure found by a strong
    /// reference (local IDS, anchors): fast to lose.
    pub strong_failure_cut: f64,
    /// Largest share of the total weight that young (sybil-cheap) identities may hold.
    pub young_share: f64,
    /// Weight of benign ("I saw nothing") evidence relative to malicious ("I was attacked")
    /// evidence when reports are combined.
    pub benign_weight: f64,
    /// Weight of checks that rest on a benign reference view (anchors, young consensus),
    /// relative to checks against a malicious one: not having been attacked says little.
    pub benign_check_weight: f64,
    /// Weight of "accused something our own IDS saw as benign" relative to a full failure.
    /// Our IDS not having been attacked says nothing about the attacks others saw (an
    /// attacker hitting some hosts and sparing us is the normal case, Arena D 2C-k).
    pub local_benign_check: f64,
    /// Credit for a benign report that matches our steady benign view, relative to a full
    /// success ("saw nothing either" confirms little).
    pub benign_agree_weight: f64,
    /// Smallest |s*c| of the local IDS view that counts as evidence at all.
    pub local_min: f64,
    /// Half-life of the local IDS sign-consistency counters.
    pub local_consistency_half_life: f64,
    /// Per-observation |s*c| pseudo-mass that keeps a weak or young local consistency low.
    pub local_consistency_prior: f64,
    /// Consistency below this is treated as noise (an uninformed local IDS flips sign at random).
    pub local_consistency_margin: f64,
    /// Learning rate of checks against the local IDS.
    pub local_rate: f64,
    /// Share of its |s*c| mass that the local view must have kept on one side (and at least
    /// two views seen) before praise beyond it is judged an overclaim.
    pub overclaim_consistency: f64,
    /// Pseudo-count that keeps the whole-IDS steadiness low until enough views were compared.
    pub ids_steadiness_prior: f64,
    /// Failure mass per unit of overclaim (praise beyond the local IDS view).
    pub overclaim_rate: f64,
    /// Learning rate of checks against pre-trusted anchors.
    pub anchor_rate: f64,
    /// Learning rate of checks against the leave-one-out consensus of the other reporters.
    pub consensus_rate: f64,
    /// Smallest |consensus| that is taken as a reference to learn from.
    pub consensus_min: f64,
    /// How much more benign than the local IDS a report may be before it counts as an
    /// overclaim (certainty of innocence that nobody can have).
    pub overclaim_margin: f64,
    /// |s*c| from which a report, or a peer's own history, counts as a firm opinion.
    pub flip_threshold: f64,
    /// Rate of the per-(peer, IoC) moving average of s*c.
    pub history_rate: f64,
    /// Firm reports needed before a peer's opinion on an IoC is established.
    pub flip_min_reports: u32,
    /// Share of a peer's remembered successes wiped by one unconfirmed reversal.
    pub flip_trust_cut: f64,
    /// Failures added by one unconfirmed reversal.
    pub flip_penalty: f64,
    /// Multiplier of both flip penalties for benign-to-malicious reversals (being attacked
    /// after a quiet period is normal; turning an accusation into praise is not).
    pub flip_to_malicious_factor: f64,
    /// Weight multiplier of a peer's reports on an IoC it reversed itself on, without
    /// confirmation, within the last `flip_memory`.
    pub flip_discount: f64,
    /// Weight (instead of trust-based) of a standing, unconfirmed accusation-to-praise
    /// reversal counted as the accusation it replaced; 0 turns the mirroring off.
    pub inversion_weight: f64,
    /// Failure mass per unit of firm report that backs the claim of a peer caught lying (an
    /// unconfirmed accusation-to-praise reversal, or a later reversal of the same peer):
    /// what a liar now says is false, and so is whatever agrees with it.
    pub association_rate: f64,
    /// How long an unconfirmed reversal discounts the peer's reports on that IoC.
    pub flip_memory: f64,
    /// How strongly the local IDS view of a reporter's own IP (attacks on us) cuts its weight.
    pub ids_penalty: f64,
    /// Evidence pseudo-mass that keeps |S| small when little evidence is at hand.
    pub prior_mass: f64,
    /// Evidence mass at which confidence is 63 % saturated.
    pub confidence_scale: f64,
    /// Mean reporter trust at and above which the confidence is not reduced for distrust.
    pub confidence_trust: f64,
    /// How much the confidence falls per unit share of firm dissent from established,
    /// unimpeached peers (a disputed question with no reference to settle it).
    pub dissent_penalty: f64,
    /// The same for the dissent of peers younger than `young_age`.
    pub fresh_dissent_penalty: f64,
    /// Impeachment mass (strong-reference failures) from which a peer's dissent no longer
    /// counts as a dispute.
    pub impeach_min: f64,
    /// Weight of "accused something the established consensus calls benign" relative to a
    /// full failure (the young-only consensus uses `benign_check_weight`).
    pub consensus_benign_check: f64,
    /// Failure mass per report while a peer keeps an unconfirmed reversed stance.
    pub reversed_penalty: f64,
    /// Exponent applied to the agreement ratio in the confidence. 1: the dispute factor
    /// already penalises firm dissent, so a square would count partial coverage twice (an
    /// attacker that hit 6 of 9 peers is not "disputed" by the 3 it spared).
    pub agreement_power: f64,
    /// Cap on remembered (peer, IoC) histories; the least recently used are dropped beyond it.
    pub max_histories: usize,
    /// Cap on remembered IoCs (local views, last explanations).
    pub max_subjects: usize,
    /// Largest shift, in absolute value, that recommendations about a newcomer may make to
    /// its trust, whoever and however many recommend it (X6; at most 0.45 is honoured).
    /// 0 ignores recommendations and asks nobody.
    pub recommendation_cap: f64,
}

impl Default for RoostParams {
    fn default() -> Self {
        RoostParams {
            prior_success: 1.0,
            prior_failure: 1.0,
            failure_weight: 3.0,
            success_half_life: 400.0,
            failure_half_life: 1600.0,
            trust_exponent: 2.0,
            young_mass: 3.0,
            young_share: 0.2,
            young_age: 30.0,
            young_confidence: 0.6,
            young_consensus_factor: 0.2,
            local_weight: 0.25,
            local_attack_conf: 0.8,
            strong_failure_cut: 0.5,
            benign_weight: 0.5,
            benign_check_weight: 0.1,
            local_benign_check: 0.0,
            benign_agree_weight: 1.0,
            local_min: 0.1,
            local_consistency_half_life: 20.0,
            local_consistency_prior: 0.05,
            local_consistency_margin: 0.35,
            local_rate: 1.0,
            anchor_rate: 1.0,
            overclaim_rate: 8.0,
            overclaim_consistency: 0.9,
            ids_steadiness_prior: 3.0,
            consensus_rate: 0.3,
            consensus_min: 0.2,
            overclaim_margin: 0.2,
            flip_threshold: 0.4,
            history_rate: 0.3,
            flip_min_reports: 3,
            flip_trust_cut: 0.8,
            flip_penalty: 4.0,
            flip_to_malicious_factor: 0.3,
            flip_discount: 0.1,
            flip_memory: 500.0,
            association_rate: 0.5,
            inversion_weight: 0.3,
            ids_penalty: 3.0,
            prior_mass: 0.05,
            confidence_scale: 0.5,
            agreement_power: 1.0,
            confidence_trust: 0.5,
            dissent_penalty: 8.0,
            fresh_dissent_penalty: 3.0,
            impeach_min: 1.0,
            consensus_benign_check: 1.0,
            reversed_penalty: 0.2,
            max_histories: 200_000,
            max_subjects: 100_000,
            recommendation_cap: 0.05,
        }
    }
}

impl RoostParams {
    /// The defaults are tuned with one time unit per arena round; a node that passes `now`
    /// in seconds and asks about the same IoCs every `unit` seconds scales every duration.
    pub fn with_time_unit(mut self, unit: f64) -> Self {
        let unit = if unit.is_finite() && unit > 0.0 {
            unit
        } else {
            1.0
        };
        self.success_half_life *= unit;
        self.failure_half_life *= unit;
        self.local_consistency_half_life *= unit;
        self.flip_memory *= unit;
        self.young_age *= unit;
        self
    }
}
