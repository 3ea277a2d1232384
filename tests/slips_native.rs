//! The Slips relay in native mode (roost replaces Slips' whole P2P module) against a real
//! redis-server and a fake Slips core.

mod fake_slips;

use std::time::Duration;

use fake_slips::{wait_until, FakeSlips, RedisServer, VERSION};
use roost::ioc::{Evaluation, Ioc};
use roost::slips::native::{DataRequest, SharedEvidence};
use roost::slips::{DovecotMessage, Relay, RelayConfig, RelayMode, SlipsCommand, SlipsEvent};

const T: Duration = Duration::from_secs(5);

/// The report_to_peers example of spec B.2.
const EVIDENCE: &str = r#"{"evidence_type": "HORIZONTAL_PORT_SCAN", "description": "Horizontal port scan to port 23/TCP. From 192.168.1.50 to 60 unique destination IPs. Total packets sent: 60. Confidence: 0.8. by Slips Threat level: medium.", "attacker": {"direction": "SRC", "ioc_type": "IP", "value": "192.168.1.50", "profile": {"ip": "192.168.1.50"}, "TI": null, "AS": null, "rDNS": null, "SNI": null, "DNS_resolution": null, "queries": null, "CNAME": null}, "threat_level": "MEDIUM", "profile": {"ip": "192.168.1.50"}, "timewindow": {"number": 1, "start_time": "", "end_time": ""}, "uid": ["CjkAbc1"], "timestamp": "2024/04/05 19:34:38.123000+0200", "interface": "eth0", "victim": null, "proto": "TCP", "dst_port": 23, "src_port": null, "method": "HEURISTIC", "id": "2b1d2e3f-1111-4a2b-9c3d-0123456789ab", "confidence": 0.8, "rel_id": null, "version": "1.1.21"}"#;

#[test]
fn native_mode_end_to_end() {
    let redis = RedisServer::start();
    let slips = FakeSlips::listening(&redis, &["new_blame"]);
    let mut cfg = RelayConfig::native("127.0.0.1", redis.port, VERSION);
    // The test server doubles as Slips' cache (DB 1), which Slips hard-codes to port 6379.
    if let RelayMode::Native { cache_port, .. } = &mut cfg.mode {
        *cache_port = redis.port;
    }
    cfg.poll_interval = Duration::from_millis(50);
    let (ev_tx, events) = crossbeam_channel::bounded(64);
    let (cmd, cmd_rx) = crossbeam_channel::bounded(64);
    let relay = Relay::spawn(cfg, ev_tx, cmd_rx).unwrap();
    assert_eq!(events.recv_timeout(T), Ok(SlipsEvent::RedisUp));
    assert!(redis.wait_subscribers("report_to_peers", 1, T));
    assert!(redis.wait_subscribers("p2p_data_request", 1, T));

    // Evidence Slips produced: shared; a P2P_REPORT and garbage: not.
    slips.publish_on(
        "report_to_peers",
        EVIDENCE.replace("HORIZONTAL_PORT_SCAN", "P2P_REPORT"),
    );
    slips.publish_on("report_to_peers", "[\"not an evidence\"]");
    slips.publish_on("report_to_peers", EVIDENCE);
    assert_eq!(
        events.recv_timeout(T),
        Ok(SlipsEvent::ReportToPeers {
            evidence: SharedEvidence {
                ioc: Ioc::ip("192.168.1.50".parse().unwrap()),
                evaluation: Evaluation::new(0.5, 0.8).unwrap(),
                evidence_type: "HORIZONTAL_PORT_SCAN".into(),
                evidence_id: "2b1d2e3f-1111-4a2b-9c3d-0123456789ab".into(),
            }
        })
    );

    // A data request (spec B.2 payload).
    slips.publish_on(
        "p2p_data_request",
        r#"{"to_lookup": "1.2.3.4", "profileid": "profile_192.168.1.5", "twid": "timewindow2", "proto": "TCP", "ip_state": "dstip", "stime": 1712345678.123, "uid": "CXyz12", "daddr": "1.2.3.4", "cache_age": 1000, "ip": "1.2.3.4", "version": "1.1.21"}"#,
    );
    match events.recv_timeout(T) {
        Ok(SlipsEvent::DataRequest {
            request: DataRequest { ip, timewindow, .. },
        }) => assert_eq!((ip, timewindow), ("1.2.3.4".parse().unwrap(), Some(2))),
        other => panic!("{other:?}"),
    }

    // Blame: new_blame with the evaluation as a JSON string.
    cmd.send(SlipsCommand::Blame {
        ip: "6.6.6.6".parse().unwrap(),
        evaluation: Evaluation::new(0.9, 0.8).unwrap(),
    })
    .unwrap();
    assert_eq!(
        slips.next_on(T),
        Some((
            "new_blame".to_owned(),
            r#"{"message_type": "blame", "key_type": "ip", "key": "6.6.6.6", "evaluation_type": "score_confidence", "evaluation": "{\"score\": 0.9, \"confidence\": 0.8}", "version": "1.1.21"}"#.to_owned()
        ))
    );

    // peer_trust, written as Python prints floats (HEXPIRE is skipped on Redis 7.0).
    cmd.send(SlipsCommand::SetPeerTrust {
        ip: "192.168.1.20".parse().unwrap(),
        trust: 0.595,
    })
    .unwrap();
    assert!(wait_until(T, || slips
        .query::<Option<String>>(0, redis::cmd("HGET").arg("peer_trust").arg("192.168.1.20"))
        .as_deref()
        == Some("0.595")));

    // IPsInfo in DB 1, as Slips' update_threat_level writes it.
    slips.query::<()>(
        1,
        redis::cmd("HSET")
            .arg("IPsInfo:score")
            .arg("1.2.3.4")
            .arg("0.8"),
    );
    slips.query::<()>(
        1,
        redis::cmd("HSET")
            .arg("IPsInfo:confidence")
            .arg("1.2.3.4")
            .arg("0.6"),
    );
    for (ip, want) in [
        ("1.2.3.4", Some(Evaluation::new(0.8, 0.6).unwrap())),
        ("9.9.9.9", None),
    ] {
        cmd.send(SlipsCommand::LookupIp {
            ip: ip.parse().unwrap(),
        })
        .unwrap();
        assert_eq!(
            events.recv_timeout(T),
            Ok(SlipsEvent::IpInfo {
                ip: ip.parse().unwrap(),
                evaluation: want
            })
        );
    }

    // Pigeon-mode commands are refused in native mode.
    cmd.send(SlipsCommand::GoData {
        reporter: "QmX".into(),
        report_time: 1,
        msg: DovecotMessage::Request {
            ioc: Ioc::ip("1.2.3.4".parse().unwrap()),
        },
    })
    .unwrap();
    assert!(wait_until(T, || relay.stats().commands_rejected == 1));

    let st = relay.stats();
    assert_eq!((st.received, st.malformed, st.not_shared), (4, 1, 1));
    assert_eq!(st.published, 2);
    assert!(events.try_recv().is_err());
}
