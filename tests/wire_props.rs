//! Property tests of wire v1: every message round-trips through a sealed frame, any single
//! flipped bit of a frame is refused, and no input makes decoding panic.

use std::net::Ipv6Addr;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use roost::ioc::{Domain, Evaluation, Ioc, Url};
use roost::wire::frame::{seal_raw, sign_raw};
use roost::wire::limits::{HEADER_LEN, MAX_FRAME, SIGNATURE_LEN};
use roost::wire::{
    open, seal_with, Announce, Answer, Blame, Frame, Goodbye, Header, Kind, Message, NetworkTag,
    Ping, Pong, Query, ReplayWindow, Report,
};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x01; 32])
}

fn arb_domain() -> impl Strategy<Value = Domain> {
    let label = "[a-z0-9_]([a-z0-9_-]{0,20}[a-z0-9_])?";
    prop::collection::vec(label, 2..5).prop_filter_map("not a valid domain", |labels| {
        Domain::new(&labels.join(".")).ok()
    })
}

fn arb_url() -> impl Strategy<Value = Url> {
    ("[a-z][a-z0-9+.-]{0,8}", "[!-~]{1,200}")
        .prop_filter_map("not a valid url", |(scheme, rest)| {
            Url::new(&format!("{scheme}://{rest}")).ok()
        })
}

fn arb_ioc() -> impl Strategy<Value = Ioc> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(Ioc::Ipv4),
        any::<[u8; 16]>()
            .prop_filter("mapped addresses travel as IPv4", |o| {
                Ipv6Addr::from(*o).to_ipv4_mapped().is_none()
            })
            .prop_map(Ioc::Ipv6),
        arb_domain().prop_map(Ioc::Domain),
        arb_url().prop_map(Ioc::Url),
        any::<[u8; 16]>().prop_map(Ioc::Md5),
        any::<[u8; 20]>().prop_map(Ioc::Sha1),
        any::<[u8; 32]>().prop_map(Ioc::Sha256),
    ]
}

fn arb_unit() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        Just(f64::MIN_POSITIVE),
        Just(1.0 - f64::EPSILON / 2.0),
        0.0f64..=1.0,
    ]
}

fn arb_eval() -> impl Strategy<Value = Evaluation> {
    (arb_unit(), arb_unit()).prop_map(|(t, c)| Evaluation::new(t, c).expect("in range"))
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<bool>(), any::<u32>())
            .prop_map(|(reply, features)| Message::Announce(Announce { reply, features })),
        any::<u64>().prop_map(|nonce| Message::Ping(Ping { nonce })),
        any::<u64>().prop_map(|nonce| Message::Pong(Pong { nonce })),
        (any::<u64>(), arb_ioc()).prop_map(|(request, ioc)| Message::Query(Query { request, ioc })),
        (any::<u64>(), arb_ioc(), prop::option::of(arb_eval())).prop_map(
            |(request, ioc, evaluation)| Message::Answer(Answer {
                request,
                ioc,
                evaluation
            })
        ),
        (arb_ioc(), arb_eval())
            .prop_map(|(ioc, evaluation)| Message::Report(Report { ioc, evaluation })),
        (arb_ioc(), arb_eval())
            .prop_map(|(ioc, evaluation)| Message::Blame(Blame { ioc, evaluation })),
        Just(Message::Goodbye(Goodbye)),
    ]
}

