//! Native mode: roost replaces Slips' whole P2P module (Dovecot and Pigeon) and talks to
//! Slips' core directly (spec part B).
//!
//! Inbound: `report_to_peers` (an evidence Slips just produced; share it?) and
//! `p2p_data_request` (Slips wants the network's opinion on an IP). Outbound: `new_blame`,
//! the `peer_trust` hash, and reads of the `IPsInfo:*` hashes Slips keeps in the cache
//! database (DB 1) to answer peers. Parsing and building live here, pure; the relay does
//! the Redis IO.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::ioc::{Evaluation, Ioc};
use crate::slips::dovecot::{truncate, DovecotError, EVALUATION_TYPE};
use crate::slips::json_text::{push_py_float, push_py_str};

/// Largest evidence / request payload accepted (a real evidence is ~1 KB).
pub const MAX_NATIVE_BYTES: usize = 64 * 1024;

/// Channel on which Slips publishes evidence that may be shared.
pub const REPORT_TO_PEERS: &str = "report_to_peers";
/// Channel on which Slips asks for the network's opinion on an IP.
pub const P2P_DATA_REQUEST: &str = "p2p_data_request";
/// Channel on which Slips' evidence handler takes blames (it then blocks the IP).
pub const NEW_BLAME: &str = "new_blame";
/// Hash (DB 0) of peer IP -> trust, read by Slips' ARP filter.
pub const PEER_TRUST: &str = "peer_trust";

/// Slips' `ThreatLevel` names and values (`evidence.py`).
pub const THREAT_LEVELS: [(&str, f64); 5] = [
    ("info", 0.0),
    ("low", 0.2),
    ("medium", 0.5),
    ("high", 0.8),
    ("critical", 1.0),
];

/// The value of a threat level name, any case (Slips upper-cases before the lookup).
pub fn threat_level_value(name: &str) -> Option<f64> {
    let lower = name.to_ascii_lowercase();
    THREAT_LEVELS
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, v)| *v)
}

/// An evidence Slips produced that Dovecot would share with peers.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedEvidence {
    /// The attacker.
    pub ioc: Ioc,
    /// Threat = the evidence's threat level value, confidence = its confidence.
    pub evaluation: Evaluation,
    /// Slips' evidence type name, e.g. `HORIZONTAL_PORT_SCAN`.
    pub evidence_type: String,
    /// Slips' evidence id (a UUID), for deduplication and logs.
    pub evidence_id: String,
}

/// What to do with a `report_to_peers` evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum ShareDecision {
    /// Share it.
    Share(SharedEvidence),
    /// Well-formed, but Dovecot's rules say not to share it (the reason is for logs).
    Skip(&'static str),
}

fn object(payload: &[u8]) -> Result<Map<String, Value>, DovecotError> {
    if payload.len() > MAX_NATIVE_BYTES {
        return Err(DovecotError::TooLarge(payload.len()));
    }
    let text = std::str::from_utf8(payload).map_err(|_| DovecotError::NotUtf8)?;
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(DovecotError::NotObject),
        Err(e) => Err(DovecotError::NotJson(e.to_string())),
    }
}

fn str_field<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, DovecotError> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(DovecotError::WrongType(name)),
        None => Err(DovecotError::Missing(name)),
    }
}

