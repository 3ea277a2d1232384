//! Human-readable tables for the CLI, made from the JSON the daemon returns, so `--json`
//! prints the value as is and the default output is a table built from the same value.
//!
//! The JSON shapes are a public contract (scripts consume `--json`):
//!
//! - `status`: `{id, network, peers_active, peers_known, mode, redis}` where `redis` is
//!   `"connected" | "disconnected" | "off"` (extra keys are allowed and shown).
//! - `peers`: array of `{id, state ("active"|"inactive"), addr, reliability, trust,
//!   last_seen (unix s)}`.
//! - `ask`: `{ioc, threat, confidence (null when nobody knew), answers: [{peer, threat,
//!   confidence}], asked, answered, elapsed_ms}`.
//! - `opinion`: `{ioc, threat, confidence, reports: [{peer, kind ("report"|"blame"), threat,
//!   confidence, at (unix s)}]}`.
//!
//! Rendering never fails: a missing or mistyped field shows as `-`.

use serde_json::Value;

use super::ControlRequest;

/// Renders the `Ok` value of any request in its human form; `now_unix` (seconds) turns
/// timestamps into ages.
pub fn human(req: &ControlRequest, value: &Value, now_unix: u64) -> String {
    match req {
        ControlRequest::Status => status(value),
        ControlRequest::Peers => peers(value, now_unix),
        ControlRequest::Ask { .. } => ask(value),
        ControlRequest::Opinion { .. } => opinion(value, now_unix),
        ControlRequest::Report { .. } | ControlRequest::Blame { .. } | ControlRequest::Shutdown => {
            match value {
                Value::Null => "ok\n".to_string(),
                Value::String(s) => format!("{s}\n"),
                Value::Object(map) => {
                    let mut out = String::new();
                    for (k, v) in map {
                        push_field(&mut out, k, v);
                    }
                    out
                }
                other => format!("{other}\n"),
            }
        }
    }
}

/// Appends `key: value`; a nested object (such as the status counters) becomes indented
/// lines showing only its non-zero numbers, so the human form stays short.
fn push_field(out: &mut String, key: &str, val: &Value) {
    match val {
        Value::String(s) => out.push_str(&format!("{key}: {s}\n")),
        Value::Object(inner) => {
            out.push_str(&format!("{key}:\n"));
            let mut shown = 0;
            for (k, v) in inner {
                if v.as_f64() == Some(0.0) {
                    continue;
                }
                shown += 1;
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push_str(&format!("  {k}: {text}\n"));
            }
            if shown == 0 {
                out.push_str("  (all zero)\n");
            }
        }
        other => out.push_str(&format!("{key}: {other}\n")),
    }
}

/// Text of a scalar field, `-` when missing or null.
fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A threat/confidence/trust number with two decimals, `-` when missing or null.
fn num(v: &Value, key: &str) -> String {
    match v.get(key).and_then(Value::as_f64) {
        Some(x) => format!("{x:.2}"),
        None => "-".to_string(),
    }
}

/// "12s ago" style age of a unix timestamp field.
fn ago(v: &Value, key: &str, now_unix: u64) -> String {
    let Some(t) = v.get(key).and_then(Value::as_u64) else {
        return "-".to_string();
    };
    let d = now_unix.saturating_sub(t);
    match d {
        0..=119 => format!("{d}s ago"),
        120..=7199 => format!("{}m ago", d / 60),
        7200..=172_799 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86_400),
    }
}

/// Left-aligned columns separated by two spaces.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (cell, w) in cells.zip(&widths) {
            l.push_str(cell);
            l.push_str(&" ".repeat(w.saturating_sub(cell.chars().count()) + 2));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// `roost status` as "key: value" lines.
pub fn status(v: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!("id:       {}\n", text(v, "id")));
    out.push_str(&format!("network:  {}\n", text(v, "network")));
    out.push_str(&format!(
        "peers:    {} active, {} known\n",
        text(v, "peers_active"),
        text(v, "peers_known")
    ));
    out.push_str(&format!("mode:     {}\n", text(v, "mode")));
    out.push_str(&format!("redis:    {}\n", text(v, "redis")));
    if let Some(map) = v.as_object() {
        let known = [
            "id",
            "network",
            "peers_active",
            "peers_known",
            "mode",
            "redis",
        ];
        for (k, val) in map.iter().filter(|(k, _)| !known.contains(&k.as_str())) {
            push_field(&mut out, k, val);
        }
    }
    out
}

/// `roost peers` as a table.
pub fn peers(v: &Value, now_unix: u64) -> String {
    let list = v.as_array().map(Vec::as_slice).unwrap_or(&[]);
    if list.is_empty() {
        return "no peers known yet\n".to_string();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                text(p, "id"),
                text(p, "state"),
                text(p, "addr"),
                num(p, "reliability"),
                num(p, "trust"),
                ago(p, "last_seen", now_unix),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "STATE",
            "ADDRESS",
            "RELIABILITY",
            "TRUST",
            "LAST SEEN",
        ],
        &rows,
    )
}

