//! Scenario files: the arena's data format, so a new scenario needs no code.
//!
//! A file holds any number of `[[scenario]]` tables. Common keys:
//!
//! | key | meaning |
//! |---|---|
//! | `id` | unique name, shown in tables and used for CSV file names |
//! | `arena` | `"D"` (deterministic Dovecot-style), `"F"` or `"X"` (seeded Fides-style engine) |
//! | `seeds` | default number of seeds (F/X; seeds are 0..N-1; D ignores it) |
//! | `models` | extra models to run by default besides `roost`, `dovecot`, `ids-only` |
//! | `[scenario.reference."<model>"]` | published reference numbers, metric = value |
//! | `[[scenario.target]]` | `metric`, `op` (`">="`, `"<="`), `value`: roost's acceptance target |
//!
//! Arena D keys (see trust-arena.md 4.1): `honest` (g, honest peers including the observer
//! P0, 1..=10), `adversary` (`none`, `praise`, `badmouth`, `badmouth-attack`), `plan`
//! (`two-part`, `staggered`, `victims`) and `victims` (k for `victims`).
//!
//! Arena F/X keys (trust-arena.md 4.2/4.3): `clicks` (200), `lie_since` (start of the
//! post-lie metric window and of the lies), `local` (the local IDS behaviour: `CC`, `UP`, `CI`,
//! `none`), `benign`/`malicious` (target counts, 1/1), `lie_frac` (share of targets in the
//! colluders' lie set, 1.0), `tail` (clicks in `acc_tail`, 50 or all if fewer), `drift_at` + `drift_count`
//! (that many benign targets become malicious at that click, honest peers follow),
//! `recommendations` (`true` = a recommendation round for every peer that joins, see below),
//! and `[[scenario.peers]]` groups built from these blocks:
//!
//! | group key | meaning |
//! |---|---|
//! | `kind` | `CC` honest, `UP` uncertain, `CI` confidently incorrect, `MP` flips after `lie_since` on lie-set targets, `ONOFF` like MP but lies only in even windows of `period` clicks, `PRAISE` says "benign" about lie-set targets, `BADMOUTH` says "malicious" about benign lie-set targets |
//! | `count` | how many identical peers |
//! | `pretrust` | operator trust (Fides' frozen 0.95 anchors) |
//! | `join` | click at which the group joins (sybil waves) |
//! | `period` | ONOFF window length |
//! | `requests`, `alerts` | requests / alerts each peer sends per click (trust farming) |
//! | `duplicates` | copies of each report the peer sends (vote stuffing) |
//! | `recommends` | how the peer answers recommendation requests: `honest`, `uncertain`, `collude`, `silent`; default `honest` for CC, `uncertain` for UP, `collude` for the rest |
//!
//! Recommendations (trust-arena.md 2.4, 3.2.1, X6): with `recommendations = true`, after the
//! peers of a click have joined, the model is asked, peer by peer, whom it wants
//! recommendations from about each of them ([`crate::trust::TrustModel::recommendation_recipients`]);
//! every asked peer that has joined answers according to its `recommends` style, and the
//! answers go back to the model in one batch. With j the subject, (μs, σs, μc, σc) its
//! behaviour's score and confidence parameters, sh_max = η_max = 100:
//! - `honest` (Fides' CC): cb = clip01(N(±μs, σs)) (minus for a malicious j: CI, MP, ONOFF,
//!   PRAISE, BADMOUTH), ib = 1 - clip01(N(μc, σc)), r = clip01(N(μs, σs)) (no sign: the Fides
//!   quirk), sh, η = clip(round(N(max, max/4)), 0, max);
//! - `uncertain` (UP): cb = clip01(N(0.5, 0.5)), ib = clip01(N(0.2, 1)), r = clip01(N(0.5, 0.5)),
//!   sh, η = clip(round(N(max/4, max/16)), 0, max);
//! - `collude`: sh = sh_max, η = η_max; about a malicious j cb = 1, ib = 0, r = 1 (praise),
//!   about anyone else cb = 0, ib = 1, r = 0 (badmouthing);
//! - `silent`: no answer.
//!
//! The draws use their own random stream, so report draws are the same with or without
//! recommendations. The engine also runs a second, fresh copy of the model on the same seed
//! with recommendations ignored, and reports `rec_shift`: the largest |trust with - trust
//! without| over the non-pre-trusted peers right after their join click's recommendation
//! rounds (before any report is weighed; a recommender's own trust may already have moved in
//! the rounds about the others who joined with it), and `rec_shift_10`: the same at the end of the tenth click after joining.

