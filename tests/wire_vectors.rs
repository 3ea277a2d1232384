//! The wire v1 test vectors in `proto/vectors/`: their generator and their checker.
//!
//! Every vector is a pair of files: `NAME.hex` (the datagram, lowercase hex on one line) and
//! `NAME.json` (what a v1 receiver must make of it). The checker reads the files from disk,
//! independently of the generator, and checks them both ways: feeding the bytes through the
//! receive path gives the JSON, and for accepted frames, sealing the header and message read
//! from the JSON gives back the same bytes (ed25519 signatures are deterministic).
//!
//! Regenerate after a deliberate protocol change with
//! `cargo test --test wire_vectors -- --ignored write_vectors`; `vectors_are_current` fails
//! whenever the committed files and the generator disagree.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use roost::ioc::{Domain, Evaluation, Ioc, Url};
use roost::wire::frame::{seal_raw, sign_raw};
use roost::wire::limits::{
    DEFAULT_TIME_TOLERANCE_MS, HEADER_LEN, MAX_FRAME, NETWORK_TAG_LEN, SIGNATURE_LEN,
};
use roost::wire::{
    seal_with, Announce, Answer, Blame, Frame, Goodbye, Header, Kind, Message, NetworkTag, Ping,
    Pong, Query, ReplayWindow, Report, WireError,
};
use serde_json::{json, Value};

/// Seed of the test key that signs almost every vector (documented in PROTOCOL.md).
const TEST_SEED: [u8; 32] = [0x01; 32];
/// Seed of a second key, for frames that must come from someone else.
const OTHER_SEED: [u8; 32] = [0x02; 32];
/// The receiver's network name.
const NETWORK: &str = "slips";
/// Epoch of the vectors' sender.
const EPOCH: u32 = 7;
/// Timestamp of the vectors, and the receiver's clock when it checks them.
const T0: u64 = 1_700_000_000_000;

fn test_key() -> SigningKey {
    SigningKey::from_bytes(&TEST_SEED)
}

fn other_key() -> SigningKey {
    SigningKey::from_bytes(&OTHER_SEED)
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/vectors")
}

// ---------------------------------------------------------------------------------------------
// JSON forms of headers and messages (shared by the generator and the checker).

fn kind_by_name(name: &str) -> Kind {
    Kind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .unwrap_or_else(|| panic!("unknown kind name {name}"))
}

fn header_json(h: &Header, network: &str) -> Value {
    json!({
        "magic": hex::encode(b"RO"),
        "version": 1,
        "kind": h.kind as u8,
        "kind_name": h.kind.name(),
        "network": network,
        "network_tag": hex::encode(h.network.0),
        "sender": hex::encode(h.sender),
        "epoch": h.epoch,
        "counter": h.counter,
        "timestamp_ms": h.timestamp_ms,
    })
}

fn header_from_json(v: &Value) -> Header {
    let network = v["network"].as_str().expect("network");
    let tag = NetworkTag::derive(network);
    assert_eq!(
        hex::encode(tag.0),
        v["network_tag"].as_str().expect("network_tag"),
        "network tag derivation of {network:?}"
    );
    let sender: [u8; 32] = hex::decode(v["sender"].as_str().expect("sender"))
        .expect("sender hex")
        .try_into()
        .expect("sender length");
    let kind = kind_by_name(v["kind_name"].as_str().expect("kind_name"));
    assert_eq!(v["kind"].as_u64(), Some(kind as u64));
    Header {
        kind,
        network: tag,
        sender,
        epoch: v["epoch"].as_u64().expect("epoch") as u32,
        counter: v["counter"].as_u64().expect("counter"),
        timestamp_ms: v["timestamp_ms"].as_u64().expect("timestamp_ms"),
    }
}

fn ioc_type(ioc: &Ioc) -> &'static str {
    match ioc {
        Ioc::Ipv4(_) => "ipv4",
        Ioc::Ipv6(_) => "ipv6",
        Ioc::Domain(_) => "domain",
        Ioc::Url(_) => "url",
        Ioc::Md5(_) => "md5",
        Ioc::Sha1(_) => "sha1",
        Ioc::Sha256(_) => "sha256",
    }
}

fn ioc_json(ioc: &Ioc) -> Value {
    let value = match ioc {
        Ioc::Ipv4(o) => Ipv4Addr::from(*o).to_string(),
        Ioc::Ipv6(o) => Ipv6Addr::from(*o).to_string(),
        _ => ioc.value(),
    };
    json!({ "type": ioc_type(ioc), "value": value, "text": ioc.to_string() })
}

fn hash<const N: usize>(v: &str) -> [u8; N] {
    hex::decode(v)
        .expect("hash hex")
        .try_into()
        .expect("hash length")
}

