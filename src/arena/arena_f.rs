//! Arenas F and X: the seeded global-network engine of the Fides simulations
//! (trust-arena.md 4.2), extended with the adversary building blocks of Arena X (4.3).
//!
//! Draw order is fixed for determinism: the target order is shuffled, then the lie set is
//! drawn; then per click, per target in that order, per joined peer in index order, a score
//! draw then a confidence draw, then the local IDS draws. Normals come from Box-Muller.
//! Recommendation answers (scenarios with `recommendations = true`) are drawn from a second
//! stream of the same seed, so they never shift the report draws.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::ioc::Ioc;
use crate::trust::{PeerKey, Recommendation, Report, TrustModel};

use super::scenario::{Behaviour, RecommendStyle, Scenario};
use super::stats::normal;
use super::ArenaError;

/// Metrics of one seed, plus per-click series for the CSV output.
#[derive(Debug, Clone, Default)]
pub struct SeedRun {
    /// Metric name -> value (NaN = not applicable, e.g. recovery that never happened).
    pub metrics: BTreeMap<String, f64>,
    /// Series name -> one value per click.
    pub series: BTreeMap<String, Vec<f64>>,
}

struct Peer {
    kind: Behaviour,
    key: PeerKey,
    ip: Ioc,
    pretrust: Option<f64>,
    join: u32,
    period: u32,
    requests: u32,
    alerts: u32,
    duplicates: u32,
    recommends: RecommendStyle,
}

/// Claimed history size and recommender count maxima (Fides' sh_max and η_max defaults).
const REC_MAX: f64 = 100.0;

/// Clicks after joining at which `rec_shift_10` is measured.
const REC_LATE: u32 = 10;

/// A claimed count: clip(round(N(mean, sd)), 0, REC_MAX).
fn claimed(rng: &mut ChaCha8Rng, mean: f64, sd: f64) -> u32 {
    normal(rng, mean, sd).round().clamp(0.0, REC_MAX) as u32
}

/// What `from` (answering in `style`) recommends about a subject of class `subject`.
fn recommend(
    rng: &mut ChaCha8Rng,
    from: PeerKey,
    style: RecommendStyle,
    subject: Behaviour,
) -> Option<Recommendation> {
    let clip01 = |x: f64| x.clamp(0.0, 1.0);
    let rec = match style {
        RecommendStyle::Silent => return None,
        RecommendStyle::Honest => {
            let (ms, ss, mc, sc) = subject.draw_params();
            let shift = if subject.is_malicious() { -1.0 } else { 1.0 };
            let cb = clip01(normal(rng, shift * ms, ss));
            let ib = 1.0 - clip01(normal(rng, mc, sc));
            let sh = claimed(rng, REC_MAX, REC_MAX / 4.0);
            let r = clip01(normal(rng, ms, ss));
            let eta = claimed(rng, REC_MAX, REC_MAX / 4.0);
            Recommendation {
                from,
                cb,
                ib,
                sh,
                r,
                eta,
            }
        }
        RecommendStyle::Uncertain => {
            let cb = clip01(normal(rng, 0.5, 0.5));
            let ib = clip01(normal(rng, 0.2, 1.0));
            let sh = claimed(rng, REC_MAX / 4.0, REC_MAX / 16.0);
            let r = clip01(normal(rng, 0.5, 0.5));
            let eta = claimed(rng, REC_MAX / 4.0, REC_MAX / 16.0);
            Recommendation {
                from,
                cb,
                ib,
                sh,
                r,
                eta,
            }
        }
        RecommendStyle::Collude => {
            let praise = subject.is_malicious();
            let v = if praise { 1.0 } else { 0.0 };
            Recommendation {
                from,
                cb: v,
                ib: 1.0 - v,
                sh: REC_MAX as u32,
                r: v,
                eta: REC_MAX as u32,
            }
        }
    };
    Some(rec)
}

/// One peer's trust right after its join click's recommendation rounds (before any report is
/// weighed) and at the end of the `REC_LATE`-th click after joining (`None` for pre-trusted
/// peers and unreached clicks).
type Probe = (Option<f64>, Option<f64>);

/// Per peer, in population order.
type RecProbes = Vec<Probe>;