fn arb_header() -> impl Strategy<Value = Header> {
    (any::<[u8; 8]>(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(
        |(tag, epoch, counter, timestamp_ms)| Header {
            kind: Kind::Goodbye,
            network: NetworkTag(tag),
            sender: key().verifying_key().to_bytes(),
            epoch,
            counter,
            timestamp_ms,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sealed_frames_open_to_what_was_sealed(header in arb_header(), msg in arb_message()) {
        let header = Header { kind: msg.kind(), ..header };
        let frame = seal_with(&key(), &header, &msg).expect("every v1 message fits");
        prop_assert!(frame.len() <= MAX_FRAME);
        let (h, m) = open(&frame, &header.network).expect("opens");
        prop_assert_eq!(h, header);
        prop_assert_eq!(&m, &msg);
        let body = msg.encode_body().expect("encode");
        prop_assert_eq!(&frame[HEADER_LEN..frame.len() - SIGNATURE_LEN], &body[..]);
        prop_assert_eq!(Message::decode_body(msg.kind(), &body).expect("decode"), msg);
    }

    #[test]
    fn arbitrary_datagrams_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1300)) {
        let net = NetworkTag::derive("slips");
        let _ = open(&bytes, &net);
        // The same bytes with a valid magic, version and network, so they get further.
        let mut framed = bytes.clone();
        if framed.len() >= 12 {
            let kind = framed[3] % 9;
            framed[..4].copy_from_slice(&[b'R', b'O', 1, kind]);
            framed[4..12].copy_from_slice(&net.0);
        }
        if let Ok(f) = Frame::parse(&framed, &net) {
            let _ = f.check_time(u64::MAX, 0);
            let _ = f.check_time(0, u64::MAX);
            let _ = ReplayWindow::starting_at_epoch(f.epoch()).check(f.epoch(), f.counter());
            if let Ok(k) = f.sender_key() {
                let _ = f.verify(&k);
            }
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic_and_decode_canonically(
        kind in prop::sample::select(Kind::ALL.to_vec()),
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        if let Ok(m) = Message::decode_body(kind, &body) {
            prop_assert_eq!(m.encode_body().expect("re-encode"), body);
        }
    }

    /// Bodies close to valid ones (a valid body with a few bytes changed), signed so that
    /// they reach the decoder: whatever opens must be canonical.
    #[test]
    fn mutated_signed_bodies_open_only_canonically(
        msg in arb_message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let net = NetworkTag::derive("slips");
        let mut body = msg.encode_body().expect("encode");
        if !body.is_empty() {
            for (at, byte) in edits {
                let i = at.index(body.len());
                body[i] = byte;
            }
            if truncate {
                body.truncate(cut.index(body.len()));
            }
        }
        let header = Header {
            kind: msg.kind(),
            network: net,
            sender: key().verifying_key().to_bytes(),
            epoch: 1,
            counter: 1,
            timestamp_ms: 1,
        };
        let frame = seal_raw(&key(), &header, &body);
        if let Ok((h, m)) = open(&frame, &net) {
            prop_assert_eq!(h, header);
            prop_assert_eq!(seal_with(&key(), &h, &m).expect("re-seal"), frame);
        }
    }
}

fn sample_frames() -> Vec<(Header, Vec<u8>)> {
    let net = NetworkTag::derive("slips");
    let msgs = [
        Message::Goodbye(Goodbye),
        Message::Ping(Ping { nonce: u64::MAX }),
        Message::Answer(Answer {
            request: 77,
            ioc: "domain:example.com".parse().expect("ioc"),
            evaluation: Some(Evaluation::new(0.25, 0.75).expect("eval")),
        }),
        Message::Report(Report {
            ioc: format!("https://example.com/{}", "x".repeat(300))
                .parse()
                .expect("ioc"),
            evaluation: Evaluation::new(1.0, 0.0).expect("eval"),
        }),
    ];
    msgs.into_iter()
        .enumerate()
        .map(|(i, m)| {
            let h = Header {
                kind: m.kind(),
                network: net,
                sender: key().verifying_key().to_bytes(),
                epoch: 9,
                counter: i as u64,
                timestamp_ms: 1_700_000_000_000,
            };
            (h, seal_with(&key(), &h, &m).expect("seal"))
        })
        .collect()
}

/// Every single bit of several frames, not a sample: each flip must be refused, whether by
/// the cheap checks (magic, version, network, kind), by the key check or by the signature.
#[test]
fn every_single_bit_flip_is_refused() {
    let net = NetworkTag::derive("slips");
    let mut flips = 0;
    for (_, frame) in sample_frames() {
        assert!(open(&frame, &net).is_ok());
        for bit in 0..frame.len() * 8 {
            let mut f = frame.clone();
            f[bit / 8] ^= 1 << (bit % 8);
            let err = open(&f, &net).expect_err("a flipped bit must be refused");
            let expected: &[&str] = match bit / 8 {
                0..=1 => &["bad_magic"],
                2 => &["wrong_version"],
                3 => &["unknown_kind", "bad_signature"],
                4..=11 => &["wrong_network"],
                12..=43 => &["bad_key", "bad_signature"],
                _ => &["bad_signature"],
            };
            assert!(
                expected.contains(&err.reason()),
                "bit {bit}: {} not in {expected:?}",
                err.reason()
            );
            flips += 1;
        }
    }
    assert!(flips > 8 * (128 + 138 + 160 + 400));
}

/// A frame re-signed after any bit of its body was flipped is validly signed, so only the
/// body rules stand between it and the node: it must be refused, or decode to a different
/// message that re-encodes to exactly those bytes.
#[test]
fn every_body_bit_flip_resigned_is_refused_or_canonical() {
    let net = NetworkTag::derive("slips");
    for (_, frame) in sample_frames() {
        let (_, original) = open(&frame, &net).expect("opens");
        let body_bits = HEADER_LEN * 8..(frame.len() - SIGNATURE_LEN) * 8;
        for bit in body_bits {
            let mut f = frame.clone();
            f[bit / 8] ^= 1 << (bit % 8);
            let split = f.len() - SIGNATURE_LEN;
            let sig = sign_raw(&key(), &f[..split]);
            f[split..].copy_from_slice(&sig);
            if let Ok((h, m)) = open(&f, &net) {
                assert_ne!(m, original, "bit {bit}");
                assert_eq!(seal_with(&key(), &h, &m).expect("re-seal"), f, "bit {bit}");
            }
        }
    }
}

/// The replay window against a plain model: a set of every (epoch, counter) accepted, the
/// newest epoch, and the highest counter in it.
#[derive(Default)]
struct WindowModel {
    seen: std::collections::HashSet<(u32, u64)>,
    newest: Option<(u32, u64)>,
}

impl WindowModel {
    fn accept(&mut self, epoch: u32, counter: u64) -> bool {
        let fresh = match self.newest {
            None => true,
            Some((e, _)) if epoch < e => false,
            Some((e, _)) if epoch > e => true,
            Some((_, top)) => {
                counter > top || (top - counter < 128 && !self.seen.contains(&(epoch, counter)))
            }
        };
        if fresh {
            self.seen.insert((epoch, counter));
            self.newest = match self.newest {
                Some((e, top)) if e == epoch => Some((e, top.max(counter))),
                _ => Some((epoch, counter)),
            };
        }
        fresh
    }
}

proptest! {
    #[test]
    fn replay_window_matches_model(
        ops in prop::collection::vec((0u32..3, 0u64..400, any::<bool>()), 1..300),
    ) {
        let mut window = ReplayWindow::new();
        let mut model = WindowModel::default();
        for (epoch, counter, verified) in ops {
            let ok = window.check(epoch, counter).is_ok();
            if !verified {
                // A frame that passes the check but fails its signature is never marked.
                continue;
            }
            prop_assert_eq!(ok, model.accept(epoch, counter), "({}, {})", epoch, counter);
            if ok {
                window.mark(epoch, counter);
            }
        }
    }
}
