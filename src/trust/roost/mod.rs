//! roost's own trust model: who to believe about an IoC, learned only from verified evidence.
//!
//! **Per-peer trust.** Each peer has a Beta posterior over "its next report is right":
//! verified successes and failures are added to a prior (1, 1), failures weighted
//! `failure_weight` times (slow to gain, fast to lose); failures found by a strong reference
//! also wipe part of the remembered successes. Evidence fades with time, failures four times
//! slower than successes, so an on-off liar cannot wash its record between lie windows.
//! Requests, alerts and chatter never earn trust (X5). What our IDS thinks of a reporter's own
//! IP cuts its weight (Dovecot's 5A lever, with the sign right).
//!
//! **Verification.** A report is checked against three references. (1) The local IDS view of
//! the target, used only as far as our IDS has proved steady: per subject (the share of its
//! s*c mass kept on one side) and as a whole (how often a new view keeps the sign of the
//! previous view of the same subject), because an IDS that knows nothing produces sign noise.
//! An attack on us with high confidence is a fact and is used at once. (2) The pre-trusted
//! anchors that reported on the same IoC. These two are checked *before* aggregating, so a
//! peer caught now weighs little in this very opinion. (3) The leave-one-out consensus of the
//! other reporters, after aggregating, slowly while only young identities make it (what a
//! sybil swarm would produce). Checks are asymmetric, following the IDS semantics "I was
//! attacked" versus "I saw nothing": contradicting a malicious reference is a full failure;
//! accusing something our own IDS saw as benign is no failure at all (`local_benign_check`:
//! an attacker that spares us is the normal case), accusing what anchors or a young consensus
//! call benign is a weak one (`benign_check_weight`); praising a target beyond what our own steady IDS view can know
//! (`overclaim_margin`) is a failure, since certainty of innocence is what praise-liars and
//! badmouthers (who praise the real attacker) give away. Failures from strong references,
//! overclaims and reversals *impeach* a peer.
//!
//! **Self-consistency.** For every (peer, IoC) the model keeps a moving average of the peer's
//! s*c. A firm report whose sign contradicts the peer's own established opinion is a
//! reversal. Unless the local IDS or the anchors confirm the change (an honest peer following
//! a real change, X9), a reversal wipes most of the peer's remembered successes, adds failures,
//! and, for as long as the peer keeps the reversed stance (up to `flip_memory`), discounts its
//! reports on that IoC and keeps adding small failures. This catches the "malicious peer" that
//! earns trust and then lies, with no need for an honest majority (F3, F6, X1, X2).
//! A peer that turned an accusation into praise unconfirmed is a proven liar for
//! `flip_memory`: its report is counted as the accusation it replaced, its other unconfirmed
//! reversals are read inverted too, and, once it is past `young_age` and has reversed itself
//! on two IoCs (a swap of stances, not a retraction), every unreversed peer that firmly backs
//! what it now claims is charged `association_rate` (what a liar says is false, and so is
//! what agrees with it). This is what exposes a consistently wrong majority that the liars
//! join when they flip (F-SW 0/0/6/2, 0/2/4/2).
//! Benign-to-malicious reversals cost less than the reverse (being attacked after a quiet
//! period is normal). When honest peers all follow a real change nobody confirms, they are all
//! discounted alike, so the opinion still follows them.
//!
//! **Aggregation.** One vote per peer per call, however often it repeats itself (X7). A
//! report's weight is trust^`trust_exponent` times the IDS factor of its IP, its reliability
//! and the reversal discount. Young identities (joined less than `young_age` ago or with less
//! than `young_mass` earned evidence) together hold at most `young_share` of the weight
//! whenever established peers speak (X3). The score S is the weighted evidence balance, the
//! local view included in proportion to its steadiness, with benign evidence weighed
//! `benign_weight` against malicious evidence (D3: an attacker hits some hosts and spares
//! others), shrunk toward 0 when little evidence is at hand. The confidence C multiplies the
//! agreement among reporters, an evidence-mass saturation, the established share, the
//! reporters' mean trust relative to a neutral newcomer, and a *dispute* factor: firm dissent
//! from unimpeached, unreversed peers means nothing here settles the question, so C falls
//! towards 0 (F3': a consistent liar majority from the start cannot be told from an honest
//! one, and the model then says so instead of being confidently wrong). "Unknown" (C near 0)
//! is thus never mistaken for "benign".
//!
//! **Properties.** Sans-IO and deterministic (ordered maps only, time passed in), explainable
//! ([`RoostModel::explain`], [`RoostModel::explain_peer`]) and persistent
//! ([`RoostModel::to_bytes`], [`RoostModel::from_bytes`], postcard, bit for bit). Memory is
//! bounded by `max_histories` and `max_subjects` (least recently used dropped first).

