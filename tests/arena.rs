//! The trust arena against its reference numbers: Arena D exactly (all 53 scenarios, every
//! model in `dovecot-arena-reference.json`), Arena F within ±0.05 of the Fides means, and
//! determinism of the seeded engine.

use std::collections::BTreeMap;
use std::path::PathBuf;

use roost::arena::{self, ArenaArgs, ArenaKind, Scenario};

/// The reference file lives in the shared directory beside the clone (`../shared`); a
/// worktree one level deeper finds it at `../../shared`. Missing file = failed test.
fn reference_path() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        base.join("../shared/dovecot-arena-reference.json"),
        base.join("../../shared/dovecot-arena-reference.json"),
    ];
    for c in &candidates {
        if c.exists() {
            return c.clone();
        }
    }
    panic!(
        "dovecot-arena-reference.json not found at {:?}; the arena reference must be present",
        candidates
    );
}

fn reference() -> BTreeMap<String, BTreeMap<String, f64>> {
    let text = std::fs::read_to_string(reference_path()).expect("read reference");
    serde_json::from_str(&text).expect("parse reference")
}

fn reference_model_name(key: &str) -> Option<String> {
    match key {
        "dovecot" => Some("dovecot".into()),
        "ids_only" => Some("ids-only".into()),
        "ideal_honest_avg" | "oracle" => None,
        k => Some(format!("fides:{k}")),
    }
}

fn scenarios(arena_kind: ArenaKind) -> Vec<Scenario> {
    arena::builtin_scenarios()
        .expect("built-in scenarios parse")
        .into_iter()
        .filter(|s| s.arena == arena_kind)
        .collect()
}

