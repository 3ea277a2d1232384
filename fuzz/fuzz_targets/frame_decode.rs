//! Whole frames through the receive path.
//!
//! The first input byte picks a mode. Mode 0 feeds the rest as a datagram exactly as it came
//! off the network: nothing may panic, and whatever opens must re-encode to the same body.
//! Random bytes almost never carry a valid signature, so mode 1 treats the rest as a frame
//! without its signature, writes the test key into the sender field and signs it; then
//! everything that opens must re-seal to exactly the same datagram.
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use roost::wire::frame::{seal_with, sign_raw};
use roost::wire::limits::{HEADER_LEN, SIGNATURE_LEN};
use roost::wire::{open, Frame, NetworkTag, ReplayWindow};

fuzz_target!(|data: &[u8]| {
    let net = NetworkTag::derive("slips");
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let frame: Vec<u8> = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut unsigned = rest.to_vec();
        if let Some(sender) = unsigned.get_mut(12..44) {
            sender.copy_from_slice(key.verifying_key().as_bytes());
        }
        let sig = sign_raw(&key, &unsigned);
        unsigned.extend_from_slice(&sig);
        unsigned
    };

    // The staged path the node uses must not panic at any stage either.
    if let Ok(f) = Frame::parse(&frame, &net) {
        let _ = f.header();
        let _ = f.check_time(1_700_000_000_000, 120_000);
        let mut w = ReplayWindow::new();
        let _ = w.check(f.epoch(), f.counter());
        w.mark(f.epoch(), f.counter());
        let _ = w.check(f.epoch(), f.counter());
    }

    if let Ok((header, msg)) = open(&frame, &net) {
        let body = msg.encode_body().expect("an opened message re-encodes");
        assert_eq!(
            &frame[HEADER_LEN..frame.len() - SIGNATURE_LEN],
            &body[..],
            "body is not canonical"
        );
        if header.sender == *key.verifying_key().as_bytes() {
            let again = seal_with(&key, &header, &msg).expect("re-seal");
            assert_eq!(again, frame, "re-sealed frame differs");
        }
    }
});