mod explain;
mod params;
mod recommend;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ioc::Ioc;

use super::model::{PeerKey, Recommendation, Report, TrustModel};

pub use explain::{Contribution, Explanation, PeerExplanation};
pub use params::RoostParams;
use state::{survival, PeerState, ReportHistory, SubjectState};

/// Why persisted trust state could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The bytes are not a postcard encoding of the model (corrupt, truncated, or written by
    /// an incompatible version).
    #[error("cannot decode trust state: {0}")]
    Decode(#[from] postcard::Error),
    /// The bytes decoded, but hold values no model could have produced (e.g. NaN trust).
    #[error("trust state is inconsistent: {0}")]
    Invalid(&'static str),
}

/// Version tag at the front of persisted state, so that a future layout is refused cleanly.
/// 2: per-peer fields `accusations`, `lied_at`, `last_flips`, and the parameters are no
/// longer part of the state (version 1 carried them).
const STATE_VERSION: u32 = 2;

/// The roost trust model. See the module documentation for the design.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoostModel {
    /// Not saved: they belong to the code, not to what was learned, so a daemon upgraded
    /// with tuned parameters applies them to its saved trust, and adding a parameter does
    /// not change the state's layout. [`RoostModel::from_bytes`] takes them.
    #[serde(skip)]
    params: RoostParams,
    peers: BTreeMap<PeerKey, PeerState>,
    histories: BTreeMap<(PeerKey, Ioc), ReportHistory>,
    subjects: BTreeMap<Ioc, SubjectState>,
    /// Decayed count, over all subjects, of local views that kept the sign of the previous
    /// view of the same subject: how steady our IDS is as a whole.
    ids_kept: f64,
    /// Decayed count of local views that changed sign.
    ids_changed: f64,
    /// When the two counters were last decayed.
    ids_counted_at: u64,
}

/// Drops the tenth of `map` (at least one entry) with the oldest `age`, ties broken by key
/// order: how the model bounds its memory without favouring any peer.
fn evict_oldest_tenth<K: Ord + Clone, V>(map: &mut BTreeMap<K, V>, age: impl Fn(&V) -> u64) {
    let mut ages: Vec<(u64, K)> = map.iter().map(|(k, v)| (age(v), k.clone())).collect();
    ages.sort();
    let drop = (ages.len() / 10).max(1);
    for (_, k) in ages.into_iter().take(drop) {
        map.remove(&k);
    }
}

impl Default for RoostModel {
    fn default() -> Self {
        Self::new()
    }
}

/// A report after clean-up, with everything the aggregation needs.
struct Vote {
    peer: PeerKey,
    s: f64,
    c: f64,
    weight: f64,
    trust: f64,
    young: bool,
    fresh: bool,
    impeached: bool,
    reversed: bool,
    /// The peer has made firm accusations (about anything), so its benign reports are
    /// informed opinions, not just "nothing seen".
    accuser: bool,
    /// The peer is a proven liar, older than `young_age`, that reversed itself on more than one IoC
    /// lately: whoever backs what it now claims is charged (`association_rate`).
    exposes: bool,
    /// The report is counted mirrored: the peer turned an accusation into praise with
    /// nothing to confirm it, so what it said before is the better evidence.
    inverted: bool,
    anchor: bool,
}

