//! Tests of the roost model: unit behaviour, properties, persistence, and a private Arena D
//! driver (trust-arena.md 4.1) used for tuning until the shared arena engine lands.

use super::*;
use crate::trust::model::{PeerKey, Report, TrustModel};

fn ip(i: u8) -> Ioc {
    Ioc::Ipv4([1, 1, 1, i])
}

/// Arena D (trust-arena.md 4.1), re-implemented for tuning: returns accuracy at t=0.3, w=0.5.
mod arena_d {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Copy, PartialEq, Debug)]
    pub enum Adv {
        None,
        Praise,
        Badmouth,
        AttackLiar,
    }
    #[derive(Clone, Copy, Debug)]
    pub enum Plan {
        TwoPart,
        Staggered,
        Victims(usize),
    }

    const M: usize = 10;
    const BD: usize = 11;

    fn upd(last: (f64, f64), attack: bool) -> (f64, f64) {
        let (s, c) = last;
        let (s2, c2) = if attack {
            ((s - 0.4).min(-0.4), (c + 0.6).max(0.6))
        } else {
            (s + 0.3, if s < 0.0 { 0.0 } else { c + 0.1 })
        };
        (s2.clamp(-1.0, 1.0), c2.clamp(0.0, 1.0))
    }

    pub fn run(model: &mut dyn TrustModel, g: usize, adv: Adv, plan: Plan) -> f64 {
        let mut ids: BTreeMap<(usize, usize), (f64, f64)> = BTreeMap::new();
        for k in 1..10u32 {
            model.peer_joined(PeerKey::from_index(k), None, 0);
            model.peer_address(PeerKey::from_index(k), &ip(k as u8), 0);
            model.peer_reliability(PeerKey::from_index(k), 1.0, 0);
        }
        let mut ok = 0;
        for r in 0..20usize {
            let victims: Vec<usize> = match plan {
                Plan::TwoPart => (1..10).collect(),
                Plan::Staggered => (1..10)
                    .filter(|&p| (p as i64 - r as i64).abs() <= 1)
                    .collect(),
                Plan::Victims(k) => (1..=k).collect(),
            };
            for dev in 0..12usize {
                for v in 0..10usize {
                    if v == dev {
                        continue;
                    }
                    let attack = if dev == M {
                        victims.contains(&v) || (v == 0 && r >= 10)
                    } else if dev < 10 && dev >= g && adv == Adv::AttackLiar {
                        v == 0 && r > 4
                    } else {
                        false
                    };
                    let last = ids.get(&(v, dev)).copied().unwrap_or((0.0, 0.0));
                    ids.insert((v, dev), upd(last, attack));
                }
            }
            for k in 1..10usize {
                let (s, c) = ids[&(0, k)];
                model.local_observation(&ip(k as u8), s, c, r as u64);
            }
            for t in [M, BD] {
                let mut reports = Vec::new();
                for k in 1..10usize {
                    let (s, c) = if k < g {
                        ids[&(k, t)]
                    } else {
                        match adv {
                            Adv::None => ids[&(k, t)],
                            Adv::Praise => (1.0, 1.0),
                            Adv::Badmouth | Adv::AttackLiar => {
                                if t == BD {
                                    (-1.0, 1.0)
                                } else {
                                    (1.0, 1.0)
                                }
                            }
                        }
                    };
                    reports.push(Report {
                        peer: PeerKey::from_index(k as u32),
                        s,
                        c,
                    });
                }
                let local = ids[&(0, t)];
                let (ns, nc) = model.opinion(&ip(t as u8), &reports, Some(local), r as u64);
                let pred = 0.5 * (ns * nc) + 0.5 * (local.0 * local.1);
                let flagged = pred < 0.3;
                if std::env::var("ROOST_DTRACE").is_ok() {
                    let tr: Vec<String> = (1..10u32)
                        .map(|k| format!("{:.2}", model.trust(PeerKey::from_index(k))))
                        .collect();
                    println!(
                        "r{r} t{t} local=({:.2},{:.2}) S={ns:.3} C={nc:.3} SC={:.3} ok={} trust={}",
                        local.0,
                        local.1,
                        ns * nc,
                        flagged == (t == M),
                        tr.join(",")
                    );
                }
                if flagged == (t == M) {
                    ok += 1;
                }
            }
        }
        ok as f64 / 40.0
    }

    pub fn scenarios() -> Vec<(String, usize, Adv, Plan)> {
        let mut v = vec![
            ("2A0".to_string(), 10, Adv::None, Plan::TwoPart),
            ("2B0".to_string(), 10, Adv::None, Plan::Staggered),
        ];
        for k in 1..10 {
            v.push((format!("2C{k}"), 10, Adv::None, Plan::Victims(k)));
        }
        for g in 1..10 {
            v.push((format!("3A{g}"), g, Adv::Praise, Plan::TwoPart));
            v.push((format!("3B{g}"), g, Adv::Praise, Plan::Staggered));
            v.push((format!("4A{g}"), g, Adv::Badmouth, Plan::TwoPart));
            v.push((format!("5A{g}"), g, Adv::AttackLiar, Plan::TwoPart));
        }
        for g in 3..9 {
            v.push((format!("3C{g}{g}"), g, Adv::Praise, Plan::Victims(g)));
        }
        v
    }

    pub fn liar_majority(name: &str) -> bool {
        let fam = &name[..2];
        let g: usize = name[2..3].parse().unwrap_or(9);
        matches!(fam, "3A" | "3B" | "4A" | "5A") && g <= 5
    }
}