use serde::Deserialize;

use super::ArenaError;

/// A scenario file: a list of scenarios.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The scenarios, in file order.
    #[serde(default)]
    pub scenario: Vec<Scenario>,
}

/// Which engine runs a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum ArenaKind {
    /// Deterministic Dovecot-experiment arena.
    D,
    /// Seeded Fides-simulation arena.
    F,
    /// New adversaries on the Arena F engine.
    X,
}

impl ArenaKind {
    /// The letter used in tables and JSON.
    pub fn letter(self) -> &'static str {
        match self {
            ArenaKind::D => "D",
            ArenaKind::F => "F",
            ArenaKind::X => "X",
        }
    }
}

/// Adversaries of Arena D (the p2p4slips-experiments strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DAdversary {
    /// Everyone is honest.
    None,
    /// Says (1, 1) about everything.
    Praise,
    /// Says (-1, 1) about the benign device, (1, 1) about anything else.
    Badmouth,
    /// Badmouths and attacks the observer in every round after 4.
    BadmouthAttack,
}

/// Attack plans of Arena D's malicious device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DPlan {
    /// Attacks P1..P9 every round, and P0 from round 10.
    TwoPart,
    /// Attacks the peers whose index is within 1 of the round, and P0 from round 10.
    Staggered,
    /// Attacks P1..Pk every round, and P0 from round 10.
    Victims,
}

/// Peer behaviours of Arena F/X.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum Behaviour {
    /// Confident and correct.
    CC,
    /// Uncertain: noise around 0 with low confidence.
    UP,
    /// Confident and always wrong (honest but mistaken).
    CI,
    /// Correct until `lie_since`, then inverts on lie-set targets.
    MP,
    /// Like MP, but lies only in alternate windows of `period` clicks.
    ONOFF,
    /// Says "benign" about lie-set targets once lying.
    PRAISE,
    /// Says "malicious" about benign lie-set targets once lying.
    BADMOUTH,
}

impl Behaviour {
    /// The class name used in metric names (`trust_CC`).
    pub fn class(self) -> &'static str {
        match self {
            Behaviour::CC => "CC",
            Behaviour::UP => "UP",
            Behaviour::CI => "CI",
            Behaviour::MP => "MP",
            Behaviour::ONOFF => "ONOFF",
            Behaviour::PRAISE => "PRAISE",
            Behaviour::BADMOUTH => "BADMOUTH",
        }
    }

    /// The trust a perfect model would give this class (Fides' pbdp baseline).
    pub fn ideal_trust(self) -> f64 {
        match self {
            Behaviour::CC => 0.95,
            Behaviour::UP => 0.5,
            Behaviour::CI => 0.1,
            _ => 0.05,
        }
    }
}

/// How a peer answers recommendation requests (Arena F/X with `recommendations = true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecommendStyle {
    /// Fides' confident-correct recommender (with its unsigned reputation quirk).
    Honest,
    /// Fides' uncertain recommender: noise with small claimed histories.
    Uncertain,
    /// Maximal claims; praises malicious peers and badmouths everyone else.
    Collude,
    /// Never answers.
    Silent,
}

impl Behaviour {
    /// Whether Fides counts the class as malicious (shift -1: CI and the liars).
    pub fn is_malicious(self) -> bool {
        !matches!(self, Behaviour::CC | Behaviour::UP)
    }

    /// The recommendation style a class has when the scenario does not say.
    pub fn default_recommend(self) -> RecommendStyle {
        match self {
            Behaviour::CC => RecommendStyle::Honest,
            Behaviour::UP => RecommendStyle::Uncertain,
            _ => RecommendStyle::Collude,
        }
    }

