//! The Dovecot peer message: the JSON object that Slips' P2P module exchanges with other
//! peers, base64-encoded inside `p2p_pygo` / `p2p_gopy` (spec A.6).
//!
//! Three kinds exist: `request` (what do you know about this key?), `report` (here is my
//! evaluation) and `blame` (this key attacked me). The upstream Python crashes on several
//! malformed payloads (non-object JSON, bad UTF-8, `null` fields; spec 0.4), so everything
//! that comes in is validated strictly here and only well-formed values ever leave this
//! module. Encoding reproduces Python's `json.dumps` bytes so that a Rust-built payload is
//! indistinguishable from one built by Slips.

use std::net::IpAddr;

use base64::Engine;
use serde_json::{Map, Value};

use crate::ioc::{Evaluation, Ioc, Url};
use crate::slips::json_text::{push_py_float, push_py_str};

/// Largest decoded peer message accepted. Slips' messages are ~200 bytes; roost frames are
/// at most 1200 bytes, so anything larger could not travel anyway.
pub const MAX_PEER_MESSAGE_BYTES: usize = 2048;

/// The only evaluation type Slips knows.
pub const EVALUATION_TYPE: &str = "score_confidence";

/// Why a payload from Slips or for Slips was refused. Every variant is a counted, logged
/// drop for the relay, never a crash.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DovecotError {
    /// More bytes than any legitimate message has.
    #[error("payload too large: {0} bytes")]
    TooLarge(usize),
    /// Not standard padded base64.
    #[error("message is not valid base64")]
    BadBase64,
    /// Bytes that are not UTF-8 (Python would crash on them).
    #[error("payload is not UTF-8")]
    NotUtf8,
    /// Not parseable as JSON.
    #[error("payload is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object (Python would crash on it).
    #[error("JSON payload is not an object")]
    NotObject,
    /// A required key is absent.
    #[error("missing field {0:?}")]
    Missing(&'static str),
    /// A key has a value of the wrong JSON type (or an empty string).
    #[error("field {0:?} has the wrong type")]
    WrongType(&'static str),
    /// `message_type` names no known kind.
    #[error("unknown message type {0:?}")]
    UnknownMessageType(String),
    /// `key_type` is not one roost can represent, or the key does not parse as that type.
    #[error("invalid key {key:?} of type {key_type:?}")]
    BadKey {
        /// The key_type as received (truncated).
        key_type: String,
        /// The key as received (truncated).
        key: String,
    },
    /// `evaluation_type` other than `score_confidence`.
    #[error("unsupported evaluation type {0:?}")]
    UnsupportedEvaluationType(String),
    /// A score outside [-1, 1] or a confidence outside [0, 1], or a non-finite number.
    #[error("{0} out of range: {1}")]
    OutOfRange(&'static str, f64),
    /// A timestamp that is null, negative, not a number, or in the future.
    #[error("invalid timestamp")]
    BadTimestamp,
    /// A recipient string that cannot be a peer id.
    #[error("invalid recipient")]
    BadRecipient,
    /// A plain-text command other than `stop_process`.
    #[error("unknown text command {0:?}")]
    UnknownText(String),
}

/// A Dovecot score/confidence pair, kept in Dovecot's own range (score in [-1, 1]) so that a
/// message relayed through roost keeps its exact numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DovecotScore {
    score: f64,
    confidence: f64,
}

impl DovecotScore {
    /// Checks the ranges Slips' receiver enforces (`-1 <= score <= 1`, `0 <= confidence <= 1`).
    pub fn new(score: f64, confidence: f64) -> Result<Self, DovecotError> {
        if !(score.is_finite() && (-1.0..=1.0).contains(&score)) {
            return Err(DovecotError::OutOfRange("score", score));
        }
        if !(confidence.is_finite() && (0.0..=1.0).contains(&confidence)) {
            return Err(DovecotError::OutOfRange("confidence", confidence));
        }
        Ok(DovecotScore { score, confidence })
    }

    /// The score as Slips wrote it (a threat level: 0 benign .. 1 critical).
    pub fn score(&self) -> f64 {
        self.score
    }

    /// The confidence as Slips wrote it.
    pub fn confidence(&self) -> f64 {
        self.confidence
    }

    /// The roost evaluation. Slips scores are threat levels in [0, 1], the same convention
    /// as `Evaluation::threat`; the negative part of the accepted range has no meaning in
    /// Slips (nothing produces it), so it is clamped to 0 (benign).
    /// Both values were range-checked at construction, so this is always `Some`.
    pub fn to_evaluation(&self) -> Option<Evaluation> {
        Evaluation::new(self.score.clamp(0.0, 1.0), self.confidence).ok()
    }
}

impl From<Evaluation> for DovecotScore {
    fn from(e: Evaluation) -> Self {
        DovecotScore {
            score: e.threat(),
            confidence: e.confidence(),
        }
    }
}

/// One Dovecot peer message, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum DovecotMessage {
    /// Ask peers what they know about `ioc`.
    Request {
        /// What is asked about.
        ioc: Ioc,
    },
    /// Share an evaluation of `ioc`; `None` means "I have no data" (`"evaluation": null`).
    Report {
        /// What is reported on.
        ioc: Ioc,
        /// The opinion, if any.
        evaluation: Option<DovecotScore>,
    },
    /// Accuse `ioc`; Slips never sends it, but peers may.
    Blame {
        /// Who is blamed.
        ioc: Ioc,
        /// The opinion, if any.
        evaluation: Option<DovecotScore>,
    },
}