fn ioc_from_json(v: &Value) -> Ioc {
    let value = v["value"].as_str().expect("ioc value");
    let ioc = match v["type"].as_str().expect("ioc type") {
        "ipv4" => Ioc::Ipv4(value.parse::<Ipv4Addr>().expect("ipv4").octets()),
        "ipv6" => Ioc::Ipv6(value.parse::<Ipv6Addr>().expect("ipv6").octets()),
        "domain" => Ioc::Domain(Domain::new(value).expect("domain")),
        "url" => Ioc::Url(Url::new(value).expect("url")),
        "md5" => Ioc::Md5(hash(value)),
        "sha1" => Ioc::Sha1(hash(value)),
        "sha256" => Ioc::Sha256(hash(value)),
        other => panic!("unknown ioc type {other}"),
    };
    assert_eq!(ioc.to_string(), v["text"].as_str().expect("ioc text"));
    ioc
}

fn eval_json(e: &Evaluation) -> Value {
    json!({
        "threat": e.threat(),
        "confidence": e.confidence(),
        "threat_bits": format!("{:016x}", e.threat().to_bits()),
        "confidence_bits": format!("{:016x}", e.confidence().to_bits()),
    })
}

fn f64_from_bits(v: &Value, field: &str) -> f64 {
    let bits = u64::from_str_radix(v[field].as_str().expect("bits"), 16).expect("bits hex");
    f64::from_bits(bits)
}

fn eval_from_json(v: &Value) -> Evaluation {
    // The bit patterns are authoritative; the decimal numbers are for humans and must agree.
    let threat = f64_from_bits(v, "threat_bits");
    let confidence = f64_from_bits(v, "confidence_bits");
    assert_eq!(v["threat"].as_f64(), Some(threat));
    assert_eq!(v["confidence"].as_f64(), Some(confidence));
    Evaluation::new(threat, confidence).expect("evaluation in range")
}

fn message_json(m: &Message) -> Value {
    let kind = m.kind().name();
    match m {
        Message::Announce(a) => json!({"kind": kind, "reply": a.reply, "features": a.features}),
        Message::Ping(p) => json!({"kind": kind, "nonce": p.nonce}),
        Message::Pong(p) => json!({"kind": kind, "nonce": p.nonce}),
        Message::Query(q) => json!({"kind": kind, "request": q.request, "ioc": ioc_json(&q.ioc)}),
        Message::Answer(a) => json!({
            "kind": kind,
            "request": a.request,
            "ioc": ioc_json(&a.ioc),
            "evaluation": a.evaluation.as_ref().map(eval_json),
        }),
        Message::Report(r) => {
            json!({"kind": kind, "ioc": ioc_json(&r.ioc), "evaluation": eval_json(&r.evaluation)})
        }
        Message::Blame(b) => {
            json!({"kind": kind, "ioc": ioc_json(&b.ioc), "evaluation": eval_json(&b.evaluation)})
        }
        Message::Goodbye(_) => json!({"kind": kind}),
    }
}

fn message_from_json(v: &Value) -> Message {
    let u64_of = |f: &str| v[f].as_u64().unwrap_or_else(|| panic!("{f}"));
    match kind_by_name(v["kind"].as_str().expect("message kind")) {
        Kind::Announce => Message::Announce(Announce {
            reply: v["reply"].as_bool().expect("reply"),
            features: u64_of("features") as u32,
        }),
        Kind::Ping => Message::Ping(Ping {
            nonce: u64_of("nonce"),
        }),
        Kind::Pong => Message::Pong(Pong {
            nonce: u64_of("nonce"),
        }),
        Kind::Query => Message::Query(Query {
            request: u64_of("request"),
            ioc: ioc_from_json(&v["ioc"]),
        }),
        Kind::Answer => Message::Answer(Answer {
            request: u64_of("request"),
            ioc: ioc_from_json(&v["ioc"]),
            evaluation: match &v["evaluation"] {
                Value::Null => None,
                e => Some(eval_from_json(e)),
            },
        }),
        Kind::Report => Message::Report(Report {
            ioc: ioc_from_json(&v["ioc"]),
            evaluation: eval_from_json(&v["evaluation"]),
        }),
        Kind::Blame => Message::Blame(Blame {
            ioc: ioc_from_json(&v["ioc"]),
            evaluation: eval_from_json(&v["evaluation"]),
        }),
        Kind::Goodbye => Message::Goodbye(Goodbye),
    }
}

fn class_of(e: &WireError) -> &'static str {
    match e {
        WireError::Reject(_) => "reject",
        WireError::Misbehaving(_) => "misbehaving",
        WireError::Incompatible(_) => "incompatible",
    }
}

// ---------------------------------------------------------------------------------------------
// The receive path, in the normative order of PROTOCOL.md section "Receiving".

type Windows = HashMap<[u8; 32], ReplayWindow>;

fn receive(
    bytes: &[u8],
    network: &NetworkTag,
    now_ms: u64,
    tolerance_ms: u64,
    windows: &mut Windows,
) -> Result<(Header, Message), WireError> {
    let frame = Frame::parse(bytes, network)?;
    frame.check_time(now_ms, tolerance_ms)?;
    let mut window = windows.get(&frame.sender()).copied().unwrap_or_default();
    window.check(frame.epoch(), frame.counter())?;
    let key = frame.sender_key()?;
    let verified = frame.verify(&key)?;
    window.mark(frame.epoch(), frame.counter());
    windows.insert(frame.sender(), window);
    let msg = verified.message()?;
    Ok((frame.header(), msg))
}

// ---------------------------------------------------------------------------------------------
// The generator.