    /// The class's (score mean magnitude, score sd, confidence mean, confidence sd), as in
    /// its report draws: what an honest recommender's view of it is drawn from.
    pub fn draw_params(self) -> (f64, f64, f64, f64) {
        match self {
            Behaviour::UP => (0.0, 0.8, 0.3, 0.2),
            Behaviour::CI => (0.8, 0.2, 0.8, 0.2),
            _ => (0.9, 0.1, 0.9, 0.1),
        }
    }
}

/// A group of identical peers in Arena F/X.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerGroup {
    /// Behaviour of every peer in the group.
    pub kind: Behaviour,
    /// Number of peers.
    #[serde(default = "one")]
    pub count: u32,
    /// Operator-configured trust, if the peers are pre-trusted.
    #[serde(default)]
    pub pretrust: Option<f64>,
    /// Click at which the peers join.
    #[serde(default)]
    pub join: u32,
    /// ONOFF window length in clicks.
    #[serde(default)]
    pub period: Option<u32>,
    /// Threat-intelligence requests each peer sends per click.
    #[serde(default)]
    pub requests: u32,
    /// Alerts each peer sends per click.
    #[serde(default)]
    pub alerts: u32,
    /// Copies of each report the peer sends.
    #[serde(default = "one")]
    pub duplicates: u32,
    /// How the peers answer recommendation requests (default by `kind`).
    #[serde(default)]
    pub recommends: Option<RecommendStyle>,
}

/// A comparison in a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Op {
    /// At least.
    #[serde(rename = ">=")]
    Ge,
    /// At most.
    #[serde(rename = "<=")]
    Le,
}

/// An acceptance target for roost's model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Metric name (e.g. `acc_tail`).
    pub metric: String,
    /// Comparison.
    pub op: Op,
    /// Threshold on the mean over seeds.
    pub value: f64,
}

impl Target {
    /// Whether a mean meets the target.
    pub fn met(&self, mean: f64) -> bool {
        match self.op {
            Op::Ge => mean >= self.value,
            Op::Le => mean <= self.value,
        }
    }
}

/// One scenario (fields of the other arena are ignored by each engine).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique name.
    pub id: String,
    /// Which engine.
    pub arena: ArenaKind,
    /// A sentence on what it tests.
    #[serde(default)]
    pub description: String,
    /// Default seed count (F/X).
    #[serde(default)]
    pub seeds: Option<u32>,
    /// Extra default models.
    #[serde(default)]
    pub models: Vec<String>,
    /// Reference numbers: model -> metric -> value.
    #[serde(default)]
    pub reference: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
    /// Acceptance targets for roost.
    #[serde(default)]
    pub target: Vec<Target>,
    /// The identifiable scenario this one mirrors (the same reports with the truth reversed),
    /// so the report can say why no model is right in both (`docs/trust-gaps.md`).
    #[serde(default)]
    pub mirror_of: Option<String>,
    // ---- Arena D
    /// Honest peers including the observer.
    #[serde(default)]
    pub honest: Option<u32>,
    /// Adversary strategy.
    #[serde(default)]
    pub adversary: Option<DAdversary>,
    /// Attack plan.
    #[serde(default)]
    pub plan: Option<DPlan>,
    /// Victim count for the `victims` plan.
    #[serde(default)]
    pub victims: Option<u32>,
    // ---- Arena F/X
    /// Number of clicks.
    #[serde(default = "default_clicks")]
    pub clicks: u32,
    /// First lying click (and start of the post-lie metrics).
    #[serde(default)]
    pub lie_since: u32,
    /// Local IDS behaviour.
    #[serde(default = "default_local")]
    pub local: String,
    /// Benign targets.
    #[serde(default = "one")]
    pub benign: u32,
    /// Malicious targets.
    #[serde(default = "one")]
    pub malicious: u32,
    /// Share of targets the colluders lie about.
    #[serde(default = "one_f")]
    pub lie_frac: f64,
    /// Clicks in the tail window (default 50, or all clicks if fewer).
    #[serde(default)]
    pub tail: Option<u32>,
    /// Click at which `drift_count` benign targets turn malicious.
    #[serde(default)]
    pub drift_at: Option<u32>,
    /// Number of drifting targets.
    #[serde(default = "one")]
    pub drift_count: u32,
    /// Peer population.
    #[serde(default)]
    pub peers: Vec<PeerGroup>,
    /// Whether joining peers go through a recommendation round (X6).
    #[serde(default)]
    pub recommendations: bool,
}

