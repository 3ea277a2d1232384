//! The two Redis channels between Slips' Python P2P module and the Pigeon (spec A.4, A.5):
//! `p2p_pygo` (Slips asks to send a peer message) and `p2p_gopy` (the network delivers peer
//! messages and peer updates to Slips).
//!
//! What Slips publishes is parsed strictly into [`PygoMessage`]; what roost publishes is
//! built byte for byte like the Go Pigeon's `json.Marshal` output, plus the top-level
//! `"version"` field without which Slips >= 1.1.20 silently drops every message (spec 0.1).

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::slips::dovecot::{required_str, truncate, DovecotError, DovecotMessage};
use crate::slips::json_text::{push_go_float, push_go_str};

/// Largest `p2p_pygo` payload accepted. A legitimate one is ~300 bytes.
pub const MAX_PYGO_BYTES: usize = 8 * 1024;

/// Longest peer id accepted as a recipient (libp2p ids are 46-52 characters, roost ids
/// shorter than 100).
pub const MAX_PEER_ID_LEN: usize = 128;

/// The payload of the stop command.
pub const STOP_PROCESS: &str = "stop_process";

/// Who a message from Slips is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// `"*"`: every active peer.
    Broadcast,
    /// One peer, named by the exact `reporter` string roost gave Slips earlier.
    Peer(String),
}

/// One validated `p2p_pygo` message.
#[derive(Debug, Clone, PartialEq)]
pub enum PygoMessage {
    /// `stop_process`, raw or wrapped as `{"text": "stop_process", ...}`.
    Stop,
    /// Send `msg` to `recipient`.
    Send {
        /// Where to.
        recipient: Recipient,
        /// What (already validated).
        msg: DovecotMessage,
    },
}

/// Parses a `p2p_pygo` payload. Unknown extra keys (such as `"version"`) are ignored, as the
/// Go Pigeon does; everything else is checked.
pub fn parse_pygo(payload: &[u8]) -> Result<PygoMessage, DovecotError> {
    if payload.len() > MAX_PYGO_BYTES {
        return Err(DovecotError::TooLarge(payload.len()));
    }
    let text = std::str::from_utf8(payload).map_err(|_| DovecotError::NotUtf8)?;
    if text == STOP_PROCESS {
        return Ok(PygoMessage::Stop);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| DovecotError::NotJson(e.to_string()))?;
    let obj = value.as_object().ok_or(DovecotError::NotObject)?;
    if let Some(t) = obj.get("text") {
        return match t {
            Value::String(s) if s == STOP_PROCESS => Ok(PygoMessage::Stop),
            Value::String(s) => Err(DovecotError::UnknownText(truncate(s))),
            _ => Err(DovecotError::WrongType("text")),
        };
    }
    let message = required_str(obj, "message")?;
    let recipient = parse_recipient(required_str(obj, "recipient")?)?;
    let msg = DovecotMessage::from_base64(message)?;
    Ok(PygoMessage::Send { recipient, msg })
}

fn parse_recipient(text: &str) -> Result<Recipient, DovecotError> {
    if text == "*" {
        return Ok(Recipient::Broadcast);
    }
    if text.len() > MAX_PEER_ID_LEN || !text.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(DovecotError::BadRecipient);
    }
    Ok(Recipient::Peer(text.to_owned()))
}

/// Builds the payload that Slips' `p2p_pygo` publisher would produce (used by tests and by
/// anything that must impersonate Slips). `version` is appended as Slips' `publish` does.
pub fn pygo_json(recipient: &Recipient, msg: &DovecotMessage, version: &str) -> String {
    use crate::slips::json_text::push_py_str;
    let mut s = String::from("{\"message\": ");
    push_py_str(&mut s, &msg.to_base64());
    s.push_str(", \"recipient\": ");
    push_py_str(
        &mut s,
        match recipient {
            Recipient::Broadcast => "*",
            Recipient::Peer(p) => p,
        },
    );
    s.push_str(", \"version\": ");
    push_py_str(&mut s, version);
    s.push('}');
    s
}