/// The address a target lives at, so models can key their state by IoC.
pub fn target_ioc(i: usize) -> Ioc {
    Ioc::Ipv4([10, 0, (i >> 8) as u8, (i & 0xff) as u8])
}

fn peer_ioc(i: usize) -> Ioc {
    Ioc::Ipv4([10, 1, (i >> 8) as u8, (i & 0xff) as u8])
}

fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    x.clamp(lo, hi)
}

/// Draws (score, confidence) around a score mean with a behaviour's spreads.
fn draw(rng: &mut ChaCha8Rng, s_mean: f64, s_sd: f64, c_mean: f64, c_sd: f64) -> (f64, f64) {
    let s = normal(rng, s_mean, s_sd);
    let c = normal(rng, c_mean, c_sd);
    (clip(s, -1.0, 1.0), clip(c, 0.0, 1.0))
}

/// Runs one scenario with one model and one seed.
pub fn run(
    scenario: &Scenario,
    model: &mut dyn TrustModel,
    seed: u64,
) -> Result<SeedRun, ArenaError> {
    run_paired(scenario, model, None, seed)
}

/// Runs one scenario with one model and one seed; for a scenario with recommendations,
/// also runs `shadow` (a fresh copy of the same model) on the same seed with recommendations
/// ignored and adds `rec_shift` and `rec_shift_10`: how far recommendations moved the
/// peers' trust (largest |difference| over non-pre-trusted peers, right after their join
/// click's recommendation rounds and `REC_LATE` clicks later).
pub fn run_paired(
    scenario: &Scenario,
    model: &mut dyn TrustModel,
    shadow: Option<&mut dyn TrustModel>,
    seed: u64,
) -> Result<SeedRun, ArenaError> {
    let (mut out, with) = simulate(scenario, model, seed, scenario.recommendations)?;
    if let (true, Some(shadow)) = (scenario.recommendations, shadow) {
        let (_, without) = simulate(scenario, shadow, seed, false)?;
        let shift = |pick: fn(&Probe) -> Option<f64>| -> f64 {
            with.iter()
                .zip(&without)
                .filter_map(|(a, b)| Some((pick(a)? - pick(b)?).abs()))
                .fold(0.0, f64::max)
        };
        out.metrics.insert("rec_shift".to_owned(), shift(|p| p.0));
        out.metrics
            .insert("rec_shift_10".to_owned(), shift(|p| p.1));
    }
    Ok(out)
}