#[test]
fn arena_d_reproduces_every_reference_cell_exactly() {
    let refs = reference();
    let d = scenarios(ArenaKind::D);
    assert_eq!(d.len(), 53);
    assert_eq!(refs.len(), 53);
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for s in &d {
        let cells = refs
            .get(&s.id)
            .unwrap_or_else(|| panic!("{} not in reference", s.id));
        for (key, want) in cells {
            let Some(model) = reference_model_name(key) else {
                continue;
            };
            let got = arena::evaluate(s, &model, 1).expect("run").metrics["accuracy"].mean;
            checked += 1;
            if (got - want).abs() > 1e-9 {
                mismatches.push(format!("{} {model}: want {want}, got {got}", s.id));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "mismatches:\n{}",
        mismatches.join("\n")
    );
    // 53 scenarios x (Dovecot, IDS-only and six Fides setups).
    assert_eq!(checked, 53 * 8);
}

#[test]
fn arena_d_dovecot_aggregates_match_the_study() {
    let d = scenarios(ArenaKind::D);
    let acc: Vec<f64> = d
        .iter()
        .map(|s| arena::evaluate(s, "dovecot", 1).unwrap().metrics["accuracy"].mean)
        .collect();
    let mean = acc.iter().sum::<f64>() / acc.len() as f64;
    let min = acc.iter().copied().fold(f64::INFINITY, f64::min);
    assert!((mean - 0.784).abs() < 0.0005, "mean {mean}");
    assert!((min - 0.300).abs() < 1e-9, "min {min}");
    assert_eq!(acc.iter().filter(|&&a| a < 0.75 - 1e-9).count(), 9);
}

#[test]
fn arena_d_ids_only_is_the_floor_everywhere() {
    for s in scenarios(ArenaKind::D) {
        let m = arena::evaluate(&s, "ids-only", 1).unwrap();
        for k in ["accuracy", "accuracy_w04", "accuracy_w06"] {
            assert!((m.metrics[k].mean - 0.75).abs() < 1e-12, "{} {k}", s.id);
        }
    }
}

/// Checks tdp and acc_post means against the scenario's reference numbers.
fn check_f(ids: &[&str], models: &[&str], seeds: u32, tol: f64) -> Vec<String> {
    let all = arena::builtin_scenarios().unwrap();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for id in ids {
        let s = all.iter().find(|s| s.id == *id).expect("scenario exists");
        for (model, refs) in &s.reference {
            if !models.is_empty() && !models.contains(&model.as_str()) {
                continue;
            }
            let r = arena::evaluate(s, model, seeds).unwrap();
            for metric in ["tdp", "acc_post"] {
                let Some(want) = refs.get(metric) else {
                    continue;
                };
                let got = r.metrics[metric].mean;
                let line = format!("{id} {model} {metric}: reference {want:.3}, arena {got:.3}");
                if (got - want).abs() > tol {
                    failures.push(line.clone());
                }
                report.push(line);
            }
        }
    }
    for l in &report {
        println!("{l}");
    }
    assert!(
        failures.is_empty(),
        "outside ±{tol}:\n{}",
        failures.join("\n")
    );
    report
}

#[test]
fn arena_f_reproduces_fides_quickly() {
    // Few seeds in debug builds; the stable rows (sd <= 0.03) stay well within ±0.05.
    let n = check_f(
        &[
            "F2_2CCpre_6MP_lie25",
            "F5_6CC_2MP_lie50",
            "F3_2CC_6MP_lie50",
        ],
        &[
            "fides:distance/avg/0.0",
            "fides:distance/avg/0.5",
            "fides:threshold05/wavg/0.95",
            "fides:threshold07/avg/0.5",
        ],
        8,
        0.05,
    );
    assert!(n.len() >= 10);
}

/// The full reproduction at 50 seeds (30 for Arena X); run with
/// `cargo test --release --test arena -- --ignored --nocapture`.
#[test]
#[ignore]
fn arena_f_reproduces_fides_at_50_seeds() {
    let all = arena::builtin_scenarios().unwrap();
    let f: Vec<&str> = all
        .iter()
        .filter(|s| s.arena == ArenaKind::F && !s.id.starts_with("FSW"))
        .map(|s| s.id.as_str())
        .collect();
    check_f(&f, &[], 50, 0.05);
    check_f(&["X1_camouflage", "X4_local_knowledge"], &[], 30, 0.05);
}

fn json_of(args: &ArenaArgs) -> String {
    let mut out = Vec::new();
    arena::run(args, &mut out).expect("arena runs");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn seeded_arena_is_deterministic_and_follows_the_contract() {
    let args = ArenaArgs {
        seeds: Some(3),
        model: vec!["dovecot".into(), "fides:maxconf/avg/0.0".into()],
        only: Some("X2_onoff".into()),
        json: true,
        ..Default::default()
    };
    let a = json_of(&args);
    let b = json_of(&args);
    assert_eq!(a, b);
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    let sc = &v["scenarios"][0];
    assert_eq!(sc["id"], "X2_onoff");
    assert_eq!(sc["arena"], "X");
    assert_eq!(sc["seeds"], 3);
    let tdp = &sc["models"]["fides:maxconf/avg/0.0"]["tdp"];
    assert!(tdp["mean"].as_f64().is_some() && tdp["sd"].as_f64().is_some());
    // Another seed count draws other numbers.
    let c = json_of(&ArenaArgs {
        seeds: Some(4),
        ..args
    });
    assert_ne!(a, c);
}

#[test]
fn a_new_scenario_needs_only_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.toml");
    std::fs::write(
        &path,
        r#"
[[scenario]]
id = "tiny"
arena = "X"
clicks = 30
lie_since = 10
benign = 2
malicious = 1
target = [{ metric = "acc_tail", op = ">=", value = 0.5 }]
[[scenario.peers]]
kind = "CC"
count = 3
[[scenario.peers]]
kind = "ONOFF"
count = 2
period = 5
duplicates = 2
requests = 1
alerts = 1
[[scenario.peers]]
kind = "PRAISE"
join = 5
"#,
    )
    .unwrap();
    let csv = dir.path().join("csv");
    let args = ArenaArgs {
        scenario: vec![path.clone()],
        seeds: Some(2),
        model: vec![
            "dovecot".into(),
            "ids-only".into(),
            "fides:local/stdev/0.5".into(),
        ],
        csv: Some(csv.clone()),
        ..Default::default()
    };
    let mut out = Vec::new();
    arena::run(&args, &mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("== tiny"), "{table}");
    assert!(table.contains("fides:local/stdev/0.5"), "{table}");
    let series = std::fs::read_to_string(csv.join("tiny.csv")).unwrap();
    assert!(series.starts_with("model,click,series,value"));
    assert!(series.contains("dovecot,29,trust_PRAISE,"));

    // Bad input is an error, never a panic.
    std::fs::write(&path, "[[scenario]]\nid = \"x\"\narena = \"F\"\n").unwrap();
    assert!(arena::run(&args, &mut Vec::new()).is_err());
    std::fs::write(&path, "not toml [").unwrap();
    assert!(arena::run(&args, &mut Vec::new()).is_err());
    let unknown = ArenaArgs {
        model: vec!["nope".into()],
        only: Some("2A0".into()),
        ..Default::default()
    };
    assert!(matches!(
        arena::run(&unknown, &mut Vec::new()),
        Err(arena::ArenaError::UnknownModel(_))
    ));
}

#[test]
fn arena_d_dovecot_matches_the_66_published_cells() {
    // p2p4slips-experiments presenter.py show_best_params: t = 0.3, w = 0.4 / 0.5 / 0.6.
    let published: &[(&str, [f64; 3])] = &[
        ("2A0", [0.9, 0.925, 0.925]),
        ("2B0", [0.85, 0.825, 0.775]),
        ("2C1", [0.75, 0.775, 0.75]),
        ("2C2", [0.75, 0.775, 0.75]),
        ("2C3", [0.775, 0.775, 0.775]),
        ("2C4", [0.8, 0.8, 0.775]),
        ("2C5", [0.85, 0.825, 0.8]),
        ("2C6", [0.9, 0.875, 0.825]),
        ("2C7", [0.9, 0.925, 0.85]),
        ("2C8", [0.9, 0.925, 0.9]),
        ("3A6", [0.875, 0.825, 0.8]),
        ("3A7", [0.925, 0.875, 0.825]),
        ("3A8", [0.925, 0.925, 0.85]),
        ("3A9", [0.925, 0.925, 0.9]),
        ("3B6", [0.825, 0.8, 0.775]),
        ("3B7", [0.85, 0.825, 0.775]),
        ("3B8", [0.85, 0.825, 0.775]),
        ("3B9", [0.875, 0.825, 0.775]),
        ("4A6", [0.8, 0.775, 0.775]),
        ("4A7", [0.875, 0.85, 0.8]),
        ("4A8", [0.9, 0.9, 0.85]),
        ("4A9", [0.9, 0.9, 0.9]),
    ];
    let d = scenarios(ArenaKind::D);
    for (id, want) in published {
        let s = d.iter().find(|s| s.id == *id).unwrap();
        let m = arena::evaluate(s, "dovecot", 1).unwrap().metrics;
        let got = [
            m["accuracy_w04"].mean,
            m["accuracy"].mean,
            m["accuracy_w06"].mean,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{id}: want {want:?}, got {got:?}");
        }
    }
}

/// (id suffix, population count, [(model, reference tdp, reference acc_tail)]).
type SweepGroup = (&'static str, usize, [(&'static str, f64, f64); 4]);