/// Parses a `report_to_peers` payload (`json.dumps(to_dict(evidence))` + version) and applies
/// Dovecot's `should_share` rules: skip `P2P_REPORT` (never re-share what peers said), skip
/// attackers that are not IPs, skip zero confidence. Unlike Dovecot, roost also skips
/// `MALICIOUS_IP_FROM_P2P_NETWORK`, which Dovecot re-broadcasts (spec B.2): echoing the
/// network's own opinion back as a fresh report would count it twice.
pub fn parse_report_to_peers(payload: &[u8]) -> Result<ShareDecision, DovecotError> {
    let obj = object(payload)?;
    let evidence_type = str_field(&obj, "evidence_type")?;
    let evidence_id = str_field(&obj, "id")?;
    let attacker = match obj.get("attacker") {
        Some(Value::Object(a)) => a,
        Some(_) => return Err(DovecotError::WrongType("attacker")),
        None => return Err(DovecotError::Missing("attacker")),
    };
    let ioc_type = str_field(attacker, "ioc_type")?;
    let value = str_field(attacker, "value")?;
    let level = str_field(&obj, "threat_level")?;
    let threat = threat_level_value(level).ok_or_else(|| DovecotError::BadKey {
        key_type: "threat_level".into(),
        key: truncate(level),
    })?;
    let confidence = match obj.get("confidence") {
        Some(Value::Number(n)) => n.as_f64().ok_or(DovecotError::WrongType("confidence"))?,
        Some(_) => return Err(DovecotError::WrongType("confidence")),
        None => return Err(DovecotError::Missing("confidence")),
    };
    if !confidence.is_finite() || confidence < 0.0 {
        return Err(DovecotError::OutOfRange("confidence", confidence));
    }
    if evidence_type == "P2P_REPORT" {
        return Ok(ShareDecision::Skip("evidence came from peers"));
    }
    if evidence_type == "MALICIOUS_IP_FROM_P2P_NETWORK" {
        return Ok(ShareDecision::Skip("evidence is the network's own opinion"));
    }
    if ioc_type != "IP" {
        return Ok(ShareDecision::Skip("attacker is not an IP"));
    }
    if confidence == 0.0 {
        return Ok(ShareDecision::Skip("zero confidence"));
    }
    let ip: IpAddr = value.parse().map_err(|_| DovecotError::BadKey {
        key_type: "ip".into(),
        key: truncate(value),
    })?;
    // Slips clamps confidence to 1 when it stores evidence; do the same.
    let evaluation = Evaluation::new(threat, confidence.min(1.0))
        .map_err(|_| DovecotError::OutOfRange("confidence", confidence))?;
    Ok(ShareDecision::Share(SharedEvidence {
        ioc: Ioc::ip(ip),
        evaluation,
        evidence_type: truncate(evidence_type),
        evidence_id: truncate(evidence_id),
    }))
}

/// Slips asks what the network thinks of `ip` (`p2p_data_request`, spec B.2). The other
/// fields describe the flow, for the evidence roost sets if the network says "malicious".
#[derive(Debug, Clone, PartialEq)]
pub struct DataRequest {
    /// The IP to ask about.
    pub ip: IpAddr,
    /// Reuse a cached network opinion younger than this many seconds.
    pub cache_age: Option<f64>,
    /// `profileid` without its `profile_` prefix: the local host of the flow.
    pub profile_ip: Option<IpAddr>,
    /// `twid` without its `timewindow` prefix.
    pub timewindow: Option<u32>,
    /// `srcip` or `dstip`: which side of the flow `ip` was.
    pub ip_state: Option<String>,
    /// Flow start, unix seconds.
    pub stime: Option<f64>,
    /// Zeek uid of the flow.
    pub uid: Option<String>,
    /// Flow protocol as Slips wrote it.
    pub proto: Option<String>,
}

fn opt_str(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.get(name).and_then(Value::as_str).map(truncate)
}

