//! Native mode: the Redis writes of Slips' `db.set_evidence` (spec B.4.3), done by the relay's
//! publisher thread for the P2P evidence roost creates, so that Slips' evidence handler finds
//! and treats them exactly like evidence a Slips module set.
//!
//! What is done, in Slips' order (`DBManager.set_evidence` -> `AlertHandler.set_evidence` ->
//! `DBManager.update_threat_level`, Slips 1.1.21):
//! 1. `add_profile` when the profile is new: `ZADD profiles` (kept to 2000 entries), the
//!    `profile_<ip>` fields `starttime`, `duration` (the time-window width), `confidence`
//!    (0.05) with the extended TTL, and `PUBLISH new_ip` (the `ip_info` module enriches new
//!    addresses from it).
//! 2. The time window: given (MALICIOUS_IP_FROM_P2P_NETWORK), or for P2P_REPORT the window of
//!    the report time in `tws<profile>`, else computed from `analysis`/`file_start` and the
//!    width and added to `tws<profile>` (`get_tw_of_ts`, `get_timewindow`, `add_new_tw`).
//! 3. `HSET flows_causing_evidence <id> <uids JSON>` (+ `EXPIRE NX` default TTL).
//! 4. The duplicate checks: the id already in `profile_<ip>_timewindow<n>_evidence`, or in
//!    `whitelisted_evidence`.
//! 5. In one `MULTI`: `HSET profile_<ip>_timewindow<n>_evidence <id> <json>`,
//!    `INCR number_of_evidence`, `PUBLISH evidence_added <json + version>`.
//! 6. `update_threat_level` of the attacker's profile: `threat_level`, `max_threat_level`,
//!    and in the cache database `IPsInfo:score` (the maximum level's value) and
//!    `IPsInfo:confidence` (+ `HEXPIRE NX`, skipped where Redis is older than 7.4).
//!
//! Left out, on purpose:
//! - `publish new_profile`: no Slips module subscribes to it.
//! - The interface lookup (`_get_evidence_interface`): roost's evidence has no flow of its
//!   own (P2P_REPORT) or only a uid it cannot resolve; it keeps `"default"`, which is what
//!   Slips sets when it reads one interface or a file.
//! - `parameters.disabled_detections` is applied by the bridge (from roost's own config:
//!   Slips keeps that list in its YAML, not in Redis).
//! - AS / rDNS / SNI / TI enrichment of the attacker: it only fills display fields and needs
//!   Slips' caches; `new_ip` makes Slips' `ip_info` module fetch them anyway.
//! - The SQLite `slips_reputation` row in `trustdb.db`: that database belongs to Dovecot,
//!   which native mode replaces; roost keeps its own store.
//! - `msgs_published_at_runtime` counters (statistics only).
//! - The threat-level update for the MALICIOUS_IP_FROM_P2P_NETWORK copy whose attacker is
//!   the local host (`saddr`): Slips would raise the local host's own score because the
//!   network distrusts the address it talked to. The evidence itself is stored as Slips does.

use std::net::IpAddr;

use redis::{Connection, RedisError, RedisResult};

use crate::slips::evidence::{
    evidence_added_json, new_ip_json, score_text_of_level, slips_timewindow, EvidenceKind,
    EvidenceWindow, P2pEvidence,
};
use crate::slips::json_text::push_py_str;
use crate::slips::native::{py_float_text, threat_level_value};

/// Channel Slips' evidence handler reads new evidence from.
pub const EVIDENCE_ADDED: &str = "evidence_added";
/// Channel on which Slips announces a new profile's address.
pub const NEW_IP: &str = "new_ip";

/// One evidence to store, as the bridge asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceJob {
    /// The evidence (its time window is filled in when `window` asks for it).
    pub evidence: P2pEvidence,
    /// `starttime` of the profile if it is created.
    pub profile_start: f64,
    /// How the time window is found.
    pub window: EvidenceWindow,
}

/// The Slips settings the writes depend on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlipsTimes {
    /// `parameters.time_window_width` in seconds.
    pub width: f64,
}

impl SlipsTimes {
    /// Slips' `default_ttl` on live input: two time windows.
    pub fn default_ttl(&self) -> i64 {
        (2.0 * self.width).min(i64::MAX as f64) as i64
    }

    /// Slips' `extended_ttl` on live input: 48 time windows.
    pub fn extended_ttl(&self) -> i64 {
        (48.0 * self.width).min(i64::MAX as f64) as i64
    }
}

/// What happened to one evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// Written, published, threat level updated; the final time window number.
    Set {
        /// `timewindow.number` it was stored under.
        timewindow: i64,
    },
    /// Slips already had an evidence with this id in that time window.
    Duplicate,
    /// Slips whitelisted this evidence id.
    Whitelisted,
}