enum Expect {
    Accept(Header, Message),
    Reject(&'static str),
}

struct Vector {
    name: String,
    description: String,
    bytes: Vec<u8>,
    now_ms: u64,
    feed_first: Vec<String>,
    expect: Expect,
}

struct Gen {
    out: Vec<Vector>,
    counter: u64,
}

fn ioc(text: &str) -> Ioc {
    text.parse().expect("test ioc")
}

fn eval(t: f64, c: f64) -> Evaluation {
    Evaluation::new(t, c).expect("test evaluation")
}

/// The group order of ed25519, little-endian.
const ORDER_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    assert_eq!(carry, 0);
    out
}

fn resign(key: &SigningKey, frame: &mut Vec<u8>) {
    frame.truncate(frame.len() - SIGNATURE_LEN);
    let sig = sign_raw(key, frame);
    frame.extend_from_slice(&sig);
}

impl Gen {
    fn header(&mut self, kind: Kind) -> Header {
        let h = Header {
            kind,
            network: NetworkTag::derive(NETWORK),
            sender: test_key().verifying_key().to_bytes(),
            epoch: EPOCH,
            counter: self.counter,
            timestamp_ms: T0,
        };
        self.counter += 1;
        h
    }

    fn push(&mut self, name: &str, description: &str, bytes: Vec<u8>, expect: Expect) {
        self.out.push(Vector {
            name: name.into(),
            description: description.into(),
            bytes,
            now_ms: T0,
            feed_first: vec![],
            expect,
        });
    }

    fn valid_with(
        &mut self,
        name: &str,
        description: &str,
        key: &SigningKey,
        h: Header,
        m: Message,
    ) {
        let bytes = seal_with(key, &h, &m).expect("seal");
        self.push(name, description, bytes, Expect::Accept(h, m));
    }

    fn valid(&mut self, name: &str, description: &str, m: Message) -> Vec<u8> {
        let h = self.header(m.kind());
        self.valid_with(name, description, &test_key(), h, m);
        self.out.last().map(|v| v.bytes.clone()).unwrap_or_default()
    }

    fn reject(&mut self, name: &str, description: &str, bytes: Vec<u8>, reason: &'static str) {
        self.push(name, description, bytes, Expect::Reject(reason));
    }

    /// A validly signed frame of `kind` whose body is `body`, whatever it holds.
    fn raw(&mut self, kind: Kind, body: &[u8]) -> Vec<u8> {
        let h = self.header(kind);
        seal_raw(&test_key(), &h, body)
    }
}

fn query_body(request: u8, ioc_bytes: &[u8]) -> Vec<u8> {
    let mut b = vec![request];
    b.extend_from_slice(ioc_bytes);
    b
}

fn report_body(threat: f64, confidence: f64) -> Vec<u8> {
    let mut b = vec![0, 192, 0, 2, 1];
    b.extend_from_slice(&threat.to_le_bytes());
    b.extend_from_slice(&confidence.to_le_bytes());
    b
}