fn opt_f64(obj: &Map<String, Value>, name: &str) -> Option<f64> {
    match obj.get(name) {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// Parses a `p2p_data_request` payload. Only `ip` is required (as in Dovecot); the flow
/// details are kept when they parse.
pub fn parse_data_request(payload: &[u8]) -> Result<DataRequest, DovecotError> {
    let obj = object(payload)?;
    let ip_text = str_field(&obj, "ip")?;
    let ip = ip_text.parse().map_err(|_| DovecotError::BadKey {
        key_type: "ip".into(),
        key: truncate(ip_text),
    })?;
    Ok(DataRequest {
        ip,
        cache_age: opt_f64(&obj, "cache_age").filter(|a| *a >= 0.0),
        profile_ip: obj
            .get("profileid")
            .and_then(Value::as_str)
            .and_then(|p| p.strip_prefix("profile_"))
            .and_then(|p| p.parse().ok()),
        timewindow: obj
            .get("twid")
            .and_then(Value::as_str)
            .and_then(|t| t.strip_prefix("timewindow"))
            .and_then(|t| t.parse().ok()),
        ip_state: opt_str(&obj, "ip_state"),
        stime: opt_f64(&obj, "stime"),
        uid: opt_str(&obj, "uid"),
        proto: opt_str(&obj, "proto"),
    })
}

/// The `new_blame` payload. `evaluation` is a JSON *string*, not an object: Slips stores it
/// with `HSET`, and redis-py refuses a dict there, which would kill the evidence handler
/// worker (spec B.3). `version` is appended as Slips' `publish` would.
pub fn new_blame_json(ip: IpAddr, evaluation: Evaluation, version: &str) -> String {
    let mut inner = String::from("{\"score\": ");
    push_py_float(&mut inner, evaluation.threat());
    inner.push_str(", \"confidence\": ");
    push_py_float(&mut inner, evaluation.confidence());
    inner.push('}');
    let mut s = String::from("{\"message_type\": \"blame\", \"key_type\": \"ip\", \"key\": ");
    push_py_str(&mut s, &ip.to_string());
    s.push_str(", \"evaluation_type\": ");
    push_py_str(&mut s, EVALUATION_TYPE);
    s.push_str(", \"evaluation\": ");
    push_py_str(&mut s, &inner);
    s.push_str(", \"version\": ");
    push_py_str(&mut s, version);
    s.push('}');
    s
}

/// The text Slips' redis-py would store for a float (`str(float)`), used for `peer_trust`.
pub fn py_float_text(x: f64) -> String {
    let mut s = String::new();
    push_py_float(&mut s, x);
    s
}

/// What Slips knows about an IP, from the raw `IPsInfo:threat_level`, `IPsInfo:score` and
/// `IPsInfo:confidence` hash values (DB 1), following `get_ip_info_from_slips` (spec B.5):
/// a threat level name wins over the score; no score or no confidence means no answer (where
/// Slips would crash on the missing confidence). Values are JSON-decoded when they can be.
pub fn ip_info_evaluation(
    threat_level: Option<&str>,
    score: Option<&str>,
    confidence: Option<&str>,
) -> Option<Evaluation> {
    fn decoded(raw: &str) -> Value {
        serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
    }
    fn as_f64(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    let threat = match threat_level.map(decoded) {
        Some(Value::String(name)) => threat_level_value(&name)?,
        Some(_) => return None,
        None => as_f64(&decoded(score?))?,
    };
    let confidence = as_f64(&decoded(confidence?))?;
    Evaluation::new(threat, confidence).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report_to_peers example of spec B.2 (generated there with the real dataclasses).
    const EVIDENCE: &str = r#"{"evidence_type": "HORIZONTAL_PORT_SCAN", "description": "Horizontal port scan to port 23/TCP. From 192.168.1.50 to 60 unique destination IPs. Total packets sent: 60. Confidence: 0.8. by Slips Threat level: medium.", "attacker": {"direction": "SRC", "ioc_type": "IP", "value": "192.168.1.50", "profile": {"ip": "192.168.1.50"}, "TI": null, "AS": null, "rDNS": null, "SNI": null, "DNS_resolution": null, "queries": null, "CNAME": null}, "threat_level": "MEDIUM", "profile": {"ip": "192.168.1.50"}, "timewindow": {"number": 1, "start_time": "", "end_time": ""}, "uid": ["CjkAbc1"], "timestamp": "2024/04/05 19:34:38.123000+0200", "interface": "eth0", "victim": null, "proto": "TCP", "dst_port": 23, "src_port": null, "method": "HEURISTIC", "id": "2b1d2e3f-1111-4a2b-9c3d-0123456789ab", "confidence": 0.8, "rel_id": null, "version": "1.1.21"}"#;

    #[test]
    fn shares_the_spec_evidence() {
        let d = parse_report_to_peers(EVIDENCE.as_bytes()).unwrap();
        assert_eq!(
            d,
            ShareDecision::Share(SharedEvidence {
                ioc: Ioc::ip("192.168.1.50".parse().unwrap()),
                evaluation: Evaluation::new(0.5, 0.8).unwrap(),
                evidence_type: "HORIZONTAL_PORT_SCAN".into(),
                evidence_id: "2b1d2e3f-1111-4a2b-9c3d-0123456789ab".into(),
            })
        );
    }

    #[test]
    fn applies_dovecot_share_rules() {
        let with = |from: &str, to: &str| EVIDENCE.replace(from, to);
        for (payload, why) in [
            (with("HORIZONTAL_PORT_SCAN", "P2P_REPORT"), "peers"),
            (
                with("HORIZONTAL_PORT_SCAN", "MALICIOUS_IP_FROM_P2P_NETWORK"),
                "network",
            ),
            (
                with(r#""ioc_type": "IP""#, r#""ioc_type": "DOMAIN""#),
                "not an IP",
            ),
            (
                with(
                    r#""confidence": 0.8, "rel_id""#,
                    r#""confidence": 0, "rel_id""#,
                ),
                "zero",
            ),
        ] {
            match parse_report_to_peers(payload.as_bytes()).unwrap() {
                ShareDecision::Skip(reason) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
        // "info" is shared with threat 0, as in Dovecot (enum members are truthy).
        let info = with(r#""threat_level": "MEDIUM""#, r#""threat_level": "info""#);
        match parse_report_to_peers(info.as_bytes()).unwrap() {
            ShareDecision::Share(e) => assert_eq!(e.evaluation.threat(), 0.0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_evidence() {
        let with = |from: &str, to: &str| EVIDENCE.replace(from, to);
        for bad in [
            "[]".to_owned(),
            "{".to_owned(),
            with(r#""threat_level": "MEDIUM""#, r#""threat_level": "severe""#),
            with(r#""threat_level": "MEDIUM""#, r#""threat_level": 0.5"#),
            with(r#""value": "192.168.1.50""#, r#""value": "not-an-ip""#),
            with(
                r#""confidence": 0.8, "rel_id""#,
                r#""confidence": "0.8", "rel_id""#,
            ),
            with(
                r#""confidence": 0.8, "rel_id""#,
                r#""confidence": -1, "rel_id""#,
            ),
            with(r#""attacker": {"#, r#""attacker": 5, "x": {"#),
        ] {
            assert!(parse_report_to_peers(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn data_request_from_spec() {
        let p = br#"{"to_lookup": "1.2.3.4", "profileid": "profile_192.168.1.5", "twid": "timewindow2", "proto": "TCP", "ip_state": "dstip", "stime": 1712345678.123, "uid": "CXyz12", "daddr": "1.2.3.4", "cache_age": 1000, "ip": "1.2.3.4", "version": "1.1.21"}"#;
        let r = parse_data_request(p).unwrap();
        assert_eq!(
            r,
            DataRequest {
                ip: "1.2.3.4".parse().unwrap(),
                cache_age: Some(1000.0),
                profile_ip: Some("192.168.1.5".parse().unwrap()),
                timewindow: Some(2),
                ip_state: Some("dstip".into()),
                stime: Some(1712345678.123),
                uid: Some("CXyz12".into()),
                proto: Some("TCP".into()),
            }
        );
        assert!(parse_data_request(br#"{"ip": "1.2.3"}"#).is_err());
        assert!(parse_data_request(br#"{"ip": 5}"#).is_err());
        assert!(parse_data_request(b"\"1.2.3.4\"").is_err());
        let minimal =
            parse_data_request(br#"{"ip": "::1", "stime": "17.5", "twid": "tw"}"#).unwrap();
        assert_eq!((minimal.stime, minimal.timewindow), (Some(17.5), None));
    }

    #[test]
    fn blame_carries_evaluation_as_a_string() {
        let j = new_blame_json(
            "1.2.3.4".parse().unwrap(),
            Evaluation::new(0.9, 0.8).unwrap(),
            "1.1.21",
        );
        assert_eq!(
            j,
            r#"{"message_type": "blame", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence", "evaluation": "{\"score\": 0.9, \"confidence\": 0.8}", "version": "1.1.21"}"#
        );
        let v: Value = serde_json::from_str(&j).unwrap();
        assert!(v["evaluation"].is_string());
    }

    #[test]
    fn ip_info_like_slips() {
        let e = |t, s, c| ip_info_evaluation(t, s, c).map(|e| (e.threat(), e.confidence()));
        assert_eq!(e(None, Some("0.8"), Some("0.6")), Some((0.8, 0.6)));
        assert_eq!(e(Some("high"), Some("0.1"), Some("0.6")), Some((0.8, 0.6)));
        assert_eq!(e(Some("\"critical\""), None, Some("1")), Some((1.0, 1.0)));
        assert_eq!(e(None, None, Some("0.6")), None);
        assert_eq!(e(None, Some("0.8"), None), None);
        assert_eq!(e(Some("bogus"), Some("0.8"), Some("0.6")), None);
        assert_eq!(e(None, Some("x"), Some("0.6")), None);
        assert_eq!(e(None, Some("1.5"), Some("0.6")), None);
        assert_eq!(py_float_text(0.595), "0.595");
        assert_eq!(py_float_text(1.0), "1.0");
    }
}
