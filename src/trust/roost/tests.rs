//! Tests of the roost model: unit behaviour, properties, persistence, and a private Arena D
//! driver (trust-arena.md 4.1) used for tuning until the shared arena engine lands.

use super::*;
use crate::trust::model::{PeerKey, Report, TrustModel};

fn ip(i: u8) -> Ioc {
    Ioc::Ipv4([1, 1, 1, i])
}

fn key(i: u32) -> PeerKey {
    PeerKey::from_index(i)
}

fn rep(i: u32, s: f64, c: f64) -> Report {
    Report { peer: key(i), s, c }
}

/// A scripted run: `honest` peers say `truth` firmly, `liars` say the opposite from `flip_at`.
fn scripted(
    model: &mut RoostModel,
    honest: u32,
    liars: u32,
    flip_at: u64,
    clicks: u64,
) -> Vec<(f64, f64)> {
    let target = ip(200);
    let mut out = Vec::new();
    for i in 0..honest + liars {
        model.peer_joined(key(i), None, 0);
    }
    for now in 0..clicks {
        let mut reports = Vec::new();
        for i in 0..honest {
            reports.push(rep(i, -0.9, 0.9));
        }
        for i in honest..honest + liars {
            let s = if now >= flip_at { 0.9 } else { -0.9 };
            reports.push(rep(i, s, 0.9));
        }
        out.push(model.opinion(&target, &reports, None, now));
    }
    out
}

#[test]
fn no_reports_means_unknown_not_benign() {
    let mut m = RoostModel::new();
    let (s, c) = m.opinion(&ip(9), &[], None, 0);
    assert_eq!((s, c), (0.0, 0.0));
}

#[test]
fn huge_peer_counts_stay_in_range_and_capped() {
    let mut m = RoostModel::new();
    for i in 0..4 {
        m.peer_joined(key(i), Some(0.95), 0);
    }
    // 20 000 fresh identities accuse, four anchors praise: the swarm is young, so its
    // weight is capped and the anchors carry the opinion.
    let mut reports: Vec<Report> = (4..20_004).map(|i| rep(i, -1.0, 1.0)).collect();
    for i in 0..4 {
        reports.push(rep(i, 0.9, 0.9));
    }
    let (s, c) = m.opinion(&ip(77), &reports, None, 0);
    assert!(
        (-1.0..=1.0).contains(&s) && (0.0..=1.0).contains(&c),
        "{s} {c}"
    );
    assert!(s > 0.0, "the sybil swarm carried the opinion: {s}");
}

#[test]
fn liar_majority_that_reverses_itself_is_caught_without_anchor() {
    let mut m = RoostModel::new();
    let out = scripted(&mut m, 2, 6, 50, 120);
    // Before the flip everyone agrees: malicious.
    assert!(out[40].0 < -0.5, "{:?}", out[40]);
    // After the flip the six reversed liars must not carry the opinion.
    for (k, &(s, _)) in out.iter().enumerate().skip(50) {
        assert!(s < 0.0, "click {k}: S = {s}");
    }
    assert!(m.trust(key(7)) < 0.5 * m.trust(key(0)));
    let why = m
        .explain_peer(key(7))
        .unwrap_or_else(|| panic!("liar unknown"));
    assert!(why.reversals_unconfirmed >= 1);
}

#[test]
fn quiet_peers_that_never_accused_do_not_dispute_an_accusation() {
    // Six peers were attacked by the target, three were spared and saw nothing. Whether the
    // three have ever accused anything decides if their benign words are a dispute.
    let run = |quiet_accused_before: bool| {
        let mut m = RoostModel::new();
        for i in 0..9 {
            m.peer_joined(key(i), None, 0);
        }
        if quiet_accused_before {
            let r: Vec<Report> = (6..9).map(|i| rep(i, -0.9, 0.9)).collect();
            m.opinion(&ip(99), &r, None, 0);
        }
        let mut out = (0.0, 0.0);
        for now in 1..8 {
            let mut r: Vec<Report> = (0..6).map(|i| rep(i, -1.0, 1.0)).collect();
            r.extend((6..9).map(|i| rep(i, 1.0, 0.8)));
            out = m.opinion(&ip(10), &r, None, now);
        }
        out
    };
    let (s_quiet, c_quiet) = run(false);
    let (s_informed, c_informed) = run(true);
    assert!(s_quiet < 0.0 && s_informed < 0.0);
    assert!(
        c_quiet > c_informed + 0.05,
        "spared peers disputed the accusation: {c_quiet} vs {c_informed}"
    );
}

