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

/// Two native nodes, each with its own redis-server and fake Slips, subscribed and peered.
/// Fields drop in order: the daemons stop before their Redis and the temp dir go. Tests
/// that destructure it must bind `_redis` and `_tmp` (a `..` alone would drop them at once).
struct NativePair {
    a: Daemon,
    b: Daemon,
    slips_a: FakeSlips,
    slips_b: FakeSlips,
    b_dir: std::path::PathBuf,
    _redis: (RedisServer, RedisServer),
    _tmp: tempfile::TempDir,
}

/// A and B in native mode; the fake Slips listen on `listen_a` / `listen_b`, and B's
/// `[redis]` section gets `extra_b`.
fn native_pair(listen_a: &[&str], listen_b: &[&str], extra_b: &str) -> NativePair {
    let tmp = tempfile::tempdir().unwrap();
    let redis_a = RedisServer::start();
    let redis_b = RedisServer::start();
    let slips_a = FakeSlips::listening(&redis_a, listen_a);
    let slips_b = FakeSlips::listening(&redis_b, listen_b);
    let a = Daemon::native("a", &tmp.path().join("a"), redis_a.port);
    let b_dir = tmp.path().join("b");
    let b = Daemon::native_with("b", &b_dir, redis_b.port, extra_b);
    for (r, d) in [(&redis_a, &a), (&redis_b, &b)] {
        for ch in ["report_to_peers", "p2p_data_request"] {
            assert!(r.wait_subscribers(ch, 1, WAIT), "{}", d.stderr());
        }
    }
    assert!(
        a.wait_peers(1, WAIT) && b.wait_peers(1, WAIT),
        "peers found each other"
    );
    NativePair {
        a,
        b,
        slips_a,
        slips_b,
        b_dir,
        _redis: (redis_a, redis_b),
        _tmp: tmp,
    }
}

