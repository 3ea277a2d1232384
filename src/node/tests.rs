//! Receive-path and command tests that drive `Node`s by hand, without the simulator: the
//! driver here is a dozen lines, which is also a picture of what the runtime does.

use std::net::SocketAddr;

use ed25519_dalek::{Signer, SigningKey};

use super::*;
use crate::wire::limits::SIGNING_DOMAIN;
use crate::wire::{Frame, Kind, Ping, Query, Report};

const T0: u64 = 1_800_000_000_000;

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 7946))
}

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i; 32])
}

fn cfg() -> NodeConfig {
    NodeConfig {
        startup_jitter_ms: 0,
        startup_announces: 1,
        ..NodeConfig::default()
    }
}

fn ioc() -> Ioc {
    "203.0.113.9".parse().unwrap()
}

fn ev(t: f64, c: f64) -> Evaluation {
    Evaluation::new(t, c).unwrap()
}

/// Drains a node's actions.
fn drain(n: &mut Node) -> Vec<Action> {
    std::iter::from_fn(|| n.poll_action()).collect()
}

fn transmits(actions: &[Action]) -> Vec<(Dest, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transmit { to, bytes } => Some((*to, bytes.clone())),
            _ => None,
        })
        .collect()
}

/// Two nodes at addresses .1 and .2: a announces first, then b, each exchange delivered to
/// the end.
fn pair() -> (Node, Node) {
    let mut a = Node::new(cfg(), key(1), 1, vec![], 1, T0);
    let mut b = Node::new(cfg(), key(2), 1, vec![], 2, T0);
    a.handle_timeout(T0);
    exchange(&mut a, &mut b, T0);
    b.handle_timeout(T0);
    exchange(&mut a, &mut b, T0);
    (a, b)
}

/// Delivers every queued datagram between a (at .1) and b (at .2) until neither sends more.
fn exchange(a: &mut Node, b: &mut Node, now: u64) {
    loop {
        let from_a = transmits(&drain(a));
        let from_b = transmits(&drain(b));
        if from_a.is_empty() && from_b.is_empty() {
            return;
        }
        for (to, bytes) in from_a {
            b.handle_datagram(now, addr(1), &bytes, to == Dest::Multicast);
        }
        for (to, bytes) in from_b {
            a.handle_datagram(now, addr(2), &bytes, to == Dest::Multicast);
        }
    }
}

/// Signs arbitrary bytes as a frame body: a validly signed frame whose body is garbage.
fn signed_raw(
    k: &SigningKey,
    kind: Kind,
    epoch: u32,
    counter: u64,
    ts: u64,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"RO");
    out.push(1);
    out.push(kind as u8);
    out.extend_from_slice(&NetworkTag::derive("slips").0);
    out.extend_from_slice(&k.verifying_key().to_bytes());
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(&counter.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(body);
    let mut input = SIGNING_DOMAIN.to_vec();
    input.extend_from_slice(&out);
    out.extend_from_slice(&k.sign(&input).to_bytes());
    out
}

#[test]
fn discovery_takes_one_round_trip_and_replies_are_not_answered() {
    let (a, b) = pair();
    assert_eq!(a.active_peers(), 1);
    assert_eq!(b.active_peers(), 1);
    // b answered a's Announce; a did not answer the reply, nor b's own Announce (b was
    // known by then).
    assert_eq!(b.stats().announce_replies, 1);
    assert_eq!(a.stats().announce_replies, 0);
    assert_eq!(a.stats().transmits, 1, "a sent only its Announce");
    assert_eq!(b.stats().transmits, 2, "b sent its reply and its Announce");
}

