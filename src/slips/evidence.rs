//! Native mode: the two evidence records Slips' P2P module creates, serialised exactly as
//! Slips' `utils.to_dict(evidence)` + `json.dumps` would (spec B.4), and the
//! `p2p_reports.log` lines (spec B.9).
//!
//! Only text and arithmetic live here (pure): the relay (`relay.rs`, `EvidenceWriter`) does
//! the Redis writes that Slips' `db.set_evidence` does, using [`slips_timewindow`],
//! [`score_text_of_level`], [`evidence_added_json`] and [`new_ip_json`] from this module.

use std::fmt::Write;
use std::net::IpAddr;

use crate::slips::json_text::{push_py_float, push_py_str};
use crate::slips::native::{DataRequest, THREAT_LEVELS};

/// The two evidence types of Slips' P2P module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// A peer reported an IP (`P2P_REPORT`, spec B.4.1).
    P2pReport,
    /// The network's opinion on an IP Slips asked about (`MALICIOUS_IP_FROM_P2P_NETWORK`,
    /// spec B.4.2).
    MaliciousIpFromP2pNetwork,
}

impl EvidenceKind {
    /// Slips' `EvidenceType` name.
    pub fn name(&self) -> &'static str {
        match self {
            EvidenceKind::P2pReport => "P2P_REPORT",
            EvidenceKind::MaliciousIpFromP2pNetwork => "MALICIOUS_IP_FROM_P2P_NETWORK",
        }
    }
}

/// Slips' `threat_level_to_string`: the first level whose value is >= `score`; `None` above 1
/// (or for NaN).
pub fn threat_level_for_score(score: f64) -> Option<&'static str> {
    THREAT_LEVELS
        .iter()
        .find(|(_, v)| score <= *v)
        .map(|(n, _)| *n)
}

/// The fields of a P2P evidence that vary; everything else is fixed by Slips' code paths.
#[derive(Debug, Clone, PartialEq)]
pub struct P2pEvidence {
    /// Which of the two.
    pub kind: EvidenceKind,
    /// Human-readable text, as Slips words it (see the constructors).
    pub description: String,
    /// `attacker.value` (always an IP here).
    pub attacker: IpAddr,
    /// `threat_level` exactly as serialised: `"medium"` for P2P_REPORT (Slips passes a plain
    /// string), `"MEDIUM"` for MALICIOUS_IP_FROM_P2P_NETWORK (an enum, serialised by name).
    pub threat_level: String,
    /// `profile.ip`.
    pub profile: IpAddr,
    /// `timewindow.number` (Slips' numbers can be 0 or negative for times before the first
    /// flow).
    pub timewindow: i64,
    /// Zeek uids of the flows.
    pub uid: Vec<String>,
    /// Slips' timestamp text.
    pub timestamp: String,
    /// A fresh UUID4 text (the caller supplies it; this module draws no randomness).
    pub id: String,
    /// In [0, 1].
    pub confidence: f64,
}

impl P2pEvidence {
    /// The `P2P_REPORT` evidence for a peer report about `attacker` (spec B.4.1). `timestamp`
    /// is the report time in Slips' alerts format, e.g. `2024/04/05 19:34:38.123000`.
    #[allow(clippy::too_many_arguments)]
    pub fn p2p_report(
        attacker: IpAddr,
        reporter: &str,
        reporter_ip: Option<IpAddr>,
        score: f64,
        confidence: f64,
        timewindow: i64,
        timestamp: String,
        id: String,
    ) -> Option<Self> {
        let mut conf = String::new();
        push_py_float(&mut conf, confidence);
        let rip = reporter_ip.map(|i| i.to_string()).unwrap_or_default();
        Some(P2pEvidence {
            kind: EvidenceKind::P2pReport,
            description: format!("attacking another peer: {rip} ({reporter}). confidence: {conf}"),
            attacker,
            threat_level: threat_level_for_score(score)?.to_owned(),
            profile: attacker,
            timewindow,
            uid: vec![String::new()],
            timestamp,
            id,
            confidence,
        })
    }