/// A finite value clamped into [lo, hi]; NaN becomes `None`.
fn clean(x: f64, lo: f64, hi: f64) -> Option<f64> {
    if x.is_nan() {
        None
    } else {
        Some(x.clamp(lo, hi) + 0.0)
    }
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl RoostModel {
    /// A model with the default, arena-tuned parameters.
    pub fn new() -> Self {
        Self::with_params(RoostParams::default())
    }

    /// A model with explicit parameters (tests, tuning, production time units).
    pub fn with_params(params: RoostParams) -> Self {
        RoostModel {
            params,
            peers: BTreeMap::new(),
            histories: BTreeMap::new(),
            subjects: BTreeMap::new(),
            ids_kept: 0.0,
            ids_changed: 0.0,
            ids_counted_at: 0,
        }
    }

    /// Counts whether a new local view of a subject kept the sign of the previous one.
    fn count_ids_steadiness(&mut self, previous: Option<(f64, f64)>, s: f64, c: f64, now: u64) {
        if now > self.ids_counted_at {
            let keep = survival(
                now - self.ids_counted_at,
                self.params.local_consistency_half_life,
            );
            self.ids_kept *= keep;
            self.ids_changed *= keep;
            self.ids_counted_at = now;
        }
        let x = s * c;
        if let Some((ps, pc)) = previous {
            let px = ps * pc;
            if x.abs() >= 0.01 && px.abs() >= 0.01 {
                if sign(x) == sign(px) {
                    self.ids_kept += 1.0;
                } else {
                    self.ids_changed += 1.0;
                }
            }
        }
    }

    /// How steady our IDS is as a whole (0 = its signs look like noise, 1 = steady).
    fn ids_steadiness(&self) -> f64 {
        let k = (self.ids_kept - self.ids_changed)
            / (self.ids_kept + self.ids_changed + self.params.ids_steadiness_prior);
        ((k - 0.5) / 0.5).clamp(0.0, 1.0)
    }

    /// The parameters in use.
    pub fn params(&self) -> &RoostParams {
        &self.params
    }

    /// Which peers moved the last opinion on `target`, and by how much.
    pub fn explain(&self, target: &Ioc) -> Explanation {
        self.subjects
            .get(target)
            .and_then(|s| s.last.clone())
            .unwrap_or_default()
    }

    /// Why `peer` has its trust; `None` for a peer never heard of.
    pub fn explain_peer(&self, peer: PeerKey) -> Option<PeerExplanation> {
        let p = self.peers.get(&peer)?;
        let ids_view = p
            .address
            .as_ref()
            .and_then(|a| self.subjects.get(a))
            .and_then(|s| s.local);
        Some(PeerExplanation {
            peer,
            trust: p.trust(self.params.prior_success, self.params.prior_failure),
            pretrust: p.pretrust,
            success_mass: p.success,
            failure_mass: p.failure,
            checks_passed: p.checks_passed,
            checks_failed: p.checks_failed,
            impeachment: p.impeached,
            reversals_unconfirmed: p.flips_unconfirmed,
            reversals_confirmed: p.flips_confirmed,
            young: self.is_young(p, p.last_seen),
            ids_view,
            requests: p.requests,
            alerts: p.alerts,
            reports: p.reports,
            joined: p.joined,
        })
    }

    /// The peers known to the model, in key order.
    pub fn peers(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.peers.keys().copied()
    }

    /// The whole state, postcard-encoded behind a version tag, for the store.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain maps and numbers cannot fail; an empty vector would be refused
        // by `from_bytes`, never silently accepted.
        postcard::to_stdvec(&(STATE_VERSION, self)).unwrap_or_default()
    }

    /// Restores a model saved with [`RoostModel::to_bytes`], running with `params`.
    pub fn from_bytes(bytes: &[u8], params: RoostParams) -> Result<Self, TrustError> {
        let (version, mut model): (u32, RoostModel) = postcard::from_bytes(bytes)?;
        model.params = params;
        if version != STATE_VERSION {
            return Err(TrustError::Invalid("unknown state version"));
        }
        model.validate()?;
        Ok(model)
    }

    fn validate(&self) -> Result<(), TrustError> {
        let finite = |x: f64| x.is_finite() && x >= 0.0;
        for p in self.peers.values() {
            if !(finite(p.success) && finite(p.failure) && finite(p.earned)) {
                return Err(TrustError::Invalid("peer evidence is not a finite count"));
            }
            if let Some(t) = p.pretrust {
                if !(0.0..=1.0).contains(&t) {
                    return Err(TrustError::Invalid("pre-trust outside [0, 1]"));
                }
            }
        }
        for h in self.histories.values() {
            if !h.mean.is_finite() {
                return Err(TrustError::Invalid("report history is not finite"));
            }
        }
        Ok(())
    }

    fn is_young(&self, p: &PeerState, now: u64) -> bool {
        p.pretrust.is_none()
            && (p.earned < self.params.young_mass
                || (now.saturating_sub(p.joined) as f64) < self.params.young_age)
    }

    fn peer_mut(&mut self, peer: PeerKey, now: u64) -> &mut PeerState {
        let (hs, hf) = (self.params.success_half_life, self.params.failure_half_life);
        let p = self.peers.entry(peer).or_insert_with(|| PeerState {
            joined: now,
            updated: now,
            last_seen: now,
            ..PeerState::default()
        });
        p.decay(now, hs, hf);
        p.last_seen = p.last_seen.max(now);
        p
    }

    fn subject_mut(&mut self, subject: &Ioc, now: u64) -> &mut SubjectState {
        if !self.subjects.contains_key(subject) && self.subjects.len() >= self.params.max_subjects {
            self.evict_subjects();
        }
        let s = self.subjects.entry(subject.clone()).or_default();
        s.last_seen = s.last_seen.max(now);
        s
    }

    /// Drops the least recently seen tenth of the subjects (ties broken by key order).
    fn evict_subjects(&mut self) {
        evict_oldest_tenth(&mut self.subjects, |v| v.last_seen);
    }

    /// Drops the least recently reported tenth of the (peer, IoC) histories.
    fn evict_histories(&mut self) {
        evict_oldest_tenth(&mut self.histories, |v| v.last_at);
    }

    /// Feeds the local view of `subject` into its consistency counters and returns how far
    /// it can serve as a reference for checking reporters (0 = noise or unknown, 1 = firm).
    fn update_local(
        &mut self,
        subject: &Ioc,
        local: Option<(f64, f64)>,
        now: u64,
    ) -> (f64, f64, f64) {
        let p = self.params.clone();
        let Some((s, c)) = local else {
            self.subject_mut(subject, now);
            return (0.0, 0.0, 0.0);
        };
        let previous = self.subjects.get(subject).and_then(|st| st.local);
        self.count_ids_steadiness(previous, s, c, now);
        let global = self.ids_steadiness();
        let st = self.subject_mut(subject, now);
        if now > st.counted_at {
            let keep = survival(now - st.counted_at, p.local_consistency_half_life);
            st.sum_x *= keep;
            st.sum_abs *= keep;
            st.count *= keep;
            st.counted_at = now;
        }
        let x = s * c;
        st.sum_x += x;
        st.sum_abs += x.abs();
        st.count += 1.0;
        st.local = Some((s, c));
        st.local_at = now;
        // How steadily the local view has kept one sign: near 0 for an IDS that knows
        // nothing (its sign is noise), near 1 for one that keeps seeing the same thing.
        let k = st.sum_x.abs() / (st.sum_abs + p.local_consistency_prior * st.count)
            * (st.count / (st.count + 1.0));
        let k = ((k - p.local_consistency_margin) / (1.0 - p.local_consistency_margin)).max(0.0);
        // Overclaims are judged only against a view that never wavered.
        let steady = if st.count >= 1.5 && st.sum_abs > 0.0 {
            let ratio = st.sum_x.abs() / st.sum_abs;
            ((ratio - p.overclaim_consistency) / (1.0 - p.overclaim_consistency).max(1e-9))
                .clamp(0.0, 1.0)
                * global
        } else {
            0.0
        };
        let mag = ((x.abs() - p.local_min) / (1.0 - p.local_min)).max(0.0);
        let mut strength = k * mag;
        if s < 0.0 && c >= p.local_attack_conf {
            // Being attacked is a fact, not a trend: no need to wait for this subject's view
            // to settle, provided our IDS as a whole is not just noise.
            strength = strength.max((2.0 * x.abs()).min(1.0) * global);
        }
        (k.clamp(0.0, 1.0), strength.clamp(0.0, 1.0), steady)
    }

    /// Adds one check's outcome to a peer's record. `ok` is the success mass, `bad` the
    /// failure mass (before the failure weight).
    fn record(
        &mut self,
        peer: PeerKey,
        ok: f64,
        bad: f64,
        strong_bad: f64,
        impeach: f64,
        now: u64,
    ) {
        let fw = self.params.failure_weight;
        let cut = self.params.strong_failure_cut;
        let p = self.peer_mut(peer, now);
        if p.pretrust.is_some() {
            return;
        }
        if ok > 0.0 && ok.is_finite() {
            p.success += ok;
            p.earned += ok;
            p.checks_passed += 1;
        }
        if strong_bad > 0.0 && strong_bad.is_finite() {
            p.success *= (1.0 - cut * strong_bad.min(1.0)).max(0.0);
        }
        let imp = impeach + strong_bad;
        if imp > 0.0 && imp.is_finite() {
            p.impeached += imp;
        }
        let bad = bad + strong_bad;
        if bad > 0.0 && bad.is_finite() {
            p.failure += fw * bad;
            p.checks_failed += 1;
        }
    }

    /// Checks one report against the references that do not depend on the aggregate (the
    /// local IDS view and the anchors) and records the outcome at once, so that a peer
    /// caught now weighs little in this very opinion.
    #[allow(clippy::too_many_arguments)]
    fn check_against_references(
        &mut self,
        peer: PeerKey,
        s: f64,
        c: f64,
        local: (f64, f64, f64, f64),
        anchor: Option<f64>,
        anchor_strength: f64,
        now: u64,
    ) {
        let p = self.params.clone();
        let (local_x, local_strength, local_steady, _) = local;
        let v_s = s;
        let x = s * c;
        let amount = c * s.abs();
        if self.peers.get(&peer).is_some_and(|q| q.pretrust.is_some()) {
            return;
        }
        let mut ok = 0.0;
        let mut bad = 0.0;
        let mut strong_bad = 0.0;
        let mut impeach = 0.0;
        if local_strength > 0.0 && amount > 0.0 && local_x < 0.0 {
            // We were attacked by the target: full check both ways.
            let m = local_strength * p.local_rate * amount;
            if v_s < 0.0 {
                ok += m;
            } else {
                strong_bad += m;
            }
        } else if local_x > 0.0 && amount > 0.0 {
            // We saw it benign: praise beyond what we can know is an overclaim;
            // accusing it is only weakly suspicious (it may have attacked others).
            if v_s > 0.0 {
                let over = x - local_x - p.overclaim_margin;
                if over > 0.0 {
                    bad += local_steady * p.local_rate * over * p.overclaim_rate;
                    impeach += local_steady * over;
                } else {
                    ok += local_strength * p.local_rate * amount * p.benign_agree_weight;
                }
            } else {
                bad += local_strength * p.local_rate * amount * p.local_benign_check;
            }
        }
        if let Some(a) = anchor {
            if anchor_strength > 0.0 && amount > 0.0 {
                let m = anchor_strength * p.anchor_rate * amount;
                if sign(a) == sign(v_s) {
                    ok += m;
                } else if a > 0.0 {
                    bad += m * p.benign_check_weight;
                } else {
                    strong_bad += m;
                }
            }
        }
        self.record(peer, ok, bad, strong_bad, impeach, now);
    }

    fn core_opinion(
        &mut self,
        target: &Ioc,
        reports: &[Report],
        local: Option<(f64, f64)>,
        now: u64,
    ) -> (f64, f64) {
        let p = self.params.clone();
        // One vote per peer: the last report of each peer in this call counts.
        let mut latest: BTreeMap<PeerKey, (f64, f64)> = BTreeMap::new();
        for r in reports {
            if let (Some(s), Some(c)) = (clean(r.s, -1.0, 1.0), clean(r.c, 0.0, 1.0)) {
                latest.insert(r.peer, (s, c));
            }
        }
        let local = match local {
            Some((s, c)) => clean(s, -1.0, 1.0).zip(clean(c, 0.0, 1.0)),
            None => self.subjects.get(target).and_then(|s| s.local),
        };
        let (local_consistency, local_strength, local_steady) =
            self.update_local(target, local, now);
        let local_x = local.map(|(s, c)| s * c).unwrap_or(0.0);

        // Anchors: pre-trusted reporters' combined view.
        let mut an_num = 0.0;
        let mut an_den = 0.0;
        for (peer, &(s, c)) in &latest {
            if let Some(t) = self.peers.get(peer).and_then(|q| q.pretrust) {
                an_num += t * c * s;
                an_den += t * c;
            }
        }
        let anchor = (an_den > 0.0).then(|| an_num / an_den);
        let anchor_strength = anchor.map(|a| a.abs() * an_den.min(1.0)).unwrap_or(0.0);

        // Reversal checks against each peer's own history, then weights.
        let mut votes: Vec<Vote> = Vec::with_capacity(latest.len());
        for (&peer, &(s, c)) in &latest {
            // A peer's report about its own address is not evidence.
            let own = self
                .peers
                .get(&peer)
                .and_then(|q| q.address.as_ref())
                .is_some_and(|a| a == target);
            if own {
                continue;
            }
            let x = s * c;
            {
                let q = self.peer_mut(peer, now);
                q.reports += 1;
                if x <= -p.flip_threshold {
                    q.accusations = q.accusations.saturating_add(1);
                }
            }
            let key = (peer, target.clone());
            if !self.histories.contains_key(&key) && self.histories.len() >= p.max_histories {
                self.evict_histories();
            }
            let h = self.histories.entry(key).or_default();
            let mut flip: Option<f64> = None;
            if h.firm >= p.flip_min_reports
                && h.mean.abs() >= p.flip_threshold
                && x.abs() >= p.flip_threshold
                && sign(x) != sign(h.mean)
            {
                let confirmed_local = local_strength > 0.0 && sign(local_x) == sign(x);
                let confirmed_anchor =
                    anchor.is_some_and(|a| a.abs() >= p.flip_threshold && sign(a) == sign(x));
                if confirmed_local || confirmed_anchor {
                    flip = Some(0.0);
                } else {
                    let factor = if x < 0.0 {
                        p.flip_to_malicious_factor
                    } else {
                        1.0
                    };
                    h.flip_at = Some(now);
                    h.flip_sign = sign(x);
                    h.flips = h.flips.saturating_add(1);
                    flip = Some(factor);
                }
            }
            h.mean = (1.0 - p.history_rate) * h.mean + p.history_rate * x;
            if x.abs() >= p.flip_threshold {
                h.firm = h.firm.saturating_add(1);
            }
            h.last_s = s;
            h.last_c = c;
            h.last_at = now;
            // Only a first reversal is mirrored: a peer that keeps switching (on-off) has no
            // stance worth recovering.
            let h_flip_sign = if h.flips == 1 { h.flip_sign } else { 0.0 };
            // A reversal stands while the peer keeps the reversed stance (within flip_memory).
            let reversed = h
                .flip_at
                .is_some_and(|t| (now.saturating_sub(t) as f64) < p.flip_memory)
                && (x.abs() < p.flip_threshold || sign(x) == h.flip_sign);
            match flip {
                Some(f) if f > 0.0 => {
                    let q = self.peer_mut(peer, now);
                    if q.pretrust.is_none() {
                        q.success *= (1.0 - p.flip_trust_cut * f).max(0.0);
                        q.failure += p.flip_penalty * f;
                        q.impeached += f;
                        q.flips_unconfirmed += 1;
                        q.last_flips = (Some(now), q.last_flips.0);
                    }
                }
                Some(_) => self.peer_mut(peer, now).flips_confirmed += 1,
                None => {}
            }
            self.check_against_references(
                peer,
                s,
                c,
                (local_x, local_strength, local_steady, 0.0),
                anchor,
                anchor_strength,
                now,
            );
            let q = &self.peers[&peer];
            let trust = q.trust(p.prior_success, p.prior_failure);
            // What the peer's own conduct on the network says: our IDS view of its IP and
            // its protocol reliability.
            let mut conduct = 1.0;
            if let Some((is, ic)) = q
                .address
                .as_ref()
                .and_then(|a| self.subjects.get(a))
                .and_then(|st| st.local)
            {
                conduct *= 1.0 - (p.ids_penalty * (-is).max(0.0) * ic).min(1.0);
            }
            if let Some(rel) = q.reliability {
                conduct *= rel.clamp(0.0, 1.0);
            }
            // A peer caught turning an accusation into praise is a proven liar for a while:
            // its other unconfirmed reversals (praise turned into accusation) are read the
            // same way. A peer that only ever turned praise into accusation is not one (an
            // honest peer following a real change, X9).
            let liar = q
                .lied_at
                .is_some_and(|t| (now.saturating_sub(t) as f64) < p.flip_memory);
            let inverted = p.inversion_weight > 0.0
                && reversed
                && ((h_flip_sign > 0.0 && s > 0.0) || (liar && h_flip_sign < 0.0 && s < 0.0));
            let weight = if inverted {
                // Praise that replaced the peer's own firm accusation: count the accusation,
                // at a fixed weight (its trust was just cut; the information is about the IoC).
                conduct * p.inversion_weight
            } else if reversed {
                conduct * trust.powf(p.trust_exponent) * p.flip_discount
            } else {
                conduct * trust.powf(p.trust_exponent)
            };
            votes.push(Vote {
                peer,
                s: if inverted { -s } else { s },
                c,
                weight,
                trust,
                young: self.is_young(q, now),
                fresh: (now.saturating_sub(q.joined) as f64) < p.young_age,
                impeached: q.impeached >= p.impeach_min,
                reversed,
                accuser: q.accusations > 0,
                // A single retraction (an honest peer correcting a false alarm) or a fresh
                // identity (a cheap sybil) must not be able to cost bystanders trust.
                exposes: inverted
                    && (now.saturating_sub(q.joined) as f64) >= p.young_age
                    && q.last_flips
                        .1
                        .is_some_and(|t| (now.saturating_sub(t) as f64) < p.flip_memory),
                inverted,
                anchor: q.pretrust.is_some(),
            });
            if inverted && h_flip_sign > 0.0 {
                self.peer_mut(peer, now).lied_at = Some(now);
            }
        }

        // Sybil bound: young identities hold at most `young_share` of the weight.
        let w_est: f64 = votes.iter().filter(|v| !v.young).map(|v| v.weight).sum();
        let w_young: f64 = votes.iter().filter(|v| v.young).map(|v| v.weight).sum();
        let ratio = p.young_share / (1.0 - p.young_share).max(1e-9);
        if w_est > 0.0 && w_young > ratio * w_est {
            let scale = ratio * w_est / w_young;
            for v in votes.iter_mut().filter(|v| v.young) {
                v.weight *= scale;
            }
        }
        let w_young_after: f64 = votes.iter().filter(|v| v.young).map(|v| v.weight).sum();
        let est_share = if w_est + w_young_after > 0.0 {
            w_est / (w_est + w_young_after)
        } else {
            0.0
        };

        // Evidence balance (asymmetric for S, symmetric for agreement).
        let mut net = 0.0;
        let mut mass = 0.0;
        let mut sym_net = 0.0;
        let mut sym_mass = 0.0;
        for v in &votes {
            let e = v.weight * v.c * v.s;
            let ea = if v.s > 0.0 { p.benign_weight * e } else { e };
            net += ea;
            mass += ea.abs();
            sym_net += e;
            sym_mass += e.abs();
        }
        // The local IDS view joins the balance, weighted by how consistent it has been.
        let mut local_e = 0.0;
        if let Some((ls, lc)) = local {
            let e = p.local_weight * local_consistency * lc * ls;
            local_e = if ls > 0.0 { p.benign_weight * e } else { e };
            net += local_e;
            mass += local_e.abs();
        }
        let denom = mass + p.prior_mass;
        let s_out = if denom > 0.0 { net / denom } else { 0.0 };
        // Agreement among reporters; when the balance says "malicious", quiet benign reports
        // dissent only as much as they weigh in S ("not attacked" is not "harmless").
        let (mut ag_net, mut ag_mass) = (0.0, 0.0);
        for v in &votes {
            let e = v.weight * v.c * v.s;
            let e = if v.s > 0.0 && net < 0.0 {
                p.benign_weight * e
            } else {
                e
            };
            ag_net += e;
            ag_mass += e.abs();
        }
        let agreement = if ag_mass > 0.0 {
            (ag_net.abs() / ag_mass).powf(p.agreement_power)
        } else {
            0.0
        };
        let saturation = 1.0 - (-sym_mass / p.confidence_scale.max(1e-9)).exp();
        let est_factor = est_share + (1.0 - est_share) * p.young_confidence;
        let (tw, ww) = votes.iter().fold((0.0, 0.0), |(tw, ww), v| {
            (tw + v.weight * v.trust, ww + v.weight)
        });
        let mean_trust = if ww > 0.0 { tw / ww } else { 0.0 };
        let trust_factor = (mean_trust / p.confidence_trust.max(1e-9)).min(1.0);
        // Firm dissent from long-known, unimpeached, unreversed peers means the question
        // is disputed and nothing here settles it: do not claim confidence.
        // Newcomers' dissent counts less (`fresh_dissent_penalty`), and a quiet benign report
        // dissents from a malicious balance only as much as it weighs in S.
        let (mut agree_mass, mut dissent_mass) = ([0.0; 2], [0.0; 2]);
        for v in votes.iter().filter(|v| !v.impeached && !v.reversed) {
            let i = usize::from(v.fresh);
            let m = v.c * v.s.abs();
            if sign(v.s) == sign(s_out) {
                agree_mass[i] += m;
            } else if v.s > 0.0 {
                // "I saw nothing" from a newcomer that never accused anything does not
                // dispute "I was attacked": the attacker may simply have spared it (Arena D
                // 2C-k). Benign words from a peer that does accuse elsewhere are an opinion,
                // and so are those of an established peer that kept them while others
                // accused (a single-IoC liar majority from the start stays disputed).
                if v.accuser || !v.fresh {
                    dissent_mass[i] += p.benign_weight * m;
                }
            } else if v.s < 0.0 {
                dissent_mass[i] += m;
            }
        }
        let share = |i: usize| {
            let all = agree_mass[i] + dissent_mass[i];
            if all > 0.0 {
                dissent_mass[i] / all
            } else {
                0.0
            }
        };
        let dissent_factor = (1.0 - p.dissent_penalty * share(0)).max(0.0)
            * (1.0 - p.fresh_dissent_penalty * share(1)).max(0.0);
        let c_out = agreement * saturation * est_factor * trust_factor * dissent_factor;
        let s_out = clean(s_out, -1.0, 1.0).unwrap_or(0.0);
        let c_out = clean(c_out, 0.0, 1.0).unwrap_or(0.0);

        // Learning: check every non-anchor reporter against the references. A consensus of
        // young identities only teaches slowly (it is what a sybil swarm would produce).
        let (young_factor, benign_check) = if w_est > 0.0 {
            (1.0, p.consensus_benign_check)
        } else {
            (p.young_consensus_factor, p.benign_check_weight)
        };
        // The claims of proven liars (the sign they actually reported).
        let lies: Vec<f64> = votes
            .iter()
            .filter(|v| v.exposes)
            .map(|v| -sign(v.s))
            .collect();
        for v in &votes {
            if v.anchor {
                continue;
            }
            let amount = v.c * v.s.abs();
            let mut ok = 0.0;
            let mut bad = 0.0;
            // Backing a liar's claim firmly is backing a falsehood (once, however many liars).
            if !v.inverted && !v.reversed && amount >= p.flip_threshold && lies.contains(&sign(v.s))
            {
                bad += p.association_rate * amount;
            }
            let v_s = if v.inverted { -v.s } else { v.s };
            // Leave-one-out consensus of the others.
            let e = v.weight * v.c * v.s;
            let rest_net = sym_net - e;
            let rest_mass = sym_mass - e.abs();
            if rest_mass > 0.0 && amount > 0.0 {
                let cons = rest_net / (rest_mass + p.prior_mass);
                if cons.abs() >= p.consensus_min {
                    let strength = (cons.abs() - p.consensus_min) / (1.0 - p.consensus_min);
                    let m = strength * p.consensus_rate * amount * young_factor;
                    if sign(cons) == sign(v_s) {
                        ok += m;
                    } else if cons > 0.0 {
                        bad += m * benign_check;
                    } else {
                        bad += m;
                    }
                }
            }
            if v.reversed {
                bad += p.reversed_penalty * amount;
            }
            self.record(v.peer, ok, bad, 0.0, 0.0, now);
        }

        // Explanation of this opinion.
        let mut contributions: Vec<Contribution> = votes
            .iter()
            .map(|v| {
                let e = v.weight * v.c * v.s;
                let ea = if v.s > 0.0 { p.benign_weight * e } else { e };
                Contribution {
                    peer: v.peer,
                    s: v.s,
                    c: v.c,
                    weight: v.weight,
                    contribution: if denom > 0.0 { ea / denom } else { 0.0 },
                    young: v.young,
                    reversed: v.reversed,
                }
            })
            .collect();
        contributions.sort_by(|a, b| {
            b.contribution
                .abs()
                .total_cmp(&a.contribution.abs())
                .then(a.peer.cmp(&b.peer))
        });
        let expl = Explanation {
            target: Some(target.clone()),
            at: now,
            s: s_out,
            c: c_out,
            local,
            local_strength,
            local_share: if denom > 0.0 { local_e / denom } else { 0.0 },
            anchor,
            contributions,
        };
        self.subject_mut(target, now).last = Some(expl);
        (s_out, c_out)
    }
}