#[test]
fn unconfirmed_peer_is_pinged_and_rtt_measured() {
    let (mut a, mut b) = pair();
    // The side that only heard a multicast Announce has no proof the other knows it: it pings.
    let now = T0 + 1_000;
    a.handle_timeout(now);
    b.handle_timeout(now);
    exchange(&mut a, &mut b, now);
    // a got b's unicast reply (confirmed); b only heard a's multicast Announce, so b pinged.
    assert_eq!(a.stats().transmits, 2, "Announce and Pong");
    let pb = b.peer(&a.public_key()).unwrap();
    assert_eq!(pb.rtt_ms, Some(0));
    assert!(pb.reliability > 0.5, "an answered ping is good evidence");
    // Confirmed now: the next tick sends nothing.
    a.handle_timeout(now + 1_000);
    b.handle_timeout(now + 1_000);
    assert!(transmits(&drain(&mut a)).is_empty());
    assert!(transmits(&drain(&mut b)).is_empty());
}

#[test]
fn rate_limit_drops_before_signature_checks() {
    let mut a = Node::new(cfg(), key(1), 1, vec![], 1, T0);
    let mut attacker = Sealer::new(key(9), NetworkTag::derive("slips"), 1);
    let burst = cfg().source_limit.burst as u64;
    for i in 0..1_000 {
        let f = attacker
            .seal(T0, &Message::Ping(Ping { nonce: i }))
            .unwrap();
        a.handle_datagram(T0, addr(9), &f, false);
    }
    let s = a.stats();
    assert_eq!(
        s.verifications, burst,
        "only the burst reached the signature check"
    );
    assert_eq!(s.dropped("rate_source"), 1_000 - burst);
    let pongs = transmits(&drain(&mut a)).len() as u64;
    assert_eq!(pongs, burst);
}

#[test]
fn global_rate_limit_bounds_a_flood_from_many_addresses() {
    let c = NodeConfig {
        global_limit: RateLimit {
            burst: 100.0,
            per_sec: 10.0,
        },
        ..cfg()
    };
    let mut a = Node::new(c, key(1), 1, vec![], 1, T0);
    let mut attacker = Sealer::new(key(9), NetworkTag::derive("slips"), 1);
    for i in 0..1_000u64 {
        let f = attacker
            .seal(T0, &Message::Ping(Ping { nonce: i }))
            .unwrap();
        let from = SocketAddr::from(([10, 9, (i / 250) as u8, (i % 250) as u8], 5000));
        a.handle_datagram(T0, from, &f, false);
    }
    assert_eq!(a.stats().verifications, 100);
    assert_eq!(a.stats().dropped("rate_global"), 900);
}

#[test]
fn tampered_or_foreign_frames_get_no_reply() {
    let c = NodeConfig {
        source_limit: RateLimit {
            burst: 10_000.0,
            per_sec: 1.0,
        },
        ..cfg()
    };
    let mut a = Node::new(c, key(1), 1, vec![], 1, T0);
    drain(&mut a);
    let mut s = Sealer::new(key(2), NetworkTag::derive("slips"), 1);
    let q = s
        .seal(
            T0,
            &Message::Query(Query {
                request: 7,
                ioc: ioc(),
            }),
        )
        .unwrap();
    // Every single-bit flip after the network tag must be refused without a reply.
    for i in 12..q.len() {
        let mut bad = q.clone();
        bad[i] ^= 0x10;
        a.handle_datagram(T0, addr(2), &bad, true);
        assert!(transmits(&drain(&mut a)).is_empty(), "byte {i}");
    }
    let mut other = Sealer::new(key(2), NetworkTag::derive("other"), 1);
    let f = other.seal(T0, &Message::Ping(Ping { nonce: 1 })).unwrap();
    a.handle_datagram(T0, addr(2), &f, false);
    assert!(drain(&mut a).is_empty());
    assert_eq!(a.stats().dropped("wrong_network"), 1);
    assert_eq!(a.stats().accepted, 0);
    // The untampered Query is answered (with "no data").
    a.handle_datagram(T0, addr(2), &q, true);
    assert_eq!(transmits(&drain(&mut a)).len(), 1);
}

