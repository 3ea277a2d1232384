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

/// The P2P_REPORT JSON Slips 1.1.21 stores and publishes (spec B.4.1, written out by hand
/// the way `json.dumps(utils.to_dict(evidence))` prints it).
fn p2p_report_json(ip: &str, level: &str, conf: &str, tw: i64, ts: &str, id: &str) -> String {
    format!(
        r#"{{"evidence_type": "P2P_REPORT", "description": "attacking another peer: 10.0.0.5 (QmPeer). confidence: {conf}", "attacker": {{"direction": "SRC", "ioc_type": "IP", "value": "{ip}", "profile": {{"ip": "{ip}"}}, "TI": null, "AS": null, "rDNS": null, "SNI": null, "DNS_resolution": null, "queries": null, "CNAME": null}}, "threat_level": "{level}", "profile": {{"ip": "{ip}"}}, "timewindow": {{"number": {tw}, "start_time": "", "end_time": ""}}, "uid": [""], "timestamp": "{ts}", "interface": "default", "victim": false, "proto": false, "dst_port": null, "src_port": null, "method": "HEURISTIC", "id": "{id}", "confidence": {conf}, "rel_id": null}}"#
    )
}

#[test]
fn set_evidence_writes_what_slips_reads() {
    use roost::slips::evidence::{EvidenceWindow, P2pEvidence};

    let redis = RedisServer::start();
    let slips = FakeSlips::listening(&redis, &["evidence_added", "new_ip"]);
    let mut cfg = RelayConfig::native("127.0.0.1", redis.port, VERSION);
    if let RelayMode::Native { cache_port, .. } = &mut cfg.mode {
        *cache_port = redis.port;
    }
    cfg.poll_interval = Duration::from_millis(50);
    let (ev_tx, events) = crossbeam_channel::bounded(64);
    let (cmd, cmd_rx) = crossbeam_channel::bounded(64);
    let relay = Relay::spawn(cfg, ev_tx, cmd_rx).unwrap();
    assert_eq!(events.recv_timeout(T), Ok(SlipsEvent::RedisUp));
    let hget = |db: i64, key: &str, field: &str| {
        slips.query::<Option<String>>(db, redis::cmd("HGET").arg(key).arg(field))
    };

    // Slips saw its first flow 2.5 time windows before the report: window 3.
    let start = 1_700_000_000.5;
    slips.query::<()>(
        0,
        redis::cmd("HSET")
            .arg("analysis")
            .arg("file_start")
            .arg("1700000000.5"),
    );
    let t = start + 2.5 * 3600.0;
    let report = |level_score: f64, conf: f64, id: &str| SlipsCommand::SetEvidence {
        evidence: P2pEvidence::p2p_report(
            "6.6.6.6".parse().unwrap(),
            "QmPeer",
            Some("10.0.0.5".parse().unwrap()),
            level_score,
            conf,
            0,
            "2023/11/15 00:53:20.500000".into(),
            id.into(),
        )
        .unwrap(),
        profile_start: t,
        window: EvidenceWindow::OfTime(t),
    };
    let id1 = "11111111-1111-4111-8111-111111111111";
    cmd.send(report(0.5, 0.8, id1)).unwrap();
    let json1 = p2p_report_json(
        "6.6.6.6",
        "medium",
        "0.8",
        3,
        "2023/11/15 00:53:20.500000",
        id1,
    );
    assert_eq!(
        slips.next_on(T),
        Some((
            "new_ip".to_owned(),
            r#"{"text": "6.6.6.6", "version": "1.1.21"}"#.to_owned()
        ))
    );
    let (ch, published) = slips.next_on(T).expect("evidence_added");
    assert_eq!(ch, "evidence_added");
    assert_eq!(
        published,
        format!("{}, \"version\": \"1.1.21\"}}", &json1[..json1.len() - 1])
    );

    // What Slips' evidence handler and profiler read back.
    let key = "profile_6.6.6.6_timewindow3_evidence";
    assert_eq!(hget(0, key, id1).as_deref(), Some(json1.as_str()));
    assert_eq!(
        slips.query::<Option<f64>>(
            0,
            redis::cmd("ZSCORE").arg("profiles").arg("profile_6.6.6.6")
        ),
        Some(t)
    );
    for (field, want) in [
        ("starttime", "1700009000.5"),
        ("duration", "3600.0"),
        ("confidence", "0.05"),
        ("threat_level", "medium"),
        ("max_threat_level", "medium"),
    ] {
        assert_eq!(
            hget(0, "profile_6.6.6.6", field).as_deref(),
            Some(want),
            "{field}"
        );
    }
    assert_eq!(
        slips.query::<Vec<(String, f64)>>(
            0,
            redis::cmd("ZRANGE")
                .arg("twsprofile_6.6.6.6")
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
        ),
        vec![("timewindow3".to_owned(), start + 7200.0)]
    );
    assert_eq!(
        hget(0, "flows_causing_evidence", id1).as_deref(),
        Some(r#"[""]"#)
    );
    let number = || slips.query::<Option<String>>(0, redis::cmd("GET").arg("number_of_evidence"));
    assert_eq!(number().as_deref(), Some("1"));
    assert_eq!(hget(1, "IPsInfo:score", "6.6.6.6").as_deref(), Some("0.5"));
    assert_eq!(
        hget(1, "IPsInfo:confidence", "6.6.6.6").as_deref(),
        Some("0.8")
    );
    let ttl = |key: &str| slips.query::<i64>(0, redis::cmd("TTL").arg(key));
    assert_eq!(ttl("profile_6.6.6.6"), 48 * 3600);
    assert_eq!(ttl("flows_causing_evidence"), 2 * 3600);

    // A critical report in the same window: the max level and IPsInfo score follow; a low
    // one after it changes the current level and confidence but not the max.
    cmd.send(report(1.0, 1.0, "id-2")).unwrap();
    cmd.send(report(0.2, 0.3, "id-3")).unwrap();
    assert!(wait_until(T, || number().as_deref() == Some("3")));
    assert_eq!(
        slips.query::<i64>(0, redis::cmd("HLEN").arg(key)),
        3,
        "same window, found in twsprofile"
    );
    assert_eq!(
        hget(0, "profile_6.6.6.6", "threat_level").as_deref(),
        Some("low")
    );
    assert_eq!(
        hget(0, "profile_6.6.6.6", "max_threat_level").as_deref(),
        Some("critical")
    );
    assert_eq!(hget(1, "IPsInfo:score", "6.6.6.6").as_deref(), Some("1"));
    assert_eq!(
        hget(1, "IPsInfo:confidence", "6.6.6.6").as_deref(),
        Some("0.3")
    );
    // The same id again is a duplicate: nothing written, nothing published.
    cmd.send(report(0.5, 0.8, id1)).unwrap();
    assert!(wait_until(T, || relay.stats().evidence_skipped == 1));
    assert_eq!(number().as_deref(), Some("3"));
    let mut kinds = Vec::new();
    while let Some((ch, _)) = slips.next_on(Duration::from_millis(300)) {
        kinds.push(ch);
    }
    assert_eq!(
        kinds,
        ["evidence_added", "evidence_added"],
        "no second new_ip"
    );

    // The two MALICIOUS_IP_FROM_P2P_NETWORK evidences of a data request: both in the
    // requested IP's profile and the flow's window; the local host's own profile is not
    // touched.
    let request = roost::slips::native::parse_data_request(
        br#"{"to_lookup": "7.7.7.7", "profileid": "profile_10.0.0.5", "twid": "timewindow2", "proto": "TCP", "ip_state": "dstip", "stime": 1700000100.25, "uid": "CXyz12", "daddr": "7.7.7.7", "cache_age": 1000, "ip": "7.7.7.7", "version": "1.1.21"}"#,
    )
    .unwrap();
    let pair =
        P2pEvidence::malicious_ip_from_network(&request, 0.8, 0.7, ["m-1".into(), "m-2".into()])
            .unwrap();
    for evidence in pair {
        cmd.send(SlipsCommand::SetEvidence {
            evidence,
            profile_start: 1700000100.25,
            window: EvidenceWindow::Given,
        })
        .unwrap();
    }
    let key = "profile_7.7.7.7_timewindow2_evidence";
    assert!(wait_until(T, || slips
        .query::<i64>(0, redis::cmd("HLEN").arg(key))
        == 2));
    let stored = hget(0, key, "m-1").unwrap();
    assert_eq!(
        stored,
        r#"{"evidence_type": "MALICIOUS_IP_FROM_P2P_NETWORK", "description": "Connection to blacklisted IP 7.7.7.7 from 10.0.0.5 Source: Slips P2P network.", "attacker": {"direction": "SRC", "ioc_type": "IP", "value": "10.0.0.5", "profile": {"ip": "10.0.0.5"}, "TI": null, "AS": null, "rDNS": null, "SNI": null, "DNS_resolution": null, "queries": null, "CNAME": null}, "threat_level": "HIGH", "profile": {"ip": "7.7.7.7"}, "timewindow": {"number": 2, "start_time": "", "end_time": ""}, "uid": ["CXyz12"], "timestamp": "1700000100.25", "interface": "default", "victim": false, "proto": false, "dst_port": null, "src_port": null, "method": "HEURISTIC", "id": "m-1", "confidence": 0.7, "rel_id": null}"#
    );
    assert!(hget(0, key, "m-2")
        .unwrap()
        .contains(r#""value": "7.7.7.7""#));
    assert_eq!(
        hget(0, "profile_7.7.7.7", "starttime").as_deref(),
        Some("1700000100.25")
    );
    assert!(wait_until(T, || hget(0, "profile_7.7.7.7", "threat_level")
        .as_deref()
        == Some("high")));
    assert_eq!(hget(1, "IPsInfo:score", "7.7.7.7").as_deref(), Some("0.8"));
    assert_eq!(
        slips.query::<i64>(0, redis::cmd("EXISTS").arg("profile_10.0.0.5")),
        0
    );
    assert_eq!(number().as_deref(), Some("5"));
    assert_eq!(relay.stats().evidence_stored, 5);
}