impl DovecotMessage {
    /// A report carrying a roost evaluation.
    pub fn report(ioc: Ioc, evaluation: Evaluation) -> Self {
        DovecotMessage::Report {
            ioc,
            evaluation: Some(evaluation.into()),
        }
    }

    /// The IoC the message is about.
    pub fn ioc(&self) -> &Ioc {
        match self {
            DovecotMessage::Request { ioc }
            | DovecotMessage::Report { ioc, .. }
            | DovecotMessage::Blame { ioc, .. } => ioc,
        }
    }

    /// The `message_type` word.
    pub fn message_type(&self) -> &'static str {
        match self {
            DovecotMessage::Request { .. } => "request",
            DovecotMessage::Report { .. } => "report",
            DovecotMessage::Blame { .. } => "blame",
        }
    }

    /// The evaluation in roost terms (None for requests and "no data" reports).
    pub fn evaluation(&self) -> Option<Evaluation> {
        match self {
            DovecotMessage::Request { .. } => None,
            DovecotMessage::Report { evaluation, .. }
            | DovecotMessage::Blame { evaluation, .. } => {
                evaluation.and_then(|e| e.to_evaluation())
            }
        }
    }

    /// Whether Slips 1.1.21 can consume this safely as `go_data`: it only processes `ip`
    /// keys, and a `blame` goes unvalidated to `new_blame`, where a dict evaluation makes
    /// redis-py raise in the evidence handler (spec 0.4, B.3).
    pub fn is_safe_for_slips(&self) -> bool {
        self.ioc().as_ip().is_some() && !matches!(self, DovecotMessage::Blame { .. })
    }

    /// The JSON text exactly as Slips' `json.dumps(build_go_message(...))` writes it.
    pub fn to_json(&self) -> String {
        let ioc = self.ioc();
        let mut s = String::with_capacity(160);
        s.push_str("{\"message_type\": ");
        push_py_str(&mut s, self.message_type());
        s.push_str(", \"key_type\": ");
        push_py_str(&mut s, ioc.kind());
        s.push_str(", \"key\": ");
        push_py_str(&mut s, &ioc.value());
        s.push_str(", \"evaluation_type\": ");
        push_py_str(&mut s, EVALUATION_TYPE);
        match self {
            DovecotMessage::Request { .. } => {}
            DovecotMessage::Report { evaluation, .. }
            | DovecotMessage::Blame { evaluation, .. } => {
                s.push_str(", \"evaluation\": ");
                match evaluation {
                    None => s.push_str("null"),
                    Some(e) => {
                        s.push_str("{\"score\": ");
                        push_py_float(&mut s, e.score);
                        s.push_str(", \"confidence\": ");
                        push_py_float(&mut s, e.confidence);
                        s.push('}');
                    }
                }
            }
        }
        s.push('}');
        s
    }

    /// Standard padded base64 of [`Self::to_json`], as carried in `message` fields.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_json())
    }

    /// Decodes and validates the base64 `message` field. Exactly one trailing `\n` (Pigeon's
    /// line framing) is tolerated; anything else outside the standard alphabet is refused.
    pub fn from_base64(text: &str) -> Result<Self, DovecotError> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        if text.len() > MAX_PEER_MESSAGE_BYTES.div_ceil(3) * 4 {
            return Err(DovecotError::TooLarge(text.len()));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| DovecotError::BadBase64)?;
        Self::from_json_bytes(&bytes)
    }

    /// Validates a decoded peer message.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, DovecotError> {
        if bytes.len() > MAX_PEER_MESSAGE_BYTES {
            return Err(DovecotError::TooLarge(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| DovecotError::NotUtf8)?;
        let value: Value =
            serde_json::from_str(text).map_err(|e| DovecotError::NotJson(e.to_string()))?;
        let obj = value.as_object().ok_or(DovecotError::NotObject)?;
        Self::from_object(obj)
    }

    fn from_object(obj: &Map<String, Value>) -> Result<Self, DovecotError> {
        let message_type = required_str(obj, "message_type")?;
        let key_type = required_str(obj, "key_type")?;
        let key = required_str(obj, "key")?;
        let evaluation_type = required_str(obj, "evaluation_type")?;
        if evaluation_type != EVALUATION_TYPE {
            return Err(DovecotError::UnsupportedEvaluationType(truncate(
                evaluation_type,
            )));
        }
        let ioc = parse_key(key_type, key)?;
        match message_type {
            "request" => Ok(DovecotMessage::Request { ioc }),
            "report" => Ok(DovecotMessage::Report {
                ioc,
                evaluation: parse_evaluation(obj)?,
            }),
            "blame" => Ok(DovecotMessage::Blame {
                ioc,
                evaluation: parse_evaluation(obj)?,
            }),
            other => Err(DovecotError::UnknownMessageType(truncate(other))),
        }
    }
}