#[test]
fn replayed_and_skewed_frames_are_dropped() {
    let mut a = Node::new(cfg(), key(1), 1, vec![], 1, T0);
    let mut s = Sealer::new(key(2), NetworkTag::derive("slips"), 1);
    let ping = s.seal(T0, &Message::Ping(Ping { nonce: 1 })).unwrap();
    a.handle_datagram(T0, addr(2), &ping, false);
    drain(&mut a);
    a.handle_datagram(T0 + 10, addr(2), &ping, false);
    assert!(transmits(&drain(&mut a)).is_empty());
    assert_eq!(a.stats().dropped("replayed"), 1);
    let late = s
        .seal(T0 - 200_000, &Message::Ping(Ping { nonce: 2 }))
        .unwrap();
    a.handle_datagram(T0, addr(2), &late, false);
    assert_eq!(a.stats().dropped("clock_skew"), 1);
    assert_eq!(
        a.stats().verifications,
        1,
        "neither drop cost a verification"
    );
}

#[test]
fn misbehaviour_lowers_reliability_but_rejects_do_not() {
    let mut a = Node::new(cfg(), key(1), 1, vec![], 1, T0);
    let k2 = key(2);
    let ok = signed_raw(&k2, Kind::Ping, 1, 0, T0, &[1]);
    a.handle_datagram(T0, addr(2), &ok, false);
    let r0 = a.peer(&k2.verifying_key().to_bytes()).unwrap().reliability;
    // Forged: a bad signature under the peer's key. Not attributable, no effect.
    let mut forged = signed_raw(&k2, Kind::Ping, 1, 1, T0, &[2]);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    a.handle_datagram(T0, addr(2), &forged, false);
    assert_eq!(
        a.peer(&k2.verifying_key().to_bytes()).unwrap().reliability,
        r0
    );
    // Signed garbage: the peer's own key vouched for it.
    let garbage = signed_raw(&k2, Kind::Report, 1, 2, T0, &[0xff, 0xff, 0xff]);
    a.handle_datagram(T0, addr(2), &garbage, false);
    let r1 = a.peer(&k2.verifying_key().to_bytes()).unwrap().reliability;
    assert!(r1 < r0, "{r1} < {r0}");
    assert_eq!(a.stats().dropped("bad_signature"), 1);
    assert_eq!(a.stats().dropped("bad_body"), 1);
    // An unknown kind from a newer version is ignored, not penalised.
    let mut newer = signed_raw(&k2, Kind::Ping, 1, 3, T0, &[3]);
    newer[3] = 200;
    a.handle_datagram(T0, addr(2), &newer, false);
    assert_eq!(a.stats().dropped("unknown_kind"), 1);
    assert_eq!(
        a.peer(&k2.verifying_key().to_bytes()).unwrap().reliability,
        r1
    );
}

#[test]
fn reports_are_deduplicated_per_peer_ioc_and_kind() {
    let mut a = Node::new(cfg(), key(1), 1, vec![], 1, T0);
    let mut s = Sealer::new(key(2), NetworkTag::derive("slips"), 1);
    let report = Message::Report(Report {
        ioc: ioc(),
        evaluation: ev(0.9, 0.8),
    });
    let blame = Message::Blame(crate::wire::Blame {
        ioc: ioc(),
        evaluation: ev(0.9, 0.8),
    });
    for (t, m) in [(T0, &report), (T0 + 1, &report), (T0 + 2, &blame)] {
        let f = s.seal(t, m).unwrap();
        a.handle_datagram(t, addr(2), &f, true);
    }
    let notes = drain(&mut a)
        .into_iter()
        .filter(|x| matches!(x, Action::Notify(Notification::ReportReceived { .. })))
        .count();
    assert_eq!(notes, 2, "report once, blame once");
    assert_eq!(a.stats().dropped("report_duplicate"), 1);
    // After the window the same report counts again.
    let later = T0 + cfg().dedup_window_ms + 10;
    let f = s.seal(later, &report).unwrap();
    a.handle_datagram(later, addr(2), &f, true);
    assert_eq!(a.stats().dropped("report_duplicate"), 1);
    a.handle_command(later, Command::Opinion { ioc: ioc() }, 5);
    let op = drain(&mut a).into_iter().find_map(|x| match x {
        Action::Reply {
            token: 5,
            response: Response::Opinion(o),
        } => Some(o),
        _ => None,
    });
    let op = op.unwrap();
    assert_eq!(op.reports.len(), 3);
    assert_eq!(op.threat, Some(0.9));
}