fn generate() -> Vec<Vector> {
    let mut g = Gen {
        out: vec![],
        counter: 0,
    };

    // --- Accepted frames: every kind, every IoC variant. ---
    g.valid(
        "announce",
        "Discovery beacon sent to the group.",
        Message::Announce(Announce {
            reply: false,
            features: 0,
        }),
    );
    g.valid(
        "announce_reply",
        "Unicast Announce answering an unknown peer's Announce; never answered itself.",
        Message::Announce(Announce {
            reply: true,
            features: 0,
        }),
    );
    g.valid(
        "announce_features",
        "Unknown feature bits are carried (5-byte varint) and ignored by v1.",
        Message::Announce(Announce {
            reply: false,
            features: u32::MAX,
        }),
    );
    let ping = g.valid(
        "ping",
        "Liveness probe with a nonce needing a 9-byte varint.",
        Message::Ping(Ping {
            nonce: 0x0123_4567_89ab_cdef,
        }),
    );
    g.valid(
        "ping_max_nonce",
        "The largest u64 as a 10-byte varint.",
        Message::Ping(Ping { nonce: u64::MAX }),
    );
    g.valid(
        "pong",
        "Reply to a Ping, echoing its nonce.",
        Message::Pong(Pong {
            nonce: 0x0123_4567_89ab_cdef,
        }),
    );
    for (name, text, request) in [
        ("query_ipv4", "192.0.2.1", 1u64),
        ("query_ipv6", "2001:db8::1", 300),
        ("query_domain", "domain:example.com", 0),
        (
            "query_url",
            "https://example.com/login?user=a&next=%2F",
            127,
        ),
        ("query_md5", "md5:d41d8cd98f00b204e9800998ecf8427e", 128),
        (
            "query_sha1",
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            16_384,
        ),
        (
            "query_sha256",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            u64::from(u32::MAX),
        ),
    ] {
        let i = ioc(text);
        g.valid(
            name,
            &format!("Query about an IoC of variant {}.", ioc_type(&i)),
            Message::Query(Query { request, ioc: i }),
        );
    }
    g.valid(
        "answer_no_data",
        "Answer saying \"I have no data\" (evaluation None), which is not \"benign\".",
        Message::Answer(Answer {
            request: 300,
            ioc: ioc("192.0.2.1"),
            evaluation: None,
        }),
    );
    g.valid(
        "answer_evaluation",
        "Answer carrying an evaluation.",
        Message::Answer(Answer {
            request: 300,
            ioc: ioc("domain:example.com"),
            evaluation: Some(eval(0.75, 0.5)),
        }),
    );
    g.valid(
        "report",
        "Report of an own detection; 0.1 and 0.9 are not exact in binary and must round-trip bit for bit.",
        Message::Report(Report {
            ioc: ioc("198.51.100.7"),
            evaluation: eval(0.1, 0.9),
        }),
    );
    g.valid(
        "report_zero_one",
        "Report at the edges of the ranges: threat 0 (+0.0), confidence 1.",
        Message::Report(Report {
            ioc: ioc("198.51.100.7"),
            evaluation: eval(0.0, 1.0),
        }),
    );
    let long_url = format!("https://example.com/{}", "a".repeat(512 - 20));
    g.valid(
        "report_longest_url",
        "Report about a URL of the maximum 512 bytes (2-byte length varint).",
        Message::Report(Report {
            ioc: ioc(&long_url),
            evaluation: eval(1.0, 0.5),
        }),
    );
    g.valid(
        "blame",
        "Accusation of an attacker.",
        Message::Blame(Blame {
            ioc: ioc("2001:db8::bad"),
            evaluation: eval(1.0, 1.0),
        }),
    );
    let goodbye = g.valid(
        "goodbye",
        "The sender is leaving; empty body, the smallest possible frame (128 bytes).",
        Message::Goodbye(Goodbye),
    );
    let mut h = g.header(Kind::Ping);
    h.timestamp_ms = T0 + DEFAULT_TIME_TOLERANCE_MS;
    g.valid_with(
        "clock_edge_future",
        "Timestamp exactly 120 s ahead of the receiver: still accepted.",
        &test_key(),
        h,
        Message::Ping(Ping { nonce: 1 }),
    );
    let mut h = g.header(Kind::Ping);
    h.timestamp_ms = T0 - DEFAULT_TIME_TOLERANCE_MS;
    g.valid_with(
        "clock_edge_past",
        "Timestamp exactly 120 s behind the receiver: still accepted.",
        &test_key(),
        h,
        Message::Ping(Ping { nonce: 2 }),
    );
    let mut h = g.header(Kind::Ping);
    h.epoch = EPOCH + 1;
    h.counter = 0;
    g.valid_with(
        "ping_next_epoch",
        "A frame of the sender's next boot (epoch 8, counter 0).",
        &test_key(),
        h,
        Message::Ping(Ping { nonce: 3 }),
    );
    let mut h = g.header(Kind::Ping);
    h.counter = 200;
    g.valid_with(
        "ping_counter_200",
        "A frame with counter 200.",
        &test_key(),
        h,
        Message::Ping(Ping { nonce: 4 }),
    );
    let mut h = g.header(Kind::Ping);
    h.counter = 72;
    let counter_72 = seal_with(&test_key(), &h, &Message::Ping(Ping { nonce: 5 })).expect("seal");
    g.push(
        "ping_counter_72",
        "A frame with counter 72: accepted on its own (see replayed_too_old).",
        counter_72.clone(),
        Expect::Accept(h, Message::Ping(Ping { nonce: 5 })),
    );
    let mut h = g.header(Kind::Ping);
    h.counter = 73;
    let counter_73 = seal_with(&test_key(), &h, &Message::Ping(Ping { nonce: 6 })).expect("seal");
    g.push(
        "ping_counter_73",
        "A frame with counter 73 (see window_last_slot).",
        counter_73.clone(),
        Expect::Accept(h, Message::Ping(Ping { nonce: 6 })),
    );
    let mut h = g.header(Kind::Report);
    h.sender = other_key().verifying_key().to_bytes();
    h.counter = 0;
    g.valid_with(
        "report_other_sender",
        "A frame from a second key (seed 32 bytes of 0x02).",
        &other_key(),
        h,
        Message::Report(Report {
            ioc: ioc("md5:d41d8cd98f00b204e9800998ecf8427e"),
            evaluation: eval(0.5, 0.25),
        }),
    );

    // --- Rejected before attribution (class reject). ---
    g.reject("truncated_empty", "An empty datagram.", vec![], "truncated");
    g.reject(
        "truncated_127",
        "The goodbye frame without its last byte: one byte under the minimum.",
        goodbye[..goodbye.len() - 1].to_vec(),
        "truncated",
    );
    let h = g.header(Kind::Ping);
    let oversized = seal_raw(&test_key(), &h, &vec![0u8; MAX_FRAME + 1 - 128]);
    assert_eq!(oversized.len(), MAX_FRAME + 1);
    g.reject(
        "oversized_1201",
        "1201 bytes, one over the maximum.",
        oversized,
        "oversized",
    );
    let mut f = ping.clone();
    f[1] = b'X';
    resign(&test_key(), &mut f);
    g.reject(
        "bad_magic",
        "Magic \"RX\" instead of \"RO\".",
        f,
        "bad_magic",
    );
    let mut f = ping.clone();
    f[2] = 2;
    resign(&test_key(), &mut f);
    g.reject(
        "wrong_version_2",
        "A version 2 frame, validly signed: ignored whatever it holds.",
        f,
        "wrong_version",
    );
    let mut f = vec![0xa5u8; 40];
    f[..3].copy_from_slice(b"RO\x00");
    f.resize(200, 0x5a);
    g.reject(
        "wrong_version_0_garbage",
        "Version 0 followed by bytes that are not a v1 layout: only bytes 0-2 are read.",
        f,
        "wrong_version",
    );
    let mut h = g.header(Kind::Ping);
    h.network = NetworkTag::derive("other");
    g.reject(
        "wrong_network",
        "A valid frame of the network \"other\".",
        seal_with(&test_key(), &h, &Message::Ping(Ping { nonce: 7 })).expect("seal"),
        "wrong_network",
    );
    for (name, kind_byte) in [("unknown_kind_0", 0u8), ("unknown_kind_9", 9u8)] {
        let mut f = g.raw(Kind::Ping, &[0x01, 0x02, 0x03]);
        f[3] = kind_byte;
        resign(&test_key(), &mut f);
        g.reject(
            name,
            &format!("Kind {kind_byte}, validly signed: a newer peer's extension, ignored."),
            f,
            "unknown_kind",
        );
    }
    // A 32-byte string that is not the encoding of a curve point.
    let bad_point = (2u8..=255)
        .map(|i| {
            let mut p = [0u8; 32];
            p[0] = i;
            p
        })
        .find(|p| VerifyingKey::from_bytes(p).is_err())
        .expect("a non-point");
    let mut h = g.header(Kind::Ping);
    h.sender = bad_point;
    g.reject(
        "bad_key",
        "The sender field is not an ed25519 point.",
        seal_with(&test_key(), &h, &Message::Ping(Ping { nonce: 8 })).expect("seal"),
        "bad_key",
    );
    let report = g
        .out
        .iter()
        .find(|v| v.name == "report")
        .map(|v| v.bytes.clone());
    let report = report.expect("report vector");
    let mut f = report.clone();
    f[HEADER_LEN + 5] ^= 0x01; // lowest mantissa bit of the threat: still a valid body
    g.reject(
        "bad_signature_tampered_body",
        "The report frame with one bit of the threat flipped (the body still decodes).",
        f,
        "bad_signature",
    );
    let mut f = report.clone();
    f[55] ^= 0x01; // lowest bit of the counter
    g.reject(
        "bad_signature_tampered_header",
        "The report frame with its counter changed.",
        f,
        "bad_signature",
    );
    let mut f = report.clone();
    let at = f.len() - SIGNATURE_LEN;
    f[at] ^= 0x01; // inside R
    g.reject(
        "bad_signature_tampered_signature",
        "The report frame with one bit of the signature's R flipped.",
        f,
        "bad_signature",
    );
    let h = g.header(Kind::Ping);
    g.reject(
        "bad_signature_wrong_key",
        "Sender field holds the test key, but the frame is signed by the second key.",
        seal_with(&other_key(), &h, &Message::Ping(Ping { nonce: 9 })).expect("seal"),
        "bad_signature",
    );
    let h = g.header(Kind::Ping);
    let mut f = seal_with(&test_key(), &h, &Message::Ping(Ping { nonce: 10 })).expect("seal");
    let split = f.len() - SIGNATURE_LEN;
    let sig = ed25519_dalek::Signer::sign(&test_key(), &f[..split]);
    f[split..].copy_from_slice(&sig.to_bytes());
    g.reject(
        "bad_signature_no_domain",
        "Signed over the frame bytes without the SIGNING_DOMAIN prefix.",
        f,
        "bad_signature",
    );
    let h = g.header(Kind::Ping);
    let mut f = seal_with(&test_key(), &h, &Message::Ping(Ping { nonce: 11 })).expect("seal");
    let split = f.len() - SIGNATURE_LEN;
    let mut s = [0u8; 32];
    s.copy_from_slice(&f[split + 32..]);
    f[split + 32..].copy_from_slice(&add_le(&s, &ORDER_L));
    g.reject(
        "bad_signature_non_canonical_s",
        "A valid signature with S replaced by S + L (malleated, non-canonical scalar).",
        f,
        "bad_signature",
    );
    // Small-order key: A = identity point. With R = [S]B the cofactorless equation
    // [S]B = R + [k]A holds for every message, so a lax verifier accepts any frame.
    let helper = SigningKey::from_bytes(&[0x03; 32]);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut h = g.header(Kind::Ping);
    h.sender = identity;
    let mut f = seal_with(&test_key(), &h, &Message::Ping(Ping { nonce: 12 })).expect("seal");
    let split = f.len() - SIGNATURE_LEN;
    f[split..split + 32].copy_from_slice(helper.verifying_key().as_bytes());
    f[split + 32..].copy_from_slice(&helper.to_scalar().to_bytes());
    {
        let weak = VerifyingKey::from_bytes(&identity).expect("identity is a point");
        let sig = Signature::from_slice(&f[split..]).expect("sig");
        let mut input = roost::wire::limits::SIGNING_DOMAIN.to_vec();
        input.extend_from_slice(&f[..split]);
        assert!(
            weak.verify_strict(&input, &sig).is_err(),
            "strict verification refuses"
        );
        assert!(
            ed25519_dalek::Verifier::verify(&weak, &input, &sig).is_ok(),
            "a lax verifier would accept this forgery"
        );
    }
    g.reject(
        "bad_signature_small_order_key",
        "Sender is the identity point (small order) with a signature that lax verification accepts for any message; strict verification refuses it.",
        f,
        "bad_signature",
    );
    let mut h = g.header(Kind::Ping);
    h.timestamp_ms = T0 + DEFAULT_TIME_TOLERANCE_MS + 1;
    g.reject(
        "clock_skew_future",
        "Timestamp 120.001 s ahead of the receiver.",
        seal_with(&test_key(), &h, &Message::Ping(Ping { nonce: 13 })).expect("seal"),
        "clock_skew",
    );
    let mut h = g.header(Kind::Ping);
    h.timestamp_ms = T0 - DEFAULT_TIME_TOLERANCE_MS - 1;
    g.reject(
        "clock_skew_past",
        "Timestamp 120.001 s behind the receiver.",
        seal_with(&test_key(), &h, &Message::Ping(Ping { nonce: 14 })).expect("seal"),
        "clock_skew",
    );
    let mut v = Vector {
        name: "replayed_duplicate".into(),
        description: "The ping frame a second time.".into(),
        bytes: ping.clone(),
        now_ms: T0,
        feed_first: vec!["ping".into()],
        expect: Expect::Reject("replayed"),
    };
    g.out.push(v);
    v = Vector {
        name: "replayed_too_old".into(),
        description: "Counter 72 after counter 200: 128 behind, just outside the window.".into(),
        bytes: counter_72,
        now_ms: T0,
        feed_first: vec!["ping_counter_200".into()],
        expect: Expect::Reject("replayed"),
    };
    g.out.push(v);
    let h73 = Frame::parse(&counter_73, &NetworkTag::derive(NETWORK))
        .expect("parse")
        .header();
    v = Vector {
        name: "window_last_slot".into(),
        description: "Counter 73 after counter 200: 127 behind, the last slot of the window."
            .into(),
        bytes: counter_73,
        now_ms: T0,
        feed_first: vec!["ping_counter_200".into()],
        expect: Expect::Accept(h73, Message::Ping(Ping { nonce: 6 })),
    };
    g.out.push(v);
    v = Vector {
        name: "stale_epoch".into(),
        description: "An epoch 7 frame after the sender's epoch 8 was seen.".into(),
        bytes: ping.clone(),
        now_ms: T0,
        feed_first: vec!["ping_next_epoch".into()],
        expect: Expect::Reject("stale_epoch"),
    };
    g.out.push(v);

    // --- Validly signed, but the body breaks the protocol (class misbehaving). ---
    let f = g.raw(Kind::Ping, &[]);
    g.reject(
        "bad_body_empty",
        "A Ping with an empty body.",
        f,
        "bad_body",
    );
    let f = g.raw(Kind::Announce, &[0x02, 0x00]);
    g.reject(
        "bad_body_bool",
        "Announce.reply is the byte 2.",
        f,
        "bad_body",
    );
    let f = g.raw(Kind::Answer, &[0x01, 0x00, 192, 0, 2, 1, 0x02]);
    g.reject(
        "bad_body_option",
        "Answer.evaluation's Option tag is 2.",
        f,
        "bad_body",
    );
    let f = g.raw(
        Kind::Query,
        &[0x01, 0x02, 0x05, b'a', 0xff, b'.', b'c', b'o'],
    );
    g.reject(
        "bad_body_utf8",
        "A domain string that is not UTF-8.",
        f,
        "bad_body",
    );
    let f = g.raw(Kind::Ping, &[0xff; 11]);
    g.reject(
        "bad_body_varint_overflow",
        "A u64 varint of 11 bytes.",
        f,
        "bad_body",
    );
    let f = g.raw(
        Kind::Ping,
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
    );
    g.reject(
        "bad_body_varint_too_big",
        "A 10-byte u64 varint whose value exceeds 2^64 - 1.",
        f,
        "bad_body",
    );
    let mut b = vec![0x01, 0x06];
    b.extend_from_slice(&[0xee; 31]);
    let f = g.raw(Kind::Query, &b);
    g.reject(
        "bad_body_short_hash",
        "A sha256 IoC with only 31 bytes.",
        f,
        "bad_body",
    );
    let f = g.raw(Kind::Report, &report_body(1.5, 0.5));
    g.reject(
        "out_of_range_threat",
        "Report with threat 1.5.",
        f,
        "out_of_range",
    );
    let f = g.raw(Kind::Report, &report_body(f64::NAN, 0.5));
    g.reject(
        "out_of_range_nan",
        "Report with threat NaN.",
        f,
        "out_of_range",
    );
    let f = g.raw(Kind::Report, &report_body(0.5, -0.0));
    g.reject(
        "out_of_range_negative_zero",
        "Report with confidence -0.0 (only +0.0 is allowed).",
        f,
        "out_of_range",
    );
    let f = g.raw(Kind::Report, &report_body(0.5, f64::INFINITY));
    g.reject(
        "out_of_range_infinity",
        "Report with confidence +infinity.",
        f,
        "out_of_range",
    );
    let f = g.raw(Kind::Query, &query_body(1, b"\x02\x09-bad-.com"));
    g.reject(
        "out_of_range_domain",
        "A domain label starting with '-'.",
        f,
        "out_of_range",
    );
    let f = g.raw(Kind::Query, &query_body(1, b"\x02\x0bExample.com"));
    g.reject(
        "out_of_range_domain_uppercase",
        "A domain not in canonical (lowercase) form.",
        f,
        "out_of_range",
    );
    let f = g.raw(Kind::Query, &query_body(1, b"\x03\x0bhttp://a b/"));
    g.reject(
        "out_of_range_url",
        "A URL containing a space.",
        f,
        "out_of_range",
    );
    let f = g.raw(Kind::Query, &query_body(1, &[0x07, 1, 2, 3, 4]));
    g.reject(
        "out_of_range_ioc_variant",
        "IoC variant index 7 (v1 has 0 to 6).",
        f,
        "out_of_range",
    );
    let mut b = vec![0x01, 0x01];
    b.extend_from_slice(&Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().octets());
    let f = g.raw(Kind::Query, &b);
    g.reject(
        "out_of_range_mapped_ipv6",
        "An IPv4-mapped IPv6 address (::ffff:192.0.2.1) in the Ipv6 variant.",
        f,
        "out_of_range",
    );
    let f = g.raw(Kind::Goodbye, &[0x00]);
    g.reject(
        "trailing_bytes_goodbye",
        "A Goodbye with one body byte.",
        f,
        "trailing_bytes",
    );
    let f = g.raw(Kind::Ping, &[0x05, 0x00, 0x00]);
    g.reject(
        "trailing_bytes_ping",
        "A Ping with two bytes after its nonce.",
        f,
        "trailing_bytes",
    );
    let f = g.raw(Kind::Ping, &[0x85, 0x00]);
    g.reject(
        "non_canonical_varint",
        "Ping nonce 5 as the overlong varint 85 00.",
        f,
        "non_canonical",
    );
    let f = g.raw(Kind::Query, &query_body(1, b"\x02\x8b\x00example.com"));
    g.reject(
        "non_canonical_string_length",
        "A domain length 11 as the overlong varint 8b 00.",
        f,
        "non_canonical",
    );
    let f = g.raw(Kind::Query, &query_body(1, &[0x80, 0x00, 192, 0, 2, 1]));
    g.reject(
        "non_canonical_variant",
        "IoC variant index 0 as the overlong varint 80 00.",
        f,
        "non_canonical",
    );
    g.out
}