/// The `p2p_gopy` `go_data` message: `msg` arrived from peer `reporter` at `report_time`
/// (unix seconds; must not be in the future for Slips, spec A.8.2).
pub fn go_data_json(
    reporter: &str,
    report_time: u64,
    msg: &DovecotMessage,
    version: &str,
) -> String {
    let mut s = String::with_capacity(400);
    s.push_str("{\"message_type\":\"go_data\",\"message_contents\":{\"reporter\":");
    push_go_str(&mut s, reporter);
    s.push_str(",\"report_time\":");
    s.push_str(&report_time.to_string());
    s.push_str(",\"message\":");
    push_go_str(&mut s, &msg.to_base64());
    s.push_str("},\"version\":");
    push_go_str(&mut s, version);
    s.push('}');
    s
}

/// The reliability actually written into a `peer_update`: Go's `omitempty` never sends 0, and
/// Slips keeps the first reliability it ever stored for a peer (spec A.8.5), so 0, negative,
/// non-finite and out-of-range values are all omitted rather than sent.
pub fn publishable_reliability(reliability: Option<f64>) -> Option<f64> {
    reliability.filter(|r| r.is_finite() && *r > 0.0 && *r <= 1.0)
}

/// The `p2p_gopy` `peer_update` message. `ip` and `reliability` are omitted when unknown,
/// as Go's `omitempty` does; `timestamp` is unix seconds and always present.
pub fn peer_update_json(
    peer: &str,
    ip: Option<IpAddr>,
    reliability: Option<f64>,
    timestamp: u64,
    version: &str,
) -> String {
    let mut s = String::with_capacity(200);
    s.push_str("{\"message_type\":\"peer_update\",\"message_contents\":{\"peerid\":");
    push_go_str(&mut s, peer);
    if let Some(ip) = ip {
        s.push_str(",\"ip\":");
        push_go_str(&mut s, &ip.to_string());
    }
    if let Some(r) = publishable_reliability(reliability) {
        s.push_str(",\"reliability\":");
        push_go_float(&mut s, r);
    }
    s.push_str(",\"timestamp\":");
    s.push_str(&timestamp.to_string());
    s.push_str("},\"version\":");
    push_go_str(&mut s, version);
    s.push('}');
    s
}

/// One `p2p_gopy` message as Slips' Dovecot would accept it. Exists so that tests and
/// diagnostics can check roost's output with Slips' rules instead of roost's own builders.
#[derive(Debug, Clone, PartialEq)]
pub enum GopyMessage {
    /// A peer message for Slips.
    GoData {
        /// The peer that sent it.
        reporter: String,
        /// When it arrived (validated like Slips' `validate_timestamp`).
        report_time: u64,
        /// The decoded peer message.
        msg: DovecotMessage,
    },
    /// News about a peer.
    PeerUpdate {
        /// The peer.
        peer: String,
        /// Its address, when known.
        ip: Option<IpAddr>,
        /// Its reliability, when sent.
        reliability: Option<f64>,
        /// When; `None` when Slips would reject the timestamp (it then stores "now").
        timestamp: Option<u64>,
    },
}

/// Slips' `validate_timestamp`: Python `int(x)` semantics (JSON integers, floats truncated,
/// numeric strings) and `0 <= t <= now`. `null`, booleans and other types are refused
/// (Python would crash on `null`).
pub fn validate_timestamp(value: &Value, now: u64) -> Result<u64, DovecotError> {
    let t: i128 = match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i128::from(i)
            } else if let Some(u) = n.as_u64() {
                i128::from(u)
            } else {
                let f = n.as_f64().ok_or(DovecotError::BadTimestamp)?;
                if !f.is_finite() || f.abs() > 1e18 {
                    return Err(DovecotError::BadTimestamp);
                }
                f.trunc() as i128
            }
        }
        Value::String(s) => {
            let s = s.trim();
            if s.len() > 20 {
                return Err(DovecotError::BadTimestamp);
            }
            s.parse::<i128>().map_err(|_| DovecotError::BadTimestamp)?
        }
        _ => return Err(DovecotError::BadTimestamp),
    };
    if t < 0 || t > i128::from(now) {
        return Err(DovecotError::BadTimestamp);
    }
    u64::try_from(t).map_err(|_| DovecotError::BadTimestamp)
}