#[test]
fn own_reports_are_not_rebroadcast_within_the_window() {
    let mut a = Node::new(cfg(), key(1), 1, vec![], 1, T0);
    drain(&mut a);
    let sent = |a: &mut Node, t: u64, kind: ReportKind| {
        let cmd = match kind {
            ReportKind::Blame => Command::Blame {
                ioc: ioc(),
                evaluation: ev(1.0, 1.0),
            },
            _ => Command::Report {
                ioc: ioc(),
                evaluation: ev(1.0, 1.0),
            },
        };
        a.handle_command(t, cmd, 1);
        let acts = drain(a);
        let tx = transmits(&acts).len();
        let flag = acts.iter().find_map(|x| match x {
            Action::Reply {
                response: Response::Shared(s),
                ..
            } => Some(s.sent),
            _ => None,
        });
        (tx, flag)
    };
    assert_eq!(sent(&mut a, T0, ReportKind::Report), (1, Some(true)));
    assert_eq!(sent(&mut a, T0 + 5, ReportKind::Report), (0, Some(false)));
    assert_eq!(sent(&mut a, T0 + 6, ReportKind::Blame), (1, Some(true)));
}

#[test]
fn queries_are_answered_from_own_detections() {
    let (mut a, mut b) = pair();
    a.handle_command(
        T0,
        Command::Report {
            ioc: ioc(),
            evaluation: ev(0.7, 0.6),
        },
        1,
    );
    b.handle_command(T0, Command::Ask { ioc: ioc() }, 2);
    exchange(&mut a, &mut b, T0);
    // The reply came back as soon as a's Answer arrived; it is kept in b's queue.
    b.handle_command(T0, Command::Ask { ioc: ioc() }, 3);
    let replies: Vec<_> = drain(&mut b)
        .into_iter()
        .filter_map(|x| match x {
            Action::Reply {
                token,
                response: Response::Ask(r),
            } => Some((token, r)),
            _ => None,
        })
        .collect();
    assert_eq!(
        replies.len(),
        1,
        "the first reply was drained by exchange()"
    );
    assert_eq!(replies[0].0, 3);
    assert_eq!(b.stats().asks_cached, 1);
    assert_eq!(replies[0].1.answered, 1);
    assert_eq!(replies[0].1.threat, Some(0.7));
}