    /// The two `MALICIOUS_IP_FROM_P2P_NETWORK` evidences Slips sets when the network thinks
    /// the requested IP is malicious (spec B.4.2): one with the local host (`profileid`) as
    /// attacker, one with the requested IP, both in the requested IP's profile. `ids` are two
    /// fresh UUIDs. `None` if the request lacks the flow details or the score is above 1.
    pub fn malicious_ip_from_network(
        request: &DataRequest,
        score: f64,
        confidence: f64,
        ids: [String; 2],
    ) -> Option<[Self; 2]> {
        let saddr = request.profile_ip?;
        let timewindow = i64::from(request.timewindow?);
        let level = threat_level_for_score(score)?.to_ascii_uppercase();
        let description = if request.ip_state.as_deref()?.contains("src") {
            format!(
                "Connection from blacklisted IP {} to {saddr} Source: Slips P2P network.",
                request.ip
            )
        } else {
            format!(
                "Connection to blacklisted IP {} from {saddr} Source: Slips P2P network.",
                request.ip
            )
        };
        let mut stime = String::new();
        push_py_float(&mut stime, request.stime?);
        let [id0, id1] = ids;
        let make = |attacker, id| P2pEvidence {
            kind: EvidenceKind::MaliciousIpFromP2pNetwork,
            description: description.clone(),
            attacker,
            threat_level: level.clone(),
            profile: request.ip,
            timewindow,
            uid: vec![request.uid.clone().unwrap_or_default()],
            timestamp: stime.clone(),
            id,
            confidence,
        };
        Some([make(saddr, id0), make(request.ip, id1)])
    }

    /// `json.dumps(utils.to_dict(evidence))`, byte for byte.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(700);
        s.push_str("{\"evidence_type\": ");
        push_py_str(&mut s, self.kind.name());
        s.push_str(", \"description\": ");
        push_py_str(&mut s, &self.description);
        s.push_str(", \"attacker\": {\"direction\": \"SRC\", \"ioc_type\": \"IP\", \"value\": ");
        let attacker = self.attacker.to_string();
        push_py_str(&mut s, &attacker);
        s.push_str(", \"profile\": {\"ip\": ");
        push_py_str(&mut s, &attacker);
        s.push_str("}, \"TI\": null, \"AS\": null, \"rDNS\": null, \"SNI\": null, \"DNS_resolution\": null, \"queries\": null, \"CNAME\": null}, \"threat_level\": ");
        push_py_str(&mut s, &self.threat_level);
        s.push_str(", \"profile\": {\"ip\": ");
        push_py_str(&mut s, &self.profile.to_string());
        let _ = write!(
            s,
            "}}, \"timewindow\": {{\"number\": {}, \"start_time\": \"\", \"end_time\": \"\"}}, \"uid\": [",
            self.timewindow
        );
        for (i, u) in self.uid.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            push_py_str(&mut s, u);
        }
        s.push_str("], \"timestamp\": ");
        push_py_str(&mut s, &self.timestamp);
        s.push_str(", \"interface\": \"default\", \"victim\": false, \"proto\": false, \"dst_port\": null, \"src_port\": null, \"method\": \"HEURISTIC\", \"id\": ");
        push_py_str(&mut s, &self.id);
        s.push_str(", \"confidence\": ");
        push_py_float(&mut s, self.confidence);
        s.push_str(", \"rel_id\": null}");
        s
    }
}

/// Where the evidence's time window comes from when the relay stores it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvidenceWindow {
    /// Use `P2pEvidence::timewindow` as it is (MALICIOUS_IP_FROM_P2P_NETWORK: the `twid` of
    /// the flow Slips asked about).
    Given,
    /// Find the window of this unix time in the profile, or create it, as Slips'
    /// `get_tw_of_ts` / `get_timewindow` do for a P2P_REPORT (spec B.4.1 step 4).
    OfTime(f64),
}