#[test]
fn backing_a_proven_liars_claim_costs_trust() {
    // Six peers are consistently wrong about two targets; two peers are right until click
    // 40, then turn their accusation of the attacker into praise (and their praise of the
    // benign target into an accusation), joining the six. The first reversal proves them
    // liars, so their claims are read inverted, and the six who back those claims lose trust.
    let mut m = RoostModel::new();
    for i in 0..8 {
        m.peer_joined(key(i), None, 0);
    }
    let (mut on_mal, mut on_ben) = ((0.0, 0.0), (0.0, 0.0));
    for now in 0..150 {
        let lie = now >= 40;
        let flip = |truth: f64| if lie { -truth } else { truth };
        let mut r_mal: Vec<Report> = (0..6).map(|i| rep(i, 0.8, 0.8)).collect();
        r_mal.extend((6..8).map(|i| rep(i, flip(-0.9), 0.9)));
        let mut r_ben: Vec<Report> = (0..6).map(|i| rep(i, -0.8, 0.8)).collect();
        r_ben.extend((6..8).map(|i| rep(i, flip(0.9), 0.9)));
        on_mal = m.opinion(&ip(10), &r_mal, None, now);
        on_ben = m.opinion(&ip(11), &r_ben, None, now);
    }
    assert!(on_mal.0 < 0.0, "attacker still praised: {on_mal:?}");
    assert!(on_ben.0 > 0.0, "benign target still accused: {on_ben:?}");
    assert!(
        m.trust(key(0)) < 0.3,
        "backers keep trust {}",
        m.trust(key(0))
    );
}

#[test]
fn a_single_retraction_costs_bystanders_nothing() {
    // One peer raised a false alarm and later retracts it; the others said benign all along.
    // Its retraction is read as a lie about that IoC, but with one reversal only it does not
    // expose the peers that agree with it.
    let run = |association_rate: f64| {
        let mut m = RoostModel::with_params(RoostParams {
            association_rate,
            ..RoostParams::default()
        });
        for i in 0..5 {
            m.peer_joined(key(i), None, 0);
        }
        for now in 0..120 {
            let s0 = if now < 50 { -0.9 } else { 0.9 };
            let mut r = vec![rep(0, s0, 0.9)];
            r.extend((1..5).map(|i| rep(i, 0.9, 0.9)));
            m.opinion(&ip(30), &r, None, now);
        }
        (1..5).map(|i| m.trust(key(i))).collect::<Vec<f64>>()
    };
    assert_eq!(run(0.5), run(0.0));
}

#[test]
fn requests_and_alerts_earn_no_trust() {
    let mut a = RoostModel::new();
    let mut b = RoostModel::new();
    scripted(&mut a, 3, 1, 1000, 20);
    scripted(&mut b, 3, 1, 1000, 20);
    for now in 20..40 {
        for _ in 0..50 {
            b.request_received(key(3), now);
            b.alert_received(key(3), &ip(200), -1.0, 1.0, now);
        }
    }
    assert_eq!(a.trust(key(3)), b.trust(key(3)));
    assert_eq!(b.explain_peer(key(3)).map(|e| e.requests), Some(1000));
}

#[test]
fn attack_seen_by_local_ids_cuts_the_reporter_weight() {
    let mut m = RoostModel::new();
    m.peer_joined(key(1), None, 0);
    m.peer_joined(key(2), None, 0);
    m.peer_address(key(1), &ip(1), 0);
    m.local_observation(&ip(1), -1.0, 1.0, 0);
    m.opinion(&ip(50), &[rep(1, 1.0, 1.0), rep(2, -1.0, 1.0)], None, 0);
    let e = m.explain(&ip(50));
    let w1 = e
        .contributions
        .iter()
        .find(|c| c.peer == key(1))
        .map(|c| c.weight);
    assert_eq!(w1, Some(0.0));
    assert!(e.s < 0.0);
}

#[test]
fn explanation_names_the_peers_that_moved_the_opinion() {
    let mut m = RoostModel::new();
    let out = scripted(&mut m, 3, 0, 1000, 5);
    let e = m.explain(&ip(200));
    assert_eq!(e.contributions.len(), 3);
    let sum: f64 = e.contributions.iter().map(|c| c.contribution).sum();
    assert!((sum - out[4].0).abs() < 1e-9, "{sum} vs {:?}", out[4]);
    assert_eq!(m.explain(&ip(201)).target, None);
}