#[test]
fn goodbye_marks_the_peer_inactive_at_once() {
    let (mut a, mut b) = pair();
    a.shutdown(T0 + 5);
    let acts = drain(&mut a);
    let goodbye = transmits(&acts);
    assert_eq!(goodbye.len(), 1);
    b.handle_datagram(T0 + 6, addr(1), &goodbye[0].1, true);
    assert_eq!(b.active_peers(), 0);
    assert!(drain(&mut b)
        .iter()
        .any(|x| matches!(x, Action::Notify(Notification::PeerGone { .. }))));
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn silent_peer_becomes_inactive_then_forgotten() {
    let (mut a, b) = pair();
    let c = cfg();
    let mut t = T0;
    while t < T0 + c.inactive_after_ms + 2 * c.tick_ms {
        t += c.tick_ms;
        a.handle_timeout(t);
    }
    let p = a.peer(&b.public_key()).unwrap();
    assert!(!p.active);
    assert!(p.reliability < 0.5, "missed pings are bad evidence");
    a.handle_timeout(T0 + c.remember_ms + 10 * c.tick_ms);
    assert!(a.peer(&b.public_key()).is_none());
    assert!(drain(&mut a)
        .iter()
        .any(|x| matches!(x, Action::Persist(Persist::PeerForgotten { .. }))));
}

#[test]
fn remembered_peers_restore_the_epoch_floor() {
    let k2 = key(2);
    let known = KnownPeer {
        key: k2.verifying_key().to_bytes(),
        addr: Some(addr(2)),
        first_seen_ms: T0 - 1_000_000,
        last_seen_ms: T0 - 1_000,
        reliability: 0.8,
        evidence_good: 7,
        evidence_bad: 1,
        last_epoch: 5,
    };
    let mut a = Node::new(cfg(), key(1), 2, vec![known], 1, T0);
    let v = a.peer(&known_key(&k2)).unwrap();
    assert!(!v.active);
    assert_eq!(v.reliability, 0.8);
    let mut old = Sealer::new(k2.clone(), NetworkTag::derive("slips"), 4);
    let f = old.seal(T0, &Message::Ping(Ping { nonce: 1 })).unwrap();
    a.handle_datagram(T0, addr(2), &f, false);
    assert_eq!(a.stats().dropped("stale_epoch"), 1);
    assert_eq!(a.stats().verifications, 0);
    let mut new = Sealer::new(k2.clone(), NetworkTag::derive("slips"), 6);
    let f = new.seal(T0, &Message::Ping(Ping { nonce: 1 })).unwrap();
    a.handle_datagram(T0, addr(2), &f, false);
    assert!(a.peer(&known_key(&k2)).unwrap().active);
}

fn known_key(k: &SigningKey) -> [u8; 32] {
    k.verifying_key().to_bytes()
}

#[test]
fn unsolicited_answers_are_dropped() {
    let mut a = Node::new(cfg(), key(1), 1, vec![], 1, T0);
    let mut s = Sealer::new(key(2), NetworkTag::derive("slips"), 1);
    let f = s
        .seal(
            T0,
            &Message::Answer(crate::wire::Answer {
                request: 42,
                ioc: ioc(),
                evaluation: Some(ev(1.0, 1.0)),
            }),
        )
        .unwrap();
    a.handle_datagram(T0, addr(2), &f, false);
    assert_eq!(a.stats().dropped("answer_unsolicited"), 1);
    assert!(!drain(&mut a)
        .iter()
        .any(|x| matches!(x, Action::Persist(Persist::ReportReceived { .. }))));
}

#[test]
fn own_frames_looped_back_are_ignored() {
    let mut a = Node::new(cfg(), key(1), 1, vec![], 1, T0);
    a.handle_timeout(T0);
    let tx = transmits(&drain(&mut a));
    a.handle_datagram(T0, addr(1), &tx[0].1, true);
    assert_eq!(a.stats().dropped("own_frame"), 1);
    assert_eq!(a.stats().verifications, 0);
    assert!(Frame::parse(&tx[0].1, &NetworkTag::derive("slips")).is_ok());
}

#[test]
fn json_contract() {
    let (mut a, _b) = pair();
    a.handle_command(T0, Command::Peers, 1);
    a.handle_command(T0, Command::Status, 2);
    let mut got = Vec::new();
    for x in drain(&mut a) {
        if let Action::Reply { response, .. } = x {
            got.push(serde_json::to_value(&response).unwrap());
        }
    }
    let peers = got[0].as_array().unwrap();
    let p = peers[0].as_object().unwrap();
    let mut keys: Vec<_> = p.keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["addr", "id", "last_seen", "reliability", "state", "trust"]
    );
    assert_eq!(p["state"], "active");
    assert_eq!(p["last_seen"], T0 / 1000);
    let st = got[1].as_object().unwrap();
    for k in [
        "id",
        "network",
        "peers_active",
        "peers_known",
        "mode",
        "redis",
    ] {
        assert!(st.contains_key(k), "{k}");
    }
    assert_eq!(st["network"], "slips");
    let ask = Response::Ask(AskResponse {
        ioc: "1.2.3.4".into(),
        threat: None,
        confidence: None,
        answers: vec![],
        asked: 3,
        answered: 3,
        elapsed_ms: 12,
    });
    assert_eq!(
        serde_json::to_string(&ask).unwrap(),
        r#"{"ioc":"1.2.3.4","threat":null,"confidence":null,"answers":[],"asked":3,"answered":3,"elapsed_ms":12}"#
    );
}