/// Slips' `time_window_width: only_one_tw`, as its config parser turns it into seconds.
pub const ONLY_ONE_TW_WIDTH: f64 = 9_999_999_999.0;

/// The time window (number, start) of unix time `ts`, computed like Slips'
/// `ProfileHandler.get_timewindow`: windows of `width` seconds counted from the first flow
/// Slips saw (`analysis` hash, `file_start`), numbered from 1, so that times before the first
/// flow get 0 or negative numbers; without a first flow, `ts` opens window 1. The
/// `only_one_tw` width puts everything in window 1, starting a hundred years earlier.
pub fn slips_timewindow(ts: f64, first_flow: Option<f64>, width: f64) -> (i64, f64) {
    if width == ONLY_ONE_TW_WIDTH {
        return (1, ts - 31_536_000.0 * 100.0);
    }
    match first_flow {
        Some(start) if width > 0.0 && width.is_finite() => {
            let n = ((ts - start) / width).floor() + 1.0;
            if !n.is_finite() || n.abs() > 1e15 {
                return (1, ts);
            }
            (n as i64, start + width * (n - 1.0))
        }
        _ => (1, ts),
    }
}

/// The text redis-py stores for a threat level's value in `IPsInfo:score` (Slips keeps `info`
/// and `critical` as the Python ints 0 and 1). `None` for an unknown level name.
pub fn score_text_of_level(level: &str) -> Option<&'static str> {
    match level.to_ascii_lowercase().as_str() {
        "info" => Some("0"),
        "low" => Some("0.2"),
        "medium" => Some("0.5"),
        "high" => Some("0.8"),
        "critical" => Some("1"),
        _ => None,
    }
}

/// The `evidence_added` payload: the stored evidence JSON with `"version"` appended as
/// Slips' `publish` does (`json.loads`, `update`, `json.dumps`: the key goes last).
pub fn evidence_added_json(evidence_json: &str, version: &str) -> String {
    let body = evidence_json
        .trim_end()
        .strip_suffix('}')
        .unwrap_or(evidence_json);
    let mut s = String::with_capacity(body.len() + 32);
    s.push_str(body);
    s.push_str(", \"version\": ");
    push_py_str(&mut s, version);
    s.push('}');
    s
}

/// The `new_ip` payload Slips' `add_profile` publishes for a new profile: a plain string,
/// which Slips' `publish` wraps as `{"text": ..., "version": ...}`. The `ip_info` module
/// reads it and looks up the address's ASN, rDNS and geolocation.
pub fn new_ip_json(ip: IpAddr, version: &str) -> String {
    let mut s = String::from("{\"text\": ");
    push_py_str(&mut s, &ip.to_string());
    s.push_str(", \"version\": ");
    push_py_str(&mut s, version);
    s.push('}');
    s
}

/// A random (version 4) UUID in its text form, from 16 random bytes the caller drew: Slips
/// gives every evidence a `uuid4()` id.
pub fn uuid4_text(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A broken-down local time, as Slips' `convert_ts_format(now, alerts_format)` prints it for
/// a naive local datetime: `YYYY/MM/DD HH:MM:SS.ffffff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// e.g. 2024.
    pub year: i32,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=60.
    pub second: u32,
    /// 0..=999_999.
    pub micros: u32,
}

impl LocalTime {
    /// Slips' alerts format for a naive datetime.
    pub fn alerts_format(&self) -> String {
        format!(
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.micros
        )
    }

