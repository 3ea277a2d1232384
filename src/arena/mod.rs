//! The trust arena (issue 4): runs trust models through fixed, reproducible scenarios and
//! scores them, so that "roost's model is better than Dovecot and Fides" is a measured claim.
//!
//! Three engines share one data format ([`scenario`]): Arena D replays the deterministic
//! Dovecot experiments, Arena F the seeded Fides simulations, Arena X new adversaries on the
//! Arena F engine. The built-in scenarios live in `src/arena/scenarios/*.toml` and are
//! embedded in the binary; `roost arena --scenario FILE` runs others without any code.
//!
//! Models are named `roost`, `dovecot`, `dovecot-clamped`, `ids-only` or
//! `fides:<eval>/<agg>/<r>[/<sh_max>][+rec]` (see [`crate::trust::fides::FidesConfig::parse`];
//! `+rec` turns Fides' recommendations on).

pub mod arena_d;
pub mod arena_f;
mod report;
pub mod scenario;
pub mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::trust::dovecot::DovecotModel;
use crate::trust::fides::{FidesConfig, FidesModel};
use crate::trust::ids_only::IdsOnlyModel;
use crate::trust::TrustModel;

pub use scenario::{ArenaKind, Scenario};
pub use stats::Summary;

/// Why an arena run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ArenaError {
    /// A scenario file could not be read.
    #[error("cannot read scenario file {0}: {1}")]
    Read(String, std::io::Error),
    /// A scenario file is not valid TOML or does not fit the format.
    #[error("scenario file {0}: {1}")]
    Parse(String, String),
    /// A scenario has values the engines cannot run.
    #[error("scenario {0}: {1}")]
    Scenario(String, String),
    /// Two scenarios share an id.
    #[error("duplicate scenario id {0}")]
    Duplicate(String),
    /// A model name that the registry does not know.
    #[error("unknown model {0:?} (use roost, dovecot, dovecot-clamped, ids-only or fides:<eval>/<agg>/<r>)")]
    UnknownModel(String),
    /// No scenario was selected.
    #[error("no scenario selected")]
    NoScenario,
    /// Writing the table, JSON or CSV failed.
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// `roost arena`: run trust models through scenarios and print how they score.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ArenaArgs {
    /// Scenario file (TOML, repeatable); default: the built-in set.
    #[arg(long = "scenario", value_name = "FILE")]
    pub scenario: Vec<PathBuf>,
    /// Seeds per seeded scenario (seeds 0..N-1), overriding each scenario's default.
    #[arg(long, value_name = "N")]
    pub seeds: Option<u32>,
    /// Model to run (repeatable): roost, dovecot, ids-only, fides:<eval>/<agg>/<r>.
    /// Default: roost, dovecot, ids-only and each scenario's reference models.
    #[arg(long = "model", value_name = "NAME")]
    pub model: Vec<String>,
    /// Run only scenarios whose id contains this text.
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
    /// Print JSON (the public contract) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write per-click series as CSV files (one per scenario) into this directory.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
}

/// The built-in scenario files, embedded so the binary needs no data directory.
pub const BUILTIN: &[(&str, &str)] = &[
    ("arena_d.toml", include_str!("scenarios/arena_d.toml")),
    ("arena_f.toml", include_str!("scenarios/arena_f.toml")),
    ("arena_fsw.toml", include_str!("scenarios/arena_fsw.toml")),
    ("arena_x.toml", include_str!("scenarios/arena_x.toml")),
];

/// The built-in scenarios, in file order.
pub fn builtin_scenarios() -> Result<Vec<Scenario>, ArenaError> {
    let mut all = Vec::new();
    for (name, text) in BUILTIN {
        all.extend(scenario::parse(text, name)?);
    }
    Ok(all)
}

/// The model registry: a fresh model for a name, or `None` if the name is unknown.
pub fn make_model(name: &str) -> Option<Box<dyn TrustModel>> {
    match name {
        "dovecot" => Some(Box::new(DovecotModel::new())),
        "dovecot-clamped" => Some(Box::new(DovecotModel::clamped())),
        "ids-only" => Some(Box::new(IdsOnlyModel::new())),
        "roost" => Some(Box::new(crate::trust::roost::RoostModel::new())),
        _ => {
            let spec = name.strip_prefix("fides:")?;
            let cfg = FidesConfig::parse(spec)?;
            Some(Box::new(FidesModel::new(cfg)))
        }
    }
}

/// A model's scores on one scenario: metric summaries over seeds and mean per-click series.
#[derive(Debug, Clone)]
pub struct ModelResult {
    /// Metric -> mean ± sd over seeds.
    pub metrics: BTreeMap<String, Summary>,
    /// Series -> mean over seeds, one value per click (round in Arena D).
    pub series: BTreeMap<String, Vec<f64>>,
}

/// All models' scores on one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The scenario that was run.
    pub scenario: Scenario,
    /// Seeds used (1 for Arena D, which is deterministic).
    pub seeds: u32,
    /// (model name, result), in run order.
    pub models: Vec<(String, ModelResult)>,
}