#[test]
fn a_peer_exceeding_its_own_rate_loses_reliability() {
    let mut a = Node::new(cfg(), key(1), 1, vec![], 1, T0);
    let mut s = Sealer::new(key(2), NetworkTag::derive("slips"), 1);
    let burst = cfg().peer_limit.burst as u64;
    // Spread over many source ports, so only the per-peer (post-verification) bucket sees it.
    for i in 0..burst + 50 {
        let f = s.seal(T0, &Message::Ping(Ping { nonce: i })).unwrap();
        let from = SocketAddr::from(([10, 0, 0, 2], 10_000 + i as u16));
        a.handle_datagram(T0, from, &f, false);
    }
    assert_eq!(a.stats().dropped("rate_peer"), 50);
    let p = a.peer(&key(2).verifying_key().to_bytes()).unwrap();
    assert!(p.reliability < 0.05, "{}", p.reliability);
}

/// A judge that remembers what it was shown, to prove the node feeds the trait.
#[derive(Default)]
struct Recorder {
    seen: std::sync::Arc<std::sync::Mutex<Vec<ReportKind>>>,
}

impl Judge for Recorder {
    fn observe(&mut self, _: [u8; 32], _: &Ioc, _: Evaluation, kind: ReportKind, _: u64) {
        if let Ok(mut v) = self.seen.lock() {
            v.push(kind);
        }
    }
    fn aggregate(
        &mut self,
        _: &Ioc,
        answers: &[PeerAnswer],
        _: Option<Evaluation>,
        _: u64,
    ) -> Option<Evaluation> {
        Evaluation::new(0.25, answers.len() as f64 / 10.0).ok()
    }
    fn trust(&self, _: &[u8; 32]) -> f64 {
        0.75
    }
}

#[test]
fn the_judge_sees_reports_and_answers_and_decides() {
    let (mut a, mut b) = pair();
    let rec = Recorder::default();
    let seen = rec.seen.clone();
    b.set_judge(Box::new(rec));
    a.handle_command(
        T0,
        Command::Blame {
            ioc: ioc(),
            evaluation: ev(1.0, 1.0),
        },
        1,
    );
    exchange(&mut a, &mut b, T0);
    b.handle_command(T0, Command::Ask { ioc: ioc() }, 2);
    b.handle_command(T0, Command::Peers, 3);
    let mut acts = drain(&mut b);
    let tx = transmits(&acts);
    for (_, bytes) in tx {
        a.handle_datagram(T0, addr(2), &bytes, true);
    }
    for (_, bytes) in transmits(&drain(&mut a)) {
        b.handle_datagram(T0 + 3, addr(1), &bytes, false);
    }
    acts.extend(drain(&mut b));
    let ask = acts.iter().find_map(|x| match x {
        Action::Reply {
            response: Response::Ask(r),
            ..
        } => Some(r.clone()),
        _ => None,
    });
    let ask = ask.unwrap();
    assert_eq!((ask.threat, ask.confidence), (Some(0.25), Some(0.1)));
    assert_eq!(ask.elapsed_ms, 3);
    let peers = acts.iter().find_map(|x| match x {
        Action::Reply {
            response: Response::Peers(p),
            ..
        } => Some(p.clone()),
        _ => None,
    });
    assert_eq!(peers.unwrap()[0].trust, 0.75);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![ReportKind::Blame, ReportKind::Answer]
    );
}