#[test]
fn state_survives_a_restart_bit_for_bit() {
    let mut whole = RoostModel::new();
    let mut first = RoostModel::new();
    let all = scripted(&mut whole, 3, 3, 30, 80);
    scripted(&mut first, 3, 3, 30, 40);
    let bytes = first.to_bytes();
    let mut second = match RoostModel::from_bytes(&bytes, first.params().clone()) {
        Ok(m) => m,
        Err(e) => panic!("restore failed: {e}"),
    };
    assert_eq!(second, first);
    let target = ip(200);
    for now in 40..80u64 {
        let mut reports = Vec::new();
        for i in 0..3 {
            reports.push(rep(i, -0.9, 0.9));
        }
        for i in 3..6 {
            reports.push(rep(i, 0.9, 0.9));
        }
        let got = second.opinion(&target, &reports, None, now);
        let want = all[now as usize];
        assert_eq!(got.0.to_bits(), want.0.to_bits());
        assert_eq!(got.1.to_bits(), want.1.to_bits());
    }
    assert_eq!(second.to_bytes(), whole.to_bytes());
    let params = RoostParams::default();
    assert!(RoostModel::from_bytes(&bytes[..bytes.len() / 2], params.clone()).is_err());
    assert!(RoostModel::from_bytes(b"", params).is_err());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn report() -> impl Strategy<Value = (u32, f64, f64)> {
        (0u32..40, -1.0f64..=1.0, 0.0f64..=1.0)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever arrives (out-of-range, NaN, empty, many peers), S and C stay in range.
        #[test]
        fn opinions_stay_in_range(
            rounds in prop::collection::vec(
                (prop::collection::vec((0u32..500, any::<f64>(), any::<f64>()), 0..60),
                 prop::option::of((any::<f64>(), any::<f64>()))),
                1..12),
        ) {
            let mut m = RoostModel::new();
            m.peer_joined(key(0), Some(0.95), 0);
            for (now, (reports, local)) in rounds.into_iter().enumerate() {
                let reports: Vec<Report> = reports.into_iter().map(|(i, s, c)| rep(i, s, c)).collect();
                let (s, c) = m.opinion(&ip((now % 3) as u8), &reports, local, now as u64);
                prop_assert!(s.is_finite() && (-1.0..=1.0).contains(&s), "S = {}", s);
                prop_assert!(c.is_finite() && (0.0..=1.0).contains(&c), "C = {}", c);
                for i in 0..5 {
                    let t = m.trust(key(i));
                    prop_assert!(t.is_finite() && (0.0..=1.0).contains(&t));
                }
            }
        }

        /// One identity's influence does not depend on how often it repeats its report.
        #[test]
        fn repeating_a_report_changes_nothing(
            rounds in prop::collection::vec(prop::collection::vec(report(), 1..10), 1..10),
            copies in 2usize..12,
        ) {
            let mut once = RoostModel::new();
            let mut many = RoostModel::new();
            for (now, reports) in rounds.into_iter().enumerate() {
                let single: Vec<Report> = reports.iter().map(|&(i, s, c)| rep(i, s, c)).collect();
                let mut repeated = Vec::new();
                for r in &single {
                    for _ in 0..copies {
                        repeated.push(*r);
                    }
                }
                // Within one call, the last report of a peer counts; repeat the whole list so
                // that the last copy of each peer is the same one as in `single`.
                let a = once.opinion(&ip(7), &single, None, now as u64);
                let b = many.opinion(&ip(7), &repeated, None, now as u64);
                prop_assert_eq!(a.0.to_bits(), b.0.to_bits());
                prop_assert_eq!(a.1.to_bits(), b.1.to_bits());
            }
            prop_assert_eq!(once.to_bytes(), many.to_bytes());
        }

        /// Adding an honest, established peer never moves an honest-majority opinion away
        /// from the truth.
        #[test]
        fn an_honest_established_peer_never_hurts(
            honest in 2u32..6,
            liars in 0u32..2,
            noise in prop::collection::vec((-0.2f64..0.2, 0.6f64..1.0), 64),
            truth_benign in any::<bool>(),
        ) {
            let gt = if truth_benign { 1.0 } else { -1.0 };
            let run = |extra: bool| -> (f64, f64) {
                let mut m = RoostModel::new();
                let n = honest + liars + u32::from(extra);
                let mut last = (0.0, 0.0);
                for now in 0..40u64 {
                    let mut reports = Vec::new();
                    for i in 0..n {
                        let (e, c) = noise[((i as u64 * 7 + now) % 64) as usize];
                        let liar = i >= honest && i < honest + liars;
                        let s = if liar { -gt * 0.9 } else { gt * 0.8 + e };
                        reports.push(rep(i, s.clamp(-1.0, 1.0), c));
                    }
                    last = m.opinion(&ip(3), &reports, None, now);
                }
                last
            };
            let without = run(false);
            let with = run(true);
            prop_assert!(with.0 * gt >= without.0 * gt - 1e-9, "{:?} -> {:?}", without, with);
        }
    }
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
    let mut fsw0: Vec<f64> = Vec::new();
    let mut fsw2: Vec<f64> = Vec::new();
    for sc in builtin_scenarios().unwrap_or_default() {
        if !sc.id.contains(only.as_str()) {
            continue;
        }
        if let Ok(kind) = std::env::var("ROOST_ARENA") {
            if !kind.contains(sc.arena.letter()) {
                continue;
            }
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
                if std::env::var("ROOST_PEERS")
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    == Some(seed)
                {
                    for i in 0..8 {
                        println!("  {:?}", m.explain_peer(PeerKey::from_index(i)));
                    }
                    println!("  {:?}", m.explain(&crate::arena::arena_f::target_ioc(0)));
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
        if sc.id.starts_with("FSW") && sc.id.ends_with("pre0") {
            fsw0.push(sums.get("acc_tail").copied().unwrap_or(0.0));
        }
        if sc.id.starts_with("FSW") && sc.id.ends_with("pre2") {
            fsw2.push(sums.get("tdp").copied().unwrap_or(0.0));
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
    if !fsw0.is_empty() {
        let m = fsw0.iter().sum::<f64>() / fsw0.len() as f64;
        println!(
            "F-SW no pre-trust: mean acc_tail {m:.3} over {} populations (target >= 0.55)",
            fsw0.len()
        );
    }
    if !fsw2.is_empty() {
        let m = fsw2.iter().sum::<f64>() / fsw2.len() as f64;
        println!(
            "F-SW 2 pre-trusted: mean tdp {m:.3} over {} populations (target <= 0.30)",
            fsw2.len()
        );
    }
    println!("targets missed: {misses}");
}

/// Prints every opinion of one Arena D scenario: `ROOST_DTRACE=4A1 cargo test --lib
/// roost::tests::arena_d_trace -- --ignored --nocapture`.
#[test]
#[ignore]
fn arena_d_trace() {
    struct Tracing(RoostModel);
    impl TrustModel for Tracing {
        fn name(&self) -> String {
            self.0.name()
        }
        fn peer_joined(&mut self, p: PeerKey, t: Option<f64>, now: u64) {
            self.0.peer_joined(p, t, now)
        }
        fn local_observation(&mut self, s: &Ioc, a: f64, b: f64, now: u64) {
            self.0.local_observation(s, a, b, now)
        }
        fn peer_address(&mut self, p: PeerKey, ip: &Ioc, now: u64) {
            self.0.peer_address(p, ip, now)
        }
        fn peer_reliability(&mut self, p: PeerKey, r: f64, now: u64) {
            self.0.peer_reliability(p, r, now)
        }
        fn opinion(
            &mut self,
            t: &Ioc,
            r: &[Report],
            l: Option<(f64, f64)>,
            now: u64,
        ) -> (f64, f64) {
            let (s, c) = self.0.opinion(t, r, l, now);
            let (ls, lc) = l.unwrap_or((0.0, 0.0));
            let tr: Vec<String> = r
                .iter()
                .map(|x| format!("{:.2}", self.0.trust(x.peer)))
                .collect();
            println!(
                "r{now} {t} local=({ls:.2},{lc:.2}) S={s:.3} C={c:.3} SC={:.3} net={:.3} trust={}",
                s * c,
                0.5 * s * c + 0.5 * ls * lc,
                tr.join(",")
            );
            (s, c)
        }
        fn trust(&self, p: PeerKey) -> f64 {
            self.0.trust(p)
        }
    }
    let want = std::env::var("ROOST_DTRACE").unwrap_or_else(|_| "4A1".to_owned());
    for sc in crate::arena::builtin_scenarios().unwrap_or_default() {
        if sc.id == want {
            let mut m = Tracing(RoostModel::with_params(tuned_params()));
            let r = crate::arena::arena_d::run(&sc, &mut m).map(|r| r.0);
            println!("{r:?}");
        }
    }
}

#[test]
fn eviction_drops_the_oldest_tenth_ties_by_key() {
    let mut m: BTreeMap<u32, u64> = (0..25u32).map(|k| (k, u64::from(k % 5))).collect();
    super::evict_oldest_tenth(&mut m, |v| *v);
    // 25 entries: two go, the oldest age (0) held by keys 0, 5, 10, 15, 20; lowest keys first.
    assert_eq!(m.len(), 23);
    assert!(!m.contains_key(&0) && !m.contains_key(&5) && m.contains_key(&10));
    let mut one: BTreeMap<u32, u64> = [(7, 1)].into_iter().collect();
    super::evict_oldest_tenth(&mut one, |v| *v);
    assert!(one.is_empty(), "at least one entry goes");
}