/// `json.dumps(uids)`.
fn uids_json(uids: &[String]) -> String {
    let mut s = String::from("[");
    for (i, u) in uids.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        push_py_str(&mut s, u);
    }
    s.push(']');
    s
}

/// `EXPIRE key ttl NX`: needs Redis >= 7.0; on older servers the key keeps no TTL, which is
/// what Slips gets there too (its call fails the same way).
fn expire_nx(con: &mut Connection, key: &str, ttl: i64) {
    let r: RedisResult<redis::Value> = redis::cmd("EXPIRE").arg(key).arg(ttl).arg("NX").query(con);
    if let Err(e) = r {
        tracing::debug!(key, error = %e, "EXPIRE NX failed (Redis < 7.0?)");
    }
}

/// `HEXPIRE key ttl NX FIELDS 1 field`: Redis >= 7.4 only; silently skipped elsewhere.
fn hexpire_nx(con: &mut Connection, key: &str, ttl: i64, field: &str) {
    let r: RedisResult<redis::Value> = redis::cmd("HEXPIRE")
        .arg(key)
        .arg(ttl)
        .arg("NX")
        .arg("FIELDS")
        .arg(1)
        .arg(field)
        .query(con);
    if let Err(e) = r {
        tracing::debug!(key, error = %e, "HEXPIRE failed (Redis < 7.4?)");
    }
}

/// Slips' `add_profile`: creates `profile_<ip>` unless `profiles` already has it.
fn add_profile(
    con: &mut Connection,
    ip: IpAddr,
    start: f64,
    times: SlipsTimes,
    version: &str,
) -> RedisResult<()> {
    let profile = format!("profile_{ip}");
    let known: Option<f64> = redis::cmd("ZSCORE")
        .arg("profiles")
        .arg(&profile)
        .query(con)?;
    if known.is_some() {
        return Ok(());
    }
    redis::pipe()
        .cmd("ZADD")
        .arg("profiles")
        .arg(start)
        .arg(&profile)
        .ignore()
        .cmd("ZREMRANGEBYRANK")
        .arg("profiles")
        .arg(0)
        .arg(-2001)
        .ignore()
        .cmd("HSET")
        .arg(&profile)
        .arg("starttime")
        .arg(py_float_text(start))
        .arg("duration")
        .arg(py_float_text(times.width))
        .arg("confidence")
        .arg("0.05")
        .ignore()
        .query::<()>(con)?;
    expire_nx(con, &profile, times.extended_ttl());
    redis::cmd("PUBLISH")
        .arg(NEW_IP)
        .arg(new_ip_json(ip, version))
        .query::<redis::Value>(con)?;
    Ok(())
}

/// The number in `timewindow<n>`.
fn tw_number(twid: &str) -> Option<i64> {
    twid.strip_prefix("timewindow")?.parse().ok()
}

/// Slips' `get_tw_of_ts`, falling back to `get_timewindow` (which records a new window in
/// `tws<profile>`), for a P2P_REPORT at unix time `ts`.
fn timewindow_of(
    con: &mut Connection,
    profile: &str,
    ts: f64,
    times: SlipsTimes,
) -> RedisResult<i64> {
    let tws = format!("tws{profile}");
    let found: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
        .arg(&tws)
        .arg("-inf")
        .arg(ts)
        .arg("WITHSCORES")
        .query(con)?;
    if let Some(n) = found.last().and_then(|(twid, _)| tw_number(twid)) {
        return Ok(n);
    }
    let first: Option<String> = redis::cmd("HGET")
        .arg("analysis")
        .arg("file_start")
        .query(con)?;
    let first = first.and_then(|f| f.trim().parse::<f64>().ok());
    let (n, start) = slips_timewindow(ts, first, times.width);
    let twid = format!("timewindow{n}");
    let have: Option<f64> = redis::cmd("ZSCORE").arg(&tws).arg(&twid).query(con)?;
    if have.is_none() {
        redis::pipe()
            .cmd("ZADD")
            .arg(&tws)
            .arg(start)
            .arg(&twid)
            .ignore()
            .cmd("ZREMRANGEBYRANK")
            .arg(&tws)
            .arg(0)
            .arg(-51)
            .ignore()
            .cmd("EXPIRE")
            .arg(&tws)
            .arg(times.extended_ttl())
            .ignore()
            .query::<()>(con)?;
    }
    Ok(n)
}

