//! Raw message bodies, one kind per input (the first byte is the kind number, 1 to 8, as in
//! the frame header; other values wrap around). Decoding must never
//! panic, and every body that decodes is the one canonical encoding of its message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roost::wire::{Kind, Message};

fuzz_target!(|data: &[u8]| {
    let Some((&k, body)) = data.split_first() else {
        return;
    };
    let kind = Kind::ALL[usize::from(k.wrapping_sub(1)) % Kind::ALL.len()];
    if let Ok(msg) = Message::decode_body(kind, body) {
        assert_eq!(msg.kind(), kind);
        let again = msg.encode_body().expect("a decoded message re-encodes");
        assert_eq!(again, body, "decoded body is not canonical");
    }
});