#[test]
fn arena_d_private_driver() {
    let mut all = Vec::new();
    let mut lm = Vec::new();
    let mut line = String::new();
    let only = std::env::var("ROOST_DTRACE").unwrap_or_default();
    for (name, g, adv, plan) in arena_d::scenarios() {
        if !only.is_empty() && name != only {
            continue;
        }
        let mut m = RoostModel::with_params(tuned_params());
        let acc = arena_d::run(&mut m, g, adv, plan);
        line.push_str(&format!("{name}={acc:.3} "));
        all.push(acc);
        if arena_d::liar_majority(&name) {
            lm.push(acc);
        }
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let min = all.iter().copied().fold(1.0, f64::min);
    let lmm = lm.iter().sum::<f64>() / lm.len() as f64;
    println!("{line}");
    println!(
        "ARENA D roost: mean {mean:.3} min {min:.3} liar-majority {lmm:.3} (n={})",
        lm.len()
    );
}

/// Parameters for tuning runs: defaults patched by `ROOST_TUNE="name=value,..."`.
fn tuned_params() -> RoostParams {
    let mut v = serde_json::to_value(RoostParams::default()).unwrap_or_default();
    if let Ok(spec) = std::env::var("ROOST_TUNE") {
        for kv in spec.split(',').filter(|s| !s.is_empty()) {
            if let Some((k, val)) = kv.split_once('=') {
                if let (Some(obj), Ok(num)) = (v.as_object_mut(), val.parse::<f64>()) {
                    obj.insert(k.trim().to_owned(), serde_json::json!(num));
                }
            }
        }
    }
    serde_json::from_value(v).unwrap_or_default()
}

/// Tuning harness over the shared arena engines: `ROOST_SEEDS=10 ROOST_ONLY=F cargo test
/// --lib roost::tests::arena_all -- --ignored --nocapture`.
#[test]
#[ignore]
fn arena_all() {
    use crate::arena::{arena_d, arena_f, builtin_scenarios, ArenaKind};
    let seeds: u64 = std::env::var("ROOST_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let only = std::env::var("ROOST_ONLY").unwrap_or_default();
    let params = tuned_params();
    let mut d_all = Vec::new();
    let mut d_lm = Vec::new();
    let mut misses = 0;
    for sc in builtin_scenarios().unwrap_or_default() {
        if !sc.id.contains(only.as_str()) {
            continue;
        }
        let mut sums: std::collections::BTreeMap<String, f64> = Default::default();
        let n = if sc.arena == ArenaKind::D { 1 } else { seeds };
        for seed in 0..n {
            let mut m = RoostModel::with_params(params.clone());
            let metrics = if sc.arena == ArenaKind::D {
                arena_d::run(&sc, &mut m).map(|r| r.0).unwrap_or_default()
            } else {
                let r = arena_f::run(&sc, &mut m, seed).unwrap_or_default();
                if std::env::var("ROOST_TRACE")
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    == Some(seed)
                {
                    for (name, vals) in &r.series {
                        let pick: Vec<String> = [
                            0usize, 2, 5, 10, 25, 49, 50, 51, 52, 55, 60, 70, 90, 100, 101, 120,
                            150, 199,
                        ]
                        .iter()
                        .filter_map(|&k| vals.get(k).map(|v| format!("{k}:{v:.2}")))
                        .collect();
                        println!("  {name}: {}", pick.join(" "));
                    }
                }
                if std::env::var("ROOST_SEEDLOG").is_ok() {
                    println!(
                        "  seed {seed}: acc_tail {:.3} wrong {:.3}",
                        r.metrics.get("acc_tail").copied().unwrap_or(0.0),
                        r.metrics.get("wrong_mass").copied().unwrap_or(0.0)
                    );
                }
                r.metrics
            };
            for (k, v) in metrics {
                *sums.entry(k).or_default() += v / n as f64;
            }
        }
        let mut line = format!("{:<40}", sc.id);
        for k in [
            "accuracy",
            "tdp",
            "acc_post",
            "acc_tail",
            "wrong_mass",
            "pbdp",
        ] {
            if let Some(v) = sums.get(k) {
                line.push_str(&format!(" {k}={v:.3}"));
            }
        }
        for t in &sc.target {
            if let Some(v) = sums.get(&t.metric) {
                if !t.met(*v) {
                    misses += 1;
                    line.push_str(&format!("  MISS {}{:?}{}", t.metric, t.op, t.value));
                }
            }
        }
        if sc.arena == ArenaKind::D {
            let acc = sums.get("accuracy").copied().unwrap_or(0.0);
            d_all.push(acc);
            let g = sc.honest.unwrap_or(10);
            let fam = &sc.id[..2.min(sc.id.len())];
            if matches!(fam, "3A" | "3B" | "4A" | "5A") && g <= 5 {
                d_lm.push(acc);
            }
        }
        println!("{line}");
    }
    if !d_all.is_empty() {
        let mean = d_all.iter().sum::<f64>() / d_all.len() as f64;
        let min = d_all.iter().copied().fold(1.0, f64::min);
        let lm = d_lm.iter().sum::<f64>() / d_lm.len().max(1) as f64;
        println!(
            "ARENA D: mean {mean:.3} min {min:.3} liar-majority {lm:.3} (n={})",
            d_all.len()
        );
    }
    println!("targets missed: {misses}");
}