fn vector_json(v: &Vector) -> Value {
    let mut j = json!({
        "name": v.name,
        "description": v.description,
        "network": NETWORK,
        "now_ms": v.now_ms,
        "tolerance_ms": DEFAULT_TIME_TOLERANCE_MS,
        "feed_first": v.feed_first,
        "length": v.bytes.len(),
    });
    match &v.expect {
        Expect::Accept(h, m) => {
            j["result"] = json!("accept");
            j["header"] = header_json(h, NETWORK);
            j["body_hex"] = json!(hex::encode(
                &v.bytes[HEADER_LEN..v.bytes.len() - SIGNATURE_LEN]
            ));
            j["message"] = message_json(m);
        }
        Expect::Reject(reason) => {
            j["result"] = json!("reject");
            j["reason"] = json!(reason);
            j["class"] = json!(match *reason {
                "bad_body" | "out_of_range" | "trailing_bytes" | "non_canonical" => "misbehaving",
                "wrong_version" | "wrong_network" | "unknown_kind" => "incompatible",
                _ => "reject",
            });
        }
    }
    j
}

fn rendered() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for v in generate() {
        let json = serde_json::to_string_pretty(&vector_json(&v)).expect("json") + "\n";
        files.insert(format!("{}.json", v.name), json);
        files.insert(format!("{}.hex", v.name), hex::encode(&v.bytes) + "\n");
    }
    files
}