/// Delivers every queued datagram between `nodes` (node i at `addr(i + 1)`) until none sends
/// more; the other actions are appended to `log[i]`, in order.
fn mesh(nodes: &mut [Node], now: u64, log: &mut [Vec<Action>]) {
    loop {
        let mut sent = Vec::new();
        for (i, n) in nodes.iter_mut().enumerate() {
            for x in drain(n) {
                match x {
                    Action::Transmit { to, bytes } => sent.push((i, to, bytes)),
                    other => log[i].push(other),
                }
            }
        }
        if sent.is_empty() {
            return;
        }
        for (from, to, bytes) in sent {
            for (j, n) in nodes.iter_mut().enumerate() {
                let hit = match to {
                    Dest::Multicast => j != from,
                    Dest::Unicast(a) => a == addr(j as u8 + 1),
                };
                if hit {
                    n.handle_datagram(now, addr(from as u8 + 1), &bytes, to == Dest::Multicast);
                }
            }
        }
    }
}

#[test]
fn each_answer_is_notified_as_it_arrives() {
    // a asks; b answers at once from its own detection; c answers only when its relay
    // (Slips, in Pigeon mode) does, which here is half a second later.
    let slow = NodeConfig {
        answer_queries: false,
        ..cfg()
    };
    let mut nodes = vec![
        Node::new(cfg(), key(1), 1, vec![], 1, T0),
        Node::new(cfg(), key(2), 1, vec![], 2, T0),
        Node::new(slow, key(3), 1, vec![], 3, T0),
    ];
    let mut log = vec![Vec::new(), Vec::new(), Vec::new()];
    for i in 0..3 {
        nodes[i].handle_timeout(T0);
        mesh(&mut nodes, T0, &mut log);
    }
    assert!(nodes.iter().all(|n| n.active_peers() == 2));
    let (id_a, id_b, id_c) = (
        nodes[0].id().to_owned(),
        nodes[1].id().to_owned(),
        nodes[2].id().to_owned(),
    );
    nodes[1].handle_command(
        T0,
        Command::Report {
            ioc: ioc(),
            evaluation: ev(0.7, 0.6),
        },
        1,
    );
    mesh(&mut nodes, T0, &mut log);
    log[0].clear();

    nodes[0].handle_command(T0 + 10, Command::Ask { ioc: ioc() }, 9);
    mesh(&mut nodes, T0 + 10, &mut log);
    let answers = |log: &[Action]| -> Vec<(String, Option<Evaluation>, u64, Vec<u64>)> {
        log.iter()
            .filter_map(|x| match x {
                Action::Notify(Notification::AnswerReceived {
                    peer,
                    ioc: i,
                    evaluation,
                    timestamp_ms,
                    waiting,
                }) if *i == ioc() => {
                    Some((peer.clone(), *evaluation, *timestamp_ms, waiting.clone()))
                }
                _ => None,
            })
            .collect()
    };
    let is_reply = |x: &Action| matches!(x, Action::Reply { token: 9, .. });
    assert_eq!(
        answers(&log[0]),
        [(id_b.clone(), Some(ev(0.7, 0.6)), T0 + 10, vec![9])],
        "b's answer is out before c has answered"
    );
    assert!(!log[0].iter().any(is_reply), "the ask still waits for c");

    let request = log[2]
        .iter()
        .find_map(|x| match x {
            Action::Notify(Notification::QueryReceived { peer, request, .. }) if *peer == id_a => {
                Some(*request)
            }
            _ => None,
        })
        .unwrap();
    nodes[2].handle_command(
        T0 + 500,
        Command::AnswerQuery {
            peer: id_a.clone(),
            request,
            evaluation: Some(ev(0.2, 0.9)),
        },
        2,
    );
    mesh(&mut nodes, T0 + 500, &mut log);
    let got = answers(&log[0]);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1],
        (id_c.clone(), Some(ev(0.2, 0.9)), T0 + 500, vec![9])
    );
    let c_at = log[0]
        .iter()
        .position(|x| matches!(x, Action::Notify(Notification::AnswerReceived { peer, .. }) if *peer == id_c))
        .unwrap();
    let reply_at = log[0].iter().position(is_reply).unwrap();
    assert!(
        c_at < reply_at,
        "the last answer is notified before the reply"
    );
    let Action::Reply {
        response: Response::Ask(r),
        ..
    } = &log[0][reply_at]
    else {
        panic!("not an ask reply");
    };
    assert_eq!((r.answered, r.answers.len()), (2, 2));

    // A "no data" answer is notified too (the relay decides what Slips sees); a peer that
    // never answers gets no notification, and the deadline completes the ask.
    log[0].clear();
    let other: Ioc = "198.51.100.1".parse().unwrap();
    nodes[0].handle_command(T0 + 1_000, Command::Ask { ioc: other.clone() }, 10);
    mesh(&mut nodes, T0 + 1_000, &mut log);
    nodes[0].handle_timeout(T0 + 1_000 + NodeConfig::default().ask_deadline_ms);
    mesh(&mut nodes, T0 + 5_000, &mut log);
    let notes: Vec<_> = log[0]
        .iter()
        .filter_map(|x| match x {
            Action::Notify(Notification::AnswerReceived {
                peer,
                ioc: i,
                evaluation,
                ..
            }) if *i == other => Some((peer.clone(), *evaluation)),
            _ => None,
        })
        .collect();
    assert_eq!(notes, [(id_b, None)]);
    assert!(log[0].iter().any(|x| matches!(
        x,
        Action::Reply {
            token: 10,
            response: Response::Ask(AskResponse { answered: 1, .. })
        }
    )));
}

