//! The Slips relay in Pigeon mode against a real redis-server and a fake Slips.

mod fake_slips;

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use fake_slips::{
    int_field, report_json, request_json, unix_now, wait_until, FakeSlips, RedisServer, VERSION,
};
use roost::ioc::{Evaluation, Ioc};
use roost::slips::{
    DovecotMessage, DovecotScore, Relay, RelayConfig, RelayStatus, SlipsCommand, SlipsEvent,
};

const T: Duration = Duration::from_secs(5);

struct Setup {
    redis: RedisServer,
    slips: FakeSlips,
    relay: Relay,
    events: Receiver<SlipsEvent>,
    commands: Sender<SlipsCommand>,
}

fn config(redis: &RedisServer) -> RelayConfig {
    let mut c = RelayConfig::pigeon("127.0.0.1", redis.port, "p2p_pygo", "p2p_gopy", VERSION);
    c.backoff_initial = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(200);
    c.poll_interval = Duration::from_millis(50);
    c
}

fn setup_with(tweak: impl FnOnce(&mut RelayConfig), event_capacity: usize) -> Setup {
    let redis = RedisServer::start();
    let slips = FakeSlips::start(&redis);
    let mut cfg = config(&redis);
    tweak(&mut cfg);
    let (ev_tx, events) = crossbeam_channel::bounded(event_capacity);
    let (commands, cmd_rx) = crossbeam_channel::bounded(64);
    let relay = Relay::spawn(cfg, ev_tx, cmd_rx).expect("relay starts");
    assert!(relay.wait_connected(T), "relay subscribes");
    assert!(redis.wait_subscribers("p2p_pygo", 1, T));
    Setup {
        redis,
        slips,
        relay,
        events,
        commands,
    }
}

fn setup() -> Setup {
    let s = setup_with(|_| {}, 64);
    assert_eq!(s.events.recv_timeout(T), Ok(SlipsEvent::RedisUp));
    s
}

fn ip(s: &str) -> Ioc {
    Ioc::ip(s.parse().unwrap())
}

