//! Native mode end to end (roost replaces Slips' P2P module), and a native node talking to
//! a Pigeon-mode node: real `roost` processes, a real `redis-server` per node (DB 0 for
//! channels, DB 1 as the cache), a fake Slips on each. Each test runs in its own network
//! namespace (see `slips_daemon_common`).

mod fake_slips;
mod slips_daemon_common;

use std::time::Duration;

use fake_slips::{report_json, request_json, wait_until, FakeSlips, RedisServer, VERSION};
use serde_json::Value;
use slips_daemon_common::{id_of_multiaddress, in_private_netns, wait_multiaddress, Daemon, Inbox};

const WAIT: Duration = Duration::from_secs(15);

/// What Slips' evidence handler publishes on `report_to_peers` (spec B.2).
fn evidence(attacker: &str, level: &str, confidence: f64, id: &str) -> String {
    format!(
        r#"{{"evidence_type": "HORIZONTAL_PORT_SCAN", "description": "scan", "attacker": {{"direction": "SRC", "ioc_type": "IP", "value": "{attacker}", "profile": {{"ip": "{attacker}"}}, "TI": null, "AS": null, "rDNS": null, "SNI": null, "DNS_resolution": null, "queries": null, "CNAME": null}}, "threat_level": "{level}", "profile": {{"ip": "{attacker}"}}, "timewindow": {{"number": 1, "start_time": "", "end_time": ""}}, "uid": ["C1"], "timestamp": "2024/04/05 19:34:38.123000+0200", "interface": "lo", "victim": null, "proto": "TCP", "dst_port": 23, "src_port": null, "method": "HEURISTIC", "id": "{id}", "confidence": {confidence}, "rel_id": null, "version": "{VERSION}"}}"#
    )
}

/// What Slips' profiler publishes on `p2p_data_request` (spec B.2).
fn data_request(ip: &str) -> String {
    format!(
        r#"{{"to_lookup": "{ip}", "profileid": "profile_10.0.0.5", "twid": "timewindow2", "proto": "TCP", "ip_state": "dstip", "stime": 1712345678.123, "uid": "CXyz12", "daddr": "{ip}", "cache_age": 1000, "ip": "{ip}", "version": "{VERSION}"}}"#
    )
}