    /// The local time of a unix timestamp (in microseconds), via the C library's time zone.
    pub fn from_unix_micros(micros: i64) -> Option<LocalTime> {
        let secs = micros.div_euclid(1_000_000);
        let frac = u32::try_from(micros.rem_euclid(1_000_000)).ok()?;
        let t = libc::time_t::try_from(secs).ok()?;
        // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are valid for
        // the duration of the call.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        if !ok {
            return None;
        }
        Some(LocalTime {
            year: tm.tm_year + 1900,
            month: u32::try_from(tm.tm_mon + 1).ok()?,
            day: u32::try_from(tm.tm_mday).ok()?,
            hour: u32::try_from(tm.tm_hour).ok()?,
            minute: u32::try_from(tm.tm_min).ok()?,
            second: u32::try_from(tm.tm_sec).ok()?,
            micros: frac,
        })
    }
}

/// One `p2p_reports.log` line: `<time> - <text>\n`.
pub fn reports_log_line(time: &LocalTime, text: &str) -> String {
    format!("{} - {text}\n", time.alerts_format())
}

/// The text Dovecot logs for a peer update that carried an IP (trailing space included).
pub fn peer_update_log_text(peer: &str, ip: IpAddr, reliability: Option<f64>) -> String {
    let mut rel = String::new();
    if let Some(r) = reliability {
        push_py_float(&mut rel, r);
    }
    format!(
        "[The Network -> Slips] Peer update or new peer {peer} with IP: {ip} Reliability: {rel} "
    )
}

