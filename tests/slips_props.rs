//! Property tests for the Slips JSON layer: nothing from Redis can make it panic, and what
//! roost writes reads back to the same values.

use proptest::prelude::*;
use roost::ioc::Ioc;
use roost::slips::dovecot::{DovecotMessage, DovecotScore};
use roost::slips::json_text::{push_go_float, push_py_float};
use roost::slips::native::{parse_data_request, parse_report_to_peers};
use roost::slips::pigeon_channels::{
    go_data_json, parse_gopy, parse_pygo, pygo_json, PygoMessage, Recipient,
};
use std::net::IpAddr;

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn message() -> impl Strategy<Value = DovecotMessage> {
    let score = (-1.0f64..=1.0, 0.0f64..=1.0).prop_map(|(s, c)| DovecotScore::new(s, c).unwrap());
    (ip(), 0u8..3, proptest::option::of(score)).prop_map(|(a, kind, evaluation)| {
        let ioc = Ioc::ip(a);
        match kind {
            0 => DovecotMessage::Request { ioc },
            1 => DovecotMessage::Report { ioc, evaluation },
            _ => DovecotMessage::Blame { ioc, evaluation },
        }
    })
}

/// JSON-ish noise: random bytes, or a JSON object with random keys and values.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        any::<i64>().prop_map(|i| i.to_string()),
        "[a-zA-Z0-9+/=*_ ]{0,40}".prop_map(|s| format!("\"{s}\"")),
        Just("[1, {}]".to_owned()),
        Just("true".to_owned()),
    ];
    let key = prop_oneof![
        Just("message"),
        Just("recipient"),
        Just("text"),
        Just("version"),
        Just("ip"),
        Just("evidence_type"),
        Just("attacker"),
        Just("threat_level"),
        Just("confidence"),
        Just("id"),
        Just("message_type"),
        Just("message_contents"),
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec((key, leaf), 0..8).prop_map(|kv| {
            let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            format!("{{{}}}", body.join(", ")).into_bytes()
        }),
    ]
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in noise()) {
        let _ = parse_pygo(&bytes);
        let _ = parse_report_to_peers(&bytes);
        let _ = parse_data_request(&bytes);
        let _ = parse_gopy(&bytes, "1.1.21", 1_700_000_000);
        let text = String::from_utf8_lossy(&bytes);
        let _ = DovecotMessage::from_base64(&text);
        let _ = DovecotMessage::from_json_bytes(&bytes);
    }

    #[test]
    fn peer_messages_round_trip(msg in message()) {
        prop_assert_eq!(DovecotMessage::from_base64(&msg.to_base64()).unwrap(), msg.clone());
        let payload = pygo_json(&Recipient::Broadcast, &msg, "1.1.21");
        prop_assert_eq!(
            parse_pygo(payload.as_bytes()).unwrap(),
            PygoMessage::Send { recipient: Recipient::Broadcast, msg: msg.clone() }
        );
        let go = go_data_json("QmP", 1_600_000_000, &msg, "1.1.21");
        let v: serde_json::Value = serde_json::from_str(&go).unwrap();
        prop_assert_eq!(v["version"].as_str(), Some("1.1.21"));
    }

    #[test]
    fn float_texts_read_back_exactly(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let mut p = String::new();
        push_py_float(&mut p, x);
        prop_assert_eq!(p.parse::<f64>().unwrap().to_bits(), x.to_bits());
        let mut g = String::new();
        push_go_float(&mut g, x);
        prop_assert_eq!(g.parse::<f64>().unwrap(), x);
    }
}