impl TrustModel for RoostModel {
    fn name(&self) -> String {
        "roost".to_owned()
    }

    fn peer_joined(&mut self, peer: PeerKey, pretrust: Option<f64>, now: u64) {
        let pt = pretrust.and_then(|t| clean(t, 0.0, 1.0));
        let p = self.peer_mut(peer, now);
        if pt.is_some() {
            p.pretrust = pt;
        }
    }

    fn local_observation(&mut self, subject: &Ioc, s: f64, c: f64, now: u64) {
        if let (Some(s), Some(c)) = (clean(s, -1.0, 1.0), clean(c, 0.0, 1.0)) {
            let previous = self.subjects.get(subject).and_then(|st| st.local);
            self.count_ids_steadiness(previous, s, c, now);
            let st = self.subject_mut(subject, now);
            st.local = Some((s, c));
            st.local_at = now;
        }
    }

    fn peer_address(&mut self, peer: PeerKey, ip: &Ioc, now: u64) {
        self.peer_mut(peer, now).address = Some(ip.clone());
    }

    fn peer_reliability(&mut self, peer: PeerKey, reliability: f64, now: u64) {
        if let Some(r) = clean(reliability, 0.0, 1.0) {
            self.peer_mut(peer, now).reliability = Some(r);
        }
    }