/// Runs one model on one scenario over `seeds` seeds (Arena D always runs once).
pub fn evaluate(scenario: &Scenario, model: &str, seeds: u32) -> Result<ModelResult, ArenaError> {
    let fresh = || make_model(model).ok_or_else(|| ArenaError::UnknownModel(model.to_owned()));
    let mut per_seed: Vec<BTreeMap<String, f64>> = Vec::new();
    let mut series_sum: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut add_series = |name: &str, values: &[f64]| {
        let acc = series_sum
            .entry(name.to_owned())
            .or_insert_with(|| vec![0.0; values.len()]);
        for (a, v) in acc.iter_mut().zip(values) {
            *a += v;
        }
    };
    let runs = match scenario.arena {
        ArenaKind::D => {
            let mut m = fresh()?;
            let (metrics, rounds) = arena_d::run(scenario, m.as_mut())?;
            per_seed.push(metrics);
            add_series("acc", &rounds);
            1
        }
        ArenaKind::F | ArenaKind::X => {
            let n = seeds.max(1);
            for seed in 0..n {
                let mut m = fresh()?;
                // Recommendation scenarios also run the model with recommendations ignored.
                let mut shadow = match scenario.recommendations {
                    true => Some(fresh()?),
                    false => None,
                };
                let shadow = shadow.as_mut().map(|b| b.as_mut() as &mut dyn TrustModel);
                let run = arena_f::run_paired(scenario, m.as_mut(), shadow, u64::from(seed))?;
                per_seed.push(run.metrics);
                for (name, values) in &run.series {
                    add_series(name, values);
                }
            }
            n
        }
    };
    let mut names: Vec<String> = per_seed.iter().flat_map(|m| m.keys().cloned()).collect();
    names.sort();
    names.dedup();
    let mut metrics = BTreeMap::new();
    for name in names {
        let values: Vec<f64> = per_seed
            .iter()
            .map(|m| m.get(&name).copied().unwrap_or(f64::NAN))
            .collect();
        if name == "recovery" {
            let med = stats::median(&values);
            metrics.insert("recovery_median".to_owned(), Summary { mean: med, sd: 0.0 });
        }
        metrics.insert(name, Summary::of(&values));
    }
    let series = series_sum
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|x| x / f64::from(runs)).collect()))
        .collect();
    Ok(ModelResult { metrics, series })
}

/// The models run on a scenario: those asked for, or the defaults plus its reference models.
fn models_for(scenario: &Scenario, asked: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let candidates: Vec<String> = if asked.is_empty() {
        ["roost", "dovecot", "ids-only"]
            .iter()
            .map(|s| s.to_string())
            .chain(scenario.models.iter().cloned())
            .chain(scenario.reference.keys().cloned())
            .filter(|n| make_model(n).is_some())
            .collect()
    } else {
        asked.to_vec()
    };
    for c in candidates {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Loads the scenarios an invocation asks for (files, or the built-in set), filtered by `only`.
pub fn load(args: &ArenaArgs) -> Result<Vec<Scenario>, ArenaError> {
    let mut all = Vec::new();
    if args.scenario.is_empty() {
        all = builtin_scenarios()?;
    } else {
        for path in &args.scenario {
            let shown = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|e| ArenaError::Read(shown.clone(), e))?;
            all.extend(scenario::parse(&text, &shown)?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for s in &all {
        if !seen.insert(s.id.clone()) {
            return Err(ArenaError::Duplicate(s.id.clone()));
        }
    }
    if let Some(f) = &args.only {
        all.retain(|s| s.id.contains(f.as_str()));
    }
    if all.is_empty() {
        return Err(ArenaError::NoScenario);
    }
    Ok(all)
}

/// Runs the scenarios with their models and returns the results, without printing.
///
/// Every (scenario, model) pair is independent, so pairs are spread over the available cores;
/// results are put back in scenario and model order, so the output does not depend on
/// scheduling.
pub fn run_all(args: &ArenaArgs) -> Result<Vec<ScenarioResult>, ArenaError> {
    for m in &args.model {
        if make_model(m).is_none() {
            return Err(ArenaError::UnknownModel(m.clone()));
        }
    }
    let scenarios = load(args)?;
    let plan: Vec<(u32, Vec<String>)> = scenarios
        .iter()
        .map(|s| {
            let seeds = match s.arena {
                ArenaKind::D => 1,
                _ => args.seeds.or(s.seeds).unwrap_or(50).max(1),
            };
            (seeds, models_for(s, &args.model))
        })
        .collect();
    let jobs: Vec<(usize, usize)> = plan
        .iter()
        .enumerate()
        .flat_map(|(si, (_, models))| (0..models.len()).map(move |mi| (si, mi)))
        .collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16)
        .min(jobs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: std::sync::Mutex<Vec<Option<Result<ModelResult, ArenaError>>>> =
        std::sync::Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(si, mi)) = jobs.get(j) else {
                    break;
                };
                let (seeds, models) = &plan[si];
                let r = evaluate(&scenarios[si], &models[mi], *seeds);
                if let Ok(mut d) = done.lock() {
                    d[j] = Some(r);
                }
            });
        }
    });
    let mut done = done
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter();
    let mut results = Vec::with_capacity(scenarios.len());
    for (s, (seeds, models)) in scenarios.into_iter().zip(plan) {
        let mut out = Vec::with_capacity(models.len());
        for name in models {
            let r = done
                .next()
                .flatten()
                .ok_or_else(|| ArenaError::Scenario(s.id.clone(), "a worker stopped".into()))??;
            out.push((name, r));
        }
        results.push(ScenarioResult {
            scenario: s,
            seeds,
            models: out,
        });
    }
    Ok(results)
}

/// `roost arena`: runs everything asked for and writes the table (or JSON) to `out`, and the
/// CSV files if asked.
pub fn run(args: &ArenaArgs, out: &mut dyn std::io::Write) -> Result<(), ArenaError> {
    let results = run_all(args)?;
    if let Some(dir) = &args.csv {
        report::write_csv(dir, &results)?;
    }
    if args.json {
        report::write_json(out, &results)?;
    } else {
        report::write_table(out, &results)?;
    }
    Ok(())
}