/// The F-SW sweep aggregates (mean over populations of the 20-seed means) against the study's
/// table; run with `cargo test --release --test arena -- --ignored --nocapture`.
#[test]
#[ignore]
fn arena_fsw_aggregates_reproduce_fides() {
    let all = arena::builtin_scenarios().unwrap();
    let groups: [SweepGroup; 2] = [
        (
            "_pre0",
            31,
            [
                ("fides:distance/avg/0.0", 1.000, 0.000),
                ("fides:maxconf/avg/0.0", 1.193, 0.325),
                ("fides:threshold05/wavg/0.95", 1.214, 0.323),
                ("fides:threshold07/avg/0.5", 1.193, 0.337),
            ],
        ),
        (
            "_pre2",
            19,
            [
                ("fides:distance/avg/0.0", 0.431, 1.000),
                ("fides:maxconf/avg/0.0", 0.745, 0.741),
                ("fides:threshold05/wavg/0.95", 0.757, 0.730),
                ("fides:threshold07/avg/0.5", 0.914, 0.585),
            ],
        ),
    ];
    for (suffix, count, rows) in groups {
        let pops: Vec<&Scenario> = all
            .iter()
            .filter(|s| s.id.starts_with("FSW_") && s.id.ends_with(suffix))
            .collect();
        assert_eq!(pops.len(), count);
        for (model, tdp_ref, tail_ref) in rows {
            let (mut tdp, mut tail) = (0.0, 0.0);
            for s in &pops {
                let m = arena::evaluate(s, model, 20).unwrap().metrics;
                tdp += m["tdp"].mean;
                tail += m["acc_tail"].mean;
            }
            let (tdp, tail) = (tdp / count as f64, tail / count as f64);
            println!(
                "F-SW{suffix} {model}: tdp {tdp:.3} (ref {tdp_ref}), acc_tail {tail:.3} (ref {tail_ref})"
            );
            assert!((tdp - tdp_ref).abs() <= 0.05, "{model} tdp {tdp}");
            assert!((tail - tail_ref).abs() <= 0.05, "{model} acc_tail {tail}");
        }
    }
}

