//! Output of arena results: the human table, the JSON contract and the per-click CSV files.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::scenario::{ArenaKind, DAdversary, DPlan};
use super::{ArenaError, ScenarioResult, Summary};

/// Metrics where smaller is better (for "best baseline").
fn lower_is_better(metric: &str) -> bool {
    matches!(
        metric,
        "tdp"
            | "mse"
            | "wrong_mass"
            | "pbdp"
            | "recovery"
            | "recovery_median"
            | "ends_wrong"
            | "rec_shift"
            | "rec_shift_10"
    )
}

/// The metric a scenario is judged on first: its first target's, else the arena's headline.
fn key_metric(r: &ScenarioResult) -> String {
    r.scenario
        .target
        .first()
        .map(|t| t.metric.clone())
        .unwrap_or_else(|| match r.scenario.arena {
            ArenaKind::D => "accuracy".to_owned(),
            _ => "tdp".to_owned(),
        })
}

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// The public JSON contract:
/// `{"scenarios":[{"id","arena","seeds","models":{name:{metric:{"mean","sd"}}}}]}`.
pub fn write_json(out: &mut dyn Write, results: &[ScenarioResult]) -> Result<(), ArenaError> {
    let scenarios: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut models = Map::new();
            for (name, m) in &r.models {
                let mut metrics = Map::new();
                for (k, s) in &m.metrics {
                    metrics.insert(k.clone(), json!({"mean": num(s.mean), "sd": num(s.sd)}));
                }
                models.insert(name.clone(), Value::Object(metrics));
            }
            json!({
                "id": r.scenario.id,
                "arena": r.scenario.arena.letter(),
                "seeds": r.seeds,
                "models": Value::Object(models),
            })
        })
        .collect();
    let doc = json!({ "scenarios": scenarios });
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// One CSV per scenario, `model,click,series,value`, for the "trust over time" plots.
pub fn write_csv(dir: &Path, results: &[ScenarioResult]) -> Result<(), ArenaError> {
    std::fs::create_dir_all(dir)?;
    for r in results {
        let mut f = std::io::BufWriter::new(std::fs::File::create(
            dir.join(format!("{}.csv", r.scenario.id)),
        )?);
        writeln!(f, "model,click,series,value")?;
        for (name, m) in &r.models {
            for (series, values) in &m.series {
                for (k, v) in values.iter().enumerate() {
                    writeln!(f, "{name},{k},{series},{v}")?;
                }
            }
        }
        f.flush()?;
    }
    Ok(())
}

fn cell(s: Option<&Summary>) -> String {
    match s {
        Some(s) if s.mean.is_finite() => format!("{:.3}±{:.3}", s.mean, s.sd),
        _ => "-".to_owned(),
    }
}