/// Slips' `update_threat_level` on DB 0 (`threat_level`, `max_threat_level` of the
/// attacker's profile); returns the level name whose value goes to `IPsInfo:score`.
fn update_threat_level(
    con: &mut Connection,
    attacker: IpAddr,
    level: &str,
    times: SlipsTimes,
) -> RedisResult<String> {
    let profile = format!("profile_{attacker}");
    redis::cmd("HSET")
        .arg(&profile)
        .arg("threat_level")
        .arg(level)
        .query::<()>(con)?;
    expire_nx(con, &profile, times.extended_ttl());
    let old: Option<String> = redis::cmd("HGET")
        .arg(&profile)
        .arg("max_threat_level")
        .query(con)?;
    let old_value = old.as_deref().and_then(threat_level_value);
    let new_value = threat_level_value(level).unwrap_or(0.0);
    match (old, old_value) {
        (Some(old), Some(v)) if v >= new_value => Ok(old),
        _ => {
            redis::cmd("HSET")
                .arg(&profile)
                .arg("max_threat_level")
                .arg(level)
                .query::<()>(con)?;
            expire_nx(con, &profile, times.extended_ttl());
            Ok(level.to_owned())
        }
    }
}

/// Slips' `set_ip_info(ip, {"score": ..., "confidence": ...})` in the cache database.
fn set_ip_info(
    cache: &mut Connection,
    ip: IpAddr,
    score: &str,
    confidence: f64,
    times: SlipsTimes,
) -> RedisResult<()> {
    let field = ip.to_string();
    for (key, value) in [
        ("IPsInfo:score", score.to_owned()),
        ("IPsInfo:confidence", py_float_text(confidence)),
    ] {
        redis::cmd("HSET")
            .arg(key)
            .arg(&field)
            .arg(value)
            .query::<()>(cache)?;
        hexpire_nx(cache, key, times.default_ttl(), &field);
    }
    Ok(())
}

/// Stores one evidence in Slips' Redis (`con`, DB 0) and updates `IPsInfo` through `cache`
/// (DB 1) when it is connected. An error means the evidence itself was not stored (earlier
/// steps are idempotent, so a retry is safe). Failures after the evidence is in are logged
/// and returned as success; a failed cache connection is dropped (set to `None`).
pub fn store_evidence(
    con: &mut Connection,
    cache: &mut Option<Connection>,
    job: &EvidenceJob,
    times: SlipsTimes,
    version: &str,
) -> Result<Stored, RedisError> {
    let mut ev = job.evidence.clone();
    ev.confidence = ev.confidence.min(1.0);
    add_profile(con, ev.profile, job.profile_start, times, version)?;
    let profile = format!("profile_{}", ev.profile);
    if let EvidenceWindow::OfTime(ts) = job.window {
        ev.timewindow = timewindow_of(con, &profile, ts, times)?;
    }
    redis::cmd("HSET")
        .arg("flows_causing_evidence")
        .arg(&ev.id)
        .arg(uids_json(&ev.uid))
        .query::<()>(con)?;
    expire_nx(con, "flows_causing_evidence", times.default_ttl());
    let key = format!("{profile}_timewindow{}_evidence", ev.timewindow);
    let exists: bool = redis::cmd("HEXISTS").arg(&key).arg(&ev.id).query(con)?;
    if exists {
        return Ok(Stored::Duplicate);
    }
    let whitelisted: bool = redis::cmd("SISMEMBER")
        .arg("whitelisted_evidence")
        .arg(&ev.id)
        .query(con)?;
    if whitelisted {
        return Ok(Stored::Whitelisted);
    }
    let json = ev.to_json();
    redis::pipe()
        .atomic()
        .cmd("HSET")
        .arg(&key)
        .arg(&ev.id)
        .arg(&json)
        .ignore()
        .cmd("INCR")
        .arg("number_of_evidence")
        .ignore()
        .cmd("PUBLISH")
        .arg(EVIDENCE_ADDED)
        .arg(evidence_added_json(&json, version))
        .ignore()
        .query::<()>(con)?;
    let local_host_copy =
        ev.kind == EvidenceKind::MaliciousIpFromP2pNetwork && ev.attacker != ev.profile;
    if !local_host_copy {
        // The evidence is in: from here on a failure is logged, not retried (a retry would
        // find the id and stop at the duplicate check anyway).
        let level = ev.threat_level.to_ascii_lowercase();
        match update_threat_level(con, ev.attacker, &level, times) {
            Ok(max) => {
                if let (Some(c), Some(score)) = (cache.as_mut(), score_text_of_level(&max)) {
                    if let Err(e) = set_ip_info(c, ev.attacker, score, ev.confidence, times) {
                        tracing::warn!(error = %e, ip = %ev.attacker, "cannot update IPsInfo in Slips' cache database");
                        *cache = None;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, ip = %ev.attacker, "evidence stored, but its threat level could not be updated");
            }
        }
    }
    Ok(Stored::Set {
        timewindow: ev.timewindow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_pieces() {
        assert_eq!(uids_json(&[String::new()]), r#"[""]"#);
        assert_eq!(uids_json(&["a".into(), "b".into()]), r#"["a", "b"]"#);
        assert_eq!(tw_number("timewindow-3"), Some(-3));
        assert_eq!(tw_number("tw3"), None);
        let t = SlipsTimes { width: 3600.0 };
        assert_eq!((t.default_ttl(), t.extended_ttl()), (7200, 172_800));
    }
}