/// The text Dovecot logs for a peer report (the evaluation printed as a Python dict).
pub fn peer_report_log_text(ip: IpAddr, score: f64, confidence: f64, peer: &str) -> String {
    let mut s = format!("[The Network -> Slips] Peer report about {ip} Evaluation: {{'score': ");
    push_py_float(&mut s, score);
    s.push_str(", 'confidence': ");
    push_py_float(&mut s, confidence);
    let _ = write!(s, "}} from peer: {peer}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p2p_report_matches_verified_example() {
        let e = P2pEvidence::p2p_report(
            "1.2.3.4".parse().unwrap(),
            "QmPeer",
            Some("10.0.0.5".parse().unwrap()),
            0.5,
            0.8,
            3,
            "2024/04/05 19:34:38.123000".into(),
            "741050a7-0000-4000-8000-000000000000".into(),
        )
        .unwrap();
        // Spec B.4.1 (generated there with the real dataclasses), with a concrete id.
        assert_eq!(
            e.to_json(),
            r#"{"evidence_type": "P2P_REPORT", "description": "attacking another peer: 10.0.0.5 (QmPeer). confidence: 0.8", "attacker": {"direction": "SRC", "ioc_type": "IP", "value": "1.2.3.4", "profile": {"ip": "1.2.3.4"}, "TI": null, "AS": null, "rDNS": null, "SNI": null, "DNS_resolution": null, "queries": null, "CNAME": null}, "threat_level": "medium", "profile": {"ip": "1.2.3.4"}, "timewindow": {"number": 3, "start_time": "", "end_time": ""}, "uid": [""], "timestamp": "2024/04/05 19:34:38.123000", "interface": "default", "victim": false, "proto": false, "dst_port": null, "src_port": null, "method": "HEURISTIC", "id": "741050a7-0000-4000-8000-000000000000", "confidence": 0.8, "rel_id": null}"#
        );
        // Unknown reporter IP: two spaces, as Slips' unit test pins.
        let e2 = P2pEvidence::p2p_report(
            "1.2.3.4".parse().unwrap(),
            "QmPeer",
            None,
            0.9,
            0.8,
            3,
            String::new(),
            String::new(),
        )
        .unwrap();
        assert!(e2
            .description
            .starts_with("attacking another peer:  (QmPeer)."));
        assert_eq!(e2.threat_level, "critical");
    }

    #[test]
    fn threat_level_table() {
        for (s, want) in [
            (-1.0, Some("info")),
            (0.0, Some("info")),
            (0.1, Some("low")),
            (0.2, Some("low")),
            (0.5, Some("medium")),
            (0.7, Some("high")),
            (1.0, Some("critical")),
            (1.01, None),
            (f64::NAN, None),
        ] {
            assert_eq!(threat_level_for_score(s), want, "{s}");
        }
    }

    #[test]
    fn malicious_ip_pair() {
        let req = DataRequest {
            ip: "1.2.3.4".parse().unwrap(),
            cache_age: Some(1000.0),
            profile_ip: Some("192.168.1.5".parse().unwrap()),
            timewindow: Some(2),
            ip_state: Some("dstip".into()),
            stime: Some(1712345678.123),
            uid: Some("CXyz12".into()),
            proto: Some("TCP".into()),
        };
        let [a, b] =
            P2pEvidence::malicious_ip_from_network(&req, 0.7, 0.5, ["id-a".into(), "id-b".into()])
                .unwrap();
        assert_eq!(a.attacker.to_string(), "192.168.1.5");
        assert_eq!(b.attacker.to_string(), "1.2.3.4");
        assert_eq!(a.profile, b.profile);
        assert_eq!(a.threat_level, "HIGH");
        assert_eq!(
            a.description,
            "Connection to blacklisted IP 1.2.3.4 from 192.168.1.5 Source: Slips P2P network."
        );
        let json = b.to_json();
        assert!(
            json.contains(r#""uid": ["CXyz12"], "timestamp": "1712345678.123""#),
            "{json}"
        );
        assert!(json.contains(r#""timewindow": {"number": 2,"#));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["evidence_type"], "MALICIOUS_IP_FROM_P2P_NETWORK");
        let no_flow = DataRequest {
            profile_ip: None,
            ..req
        };
        assert!(P2pEvidence::malicious_ip_from_network(
            &no_flow,
            0.7,
            0.5,
            [String::new(), String::new()]
        )
        .is_none());
    }

    #[test]
    fn timewindows_like_slips() {
        // The example in Slips' get_timewindow docstring: width 2 from t = 0.
        assert_eq!(slips_timewindow(2.0, Some(0.0), 2.0), (2, 2.0));
        assert_eq!(slips_timewindow(4.0, Some(0.0), 2.0), (3, 4.0));
        assert_eq!(slips_timewindow(3.9, Some(0.0), 2.0), (2, 2.0));
        assert_eq!(slips_timewindow(0.0, Some(0.0), 2.0), (1, 0.0));
        // Before the first flow: window 0 and below.
        assert_eq!(slips_timewindow(-0.5, Some(0.0), 2.0), (0, -2.0));
        assert_eq!(slips_timewindow(-2.5, Some(0.0), 2.0), (-1, -4.0));
        // One hour windows from a real start.
        let start = 1_712_345_000.25;
        assert_eq!(
            slips_timewindow(start + 7_300.0, Some(start), 3600.0),
            (3, start + 7_200.0)
        );
        // No flow yet: the report opens window 1 at its own time.
        assert_eq!(slips_timewindow(99.5, None, 3600.0), (1, 99.5));
        // only_one_tw.
        let (n, s) = slips_timewindow(1e9, Some(5.0), ONLY_ONE_TW_WIDTH);
        assert_eq!((n, s), (1, 1e9 - 3_153_600_000.0));
        // Nonsense widths do not panic.
        assert_eq!(slips_timewindow(10.0, Some(0.0), 0.0), (1, 10.0));
        assert_eq!(slips_timewindow(f64::MAX, Some(0.0), 1e-300), (1, f64::MAX));
    }

    #[test]
    fn slips_texts() {
        assert_eq!(score_text_of_level("info"), Some("0"));
        assert_eq!(score_text_of_level("HIGH"), Some("0.8"));
        assert_eq!(score_text_of_level("critical"), Some("1"));
        assert_eq!(score_text_of_level("severe"), None);
        assert_eq!(
            evidence_added_json(r#"{"a": 1, "b": null}"#, "1.1.21"),
            r#"{"a": 1, "b": null, "version": "1.1.21"}"#
        );
        assert_eq!(
            new_ip_json("1.2.3.4".parse().unwrap(), "1.1.21"),
            r#"{"text": "1.2.3.4", "version": "1.1.21"}"#
        );
        assert_eq!(
            uuid4_text([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(uuid4_text([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    /// The keys of both evidence kinds, in the order of spec B.4.1's verified example
    /// (`to_dict` follows the dataclass field order), including every key Slips'
    /// `dict_to_evidence` requires.
    #[test]
    fn json_keys_in_slips_order() {
        let order = [
            "\"evidence_type\": ",
            "\"description\": ",
            "\"attacker\": {\"direction\": ",
            "\"ioc_type\": ",
            "\"value\": ",
            "\"profile\": {\"ip\": ",
            "\"TI\": ",
            "\"AS\": ",
            "\"rDNS\": ",
            "\"SNI\": ",
            "\"DNS_resolution\": ",
            "\"queries\": ",
            "\"CNAME\": ",
            "\"threat_level\": ",
            "\"profile\": {\"ip\": ",
            "\"timewindow\": {\"number\": ",
            "\"start_time\": ",
            "\"end_time\": ",
            "\"uid\": ",
            "\"timestamp\": ",
            "\"interface\": ",
            "\"victim\": ",
            "\"proto\": ",
            "\"dst_port\": ",
            "\"src_port\": ",
            "\"method\": ",
            "\"id\": ",
            "\"confidence\": ",
            "\"rel_id\": ",
        ];
        let req = DataRequest {
            ip: "1.2.3.4".parse().unwrap(),
            cache_age: None,
            profile_ip: Some("10.0.0.5".parse().unwrap()),
            timewindow: Some(2),
            ip_state: Some("srcip".into()),
            stime: Some(17.0),
            uid: Some("C1".into()),
            proto: None,
        };
        let [m, _] =
            P2pEvidence::malicious_ip_from_network(&req, 1.0, 0.5, ["a".into(), "b".into()])
                .unwrap();
        assert_eq!(
            m.description,
            "Connection from blacklisted IP 1.2.3.4 to 10.0.0.5 Source: Slips P2P network."
        );
        let r = P2pEvidence::p2p_report(
            "1.2.3.4".parse().unwrap(),
            "P",
            None,
            0.2,
            0.5,
            -1,
            "t".into(),
            "i".into(),
        )
        .unwrap();
        for e in [m, r] {
            let json = e.to_json();
            let mut at = 0;
            for key in order {
                let found = json[at..]
                    .find(key)
                    .unwrap_or_else(|| panic!("{key} in {json}"));
                at += found + key.len();
            }
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 17, "{json}");
            for required in [
                "evidence_type",
                "description",
                "interface",
                "attacker",
                "threat_level",
                "uid",
                "timestamp",
                "id",
                "rel_id",
                "confidence",
                "method",
            ] {
                assert!(v.get(required).is_some(), "{required}");
            }
            assert!(v["timewindow"]["number"].is_i64());
        }
    }

    #[test]
    fn log_lines() {
        let t = LocalTime {
            year: 2024,
            month: 4,
            day: 5,
            hour: 9,
            minute: 4,
            second: 3,
            micros: 12,
        };
        assert_eq!(
            reports_log_line(&t, &peer_update_log_text("QmP", "10.0.0.1".parse().unwrap(), Some(1.0))),
            "2024/04/05 09:04:03.000012 - [The Network -> Slips] Peer update or new peer QmP with IP: 10.0.0.1 Reliability: 1.0 \n"
        );
        assert_eq!(
            peer_report_log_text("1.2.3.4".parse().unwrap(), 0.5, 0.8, "QmP"),
            "[The Network -> Slips] Peer report about 1.2.3.4 Evaluation: {'score': 0.5, 'confidence': 0.8} from peer: QmP"
        );
        let lt = LocalTime::from_unix_micros(1_712_345_678_123_000).unwrap();
        assert_eq!(lt.micros, 123_000);
        assert!(lt.year == 2024 && lt.month == 4);
    }
}