/// The human table: one block per scenario, one row per model, then roost against the best
/// baseline and the target verdicts; Arena D aggregates at the end.
pub fn write_table(out: &mut dyn Write, results: &[ScenarioResult]) -> Result<(), ArenaError> {
    for r in results {
        let s = &r.scenario;
        let mut cols: Vec<&str> = match s.arena {
            ArenaKind::D => vec!["accuracy", "accuracy_w04", "accuracy_w06"],
            _ => vec!["tdp", "acc_post", "acc_tail", "wrong_mass", "pbdp"],
        };
        if s.recommendations {
            cols.extend(["rec_shift", "rec_shift_10"]);
        }
        writeln!(
            out,
            "== {} (arena {}, {} seed{}){}{}",
            s.id,
            s.arena.letter(),
            r.seeds,
            if r.seeds == 1 { "" } else { "s" },
            if s.description.is_empty() { "" } else { ": " },
            s.description
        )?;
        // Wide enough for the longest model name (e.g. `fides:threshold05/wavg/0.95+rec`).
        let w = r.models.iter().map(|(n, _)| n.len()).fold(28, usize::max);
        write!(out, "{:<w$}", "model")?;
        for c in &cols {
            write!(out, " {c:>13}")?;
        }
        writeln!(out, "  reference")?;
        for (name, m) in &r.models {
            write!(out, "{name:<w$}")?;
            for c in &cols {
                write!(out, " {:>13}", cell(m.metrics.get(*c)))?;
            }
            let refs = s
                .reference
                .get(name)
                .map(|rm| {
                    rm.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            writeln!(out, "  {refs}")?;
        }
        let key = key_metric(r);
        let roost = r
            .models
            .iter()
            .find(|(n, _)| n == "roost")
            .and_then(|(_, m)| m.metrics.get(&key))
            .map(|s| s.mean);
        let best = r
            .models
            .iter()
            .filter(|(n, _)| n != "roost")
            .filter_map(|(n, m)| m.metrics.get(&key).map(|s| (n, s.mean)))
            .filter(|(_, v)| v.is_finite())
            .fold(None::<(&String, f64)>, |acc, (n, v)| match acc {
                None => Some((n, v)),
                Some((_, bv))
                    if (lower_is_better(&key) && v < bv) || (!lower_is_better(&key) && v > bv) =>
                {
                    Some((n, v))
                }
                keep => keep,
            });
        if let (Some(rv), Some((bn, bv))) = (roost, best) {
            let why = match &s.mirror_of {
                Some(m) => format!(" (non-identifiable: mirror of {m}, docs/trust-gaps.md)"),
                None => String::new(),
            };
            writeln!(
                out,
                "   roost - best baseline ({bn}) on {key}: {:+.3}{why}",
                rv - bv
            )?;
        }
        for t in &s.target {
            let v = r
                .models
                .iter()
                .find(|(n, _)| n == "roost")
                .and_then(|(_, m)| m.metrics.get(&t.metric))
                .map(|s| s.mean);
            let op = match t.op {
                super::scenario::Op::Ge => ">=",
                super::scenario::Op::Le => "<=",
            };
            let verdict = match v {
                Some(v) if t.met(v) => "PASS".to_owned(),
                Some(v) if v.is_finite() => format!("FAIL ({v:.3})"),
                _ => "not run".to_owned(),
            };
            writeln!(out, "   target {} {op} {}: {verdict}", t.metric, t.value)?;
        }
        writeln!(out)?;
    }
    write_d_summary(out, results)?;
    write_sweep_summary(out, results)
}

/// F-SW aggregates (trust-arena.md 4.2, target F-e): per pre-trust group, the mean over
/// populations of tdp and acc_tail, and in how many populations most seeds end correct.
fn write_sweep_summary(out: &mut dyn Write, results: &[ScenarioResult]) -> Result<(), ArenaError> {
    for (suffix, label) in [("_pre0", "no pre-trust"), ("_pre2", "2 pre-trusted")] {
        let group: Vec<&ScenarioResult> = results
            .iter()
            .filter(|r| r.scenario.id.starts_with("FSW_") && r.scenario.id.ends_with(suffix))
            .collect();
        if group.len() < 2 {
            continue;
        }
        writeln!(
            out,
            "== F-SW summary, {label} ({} populations; means of per-population seed means)",
            group.len()
        )?;
        writeln!(
            out,
            "{:<28} {:>8} {:>9} {:>14}",
            "model", "tdp", "acc_tail", "mostly right"
        )?;
        let mut names: Vec<&String> = Vec::new();
        for r in &group {
            for (n, _) in &r.models {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        for n in names {
            let (mut tdp, mut tail, mut right, mut count) = (0.0, 0.0, 0usize, 0usize);
            for r in &group {
                let Some((_, m)) = r.models.iter().find(|(x, _)| x == n) else {
                    continue;
                };
                let get = |k: &str| m.metrics.get(k).map(|s| s.mean).unwrap_or(f64::NAN);
                tdp += get("tdp");
                tail += get("acc_tail");
                if get("ends_wrong") < 0.5 {
                    right += 1;
                }
                count += 1;
            }
            if count == 0 {
                continue;
            }
            let c = count as f64;
            writeln!(
                out,
                "{n:<28} {:>8.3} {:>9.3} {:>9} of {count}",
                tdp / c,
                tail / c,
                right
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Arena D aggregates: mean, minimum, mean over the liar-majority scenarios, and how many
/// scenarios fall below the IDS-only floor of 0.750.
fn write_d_summary(out: &mut dyn Write, results: &[ScenarioResult]) -> Result<(), ArenaError> {
    let d: Vec<&ScenarioResult> = results
        .iter()
        .filter(|r| r.scenario.arena == ArenaKind::D)
        .collect();
    if d.len() < 2 {
        return Ok(());
    }
    let mut names: Vec<&String> = Vec::new();
    for r in &d {
        for (n, _) in &r.models {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    writeln!(
        out,
        "== Arena D summary ({} scenarios; accuracy at t=0.3, w=0.5)",
        d.len()
    )?;
    writeln!(
        out,
        "{:<28} {:>8} {:>8} {:>14} {:>12}",
        "model", "mean", "min", "liars>=50%", "below 0.750"
    )?;
    for n in names {
        let mut all = Vec::new();
        let mut liars = Vec::new();
        for r in &d {
            let Some((_, m)) = r.models.iter().find(|(m, _)| m == n) else {
                continue;
            };
            let Some(a) = m.metrics.get("accuracy") else {
                continue;
            };
            all.push(a.mean);
            let s = &r.scenario;
            if s.adversary.is_some_and(|a| a != DAdversary::None)
                && s.honest.unwrap_or(10) <= 5
                && s.plan != Some(DPlan::Victims)
            {
                liars.push(a.mean);
            }
        }
        if all.is_empty() {
            continue;
        }
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        let min = all.iter().copied().fold(f64::INFINITY, f64::min);
        let lm = if liars.is_empty() {
            f64::NAN
        } else {
            liars.iter().sum::<f64>() / liars.len() as f64
        };
        let below = all.iter().filter(|&&a| a < 0.75 - 1e-9).count();
        writeln!(out, "{n:<28} {mean:>8.3} {min:>8.3} {lm:>14.3} {below:>12}")?;
    }
    writeln!(out)?;
    Ok(())
}