fn builtin(id: &str) -> Scenario {
    arena::builtin_scenarios()
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .expect("scenario exists")
}

/// The cap X6 holds roost to, read from its target so the test follows the scenario file.
fn rec_cap(s: &Scenario) -> f64 {
    s.target
        .iter()
        .find(|t| t.metric == "rec_shift")
        .expect("X6 has a rec_shift target")
        .value
}

#[test]
fn x6_roost_stays_within_the_recommendation_cap() {
    for id in ["X6_recommendation_collusion", "X6b_recommendation_majority"] {
        let s = builtin(id);
        assert!(s.recommendations);
        let cap = rec_cap(&s);
        let r = arena::evaluate(&s, "roost", 4).unwrap();
        for t in &s.target {
            let got = r.metrics[&t.metric].mean;
            assert!(t.met(got), "{id}: roost {} = {got}", t.metric);
        }
        assert!(r.metrics["rec_shift_10"].mean <= cap, "{id}");
    }
    // With a colluding majority roost does take the (bounded) prior: the metric sees it.
    let r = arena::evaluate(&builtin("X6b_recommendation_majority"), "roost", 2).unwrap();
    assert!(
        r.metrics["rec_shift"].mean > 0.01,
        "{:?}",
        r.metrics["rec_shift"]
    );
}

#[test]
fn x6_fides_with_recommendations_is_moved_beyond_the_cap() {
    let s = builtin("X6_recommendation_collusion");
    let cap = rec_cap(&s);
    for model in ["fides:threshold05/wavg/0.95+rec", "fides:even/avg/1.0+rec"] {
        let r = arena::evaluate(&s, model, 3).unwrap();
        let shift = r.metrics["rec_shift"].mean;
        assert!(shift > 10.0 * cap, "{model}: rec_shift {shift}");
        assert!(r.metrics["rec_shift_10"].mean > 10.0 * cap, "{model}");
    }
    // Without recommendations nothing moves, and the recommendation draws use their own
    // stream: a setup that asks nobody (MC/avg/0: nobody reaches trust 0.8) scores exactly
    // like the same setup without recommendations.
    let on = arena::evaluate(&s, "fides:maxconf/avg/0.0+rec", 3).unwrap();
    let off = arena::evaluate(&s, "fides:maxconf/avg/0.0", 3).unwrap();
    assert_eq!(off.metrics["rec_shift"].mean, 0.0);
    for k in ["tdp", "acc_tail", "pbdp", "rec_shift"] {
        assert_eq!(on.metrics[k], off.metrics[k], "{k}");
    }
}

#[test]
fn recommendation_styles_come_from_the_scenario_file() {
    // The same population, once with colluding MPs and once with silent ones: only the
    // colluders move the Fides newcomers.
    let text = |style: &str| {
        format!(
            r#"
[[scenario]]
id = "recs"
arena = "X"
clicks = 40
lie_since = 20
recommendations = true
[[scenario.peers]]
kind = "CC"
count = 2
recommends = "silent"
[[scenario.peers]]
kind = "MP"
count = 3
recommends = "{style}"
[[scenario.peers]]
kind = "MP"
count = 2
join = 20
recommends = "{style}"
"#
        )
    };
    let shift = |style: &str| {
        let s = arena::scenario::parse(&text(style), "test")
            .unwrap()
            .remove(0);
        let m = arena::evaluate(&s, "fides:even/avg/1.0+rec", 2)
            .unwrap()
            .metrics;
        // The badmouthed CCs fall once their next interaction recomputes their trust from
        // the recommended reputation, so the later measure shows it.
        m["rec_shift"].mean.max(m["rec_shift_10"].mean)
    };
    assert_eq!(shift("silent"), 0.0);
    assert!(shift("collude") > 0.5);
    assert!(arena::scenario::parse(&text("loud"), "test").is_err());
}

/// Records every opinion a model gives, so two runs can be compared output by output.
struct Recorder {
    inner: Box<dyn roost::trust::TrustModel>,
    out: Vec<(f64, f64)>,
}