/// The engine proper: one seeded run, with or without recommendation rounds.
fn simulate(
    scenario: &Scenario,
    model: &mut dyn TrustModel,
    seed: u64,
    recommendations: bool,
) -> Result<(SeedRun, RecProbes), ArenaError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rec_rng = ChaCha8Rng::seed_from_u64(seed);
    rec_rng.set_stream(1);
    let n_targets = (scenario.benign + scenario.malicious) as usize;
    // Benign targets first, then malicious; the processing order is shuffled by the seed.
    let base_gt: Vec<f64> = (0..n_targets)
        .map(|i| {
            if i < scenario.benign as usize {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    let drifting: Vec<bool> = (0..n_targets)
        .map(|i| scenario.drift_at.is_some() && i < scenario.drift_count as usize)
        .collect();
    let mut order: Vec<usize> = (0..n_targets).collect();
    order.shuffle(&mut rng);
    let mut lie_pick: Vec<usize> = (0..n_targets).collect();
    lie_pick.shuffle(&mut rng);
    let n_lie = (scenario.lie_frac * n_targets as f64 + 1e-9).floor() as usize;
    let mut lie_set = vec![false; n_targets];
    for &t in lie_pick.iter().take(n_lie) {
        lie_set[t] = true;
    }
    let mut peers = Vec::new();
    for g in &scenario.peers {
        for _ in 0..g.count {
            let i = peers.len();
            peers.push(Peer {
                kind: g.kind,
                key: PeerKey::from_index(i as u32),
                ip: peer_ioc(i),
                pretrust: g.pretrust,
                join: g.join,
                period: g.period.unwrap_or(1).max(1),
                requests: g.requests,
                alerts: g.alerts,
                duplicates: g.duplicates,
                recommends: g.recommends.unwrap_or_else(|| g.kind.default_recommend()),
            });
        }
    }
    let mut classes: Vec<Behaviour> = peers.iter().map(|p| p.kind).collect();
    classes.sort();
    classes.dedup();

    let clicks = scenario.clicks as usize;
    let lie_since = scenario.lie_since;
    let mut score = vec![vec![0.0; n_targets]; clicks];
    let mut conf = vec![vec![0.0; n_targets]; clicks];
    let mut truth = vec![vec![0.0; n_targets]; clicks];
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut reports: Vec<Report> = Vec::new();
    let by_key: BTreeMap<PeerKey, usize> =
        peers.iter().enumerate().map(|(i, p)| (p.key, i)).collect();
    let mut probes: RecProbes = vec![(None, None); peers.len()];

    for k in 0..scenario.clicks {
        let now = u64::from(k);
        for p in peers.iter().filter(|p| p.join == k) {
            model.peer_joined(p.key, p.pretrust, now);
            model.peer_address(p.key, &p.ip, now);
            model.peer_reliability(p.key, 1.0, now);
            // The observer's IDS has seen the peer and has nothing against it.
            model.local_observation(&p.ip, 0.0, 0.0, now);
        }
        // Recommendation round for each peer that just joined, in index order.
        for (i, p) in peers.iter().enumerate().filter(|(_, p)| p.join == k) {
            if recommendations {
                let answers: Vec<Recommendation> = model
                    .recommendation_recipients(p.key, now)
                    .into_iter()
                    .filter_map(|r| by_key.get(&r).copied())
                    .filter(|&j| j != i && peers[j].join <= k)
                    .filter_map(|j| {
                        recommend(&mut rec_rng, peers[j].key, peers[j].recommends, p.kind)
                    })
                    .collect();
                if !answers.is_empty() {
                    model.recommendations_received(p.key, &answers, now);
                }
            }
        }
        for (i, p) in peers.iter().enumerate().filter(|(_, p)| p.join == k) {
            if p.pretrust.is_none() {
                probes[i].0 = Some(model.trust(p.key));
            }
        }
        let gt_now = |t: usize| -> f64 {
            match scenario.drift_at {
                Some(at) if drifting[t] && k >= at => -base_gt[t],
                _ => base_gt[t],
            }
        };
        for p in peers.iter().filter(|p| p.join <= k) {
            for _ in 0..p.requests {
                model.request_received(p.key, now);
            }
            if p.alerts > 0 {
                let t = order[0];
                let lie = -0.9 * gt_now(t);
                for _ in 0..p.alerts {
                    model.alert_received(p.key, &target_ioc(t), lie, 0.9, now);
                }
            }
        }
        for &t in &order {
            let gt = gt_now(t);
            reports.clear();
            for p in peers.iter().filter(|p| p.join <= k) {
                let lying = k >= lie_since
                    && lie_set[t]
                    && (p.kind != Behaviour::ONOFF || ((k - lie_since) / p.period) % 2 == 0);
                let (s, c) = match p.kind {
                    Behaviour::CC => draw(&mut rng, 0.9 * gt, 0.1, 0.9, 0.1),
                    Behaviour::UP => draw(&mut rng, 0.0, 0.8, 0.3, 0.2),
                    Behaviour::CI => draw(&mut rng, -0.8 * gt, 0.2, 0.8, 0.2),
                    Behaviour::MP | Behaviour::ONOFF => {
                        let m = if lying { -0.9 * gt } else { 0.9 * gt };
                        draw(&mut rng, m, 0.1, 0.9, 0.1)
                    }
                    Behaviour::PRAISE => {
                        let m = if lying { 0.9 } else { 0.9 * gt };
                        draw(&mut rng, m, 0.1, 0.9, 0.1)
                    }
                    Behaviour::BADMOUTH => {
                        let m = if lying && gt > 0.0 { -0.9 } else { 0.9 * gt };
                        draw(&mut rng, m, 0.1, 0.9, 0.1)
                    }
                };
                for _ in 0..p.duplicates {
                    reports.push(Report { peer: p.key, s, c });
                }
            }
            let local = match scenario.local.as_str() {
                "CC" => Some(draw(&mut rng, 0.9 * gt, 0.1, 0.9, 0.1)),
                "UP" => Some(draw(&mut rng, 0.0, 0.8, 0.3, 0.2)),
                "CI" => Some(draw(&mut rng, -0.8 * gt, 0.2, 0.8, 0.2)),
                _ => None,
            };
            let (s, c) = model.opinion(&target_ioc(t), &reports, local, now);
            let ki = k as usize;
            score[ki][t] = s;
            conf[ki][t] = c;
            truth[ki][t] = gt;
        }
        for &class in &classes {
            let ts: Vec<f64> = peers
                .iter()
                .filter(|p| p.kind == class && p.join <= k)
                .map(|p| model.trust(p.key))
                .collect();
            let v = if ts.is_empty() {
                f64::NAN
            } else {
                ts.iter().sum::<f64>() / ts.len() as f64
            };
            series
                .entry(format!("trust_{}", class.class()))
                .or_default()
                .push(v);
        }
        for (i, p) in peers.iter().enumerate() {
            let late = (p.join + REC_LATE).min(scenario.clicks - 1);
            if p.pretrust.is_none() && p.join <= k && k == late {
                probes[i].1 = Some(model.trust(p.key));
            }
        }
        let ki = k as usize;
        let ok = (0..n_targets)
            .filter(|&t| score[ki][t] * truth[ki][t] > 0.0)
            .count();
        series
            .entry("acc".to_owned())
            .or_default()
            .push(ok as f64 / n_targets as f64);
    }

    let mut m = BTreeMap::new();
    let last = clicks - 1;
    let nt = n_targets as f64;
    let tdp = (0..n_targets)
        .map(|t| (truth[last][t] - score[last][t]).abs())
        .sum::<f64>()
        / nt;
    let mse = (0..n_targets)
        .map(|t| (truth[last][t] - score[last][t]).powi(2))
        .sum::<f64>()
        / nt;
    let window_acc = |from: usize| -> f64 {
        let mut ok = 0usize;
        let mut n = 0usize;
        for k in from..clicks {
            for t in 0..n_targets {
                n += 1;
                if score[k][t] * truth[k][t] > 0.0 {
                    ok += 1;
                }
            }
        }
        ok as f64 / n.max(1) as f64
    };
    let post = lie_since as usize;
    let tail_from = clicks - scenario.tail_len() as usize;
    let mut wrong = 0.0;
    for k in post..clicks {
        for t in 0..n_targets {
            wrong += f64::max(0.0, -truth[k][t] * score[k][t]) * conf[k][t];
        }
    }
    let wrong_mass = wrong / ((clicks - post) * n_targets) as f64;
    let mut last_wrong: Option<usize> = None;
    for k in post..clicks {
        if (0..n_targets).any(|t| score[k][t] * truth[k][t] <= 0.0) {
            last_wrong = Some(k);
        }
    }
    let (recovered, recovery) = match last_wrong {
        Some(k) if k == last => (0.0, f64::NAN),
        Some(k) => (1.0, (k + 1 - post) as f64),
        None => (1.0, 0.0),
    };
    let joined: Vec<&Peer> = peers.iter().filter(|p| p.join <= last as u32).collect();
    let pbdp = joined
        .iter()
        .map(|p| (p.kind.ideal_trust() - model.trust(p.key)).abs())
        .sum::<f64>()
        / joined.len().max(1) as f64;
    m.insert("tdp".to_owned(), tdp);
    m.insert("mse".to_owned(), mse);
    m.insert("acc_post".to_owned(), window_acc(post));
    m.insert("acc_tail".to_owned(), window_acc(tail_from));
    m.insert("wrong_mass".to_owned(), wrong_mass);
    m.insert("pbdp".to_owned(), pbdp);
    m.insert("recovered".to_owned(), recovered);
    m.insert("recovery".to_owned(), recovery);
    m.insert(
        "final_c".to_owned(),
        (0..n_targets).map(|t| conf[last][t]).sum::<f64>() / nt,
    );
    m.insert("ends_wrong".to_owned(), if tdp >= 1.0 { 1.0 } else { 0.0 });
    // Liars' final trust relative to the honest CCs' (X1/X2/X5: must fall below 0.5).
    let mean_trust = |pred: &dyn Fn(Behaviour) -> bool| -> f64 {
        let v: Vec<f64> = joined
            .iter()
            .filter(|p| pred(p.kind))
            .map(|p| model.trust(p.key))
            .collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let cc = mean_trust(&|k| k == Behaviour::CC);
    let adv = mean_trust(&|k| {
        matches!(
            k,
            Behaviour::MP | Behaviour::ONOFF | Behaviour::PRAISE | Behaviour::BADMOUTH
        )
    });
    m.insert(
        "adv_trust_ratio".to_owned(),
        if cc > 0.0 { adv / cc } else { f64::NAN },
    );
    for (name, s) in &series {
        if name.starts_with("trust_") {
            m.insert(name.clone(), s.last().copied().unwrap_or(f64::NAN));
        }
    }
    Ok((SeedRun { metrics: m, series }, probes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::scenario;

    /// Says "benign, certain" about everything and trusts everyone fully.
    struct AlwaysBenign;

    impl TrustModel for AlwaysBenign {
        fn name(&self) -> String {
            "always-benign".into()
        }
        fn peer_joined(&mut self, _: PeerKey, _: Option<f64>, _: u64) {}
        fn local_observation(&mut self, _: &Ioc, _: f64, _: f64, _: u64) {}
        fn peer_address(&mut self, _: PeerKey, _: &Ioc, _: u64) {}
        fn opinion(&mut self, _: &Ioc, _: &[Report], _: Option<(f64, f64)>, _: u64) -> (f64, f64) {
            (1.0, 1.0)
        }
        fn trust(&self, _: PeerKey) -> f64 {
            1.0
        }
    }

    fn one(text: &str) -> Scenario {
        scenario::parse(text, "test").unwrap().remove(0)
    }

    #[test]
    fn metrics_of_a_constant_answer_are_exact() {
        let s = one(
            "[[scenario]]\nid = \"c\"\narena = \"F\"\nclicks = 40\nlie_since = 10\ntail = 5\n\
             [[scenario.peers]]\nkind = \"CC\"\ncount = 2\n[[scenario.peers]]\nkind = \"MP\"\n",
        );
        let r = run(&s, &mut AlwaysBenign, 3).unwrap().metrics;
        assert_eq!(r["tdp"], 1.0); // (|1 - 1| + |-1 - 1|) / 2
        assert_eq!(r["mse"], 2.0);
        assert_eq!(r["acc_post"], 0.5);
        assert_eq!(r["acc_tail"], 0.5);
        assert_eq!(r["wrong_mass"], 0.5);
        assert_eq!(r["recovered"], 0.0);
        assert!(r["recovery"].is_nan());
        assert_eq!(r["ends_wrong"], 1.0);
        // pbdp: CC |0.95 - 1| twice, MP |0.05 - 1| once.
        assert!((r["pbdp"] - (0.05 + 0.05 + 0.95) / 3.0).abs() < 1e-12);
        assert_eq!(r["adv_trust_ratio"], 1.0);
    }

    #[test]
    fn liars_follow_their_schedule() {
        // One ONOFF liar (period 3 from click 6) and a model that records its reports.
        struct Recorder(Vec<(u64, f64)>);
        impl TrustModel for Recorder {
            fn name(&self) -> String {
                "rec".into()
            }
            fn peer_joined(&mut self, _: PeerKey, _: Option<f64>, _: u64) {}
            fn local_observation(&mut self, _: &Ioc, _: f64, _: f64, _: u64) {}
            fn peer_address(&mut self, _: PeerKey, _: &Ioc, _: u64) {}
            fn opinion(
                &mut self,
                _: &Ioc,
                r: &[Report],
                _: Option<(f64, f64)>,
                now: u64,
            ) -> (f64, f64) {
                self.0.extend(r.iter().map(|x| (now, x.s)));
                (0.0, 0.0)
            }
            fn trust(&self, _: PeerKey) -> f64 {
                0.0
            }
        }
        let s = one(
            "[[scenario]]\nid = \"o\"\narena = \"X\"\nclicks = 20\nlie_since = 6\nbenign = 1\nmalicious = 0\n\
             local = \"none\"\n[[scenario.peers]]\nkind = \"ONOFF\"\nperiod = 3\nduplicates = 2\n",
        );
        let mut m = Recorder(Vec::new());
        run(&s, &mut m, 0).unwrap();
        assert_eq!(m.0.len(), 40);
        for (k, sc) in m.0 {
            let lying = k >= 6 && ((k - 6) / 3) % 2 == 0;
            assert_eq!(sc < 0.0, lying, "click {k}: {sc}");
        }
    }
}