fn one() -> u32 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn default_clicks() -> u32 {
    200
}
fn default_local() -> String {
    "UP".to_owned()
}

/// Largest population accepted, so a typo cannot make the arena run for hours.
const MAX_PEERS: u32 = 1000;
/// Longest run accepted.
const MAX_CLICKS: u32 = 100_000;
/// Most targets accepted.
const MAX_TARGETS: u32 = 1000;

impl Scenario {
    /// Clicks in the `acc_tail` window.
    pub fn tail_len(&self) -> u32 {
        self.tail.unwrap_or(50.min(self.clicks))
    }

    /// Checks the values that the engines rely on, so a bad file gives an error, not a panic.
    pub fn validate(&self) -> Result<(), ArenaError> {
        let bad = |why: String| Err(ArenaError::Scenario(self.id.clone(), why));
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return bad("id must be non-empty letters, digits, '_', '-' or '.'".into());
        }
        match self.arena {
            ArenaKind::D => {
                let g = self.honest.unwrap_or(0);
                if !(1..=10).contains(&g) {
                    return bad("arena D needs honest in 1..=10".into());
                }
                if g < 10 && matches!(self.adversary, None | Some(DAdversary::None)) {
                    return bad("fewer than 10 honest peers needs an adversary".into());
                }
                if self.recommendations {
                    return bad("recommendations need arena F or X".into());
                }
                match self.plan {
                    None => return bad("arena D needs a plan".into()),
                    Some(DPlan::Victims) if !(1..=9).contains(&self.victims.unwrap_or(0)) => {
                        return bad("plan victims needs victims in 1..=9".into())
                    }
                    _ => {}
                }
            }
            ArenaKind::F | ArenaKind::X => {
                if self.clicks == 0 || self.clicks > MAX_CLICKS {
                    return bad(format!("clicks must be in 1..={MAX_CLICKS}"));
                }
                if self.lie_since >= self.clicks {
                    return bad("lie_since must be before the last click".into());
                }
                if self.tail_len() == 0 || self.tail_len() > self.clicks {
                    return bad("tail must be in 1..=clicks".into());
                }
                if self.benign + self.malicious == 0 || self.benign + self.malicious > MAX_TARGETS {
                    return bad(format!("needs 1..={MAX_TARGETS} targets"));
                }
                if !(0.0..=1.0).contains(&self.lie_frac) {
                    return bad("lie_frac must be in [0, 1]".into());
                }
                if !["CC", "UP", "CI", "none"].contains(&self.local.as_str()) {
                    return bad("local must be CC, UP, CI or none".into());
                }
                if self.drift_at.is_some() && self.drift_count > self.benign {
                    return bad("drift_count exceeds the benign targets".into());
                }
                let total: u32 = self.peers.iter().map(|g| g.count).sum();
                if total == 0 || total > MAX_PEERS {
                    return bad(format!("needs 1..={MAX_PEERS} peers"));
                }
                for g in &self.peers {
                    if let Some(p) = g.pretrust {
                        if !(0.0..=1.0).contains(&p) {
                            return bad("pretrust must be in [0, 1]".into());
                        }
                    }
                    if g.kind == Behaviour::ONOFF && g.period.unwrap_or(0) == 0 {
                        return bad("ONOFF peers need a period > 0".into());
                    }
                    if g.duplicates == 0 || g.duplicates > 1000 {
                        return bad("duplicates must be in 1..=1000".into());
                    }
                    if g.requests > 10_000 || g.alerts > 10_000 {
                        return bad("at most 10000 requests/alerts per click".into());
                    }
                }
            }
        }
        for t in &self.target {
            if !t.value.is_finite() {
                return bad("target value must be finite".into());
            }
        }
        Ok(())
    }
}

/// Parses a scenario file's text and validates every scenario in it.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Scenario>, ArenaError> {
    let file: ScenarioFile =
        toml::from_str(text).map_err(|e| ArenaError::Parse(origin.to_owned(), e.to_string()))?;
    for s in &file.scenario {
        s.validate()?;
    }
    Ok(file.scenario)
}