impl roost::trust::TrustModel for Recorder {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn peer_joined(&mut self, p: roost::trust::PeerKey, t: Option<f64>, now: u64) {
        self.inner.peer_joined(p, t, now)
    }
    fn local_observation(&mut self, s: &roost::ioc::Ioc, v: f64, c: f64, now: u64) {
        self.inner.local_observation(s, v, c, now)
    }
    fn peer_address(&mut self, p: roost::trust::PeerKey, ip: &roost::ioc::Ioc, now: u64) {
        self.inner.peer_address(p, ip, now)
    }
    fn peer_reliability(&mut self, p: roost::trust::PeerKey, r: f64, now: u64) {
        self.inner.peer_reliability(p, r, now)
    }
    fn opinion(
        &mut self,
        target: &roost::ioc::Ioc,
        reports: &[roost::trust::Report],
        local: Option<(f64, f64)>,
        now: u64,
    ) -> (f64, f64) {
        let o = self.inner.opinion(target, reports, local, now);
        self.out.push(o);
        o
    }
    fn trust(&self, p: roost::trust::PeerKey) -> f64 {
        self.inner.trust(p)
    }
}

/// A population and its mirror image: every peer of one draws exactly the numbers its
/// counterpart in the other draws (same RNG stream), but the ground truth is the opposite.
/// An MP lying from click 0 draws N(-0.9 GT, 0.1), N(0.9, 0.1): a CC of the opposite world.
fn mirror_pair(id: &str, groups: &[(&str, u32)]) -> (Scenario, Scenario) {
    let text = |benign: u32, flip: bool| {
        let mut t = format!(
            "[[scenario]]\nid = \"{id}_{}\"\narena = \"F\"\nclicks = 120\nlie_since = 0\n\
             tail = 50\nbenign = {benign}\nmalicious = {}\n",
            if flip { "mirror" } else { "plain" },
            1 - benign
        );
        for (kind, count) in groups {
            let kind = match (*kind, flip) {
                ("CC", true) => "MP",
                ("MP", true) => "CC",
                (k, _) => k,
            };
            t.push_str(&format!(
                "[[scenario.peers]]\nkind = \"{kind}\"\ncount = {count}\n"
            ));
        }
        arena::scenario::parse(&t, "mirror").unwrap().remove(0)
    };
    (text(1, false), text(0, true))
}

/// Non-identifiability, checked: in a mirror pair every model receives bit-identical inputs,
/// so it gives bit-identical opinions while the truth is opposite. Whatever is right in one
/// world is wrong in the other: acc_tail sums to 1 and tdp to 2 for ANY model. A model that
/// meets the honest-majority target (F-b: tdp <= 0.25 with 6 CC vs 2 liars) must therefore
/// score tdp >= 1.75 on the mirror (2 CC vs 6 liars, or 2 liars among 6 UP), where the
/// best baseline is D/Avg/r0 with tdp 1.0 because it never trusts anyone.
#[test]
fn mirrored_populations_force_complementary_scores_on_every_model() {
    let pairs = [
        ("cc_minority", vec![("CC", 2), ("MP", 6)]),
        ("up_and_liars", vec![("UP", 6), ("MP", 2)]),
        ("liar_majority_up", vec![("UP", 2), ("MP", 6)]),
    ];
    for (id, groups) in &pairs {
        let (a, b) = mirror_pair(id, groups);
        for model in [
            "roost",
            "dovecot",
            "ids-only",
            "fides:maxconf/avg/0.0",
            "fides:threshold07/avg/0.5",
        ] {
            for seed in 0..3 {
                let mut ra = Recorder {
                    inner: arena::make_model(model).unwrap(),
                    out: Vec::new(),
                };
                let mut rb = Recorder {
                    inner: arena::make_model(model).unwrap(),
                    out: Vec::new(),
                };
                let ma = arena::arena_f::run(&a, &mut ra, seed).unwrap().metrics;
                let mb = arena::arena_f::run(&b, &mut rb, seed).unwrap().metrics;
                assert_eq!(ra.out.len(), 120);
                assert_eq!(ra.out, rb.out, "{id} {model} seed {seed}: inputs differ");
                let zeros = ra.out.iter().filter(|(s, _)| *s == 0.0).count() as f64;
                let tail_zeros = ra.out[70..].iter().filter(|(s, _)| *s == 0.0).count() as f64;
                assert!((ma["acc_post"] + mb["acc_post"] - (1.0 - zeros / 120.0)).abs() < 1e-9);
                assert!((ma["acc_tail"] + mb["acc_tail"] - (1.0 - tail_zeros / 50.0)).abs() < 1e-9);
                assert!((ma["tdp"] + mb["tdp"] - 2.0).abs() < 1e-9, "{id} {model}");
                // The confidence is shared too: wrong_mass of the pair = mean |S|·C.
                let sc = ra.out.iter().map(|(s, c)| s.abs() * c).sum::<f64>() / 120.0;
                assert!((ma["wrong_mass"] + mb["wrong_mass"] - sc).abs() < 1e-9);
            }
        }
    }
    // The cost for roost, with numbers: it meets F-b on the identifiable side, so it pays
    // the complement on the other.
    let (liars, honest) = mirror_pair("cc_minority", &[("CC", 2), ("MP", 6)]);
    let r_h = arena::evaluate(&honest, "roost", 5).unwrap().metrics;
    let r_l = arena::evaluate(&liars, "roost", 5).unwrap().metrics;
    assert!(r_h["tdp"].mean <= 0.25, "F-b side: {}", r_h["tdp"].mean);
    assert!(r_l["tdp"].mean >= 1.75, "mirror side: {}", r_l["tdp"].mean);
}