#[test]
fn native_nodes_share_evidence_and_answer_data_requests() {
    let name = "native_nodes_share_evidence_and_answer_data_requests";
    if !in_private_netns(name) {
        return;
    }
    let NativePair {
        mut a,
        mut b,
        slips_a,
        slips_b,
        _redis,
        _tmp,
        ..
    } = native_pair(&["new_blame"], &["new_blame"], "");
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

    // The network (A's own detection) says malicious -> one new_blame at B (from A's report
    // or from Slips' data request below, whichever comes first: one per IP per window).
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

/// All evidence Slips would find in a Redis: (hash key, evidence JSON) pairs.
fn stored_evidence(slips: &FakeSlips) -> Vec<(String, Value)> {
    let keys: Vec<String> = slips.query(0, redis::cmd("KEYS").arg("profile_*_evidence"));
    let mut out = Vec::new();
    for k in keys {
        let all: Vec<(String, String)> = slips.query(0, redis::cmd("HGETALL").arg(&k));
        for (_, json) in all {
            out.push((
                k.clone(),
                serde_json::from_str(&json).expect("stored evidence is JSON"),
            ));
        }
    }
    out
}

/// `YYYY/MM/DD HH:MM:SS.ffffff - ` at the start of a Slips log line.
fn has_slips_time_prefix(line: &str) -> bool {
    let b = line.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        r.into_iter()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    b.len() > 29
        && digits(0..4)
        && b[4] == b'/'
        && digits(5..7)
        && b[7] == b'/'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && &line[26..29] == " - "
}

#[test]
fn native_peer_reports_become_slips_evidence() {
    let name = "native_peer_reports_become_slips_evidence";
    if !in_private_netns(name) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (redis_a, redis_b, redis_c) = (
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    );
    let slips_a = FakeSlips::listening(&redis_a, &["new_blame"]);
    let slips_b = FakeSlips::listening(&redis_b, &["evidence_added", "new_blame"]);
    let slips_c = FakeSlips::listening(&redis_c, &["evidence_added", "new_blame"]);
    // B's Slips has seen flows for 2.5 windows: a report now lands in time window 3.
    let first_flow = fake_slips::unix_now() as f64 - 2.5 * 3600.0;
    slips_b.query::<()>(
        0,
        redis::cmd("HSET")
            .arg("analysis")
            .arg("file_start")
            .arg(first_flow),
    );
    let a = Daemon::native("a", &tmp.path().join("a"), redis_a.port);
    let b_dir = tmp.path().join("b");
    let mut b = Daemon::native("b", &b_dir, redis_b.port);
    // C demands more trust than a newcomer has: A's reports must not become evidence there.
    let c_dir = tmp.path().join("c");
    let mut c = Daemon::native_with("c", &c_dir, redis_c.port, "evidence_trust = 0.9");
    for (r, d) in [(&redis_a, &a), (&redis_b, &b), (&redis_c, &c)] {
        assert!(
            r.wait_subscribers("report_to_peers", 1, WAIT),
            "{}",
            d.stderr()
        );
    }
    assert!(a.wait_peers(2, WAIT) && b.wait_peers(2, WAIT) && c.wait_peers(2, WAIT));
    let (id_a, id_b) = (id(&a), id(&b));

    // Evidence at A -> a report at B and C.
    slips_a.publish_on(
        "report_to_peers",
        evidence("192.168.1.50", "CRITICAL", 1.0, "e1"),
    );
    let (ch, added) = slips_b.next_on(WAIT).expect("evidence_added at B");
    assert_eq!(ch, "evidence_added", "{added}");
    let v: Value = serde_json::from_str(&added).unwrap();
    assert_eq!(v["version"], VERSION);
    let stored = stored_evidence(&slips_b);
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (key, e) = &stored[0];
    assert_eq!(key, "profile_192.168.1.50_timewindow3_evidence");
    assert_eq!(e["evidence_type"], "P2P_REPORT");
    assert_eq!(e["threat_level"], "critical");
    assert_eq!(e["confidence"], 1.0);
    assert_eq!(e["attacker"]["value"], "192.168.1.50");
    assert_eq!(e["attacker"]["direction"], "SRC");
    assert_eq!(e["profile"]["ip"], "192.168.1.50");
    assert_eq!(e["timewindow"]["number"], 3);
    assert_eq!(e["uid"], serde_json::json!([""]));
    assert_eq!(e["interface"], "default");
    assert_eq!(e["method"], "HEURISTIC");
    assert!(e["rel_id"].is_null());
    assert_eq!(
        e["description"],
        format!("attacking another peer: 127.0.0.1 ({id_a}). confidence: 1.0")
    );
    let mut published = v.clone();
    published.as_object_mut().unwrap().remove("version");
    assert_eq!(&published, e, "evidence_added carries the stored evidence");
    let hget = |key: &str, field: &str| {
        slips_b.query::<Option<String>>(0, redis::cmd("HGET").arg(key).arg(field))
    };
    assert_eq!(
        slips_b
            .query::<Option<String>>(0, redis::cmd("GET").arg("number_of_evidence"))
            .as_deref(),
        Some("1")
    );
    // The threat level is updated right after the evidence is published.
    assert!(wait_until(WAIT, || {
        slips_b
            .query::<Option<String>>(
                1,
                redis::cmd("HGET").arg("IPsInfo:score").arg("192.168.1.50"),
            )
            .as_deref()
            == Some("1")
    }));
    assert_eq!(
        hget("profile_192.168.1.50", "threat_level").as_deref(),
        Some("critical")
    );

    // The line in B's p2p_reports.log, in Slips' format.
    let want = format!(
        " - [The Network -> Slips] Peer report about 192.168.1.50 Evaluation: {{'score': 1.0, 'confidence': 1.0}} from peer: {id_a}"
    );
    let log_b = Daemon::reports_log(&b_dir);
    assert!(
        wait_until(WAIT, || std::fs::read_to_string(&log_b)
            .unwrap_or_default()
            .lines()
            .any(|l| l.ends_with(&want) && has_slips_time_prefix(l))),
        "{:?}",
        std::fs::read_to_string(&log_b)
    );

    // The network's opinion crosses B's blame threshold: one new_blame.
    let (ch, blame) = slips_b.next_on(WAIT).unwrap_or_else(|| {
        panic!(
            "new_blame at B: {:?}\n{}",
            b.ctl(&["opinion", "192.168.1.50"]),
            b.stderr()
        )
    });
    assert_eq!(ch, "new_blame");
    assert!(blame.contains("\"key\": \"192.168.1.50\""), "{blame}");

    // C got the same report but does not trust A enough: no evidence, no log line. (The
    // trust-weighted opinion still decides about a blame, and C's threshold is low.)
    assert!(wait_until(WAIT, || reporters(&c, "192.168.1.50").contains(&id_a)));
    std::thread::sleep(Duration::from_millis(500));
    assert!(stored_evidence(&slips_c).is_empty());
    while let Some((ch, msg)) = slips_c.next_on(Duration::ZERO) {
        assert_eq!(ch, "new_blame", "C published evidence: {msg}");
    }
    assert!(!std::fs::read_to_string(Daemon::reports_log(&c_dir))
        .unwrap_or_default()
        .contains("Peer report about"));
    c.assert_alive();

    // B's Slips now detects the same IP itself: the network already has an opinion on it,
    // so B does not share it again; evidence about a new IP is shared.
    slips_b.publish_on(
        "report_to_peers",
        evidence("192.168.1.50", "HIGH", 0.9, "b1"),
    );
    slips_b.publish_on(
        "report_to_peers",
        evidence("192.168.1.60", "HIGH", 0.9, "b2"),
    );
    assert!(wait_until(WAIT, || reporters(&a, "192.168.1.60").contains(&id_b)));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !reporters(&a, "192.168.1.50").contains(&id_b),
        "B re-shared an IP the network already judged"
    );
    assert!(b.stderr().contains("evidence stored in Slips' Redis"));

    // B's data request about the reported IP: the two MALICIOUS_IP_FROM_P2P_NETWORK
    // evidences in the flow's window (the blame was already sent in this window).
    slips_b.publish_on("p2p_data_request", data_request("192.168.1.50"));
    let mut attackers = Vec::new();
    assert!(wait_until(WAIT, || {
        attackers = stored_evidence(&slips_b)
            .into_iter()
            .filter(|(k, e)| {
                k == "profile_192.168.1.50_timewindow2_evidence"
                    && e["evidence_type"] == "MALICIOUS_IP_FROM_P2P_NETWORK"
            })
            .map(|(_, e)| {
                e["attacker"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        attackers.len() == 2
    }));
    attackers.sort();
    assert_eq!(attackers, ["10.0.0.5", "192.168.1.50"]);
    b.assert_alive();
    assert!(b.signal(libc::SIGTERM).success());
    assert!(c.signal(libc::SIGTERM).success());
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
    // ... and the two MALICIOUS_IP_FROM_P2P_NETWORK evidences in the native node's Redis.
    assert!(wait_until(WAIT, || {
        stored_evidence(&slips_n)
            .iter()
            .filter(|(k, e)| {
                k == "profile_10.7.7.7_timewindow2_evidence"
                    && e["evidence_type"] == "MALICIOUS_IP_FROM_P2P_NETWORK"
            })
            .count()
            == 2
    }));
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

/// What `d` got from the network about `ioc`: the answers with data (peer, threat,
/// confidence), and how many peers answered at all.
fn answers(d: &Daemon, ioc: &str) -> (Vec<(String, f64, f64)>, u64) {
    let o = d.ctl(&["ask", ioc]).expect("ask answers");
    let with_data = o["answers"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| {
                    Some((
                        x["peer"].as_str()?.to_owned(),
                        x["threat"].as_f64()?,
                        x["confidence"].as_f64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    (with_data, o["answered"].as_u64().unwrap_or(0))
}

#[test]
fn native_nodes_answer_peers_from_slips_ipsinfo() {
    let name = "native_nodes_answer_peers_from_slips_ipsinfo";
    if !in_private_netns(name) {
        return;
    }
    let NativePair {
        mut a,
        mut b,
        slips_a,
        slips_b,
        _redis,
        _tmp,
        ..
    } = native_pair(&["evidence_added"], &["evidence_added"], "");
    let id_b = id(&b);

    // What Slips at B knows about an IP (its profile's max threat level and the latest
    // evidence's confidence, spec B.5), and nothing it ever shared on report_to_peers.
    let ip = "203.0.113.7";
    let _: i64 = slips_b.query(
        1,
        redis::cmd("HSET").arg("IPsInfo:score").arg(ip).arg("0.8"),
    );
    let _: i64 = slips_b.query(
        1,
        redis::cmd("HSET")
            .arg("IPsInfo:confidence")
            .arg(ip)
            .arg("0.6"),
    );
    let got = answers(&a, ip);
    assert_eq!(
        got,
        (vec![(id_b.clone(), 0.8, 0.6)], 1),
        "B answers from Slips' IPsInfo"
    );
    // An IP Slips at B knows nothing about: B answers "no data".
    assert_eq!(answers(&a, "203.0.113.8"), (vec![], 1));

    // A shares a detection; B turns it into P2P_REPORT evidence, which Slips folds into
    // B's IPsInfo. B must not hand that back to the network as its own view.
    slips_a.publish_on(
        "report_to_peers",
        evidence("192.168.1.60", "CRITICAL", 1.0, "e9"),
    );
    assert!(
        wait_until(WAIT, || {
            slips_b
                .query::<Option<String>>(
                    1,
                    redis::cmd("HGET").arg("IPsInfo:score").arg("192.168.1.60"),
                )
                .is_some()
        }),
        "the P2P_REPORT evidence reached B's IPsInfo: {}",
        b.stderr()
    );
    assert_eq!(
        answers(&a, "192.168.1.60"),
        (vec![], 1),
        "B does not echo A's own report back as Slips' view"
    );
    // A's own Slips never got evidence from B's echo either.
    assert!(slips_a.next(Duration::ZERO).is_none());
    let status = b.ctl(&["status"]).unwrap();
    assert_eq!(
        status["slips"]["bridge"]["echoes_withheld"], 1,
        "the withheld echo is counted: {status}"
    );

    assert!(a.signal(libc::SIGINT).success());
    assert!(b.signal(libc::SIGTERM).success());
}

#[test]
fn fresh_identities_make_no_slips_evidence_by_default() {
    let name = "fresh_identities_make_no_slips_evidence_by_default";
    if !in_private_netns(name) {
        return;
    }
    // B keeps the shipped default: a peer in its first hours makes no P2P_REPORT.
    let NativePair {
        a,
        mut b,
        slips_a,
        slips_b,
        b_dir,
        _redis,
        _tmp,
        ..
    } = native_pair(
        &["new_blame"],
        &["evidence_added"],
        "evidence_from_young = false",
    );
    let id_a = id(&a);
    slips_a.publish_on(
        "report_to_peers",
        evidence("192.168.1.70", "CRITICAL", 1.0, "e7"),
    );
    // B has A's report (it still counts in B's trust-weighted opinion)...
    assert!(wait_until(WAIT, || reporters(&b, "192.168.1.70").contains(&id_a)));
    // ... and the bridge weighed it and refused it as evidence.
    assert!(
        wait_until(WAIT, || {
            b.ctl(&["status"])
                .is_some_and(|s| s["slips"]["bridge"]["untrusted_reports"].as_u64() == Some(1))
        }),
        "{:?}",
        b.ctl(&["status"])
    );
    assert!(stored_evidence(&slips_b).is_empty());
    assert!(slips_b.next_on(Duration::from_millis(300)).is_none());
    assert!(!std::fs::read_to_string(Daemon::reports_log(&b_dir))
        .unwrap_or_default()
        .contains("Peer report about"));
    b.assert_alive();
    assert!(b.signal(libc::SIGTERM).success());
}
