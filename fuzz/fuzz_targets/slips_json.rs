//! Everything Slips (or a peer, through Slips) can put on a Redis channel roost reads:
//! parsing never panics, and a peer message that parses prints back to JSON and base64
//! that parse to the same message (so what roost forwards to Slips is what it understood).
//! The first byte picks the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roost::slips::dovecot::DovecotMessage;
use roost::slips::native::{parse_data_request, parse_report_to_peers};
use roost::slips::pigeon_channels::{parse_gopy, parse_pygo};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            let _ = parse_pygo(rest);
        }
        1 => {
            let _ = parse_gopy(rest, "1.1.21", 1_700_000_000);
        }
        2 => {
            let _ = parse_report_to_peers(rest);
        }
        3 => {
            let _ = parse_data_request(rest);
        }
        _ => {
            let parsed = match std::str::from_utf8(rest) {
                Ok(text) if which % 2 == 0 => DovecotMessage::from_base64(text),
                _ => DovecotMessage::from_json_bytes(rest),
            };
            if let Ok(msg) = parsed {
                let json = msg.to_json();
                let back = DovecotMessage::from_json_bytes(json.as_bytes()).expect("own JSON parses");
                assert_eq!(back, msg, "{json}");
                let b64 = DovecotMessage::from_base64(&msg.to_base64()).expect("own base64 parses");
                assert_eq!(b64, msg);
            }
        }
    }
});