fn on_disk() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(vectors_dir()).expect("proto/vectors exists") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".json") || name.ends_with(".hex") {
            let text = std::fs::read_to_string(&path).expect("read vector");
            files.insert(name.to_owned(), text);
        }
    }
    files
}

/// Writes the vectors (run by hand after a deliberate protocol change).
#[test]
#[ignore = "writes proto/vectors; run by hand"]
fn write_vectors() {
    let dir = vectors_dir();
    std::fs::create_dir_all(&dir).expect("mkdir");
    for name in on_disk().keys() {
        std::fs::remove_file(dir.join(name)).expect("remove old vector");
    }
    for (name, text) in rendered() {
        std::fs::write(dir.join(name), text).expect("write vector");
    }
}

#[test]
fn vectors_are_current() {
    let want = rendered();
    let have = on_disk();
    let want_names: BTreeSet<_> = want.keys().collect();
    let have_names: BTreeSet<_> = have.keys().collect();
    assert_eq!(
        want_names, have_names,
        "vector files differ from the generator"
    );
    for (name, text) in &want {
        assert_eq!(
            Some(text),
            have.get(name),
            "{name} differs from the generator"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The checker: reads only the files.

struct OnDisk {
    json: Value,
    bytes: Vec<u8>,
}

fn load_all() -> BTreeMap<String, OnDisk> {
    let files = on_disk();
    let mut out = BTreeMap::new();
    for (name, text) in &files {
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let json: Value = serde_json::from_str(text).expect("vector json");
        assert_eq!(json["name"].as_str(), Some(stem));
        let hex_text = files
            .get(&format!("{stem}.hex"))
            .unwrap_or_else(|| panic!("{stem}.hex missing"));
        let bytes = hex::decode(hex_text.trim()).expect("vector hex");
        assert_eq!(json["length"].as_u64(), Some(bytes.len() as u64));
        out.insert(stem.to_owned(), OnDisk { json, bytes });
    }
    out
}

#[test]
fn vectors_decode_as_documented() {
    let all = load_all();
    assert!(all.len() >= 40, "only {} vectors", all.len());
    let keys = [test_key(), other_key()];
    for (name, v) in &all {
        let j = &v.json;
        let network = NetworkTag::derive(j["network"].as_str().expect("network"));
        let now = j["now_ms"].as_u64().expect("now_ms");
        let tolerance = j["tolerance_ms"].as_u64().expect("tolerance_ms");
        let mut windows = Windows::new();
        for first in j["feed_first"].as_array().expect("feed_first") {
            let first = first.as_str().expect("feed name");
            let fv = all
                .get(first)
                .unwrap_or_else(|| panic!("{name}: no vector {first}"));
            receive(&fv.bytes, &network, now, tolerance, &mut windows)
                .unwrap_or_else(|e| panic!("{name}: feeding {first} failed: {e}"));
        }
        let got = receive(&v.bytes, &network, now, tolerance, &mut windows);
        match j["result"].as_str() {
            Some("accept") => {
                let (h, m) = got.unwrap_or_else(|e| panic!("{name}: refused: {e}"));
                let net_name = j["network"].as_str().expect("network");
                assert_eq!(header_json(&h, net_name), j["header"], "{name}: header");
                assert_eq!(message_json(&m), j["message"], "{name}: message");
                // And back: header and message from the JSON seal to the same bytes.
                let h2 = header_from_json(&j["header"]);
                let m2 = message_from_json(&j["message"]);
                assert_eq!(h2, h, "{name}: header from json");
                assert_eq!(m2, m, "{name}: message from json");
                let body = m2.encode_body().expect("encode");
                assert_eq!(
                    hex::encode(&body),
                    j["body_hex"].as_str().expect("body_hex")
                );
                let key = keys
                    .iter()
                    .find(|k| k.verifying_key().to_bytes() == h2.sender)
                    .unwrap_or_else(|| panic!("{name}: signed by an unknown key"));
                let again = seal_with(key, &h2, &m2).expect("seal");
                assert_eq!(
                    hex::encode(again),
                    hex::encode(&v.bytes),
                    "{name}: re-sealed"
                );
            }
            Some("reject") => {
                let e = got.err().unwrap_or_else(|| panic!("{name}: was accepted"));
                assert_eq!(Some(e.reason()), j["reason"].as_str(), "{name}: {e}");
                assert_eq!(Some(class_of(&e)), j["class"].as_str(), "{name}: class");
            }
            other => panic!("{name}: bad result {other:?}"),
        }
    }
}

#[test]
fn vectors_cover_every_kind_variant_and_reason() {
    let all = load_all();
    let mut kinds = BTreeSet::new();
    let mut iocs = BTreeSet::new();
    let mut reasons = BTreeSet::new();
    for v in all.values() {
        if let Some(k) = v.json["message"]["kind"].as_str() {
            kinds.insert(k.to_owned());
        }
        if let Some(t) = v.json["message"]["ioc"]["type"].as_str() {
            iocs.insert(t.to_owned());
        }
        if let Some(r) = v.json["reason"].as_str() {
            reasons.insert(r.to_owned());
        }
    }
    let all_kinds: BTreeSet<_> = Kind::ALL.iter().map(|k| k.name().to_owned()).collect();
    assert_eq!(kinds, all_kinds);
    let all_iocs: BTreeSet<_> = ["ipv4", "ipv6", "domain", "url", "md5", "sha1", "sha256"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(iocs, all_iocs);
    let all_reasons: BTreeSet<_> = [
        "truncated",
        "oversized",
        "bad_magic",
        "wrong_version",
        "wrong_network",
        "unknown_kind",
        "bad_key",
        "bad_signature",
        "replayed",
        "stale_epoch",
        "clock_skew",
        "bad_body",
        "out_of_range",
        "trailing_bytes",
        "non_canonical",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(reasons, all_reasons);
}

#[test]
fn network_tag_of_the_default_network() {
    // Pinned so that other implementations can check their derivation in isolation.
    let tag = NetworkTag::derive(NETWORK);
    assert_eq!(tag.0.len(), NETWORK_TAG_LEN);
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"roost/network/v1\0slips");
    assert_eq!(tag.0[..], h.finalize()[..8]);
}