fn reporters(d: &Daemon, ioc: &str) -> Vec<String> {
    d.ctl(&["opinion", ioc])
        .and_then(|o| {
            o["reports"].as_array().map(|r| {
                r.iter()
                    .filter_map(|x| x["peer"].as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn id(d: &Daemon) -> String {
    d.ctl(&["status"])
        .and_then(|s| s["id"].as_str().map(str::to_owned))
        .expect("status answers")
}

#[test]
fn native_nodes_share_evidence_and_answer_data_requests() {
    let name = "native_nodes_share_evidence_and_answer_data_requests";
    if !in_private_netns(name) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let redis_a = RedisServer::start();
    let redis_b = RedisServer::start();
    let slips_a = FakeSlips::listening(&redis_a, &["new_blame"]);
    let slips_b = FakeSlips::listening(&redis_b, &["new_blame"]);
    let mut a = Daemon::native("a", &tmp.path().join("a"), redis_a.port);
    let mut b = Daemon::native("b", &tmp.path().join("b"), redis_b.port);
    assert!(
        redis_a.wait_subscribers("report_to_peers", 1, WAIT),
        "{}",
        a.stderr()
    );
    assert!(
        redis_b.wait_subscribers("p2p_data_request", 1, WAIT),
        "{}",
        b.stderr()
    );
    assert!(
        a.wait_peers(1, WAIT) && b.wait_peers(1, WAIT),
        "peers found each other"
    );
    let id_a = id(&a);
    let status = b.ctl(&["status"]).unwrap();
    assert_eq!(status["mode"], "native");
    assert_eq!(status["redis"], "connected");

    // Evidence at A becomes A's report at B.
    assert_eq!(
        slips_a.publish_on(
            "report_to_peers",
            evidence("192.168.1.50", "CRITICAL", 1.0, "e1")
        ),
        1
    );
    assert!(
        wait_until(WAIT, || reporters(&b, "192.168.1.50").contains(&id_a)),
        "B holds A's report: {:?}",
        b.ctl(&["opinion", "192.168.1.50"])
    );

    // Slips at B asks about it: the network (A's own detection) says malicious -> new_blame.
    slips_b.publish_on("p2p_data_request", data_request("192.168.1.50"));
    let blame = slips_b.next(WAIT).expect("new_blame at B");
    let v: Value = serde_json::from_str(&blame).unwrap();
    assert_eq!(v["key"], "192.168.1.50");
    assert_eq!(v["message_type"], "blame");
    assert_eq!(v["version"], VERSION);
    // Slips stores `evaluation` with HSET: it must be a string, not a dict (spec B.3).
    assert!(v["evaluation"].is_string(), "{blame}");

    // A benign IP nobody knows: no blame.
    slips_b.publish_on("p2p_data_request", data_request("10.1.1.1"));
    assert!(slips_b.next(Duration::from_secs(5)).is_none());

    // peer_trust for A's address is written in B's DB 0 for Slips' ARP filter.
    assert!(wait_until(WAIT, || {
        slips_b
            .query::<Option<String>>(0, redis::cmd("HGET").arg("peer_trust").arg("127.0.0.1"))
            .is_some()
    }));

    // Garbage on both native channels: counted and dropped, never fatal.
    for ch in ["report_to_peers", "p2p_data_request"] {
        for junk in [
            &b"not json"[..],
            b"[]",
            b"{}",
            b"\xff\xfe",
            br#"{"ip": "999.1.1.1", "version": "1.1.21"}"#,
            br#"{"evidence_type": "X", "id": "1", "attacker": 5, "version": "1.1.21"}"#,
            &vec![b'{'; 100_000][..],
        ] {
            slips_a.publish_on(ch, junk);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    a.assert_alive();
    let log = a.stderr();
    assert!(
        log.contains("malformed_total=10") && log.contains("channel=\"p2p_data_request\""),
        "garbage on both channels is counted: {log}"
    );
    slips_a.publish_on(
        "report_to_peers",
        evidence("192.168.1.51", "HIGH", 0.7, "e2"),
    );
    assert!(wait_until(WAIT, || reporters(&b, "192.168.1.51").contains(&id_a)));
    assert!(
        slips_a.next(Duration::ZERO).is_none(),
        "A published nothing on new_blame"
    );

    assert!(a.signal(libc::SIGINT).success());
    assert!(b.signal(libc::SIGTERM).success());
}

#[test]
fn native_and_pigeon_nodes_understand_each_other() {
    let name = "native_and_pigeon_nodes_understand_each_other";
    if !in_private_netns(name) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let redis_n = RedisServer::start();
    let redis_p = RedisServer::start();
    let slips_n = FakeSlips::listening(&redis_n, &["new_blame"]);
    let slips_p = FakeSlips::start(&redis_p);
    let n = Daemon::native("native", &tmp.path().join("n"), redis_n.port);
    let pdir = tmp.path().join("p");
    std::fs::create_dir_all(&pdir).unwrap();
    let mut p = Daemon::pigeon("pigeon", &pdir, 40201, redis_p.port);
    let id_p = id_of_multiaddress(&wait_multiaddress(&slips_p, WAIT).expect("multiAddress"));
    assert!(
        redis_n.wait_subscribers("report_to_peers", 1, WAIT),
        "{}",
        n.stderr()
    );
    assert!(
        n.wait_peers(1, WAIT),
        "the native node sees the pigeon node"
    );
    let id_n = id(&n);
    let mut inbox = Inbox::new(&slips_p);

    // Native evidence reaches the pigeon node's Slips as go_data from the native node.
    slips_n.publish_on("report_to_peers", evidence("10.9.9.9", "HIGH", 0.9, "e1"));
    let first = inbox
        .wait(WAIT, |g| g.is_data(&id_n, "report", "10.9.9.9"))
        .expect("report at the pigeon side");
    let m = inbox.seen[first].peer_msg.clone().unwrap();
    assert_eq!(m["evaluation"]["score"], 0.8);
    assert_eq!(m["evaluation"]["confidence"], 0.9);

    // The pigeon side's Slips asks; the native node answers from its own detection.
    slips_p.send(&request_json("10.9.9.9"), "*");
    let answered = wait_until(WAIT, || {
        while let Some(x) = slips_p.next(Duration::from_millis(50)) {
            inbox.seen.push(slips_daemon_common::Gopy::parse(&x));
        }
        inbox
            .seen
            .iter()
            .filter(|g| g.is_data(&id_n, "report", "10.9.9.9"))
            .count()
            >= 2
    });
    assert!(
        answered,
        "the native node's answer reached the pigeon side's Slips"
    );

    // The pigeon side's Slips broadcasts a report; the native node records it.
    slips_p.send(&report_json("10.8.8.8", "0.5", "0.8"), "*");
    assert!(wait_until(WAIT, || reporters(&n, "10.8.8.8").contains(&id_p)));

    // A native node's query reaches the pigeon side's Slips, whose answer comes back.
    slips_n.publish_on("p2p_data_request", data_request("10.7.7.7"));
    let q = inbox
        .wait(WAIT, |g| g.is_data(&id_n, "request", "10.7.7.7"))
        .expect("the native node's query at the pigeon side");
    assert!(q > 0);
    slips_p.send(&report_json("10.7.7.7", "1", "1"), &id_n);
    let blame = slips_n
        .next(WAIT)
        .expect("new_blame from the pigeon side's answer");
    assert!(blame.contains("10.7.7.7"), "{blame}");
    p.assert_alive();
}

#[test]
fn native_mode_starts_without_redis_and_connects_later() {
    let name = "native_mode_starts_without_redis_and_connects_later";
    if !in_private_netns(name) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start();
    redis.kill();
    let mut n = Daemon::native("native", &tmp.path().join("n"), redis.port);
    let redis_state = |d: &Daemon| {
        d.ctl(&["status"])
            .and_then(|s| s["redis"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    assert!(
        wait_until(WAIT, || redis_state(&n) == "disconnected"),
        "{}",
        n.stderr()
    );
    n.assert_alive();
    redis.restart();
    assert!(wait_until(WAIT, || redis_state(&n) == "connected"));
    assert!(redis.wait_subscribers("report_to_peers", 1, WAIT));
    assert!(n.signal(libc::SIGTERM).success());
}