    fn opinion(
        &mut self,
        target: &Ioc,
        reports: &[Report],
        local: Option<(f64, f64)>,
        now: u64,
    ) -> (f64, f64) {
        self.core_opinion(target, reports, local, now)
    }

    fn trust(&self, peer: PeerKey) -> f64 {
        self.peers
            .get(&peer)
            .map(|p| p.trust(self.params.prior_success, self.params.prior_failure))
            .unwrap_or(0.0)
    }

    fn request_received(&mut self, peer: PeerKey, now: u64) {
        // Counted for explanations only; it touches neither evidence nor its clock (X5).
        let p = self.peers.entry(peer).or_insert_with(|| PeerState {
            joined: now,
            updated: now,
            ..PeerState::default()
        });
        p.requests = p.requests.saturating_add(1);
        p.last_seen = p.last_seen.max(now);
    }

    fn alert_received(&mut self, peer: PeerKey, _target: &Ioc, _s: f64, _c: f64, now: u64) {
        // An alert is a claim, not evidence: it earns nothing until a report is verified.
        let p = self.peers.entry(peer).or_insert_with(|| PeerState {
            joined: now,
            updated: now,
            ..PeerState::default()
        });
        p.alerts = p.alerts.saturating_add(1);
        p.last_seen = p.last_seen.max(now);
    }

    fn recommendation_recipients(&self, subject: PeerKey, now: u64) -> Vec<PeerKey> {
        self.recommenders_for(subject, now)
    }

    fn recommendations_received(&mut self, subject: PeerKey, answers: &[Recommendation], now: u64) {
        // A bounded prior from established peers only (X6); see `recommend.rs`.
        self.apply_recommendations(subject, answers, now);
    }
}