#[test]
fn pigeon_messages_round_trip() {
    let s = setup();

    // Slips -> node: a broadcast request exactly as Slips 1.1.21 publishes it (spec A.4).
    let spec_payload = r#"{"message": "eyJtZXNzYWdlX3R5cGUiOiAicmVxdWVzdCIsICJrZXlfdHlwZSI6ICJpcCIsICJrZXkiOiAiMS4yLjMuNCIsICJldmFsdWF0aW9uX3R5cGUiOiAic2NvcmVfY29uZmlkZW5jZSJ9", "recipient": "*", "version": "1.1.21"}"#;
    assert_eq!(s.slips.publish_raw(spec_payload), 1);
    assert_eq!(
        s.events.recv_timeout(T),
        Ok(SlipsEvent::Broadcast {
            msg: DovecotMessage::Request { ioc: ip("1.2.3.4") }
        })
    );

    // node -> Slips: a new peer, then its report.
    s.commands
        .send(SlipsCommand::PeerUpdate {
            peer: "QmPeer1".into(),
            ip: Some("192.168.1.20".parse().unwrap()),
            reliability: Some(1.0),
        })
        .unwrap();
    let before = unix_now();
    let update = s.slips.next(T).expect("peer_update published");
    let ts = int_field(&update, "timestamp").expect("timestamp");
    assert!(
        ts >= before.saturating_sub(1) && ts <= unix_now(),
        "{update}"
    );
    assert_eq!(
        update,
        format!(
            r#"{{"message_type":"peer_update","message_contents":{{"peerid":"QmPeer1","ip":"192.168.1.20","reliability":1,"timestamp":{ts}}},"version":"1.1.21"}}"#
        )
    );

    // A report time in the future is clamped to now; one before the peer_update is raised to it.
    let report = DovecotMessage::report(ip("192.168.1.50"), Evaluation::new(0.5, 0.8).unwrap());
    for asked in [unix_now() + 3600, 1] {
        s.commands
            .send(SlipsCommand::GoData {
                reporter: "QmPeer1".into(),
                report_time: asked,
                msg: report.clone(),
            })
            .unwrap();
        let data = s.slips.next(T).expect("go_data published");
        let rt = int_field(&data, "report_time").expect("report_time");
        assert!(
            rt >= ts && rt <= unix_now(),
            "report_time {rt} vs update {ts}"
        );
        // The base64 payload is what Python's json.dumps would have produced.
        let b64 = base64_of(&report_json("192.168.1.50", "0.5", "0.8"));
        assert_eq!(
            data,
            format!(
                r#"{{"message_type":"go_data","message_contents":{{"reporter":"QmPeer1","report_time":{rt},"message":"{b64}"}},"version":"1.1.21"}}"#
            )
        );
    }

    // A peer update with reliability 0 and no IP: both keys are omitted.
    s.commands
        .send(SlipsCommand::PeerUpdate {
            peer: "QmPeer2".into(),
            ip: None,
            reliability: Some(0.0),
        })
        .unwrap();
    let update2 = s.slips.next(T).unwrap();
    assert!(
        update2.starts_with(
            r#"{"message_type":"peer_update","message_contents":{"peerid":"QmPeer2","timestamp":"#
        ),
        "{update2}"
    );

    // Slips answers QmPeer1 directly: routed by the exact reporter string.
    s.slips
        .send(&report_json("1.2.3.4", "0.8", "0.6"), "QmPeer1");
    assert_eq!(
        s.events.recv_timeout(T),
        Ok(SlipsEvent::SendTo {
            peer: "QmPeer1".into(),
            msg: DovecotMessage::Report {
                ioc: ip("1.2.3.4"),
                evaluation: Some(DovecotScore::new(0.8, 0.6).unwrap())
            }
        })
    );

    // Both stop forms.
    s.slips.publish_raw("stop_process");
    assert_eq!(s.events.recv_timeout(T), Ok(SlipsEvent::Stop));
    s.slips.publish_raw(format!(
        r#"{{"text": "stop_process", "version": "{VERSION}"}}"#
    ));
    assert_eq!(s.events.recv_timeout(T), Ok(SlipsEvent::Stop));

    // multiAddress is a plain SET in DB 0.
    s.commands
        .send(SlipsCommand::SetMultiAddress {
            value: "/ip4/127.0.0.1/udp/4001/roost/abc".into(),
        })
        .unwrap();
    assert!(wait_until(T, || s.slips.get("multiAddress").as_deref()
        == Some("/ip4/127.0.0.1/udp/4001/roost/abc")));

    let st = s.relay.stats();
    assert_eq!(st.received, 4);
    assert_eq!(st.forwarded, 5); // RedisUp + 4 messages
    assert_eq!(st.malformed, 0);
    assert_eq!(st.commands, 5);
    assert_eq!(st.published, 5);
    assert_eq!(st.queued, 0);
    assert_eq!(s.relay.status(), RelayStatus::Connected);
    s.relay.shutdown();
    assert!(wait_until(T, || s.redis.subscribers("p2p_pygo") == 0));
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn malformed_input_is_counted_and_never_forwarded() {
    let s = setup();
    let good_request = request_json("10.0.0.9");
    let bad: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        b"[1, 2, 3]".to_vec(),
        b"\"stop_process\"".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        br#"{"message": 42, "recipient": "*", "version": "1.1.21"}"#.to_vec(),
        br#"{"message": "eyJ9", "recipient": 7, "version": "1.1.21"}"#.to_vec(),
        br#"{"recipient": "*", "version": "1.1.21"}"#.to_vec(),
        br#"{"message": "%%%not base64%%%", "recipient": "*", "version": "1.1.21"}"#.to_vec(),
        br#"{"text": "something else", "version": "1.1.21"}"#.to_vec(),
        // Decodes to a JSON list / a string / bad UTF-8: each would crash Slips' Dovecot.
        FakeSlips::pygo_payload("[1, 2]", "*").into_bytes(),
        FakeSlips::pygo_payload("\"hi\"", "*").into_bytes(),
        format!(
            r#"{{"message": "{}", "recipient": "*", "version": "1.1.21"}}"#,
            base64_of_bytes(b"{\"message_type\": \"\xff\"}")
        )
        .into_bytes(),
        // Wrong types and out-of-range values inside the peer message.
        FakeSlips::pygo_payload(&report_json("1.2.3.4", "\"0.5\"", "0.5"), "*").into_bytes(),
        FakeSlips::pygo_payload(&report_json("1.2.3.4", "5", "0.5"), "*").into_bytes(),
        FakeSlips::pygo_payload(&report_json("1.2.3.4", "1e308", "0.5"), "*").into_bytes(),
        FakeSlips::pygo_payload(&report_json("1.2.3.4", "0.5", "1e999"), "*").into_bytes(),
        FakeSlips::pygo_payload(&request_json("999.1.1.1"), "*").into_bytes(),
        // Huge payloads.
        vec![b'{'; 100_000],
        FakeSlips::pygo_payload(&format!("{{\"pad\": \"{}\"}}", "x".repeat(10_000)), "*")
            .into_bytes(),
        FakeSlips::pygo_payload(&good_request, &"p".repeat(500)).into_bytes(),
    ];
    for b in &bad {
        assert_eq!(s.slips.publish_raw(b), 1);
    }
    // Valid, but for a peer roost never announced.
    s.slips.send(&good_request, "QmNobodyKnows");
    // A valid message last: once it arrives, everything before it has been processed.
    s.slips.send(&good_request, "*");
    assert_eq!(
        s.events.recv_timeout(T),
        Ok(SlipsEvent::Broadcast {
            msg: DovecotMessage::Request {
                ioc: ip("10.0.0.9")
            }
        })
    );
    assert!(s.events.try_recv().is_err(), "nothing else was forwarded");
    let st = s.relay.stats();
    assert_eq!(st.received, bad.len() as u64 + 2);
    assert_eq!(st.malformed, bad.len() as u64);
    assert_eq!(st.unknown_recipient, 1);
    assert_eq!(st.forwarded, 2); // RedisUp and the good message
    assert_eq!(s.relay.status(), RelayStatus::Connected);

    // Commands Slips cannot take are refused, not published.
    let cmds = [
        SlipsCommand::GoData {
            reporter: "QmPeer1".into(),
            report_time: unix_now(),
            msg: DovecotMessage::Blame {
                ioc: ip("1.2.3.4"),
                evaluation: Some(DovecotScore::new(0.9, 0.9).unwrap()),
            },
        },
        SlipsCommand::GoData {
            reporter: "QmPeer1".into(),
            report_time: unix_now(),
            msg: DovecotMessage::Request {
                ioc: "domain:example.com".parse().unwrap(),
            },
        },
        SlipsCommand::PeerUpdate {
            peer: "bad peer id".into(),
            ip: None,
            reliability: None,
        },
        SlipsCommand::PeerUpdate {
            peer: "*".into(),
            ip: None,
            reliability: None,
        },
    ];
    for c in cmds {
        s.commands.send(c).unwrap();
    }
    assert!(wait_until(T, || s.relay.stats().commands_rejected == 4));
    assert_eq!(s.slips.next(Duration::from_millis(300)), None);
    assert_eq!(s.relay.stats().published, 0);
}