/// Parses a `p2p_gopy` payload the way Slips would, including the `"version"` gate and the
/// timestamp rules, with `now` as Slips' clock. Stricter than Slips where Slips would crash.
pub fn parse_gopy(payload: &[u8], version: &str, now: u64) -> Result<GopyMessage, DovecotError> {
    let text = std::str::from_utf8(payload).map_err(|_| DovecotError::NotUtf8)?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| DovecotError::NotJson(e.to_string()))?;
    let obj = value.as_object().ok_or(DovecotError::NotObject)?;
    match obj.get("version") {
        Some(Value::String(v)) if v == version => {}
        None => return Err(DovecotError::Missing("version")),
        Some(_) => return Err(DovecotError::WrongType("version")),
    }
    let contents: &Map<String, Value> = match obj.get("message_contents") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(DovecotError::WrongType("message_contents")),
        None => return Err(DovecotError::Missing("message_contents")),
    };
    match required_str(obj, "message_type")? {
        "go_data" => {
            let report_time = validate_timestamp(
                contents
                    .get("report_time")
                    .ok_or(DovecotError::Missing("report_time"))?,
                now,
            )?;
            Ok(GopyMessage::GoData {
                reporter: required_str(contents, "reporter")?.to_owned(),
                report_time,
                msg: DovecotMessage::from_base64(required_str(contents, "message")?)?,
            })
        }
        "peer_update" => {
            let ip = match contents.get("ip") {
                None => None,
                Some(Value::String(s)) => {
                    Some(s.parse().map_err(|_| DovecotError::WrongType("ip"))?)
                }
                Some(_) => return Err(DovecotError::WrongType("ip")),
            };
            let reliability = match contents.get("reliability") {
                None => None,
                Some(Value::Number(n)) => n.as_f64(),
                Some(_) => return Err(DovecotError::WrongType("reliability")),
            };
            Ok(GopyMessage::PeerUpdate {
                peer: required_str(contents, "peerid")?.to_owned(),
                ip,
                reliability,
                timestamp: contents
                    .get("timestamp")
                    .and_then(|t| validate_timestamp(t, now).ok()),
            })
        }
        other => Err(DovecotError::UnknownMessageType(truncate(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::Ioc;

    const V: &str = "1.1.21";

    #[test]
    fn go_data_matches_spec_example() {
        let b64 = "eyJtZXNzYWdlX3R5cGUiOiAicmVwb3J0IiwgImtleV90eXBlIjogImlwIiwgImtleSI6ICIxOTIuMTY4LjEuNTAiLCAiZXZhbHVhdGlvbl90eXBlIjogInNjb3JlX2NvbmZpZGVuY2UiLCAiZXZhbHVhdGlvbiI6IHsic2NvcmUiOiAwLjUsICJjb25maWRlbmNlIjogMC44fX0=";
        let msg = DovecotMessage::from_base64(b64).unwrap();
        let json = go_data_json("QmPeerId...", 1712345679, &msg, V);
        assert_eq!(
            json,
            format!(
                r#"{{"message_type":"go_data","message_contents":{{"reporter":"QmPeerId...","report_time":1712345679,"message":"{b64}"}},"version":"1.1.21"}}"#
            )
        );
        assert_eq!(
            parse_gopy(json.as_bytes(), V, 1712345679).unwrap(),
            GopyMessage::GoData {
                reporter: "QmPeerId...".into(),
                report_time: 1712345679,
                msg
            }
        );
        // One second in the future: Slips drops it.
        assert_eq!(
            parse_gopy(json.as_bytes(), V, 1712345678),
            Err(DovecotError::BadTimestamp)
        );
        // Another Slips version: dropped by the version gate.
        assert!(parse_gopy(json.as_bytes(), "1.1.20", 1712345679).is_err());
    }

    #[test]
    fn peer_update_matches_spec_examples() {
        assert_eq!(
            peer_update_json(
                "QmPeerId...",
                Some("192.168.1.20".parse().unwrap()),
                Some(1.0),
                1712345678,
                V
            ),
            r#"{"message_type":"peer_update","message_contents":{"peerid":"QmPeerId...","ip":"192.168.1.20","reliability":1,"timestamp":1712345678},"version":"1.1.21"}"#
        );
        assert_eq!(
            peer_update_json("Qm...", None, None, 1712345678, V),
            r#"{"message_type":"peer_update","message_contents":{"peerid":"Qm...","timestamp":1712345678},"version":"1.1.21"}"#
        );
        for r in [0.0, -0.0, -1.0, 1.5, f64::NAN] {
            assert!(
                !peer_update_json("p", None, Some(r), 1, V).contains("reliability"),
                "{r}"
            );
        }
        assert!(peer_update_json("p", None, Some(0.25), 1, V).contains(r#""reliability":0.25,"#));
    }

    #[test]
    fn pygo_forms() {
        let spec = br#"{"message": "eyJtZXNzYWdlX3R5cGUiOiAicmVxdWVzdCIsICJrZXlfdHlwZSI6ICJpcCIsICJrZXkiOiAiMS4yLjMuNCIsICJldmFsdWF0aW9uX3R5cGUiOiAic2NvcmVfY29uZmlkZW5jZSJ9", "recipient": "*", "version": "1.1.21"}"#;
        let req = DovecotMessage::Request {
            ioc: Ioc::ip("1.2.3.4".parse().unwrap()),
        };
        assert_eq!(
            parse_pygo(spec).unwrap(),
            PygoMessage::Send {
                recipient: Recipient::Broadcast,
                msg: req.clone()
            }
        );
        assert_eq!(pygo_json(&Recipient::Broadcast, &req, V).as_bytes(), spec);
        assert_eq!(parse_pygo(b"stop_process").unwrap(), PygoMessage::Stop);
        assert_eq!(
            parse_pygo(br#"{"text": "stop_process", "version": "1.1.21"}"#).unwrap(),
            PygoMessage::Stop
        );
        let to_peer = pygo_json(&Recipient::Peer("QmAbc".into()), &req, V);
        assert_eq!(
            parse_pygo(to_peer.as_bytes()).unwrap(),
            PygoMessage::Send {
                recipient: Recipient::Peer("QmAbc".into()),
                msg: req
            }
        );
    }

    #[test]
    fn pygo_rejects_malformed() {
        for (bad, want) in [
            (&b"stop_process\n"[..], "json"),
            (b"\"stop_process\"", "object"),
            (b"[]", "object"),
            (br#"{"text": "hello"}"#, "text"),
            (br#"{"text": 1}"#, "type"),
            (br#"{"recipient": "*"}"#, "missing"),
            (br#"{"message": "", "recipient": "*"}"#, "type"),
            (br#"{"message": 5, "recipient": "*"}"#, "type"),
            (br#"{"message": "eyJ9", "recipient": ["*"]}"#, "type"),
            (br#"{"message": "eyJ9", "recipient": "a b"}"#, "recipient"),
            (br#"{"message": "!!!!", "recipient": "*"}"#, "base64"),
            (b"\xc3\x28", "utf"),
        ] {
            let err = parse_pygo(bad).unwrap_err().to_string().to_lowercase();
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!(
            r#"{{"message": "eyJ9", "recipient": "{}"}}"#,
            "a".repeat(200)
        );
        assert_eq!(parse_pygo(long.as_bytes()), Err(DovecotError::BadRecipient));
        let huge = vec![b'x'; MAX_PYGO_BYTES + 1];
        assert!(matches!(parse_pygo(&huge), Err(DovecotError::TooLarge(_))));
    }

    #[test]
    fn timestamp_rules_follow_python_int() {
        let now = 1_700_000_000;
        let ok = |v: Value| validate_timestamp(&v, now);
        assert_eq!(ok(Value::from(1_600_000_000u64)), Ok(1_600_000_000));
        assert_eq!(ok(Value::from(1_600_000_000.9)), Ok(1_600_000_000));
        assert_eq!(ok(Value::from("1600000000")), Ok(1_600_000_000));
        for bad in [
            Value::Null,
            Value::from(true),
            Value::from(-1),
            Value::from(now + 1),
            Value::from(now * 1000),
            Value::from("1600000000.5"),
            Value::from(1e300),
            Value::from(u64::MAX),
        ] {
            assert_eq!(ok(bad.clone()), Err(DovecotError::BadTimestamp), "{bad}");
        }
    }
}