/// Keeps error messages and logs short whatever a peer sends.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

pub(crate) fn required_str<'a>(
    obj: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, DovecotError> {
    match obj.get(name) {
        None => Err(DovecotError::Missing(name)),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(DovecotError::WrongType(name)),
    }
}

fn parse_key(key_type: &str, key: &str) -> Result<Ioc, DovecotError> {
    let bad = || DovecotError::BadKey {
        key_type: truncate(key_type),
        key: truncate(key),
    };
    let ioc = match key_type {
        "ip" => key.parse::<IpAddr>().map(Ioc::ip).map_err(|_| bad())?,
        "url" => Url::new(key).map(Ioc::Url).map_err(|_| bad())?,
        "domain" | "md5" | "sha1" | "sha256" => format!("{key_type}:{key}")
            .parse::<Ioc>()
            .map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    // Only the canonical spelling is accepted, so one IoC has one encoding on the wire.
    if ioc.kind() != key_type || ioc.value() != key {
        return Err(bad());
    }
    Ok(ioc)
}

fn parse_evaluation(obj: &Map<String, Value>) -> Result<Option<DovecotScore>, DovecotError> {
    match obj.get("evaluation") {
        None => Err(DovecotError::Missing("evaluation")),
        Some(Value::Null) => Ok(None),
        Some(Value::Object(e)) => {
            let score = number(e, "score")?;
            let confidence = number(e, "confidence")?;
            DovecotScore::new(score, confidence).map(Some)
        }
        Some(_) => Err(DovecotError::WrongType("evaluation")),
    }
}

fn number(obj: &Map<String, Value>, name: &'static str) -> Result<f64, DovecotError> {
    match obj.get(name) {
        None => Err(DovecotError::Missing(name)),
        Some(Value::Number(n)) => n.as_f64().ok_or(DovecotError::WrongType(name)),
        Some(_) => Err(DovecotError::WrongType(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ioc {
        Ioc::ip(s.parse().unwrap())
    }

    #[test]
    fn request_bytes_match_python() {
        let m = DovecotMessage::Request { ioc: ip("1.2.3.4") };
        assert_eq!(
            m.to_json(),
            r#"{"message_type": "request", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence"}"#
        );
        // The exact base64 from spec A.4.
        assert_eq!(
            m.to_base64(),
            "eyJtZXNzYWdlX3R5cGUiOiAicmVxdWVzdCIsICJrZXlfdHlwZSI6ICJpcCIsICJrZXkiOiAiMS4yLjMuNCIsICJldmFsdWF0aW9uX3R5cGUiOiAic2NvcmVfY29uZmlkZW5jZSJ9"
        );
    }

    #[test]
    fn report_from_spec_round_trips() {
        // The base64 message of the go_data example in spec A.5.
        let b64 = "eyJtZXNzYWdlX3R5cGUiOiAicmVwb3J0IiwgImtleV90eXBlIjogImlwIiwgImtleSI6ICIxOTIuMTY4LjEuNTAiLCAiZXZhbHVhdGlvbl90eXBlIjogInNjb3JlX2NvbmZpZGVuY2UiLCAiZXZhbHVhdGlvbiI6IHsic2NvcmUiOiAwLjUsICJjb25maWRlbmNlIjogMC44fX0=";
        let m = DovecotMessage::from_base64(b64).unwrap();
        assert_eq!(
            m,
            DovecotMessage::Report {
                ioc: ip("192.168.1.50"),
                evaluation: Some(DovecotScore::new(0.5, 0.8).unwrap())
            }
        );
        assert_eq!(m.to_base64(), b64);
        let e = m.evaluation().unwrap();
        assert_eq!((e.threat(), e.confidence()), (0.5, 0.8));
        // A trailing framing newline is tolerated.
        assert_eq!(DovecotMessage::from_base64(&format!("{b64}\n")).unwrap(), m);
    }

    #[test]
    fn evaluation_conversion() {
        let e = Evaluation::new(0.8, 0.9).unwrap();
        let m = DovecotMessage::report(ip("10.0.0.1"), e);
        assert_eq!(
            m.to_json(),
            r#"{"message_type": "report", "key_type": "ip", "key": "10.0.0.1", "evaluation_type": "score_confidence", "evaluation": {"score": 0.8, "confidence": 0.9}}"#
        );
        assert_eq!(m.evaluation(), Some(e));
        // Negative Dovecot scores are accepted but mean "benign" in roost.
        let neg = DovecotScore::new(-0.5, 0.3).unwrap();
        assert_eq!(neg.to_evaluation().unwrap().threat(), 0.0);
        assert!(m.is_safe_for_slips());
        let blame = DovecotMessage::Blame {
            ioc: ip("10.0.0.1"),
            evaluation: None,
        };
        assert!(!blame.is_safe_for_slips());
        assert!(blame.to_json().ends_with(r#""evaluation": null}"#));
    }

    #[test]
    fn other_ioc_kinds_round_trip() {
        for ioc in [
            "domain:example.com",
            "https://example.com/a\"b",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "2001:db8::1",
        ] {
            let m = DovecotMessage::Request {
                ioc: ioc.parse().unwrap(),
            };
            assert_eq!(DovecotMessage::from_base64(&m.to_base64()).unwrap(), m);
        }
    }

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn rejects_malformed() {
        type Check = fn(&DovecotError) -> bool;
        let cases: &[(&[u8], Check)] = &[
            (b"[1, 2]", |e| *e == DovecotError::NotObject),
            (b"\"str\"", |e| *e == DovecotError::NotObject),
            (b"42", |e| *e == DovecotError::NotObject),
            (b"\xff\xfe{}", |e| *e == DovecotError::NotUtf8),
            (b"{not json", |e| matches!(e, DovecotError::NotJson(_))),
            (b"{}", |e| *e == DovecotError::Missing("message_type")),
            (
                br#"{"message_type": 1, "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence"}"#,
                |e| *e == DovecotError::WrongType("message_type"),
            ),
            (
                br#"{"message_type": "hello", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence"}"#,
                |e| matches!(e, DovecotError::UnknownMessageType(_)),
            ),
            (
                br#"{"message_type": "request", "key_type": "ip", "key": "1.2.3.999", "evaluation_type": "score_confidence"}"#,
                |e| matches!(e, DovecotError::BadKey { .. }),
            ),
            (
                br#"{"message_type": "request", "key_type": "ip", "key": " 1.2.3.4", "evaluation_type": "score_confidence"}"#,
                |e| matches!(e, DovecotError::BadKey { .. }),
            ),
            (
                br#"{"message_type": "request", "key_type": "asn", "key": "1", "evaluation_type": "score_confidence"}"#,
                |e| matches!(e, DovecotError::BadKey { .. }),
            ),
            (
                br#"{"message_type": "request", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "stars"}"#,
                |e| matches!(e, DovecotError::UnsupportedEvaluationType(_)),
            ),
            (
                br#"{"message_type": "report", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence"}"#,
                |e| *e == DovecotError::Missing("evaluation"),
            ),
            (
                br#"{"message_type": "report", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence", "evaluation": [0.5, 0.5]}"#,
                |e| *e == DovecotError::WrongType("evaluation"),
            ),
            (
                br#"{"message_type": "report", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence", "evaluation": {"score": "0.5", "confidence": 0.5}}"#,
                |e| *e == DovecotError::WrongType("score"),
            ),
            (
                br#"{"message_type": "report", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence", "evaluation": {"score": true, "confidence": 0.5}}"#,
                |e| *e == DovecotError::WrongType("score"),
            ),
            (
                br#"{"message_type": "report", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence", "evaluation": {"score": 1.5, "confidence": 0.5}}"#,
                |e| matches!(e, DovecotError::OutOfRange("score", _)),
            ),
            (
                br#"{"message_type": "report", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence", "evaluation": {"score": 0.5, "confidence": -0.1}}"#,
                |e| matches!(e, DovecotError::OutOfRange("confidence", _)),
            ),
            (
                br#"{"message_type": "report", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence", "evaluation": {"score": 1e400, "confidence": 0.5}}"#,
                |e| matches!(e, DovecotError::NotJson(_)),
            ),
            (
                br#"{"message_type": "report", "key_type": "ip", "key": "1.2.3.4", "evaluation_type": "score_confidence", "evaluation": {"score": 99999999999999999999999, "confidence": 0.5}}"#,
                |e| matches!(e, DovecotError::OutOfRange("score", _)),
            ),
        ];
        for (bytes, check) in cases {
            let err = DovecotMessage::from_base64(&b64(bytes)).unwrap_err();
            assert!(
                check(&err),
                "{:?} -> {err:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let huge = vec![b' '; MAX_PEER_MESSAGE_BYTES + 1];
        assert!(matches!(
            DovecotMessage::from_base64(&b64(&huge)),
            Err(DovecotError::TooLarge(_))
        ));
        for bad in ["***", "eyJ", "eyJtZXNzYWdl_3R5cGUi", "e yJ9", "eyJ9\n\n"] {
            assert_eq!(
                DovecotMessage::from_base64(bad),
                Err(DovecotError::BadBase64),
                "{bad}"
            );
        }
    }
}