fn base64_of_bytes(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn survives_redis_restart_and_delivers_queued_messages() {
    let mut s = setup();

    s.redis.kill();
    assert_eq!(s.events.recv_timeout(T), Ok(SlipsEvent::RedisDown));
    assert_eq!(s.relay.status(), RelayStatus::Disconnected);

    // Commands while Redis is away are held.
    let peers = ["QmA", "QmB", "QmC"];
    for p in peers {
        s.commands
            .send(SlipsCommand::PeerUpdate {
                peer: p.into(),
                ip: Some("10.1.1.1".parse().unwrap()),
                reliability: Some(0.5),
            })
            .unwrap();
    }
    assert!(
        wait_until(T, || s.relay.stats().queued == 3),
        "{:?}",
        s.relay.stats()
    );
    // Let the relay fail a few reconnects first.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.relay.stats().published, 0);

    s.redis.restart();
    // Fake Slips resubscribes on its own; the relay resubscribes and flushes the queue, in order.
    assert_eq!(s.events.recv_timeout(T), Ok(SlipsEvent::RedisUp));
    for p in peers {
        let got = s
            .slips
            .next(T)
            .unwrap_or_else(|| panic!("queued update for {p}"));
        assert!(
            got.starts_with(&format!(
                r#"{{"message_type":"peer_update","message_contents":{{"peerid":"{p}","ip":"10.1.1.1","reliability":0.5,"timestamp":"#
            )),
            "{got}"
        );
        assert!(got.ends_with(r#"},"version":"1.1.21"}"#), "{got}");
    }
    assert!(s.redis.wait_subscribers("p2p_pygo", 1, T));
    s.slips.send(&request_json("8.8.8.8"), "QmB");
    assert_eq!(
        s.events.recv_timeout(T),
        Ok(SlipsEvent::SendTo {
            peer: "QmB".into(),
            msg: DovecotMessage::Request { ioc: ip("8.8.8.8") }
        })
    );
    let st = s.relay.stats();
    assert_eq!((st.published, st.queued, st.queue_dropped), (3, 0, 0));
    assert!(st.connects >= 3, "{st:?}"); // subscriber before and after, publisher after
    assert_eq!(s.relay.status(), RelayStatus::Connected);
}

#[test]
fn full_queue_drops_oldest_and_counts() {
    let mut s = setup_with(|c| c.queue_capacity = 2, 64);
    assert_eq!(s.events.recv_timeout(T), Ok(SlipsEvent::RedisUp));
    s.redis.kill();
    assert_eq!(s.events.recv_timeout(T), Ok(SlipsEvent::RedisDown));
    for p in ["Qm1", "Qm2", "Qm3", "Qm4", "Qm5"] {
        s.commands
            .send(SlipsCommand::PeerUpdate {
                peer: p.into(),
                ip: None,
                reliability: None,
            })
            .unwrap();
    }
    assert!(
        wait_until(T, || s.relay.stats().queue_dropped == 3),
        "{:?}",
        s.relay.stats()
    );
    s.redis.restart();
    for p in ["Qm4", "Qm5"] {
        let got = s.slips.next(T).expect("kept message");
        assert!(got.contains(&format!(r#""peerid":"{p}""#)), "{got}");
    }
    assert_eq!(s.slips.next(Duration::from_millis(300)), None);
    assert_eq!(s.relay.stats().published, 2);
}

#[test]
fn messages_wait_for_slips_to_subscribe() {
    // Slips is not listening on p2p_gopy yet: the relay holds the message instead of
    // publishing it into the void, and delivers it once Slips subscribes.
    let redis = RedisServer::start();
    let (ev_tx, _events) = crossbeam_channel::bounded(8);
    let (cmd_tx, cmd_rx) = crossbeam_channel::bounded(8);
    let relay = Relay::spawn(config(&redis), ev_tx, cmd_rx).unwrap();
    assert!(relay.wait_connected(T));
    cmd_tx
        .send(SlipsCommand::PeerUpdate {
            peer: "QmLate".into(),
            ip: None,
            reliability: None,
        })
        .unwrap();
    assert!(wait_until(T, || relay.stats().commands == 1));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(relay.stats().published, 0);
    assert_eq!(relay.stats().queued, 1);
    let slips = FakeSlips::start(&redis);
    let got = slips.next(T).expect("delivered after subscription");
    assert!(got.contains(r#""peerid":"QmLate""#));
    assert_eq!(relay.stats().published, 1);
}

#[test]
fn full_event_channel_is_a_counted_drop() {
    // Capacity 1: RedisUp fills it, and the node never reads.
    let s = setup_with(|_| {}, 1);
    for i in 0..3 {
        s.slips.send(&request_json(&format!("10.0.0.{i}")), "*");
    }
    assert!(
        wait_until(T, || s.relay.stats().events_dropped == 3),
        "{:?}",
        s.relay.stats()
    );
    assert_eq!(s.relay.stats().forwarded, 1);
    assert_eq!(s.events.try_recv(), Ok(SlipsEvent::RedisUp));
}

#[test]
fn starts_without_redis_and_connects_later() {
    let mut redis = RedisServer::start();
    redis.kill();
    let (ev_tx, events) = crossbeam_channel::bounded(8);
    let (_cmd_tx, cmd_rx) = crossbeam_channel::bounded::<SlipsCommand>(8);
    let relay = Relay::spawn(config(&redis), ev_tx, cmd_rx).unwrap();
    assert!(!relay.wait_connected(Duration::from_millis(300)));
    assert_eq!(relay.status(), RelayStatus::Disconnected);
    redis.restart();
    assert_eq!(events.recv_timeout(T), Ok(SlipsEvent::RedisUp));
    assert_eq!(relay.status(), RelayStatus::Connected);
    drop(relay); // Drop joins both threads.
    assert!(wait_until(T, || redis.subscribers("p2p_pygo") == 0));
}

/// A measurement, not a check: `cargo test --test slips_relay -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_throughput() {
    let s = setup_with(|_| {}, 100_000);
    assert_eq!(s.events.recv_timeout(T), Ok(SlipsEvent::RedisUp));
    let n = 20_000;
    let payload = FakeSlips::pygo_payload(&request_json("10.1.2.3"), "*");
    let start = std::time::Instant::now();
    {
        let mut c = s.redis.connection().unwrap();
        let mut pipe = redis::pipe();
        for _ in 0..n {
            pipe.cmd("PUBLISH").arg("p2p_pygo").arg(&payload).ignore();
        }
        pipe.query::<()>(&mut c).unwrap();
    }
    for _ in 0..n {
        s.events.recv_timeout(T).expect("event");
    }
    let inbound = start.elapsed();
    let start = std::time::Instant::now();
    let msg = DovecotMessage::report(ip("10.1.2.3"), Evaluation::new(0.5, 0.5).unwrap());
    s.commands
        .send(SlipsCommand::PeerUpdate {
            peer: "QmT".into(),
            ip: None,
            reliability: None,
        })
        .unwrap();
    for _ in 0..n {
        s.commands
            .send(SlipsCommand::GoData {
                reporter: "QmT".into(),
                report_time: unix_now(),
                msg: msg.clone(),
            })
            .unwrap();
    }
    for _ in 0..=n {
        s.slips.next(T).expect("published");
    }
    let outbound = start.elapsed();
    println!(
        "inbound  (p2p_pygo -> SlipsEvent): {n} msgs in {inbound:?} = {:.0} msg/s",
        n as f64 / inbound.as_secs_f64()
    );
    println!(
        "outbound (SlipsCommand -> p2p_gopy): {n} msgs in {outbound:?} = {:.0} msg/s",
        n as f64 / outbound.as_secs_f64()
    );
}