/// The one-line verdict shared by `ask` and `opinion`.
fn verdict(v: &Value, nobody: &str) -> String {
    if v.get("confidence").and_then(Value::as_f64).is_none() {
        nobody.to_string()
    } else {
        format!(
            "threat {}, confidence {}",
            num(v, "threat"),
            num(v, "confidence")
        )
    }
}

/// `roost ask` as a verdict plus the table of answers.
pub fn ask(v: &Value) -> String {
    let mut out = format!(
        "ioc:       {}\nverdict:   {}\nanswered:  {} of {} asked peers in {} ms\n",
        text(v, "ioc"),
        verdict(v, "nobody knew"),
        text(v, "answered"),
        text(v, "asked"),
        text(v, "elapsed_ms"),
    );
    let answers = v
        .get("answers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !answers.is_empty() {
        let rows: Vec<Vec<String>> = answers
            .iter()
            .map(|a| vec![text(a, "peer"), num(a, "threat"), num(a, "confidence")])
            .collect();
        out.push('\n');
        out.push_str(&table(&["PEER", "THREAT", "CONFIDENCE"], &rows));
    }
    out
}

/// `roost opinion` as the current belief plus the reports behind it.
pub fn opinion(v: &Value, now_unix: u64) -> String {
    let mut out = format!(
        "ioc:       {}\nopinion:   {}\n",
        text(v, "ioc"),
        verdict(v, "no opinion yet"),
    );
    let reports = v
        .get("reports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !reports.is_empty() {
        let rows: Vec<Vec<String>> = reports
            .iter()
            .map(|r| {
                vec![
                    text(r, "peer"),
                    text(r, "kind"),
                    num(r, "threat"),
                    num(r, "confidence"),
                    ago(r, "at", now_unix),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["PEER", "KIND", "THREAT", "CONFIDENCE", "AGE"],
            &rows,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn peers_table_aligns_and_ages() {
        let v = json!([
            {"id": "alice", "state": "active", "addr": "10.0.0.2:47777",
             "reliability": 0.9, "trust": 0.75, "last_seen": 999_990},
            {"id": "bob-long-name", "state": "inactive", "addr": "10.0.0.3:47777",
             "reliability": 0.1, "trust": null, "last_seen": 1_000_000 - 3 * 86_400}
        ]);
        let t = peers(&v, 1_000_000);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID             STATE"));
        assert!(lines[1].contains("active") && lines[1].contains("0.75"));
        assert!(lines[1].ends_with("10s ago"));
        assert!(lines[2].contains("  -  ") && lines[2].ends_with("3d ago"));
        assert_eq!(peers(&json!([]), 0), "no peers known yet\n");
    }

    #[test]
    fn ask_shows_nobody_knew_and_answers() {
        let v = json!({"ioc": "ip:1.2.3.4", "threat": null, "confidence": null,
                       "answers": [], "asked": 3, "answered": 0, "elapsed_ms": 3000});
        let t = ask(&v);
        assert!(t.contains("nobody knew"));
        assert!(t.contains("0 of 3 asked peers in 3000 ms"));
        let v = json!({"ioc": "ip:1.2.3.4", "threat": 0.8, "confidence": 0.6,
                       "answers": [{"peer": "alice", "threat": 0.8, "confidence": 0.6}],
                       "asked": 1, "answered": 1, "elapsed_ms": 12});
        let t = ask(&v);
        assert!(t.contains("threat 0.80, confidence 0.60"));
        assert!(t.contains("PEER   THREAT  CONFIDENCE"));
    }

    #[test]
    fn opinion_and_status_tolerate_missing_fields() {
        let t = opinion(&json!({"ioc": "domain:x.org"}), 0);
        assert!(t.contains("no opinion yet"));
        let t = status(&json!({"id": "me", "redis": "off", "uptime_s": 5}));
        assert!(t.contains("id:       me"));
        assert!(t.contains("peers:    - active, - known"));
        assert!(t.contains("uptime_s: 5"));
        let t = status(&json!({"id": "me", "counters": {"rx": 3, "dropped": 0}}));
        assert!(t.contains("counters:\n  rx: 3\n"), "{t}");
        assert!(!t.contains("dropped"));
        let shared = json!({"ioc": "ip:1.2.3.4", "kind": "report", "sent": true});
        let req = ControlRequest::Report {
            ioc: "1.2.3.4".into(),
            threat: 1.0,
            confidence: 1.0,
        };
        assert_eq!(
            human(&req, &shared, 0),
            "ioc: ip:1.2.3.4\nkind: report\nsent: true\n"
        );
        assert_eq!(
            human(&ControlRequest::Shutdown, &Value::Null, 0),
            "ok\n".to_string()
        );
    }
}