#[test]
fn a_relay_answer_without_data_falls_back_to_own_detection() {
    // b's relay answers its Queries; when it has nothing (or withholds it), b's own
    // detection answers, and with neither the answer is "no data".
    let relayed = NodeConfig {
        answer_queries: false,
        ..cfg()
    };
    let mut nodes = vec![
        Node::new(cfg(), key(1), 1, vec![], 1, T0),
        Node::new(relayed, key(2), 1, vec![], 2, T0),
    ];
    let mut log = vec![Vec::new(), Vec::new()];
    for i in 0..2 {
        nodes[i].handle_timeout(T0);
        mesh(&mut nodes, T0, &mut log);
    }
    let id_a = nodes[0].id().to_owned();
    nodes[1].handle_command(
        T0,
        Command::Report {
            ioc: ioc(),
            evaluation: ev(0.7, 0.6),
        },
        1,
    );
    mesh(&mut nodes, T0, &mut log);
    let other: Ioc = "198.51.100.2".parse().unwrap();
    for (t, (what, token)) in [(ioc(), 20u64), (other, 21)].into_iter().enumerate() {
        let now = T0 + 100 * (t as u64 + 1);
        log[1].clear();
        nodes[0].handle_command(now, Command::Ask { ioc: what.clone() }, token);
        mesh(&mut nodes, now, &mut log);
        let request = log[1]
            .iter()
            .find_map(|x| match x {
                Action::Notify(Notification::QueryReceived { peer, request, .. })
                    if *peer == id_a =>
                {
                    Some(*request)
                }
                _ => None,
            })
            .unwrap();
        nodes[1].handle_command(
            now,
            Command::AnswerQuery {
                peer: id_a.clone(),
                request,
                evaluation: None,
            },
            2,
        );
        mesh(&mut nodes, now, &mut log);
    }
    let got: Vec<(u64, Vec<(f64, f64)>)> = log[0]
        .iter()
        .filter_map(|x| match x {
            Action::Reply {
                token,
                response: Response::Ask(r),
            } => Some((
                *token,
                r.answers.iter().map(|a| (a.threat, a.confidence)).collect(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(got, [(20, vec![(0.7, 0.6)]), (21, vec![])]);
}