/// The scenarios marked `mirror_of`: the F-SW populations are CI-for-CC swaps of an F-b
/// population, and F3b is the exact CC-for-MP@0 swap of F3m. CI is only a statistical mirror
/// of CC (N(-0.8 GT, 0.2) at confidence N(0.8, 0.2) against N(0.9 GT, 0.1) at N(0.9, 0.1)),
/// so the complement holds approximately: checked for roost, whose wins on the honest side
/// must come back as losses on the mirror, and nowhere else.
#[test]
fn declared_mirrors_swap_cc_for_ci_and_cost_what_fb_wins() {
    let all = arena::builtin_scenarios().unwrap();
    let count = |s: &Scenario, kind: &str| -> u32 {
        s.peers
            .iter()
            .filter(|g| g.kind.class() == kind)
            .map(|g| g.count)
            .sum()
    };
    let marked: Vec<&Scenario> = all.iter().filter(|s| s.mirror_of.is_some()).collect();
    assert_eq!(marked.len(), 6);
    for s in marked {
        let m = all
            .iter()
            .find(|x| Some(&x.id) == s.mirror_of.as_ref())
            .unwrap_or_else(|| panic!("{} mirrors an unknown scenario", s.id));
        assert_eq!(count(s, "UP"), count(m, "UP"), "{}", s.id);
        if s.lie_since == 0 && m.lie_since == 0 {
            // Exact mirror (F3b): MPs lying from click 0 draw what CCs of the reversed
            // world draw, so CC and MP swap.
            assert_eq!(count(s, "CC"), count(m, "MP"), "{}", s.id);
            assert_eq!(count(s, "MP"), count(m, "CC"), "{}", s.id);
            assert_eq!(count(s, "CI") + count(m, "CI"), 0, "{}", s.id);
        } else {
            // Statistical mirror (F-SW): CI is a weaker mirrored CC.
            assert_eq!(count(s, "CC"), count(m, "CI"), "{}", s.id);
            assert_eq!(count(s, "CI"), count(m, "CC"), "{}", s.id);
            assert_eq!(count(s, "MP") + count(m, "MP"), 0, "{}", s.id);
        }
        // The mirror is an F-b population: honest majority, so a target demands confidence.
        assert!(count(m, "CC") > count(m, "CI"), "{}", m.id);
        assert!(m.target.iter().any(|t| t.metric == "tdp"), "{}", m.id);
        let a = arena::evaluate(s, "roost", 4).unwrap().metrics;
        let b = arena::evaluate(m, "roost", 4).unwrap().metrics;
        let tail = a["acc_tail"].mean + b["acc_tail"].mean;
        let tdp = a["tdp"].mean + b["tdp"].mean;
        println!(
            "{} + {}: acc_tail {:.3} + {:.3}, tdp {:.3} + {:.3}",
            s.id, m.id, a["acc_tail"].mean, b["acc_tail"].mean, a["tdp"].mean, b["tdp"].mean
        );
        assert!((tail - 1.0).abs() <= 0.15, "{}: acc_tail sum {tail}", s.id);
        assert!(tdp >= 1.75, "{}: tdp sum {tdp}", s.id);
    }
}
