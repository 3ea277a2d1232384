//! Arena D: the deterministic local-network scenarios of the Dovecot experiments
//! (trust-arena.md 4.1), 10 peers, a malicious and a benign device, 20 rounds, 40 decisions.
//!
//! The IDS state machine and the decision rule follow the reference harness operation by
//! operation, so the Dovecot model reproduces the published accuracies exactly.

use std::collections::BTreeMap;

use crate::ioc::Ioc;
use crate::trust::{PeerKey, Report, TrustModel};

use super::scenario::{DAdversary, DPlan, Scenario};
use super::ArenaError;

const PEERS: usize = 10;
const MAL: usize = 10;
const BEN: usize = 11;
const DEVICES: usize = 12;
const ROUNDS: u32 = 20;
/// Decision threshold of the published experiments.
const THRESHOLD: f64 = 0.3;

#[derive(Clone, Copy, PartialEq)]
enum Action {
    Benign,
    GeneralAttack,
}

/// The simulated IDS's update of victim's opinion of an actor (`sampler.py`).
fn ids_update(last: (f64, f64), action: Action) -> (f64, f64) {
    let (s, c) = last;
    let (s2, c2) = match action {
        Action::GeneralAttack => (f64::min(s - 0.4, -0.4), f64::max(c + 0.6, 0.6)),
        Action::Benign => (s + 0.3, if s < 0.0 { 0.0 } else { c + 0.1 }),
    };
    (s2.clamp(-1.0, 1.0), c2.clamp(0.0, 1.0))
}

/// The address of device `i` (peers 0..9, then the malicious and the benign device).
fn address(i: usize) -> Ioc {
    Ioc::Ipv4([1, 1, 1, i as u8])
}

fn key(i: usize) -> PeerKey {
    PeerKey::from_index(i as u32)
}

struct Setup {
    honest: usize,
    adversary: DAdversary,
    plan: DPlan,
    victims: usize,
}

impl Setup {
    fn from(s: &Scenario) -> Result<Setup, ArenaError> {
        let err = |w: &str| ArenaError::Scenario(s.id.clone(), w.to_owned());
        Ok(Setup {
            honest: s.honest.ok_or_else(|| err("missing honest"))? as usize,
            adversary: s.adversary.unwrap_or(DAdversary::None),
            plan: s.plan.ok_or_else(|| err("missing plan"))?,
            victims: s.victims.unwrap_or(0) as usize,
        })
    }

    fn is_victim_of_mal(&self, peer: usize, round: u32) -> bool {
        let base = match self.plan {
            DPlan::TwoPart => (1..PEERS).contains(&peer),
            DPlan::Staggered => {
                (1..PEERS).contains(&peer) && (peer as i64 - round as i64).abs() <= 1
            }
            DPlan::Victims => (1..=self.victims).contains(&peer),
        };
        base || (peer == 0 && round >= ROUNDS / 2)
    }

    fn action(&self, actor: usize, victim: usize, round: u32) -> Action {
        let attack = if actor == MAL {
            self.is_victim_of_mal(victim, round)
        } else {
            actor < PEERS
                && actor >= self.honest
                && self.adversary == DAdversary::BadmouthAttack
                && victim == 0
                && round > 4
        };
        if attack {
            Action::GeneralAttack
        } else {
            Action::Benign
        }
    }

    /// What peer `rep` answers about device `target`, given its IDS view.
    fn answer(&self, rep: usize, target: usize, view: Option<(f64, f64)>) -> Option<(f64, f64)> {
        if rep < self.honest {
            return view;
        }
        Some(match self.adversary {
            DAdversary::None => return view,
            DAdversary::Praise => (1.0, 1.0),
            DAdversary::Badmouth | DAdversary::BadmouthAttack => {
                if target == BEN {
                    (-1.0, 1.0)
                } else {
                    (1.0, 1.0)
                }
            }
        })
    }
}

// The IDS state is a victim x actor matrix; indices name devices, so range loops read best.
#[allow(clippy::needless_range_loop)]
/// Runs one Arena D scenario with a model; returns accuracy at w = 0.5 (`accuracy`) and at
/// w = 0.4 / 0.6, plus per-round correctness as a series for the CSV.
pub fn run(
    scenario: &Scenario,
    model: &mut dyn TrustModel,
) -> Result<(BTreeMap<String, f64>, Vec<f64>), ArenaError> {
    let setup = Setup::from(scenario)?;
    let mut ids: [[Option<(f64, f64)>; DEVICES]; DEVICES] = [[None; DEVICES]; DEVICES];
    for p in 1..PEERS {
        model.peer_joined(key(p), None, 0);
        model.peer_address(key(p), &address(p), 0);
    }
    let weights = [0.5, 0.4, 0.6];
    let mut correct = [0u32; 3];
    let mut per_round = Vec::with_capacity(ROUNDS as usize);
    let mut total = 0u32;
    for round in 0..ROUNDS {
        let now = u64::from(round);
        for actor in 0..DEVICES {
            for victim in 0..PEERS {
                if victim == actor {
                    continue;
                }
                let a = setup.action(actor, victim, round);
                ids[victim][actor] = Some(ids_update(ids[victim][actor].unwrap_or((0.0, 0.0)), a));
            }
        }
        // Round start: reliability 1 for everyone, and the observer's IDS view of reporters.
        for p in 1..PEERS {
            model.peer_reliability(key(p), 1.0, now);
            if let Some((s, c)) = ids[0][p] {
                model.local_observation(&address(p), s, c, now);
            }
        }
        let mut round_ok = 0u32;
        for target in [MAL, BEN] {
            let reports: Vec<Report> = (1..PEERS)
                .filter_map(|rep| {
                    setup
                        .answer(rep, target, ids[rep][target])
                        .map(|(s, c)| Report {
                            peer: key(rep),
                            s,
                            c,
                        })
                })
                .collect();
            let local = ids[0][target];
            if let Some((s, c)) = local {
                model.local_observation(&address(target), s, c, now);
            }
            let (ns, nc) = model.opinion(&address(target), &reports, local, now);
            let (s, c) = local.unwrap_or((0.0, 0.0));
            for (i, w) in weights.iter().enumerate() {
                let pred = ((1.0 - w) * (ns * nc)) + (w * (s * c));
                let flagged = pred < THRESHOLD;
                if flagged == (target == MAL) {
                    correct[i] += 1;
                    if i == 0 {
                        round_ok += 1;
                    }
                }
            }
            total += 1;
        }
        per_round.push(f64::from(round_ok) / 2.0);
    }
    let mut m = BTreeMap::new();
    let t = f64::from(total);
    m.insert("accuracy".to_owned(), f64::from(correct[0]) / t);
    m.insert("accuracy_w04".to_owned(), f64::from(correct[1]) / t);
    m.insert("accuracy_w06".to_owned(), f64::from(correct[2]) / t);
    Ok((m, per_round))
}
