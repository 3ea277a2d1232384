//! Pigeon drop-in mode end to end: real `roost` processes started with Slips' argv, a real
//! `redis-server` per node, and a fake Slips on each Redis. Each networked test runs in its
//! own network namespace (see `slips_daemon_common`).

mod fake_slips;
mod slips_daemon_common;

use std::path::Path;
use std::time::Duration;

use fake_slips::{report_json, request_json, FakeSlips, RedisServer, VERSION};
use slips_daemon_common::{
    id_of_multiaddress, in_private_netns, wait_multiaddress, Daemon, Gopy, Inbox,
};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn two_pigeon_nodes_carry_requests_answers_and_survive_redis_restarts() {
    let name = "two_pigeon_nodes_carry_requests_answers_and_survive_redis_restarts";
    if !in_private_netns(name) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let redis_a = RedisServer::start();
    let mut redis_b = RedisServer::start();
    let slips_a = FakeSlips::start(&redis_a);
    let slips_b = FakeSlips::start(&redis_b);
    let mut a = Daemon::pigeon("a", &dir_a, 40101, redis_a.port);
    let mut b = Daemon::pigeon("b", &dir_b, 40102, redis_b.port);

    let ma = wait_multiaddress(&slips_a, WAIT).expect("A sets multiAddress");
    let mb = wait_multiaddress(&slips_b, WAIT).expect("B sets multiAddress");
    assert!(ma.starts_with("/ip4/127.0.0.1/udp/40101/p2p/"), "{ma}");
    let (id_a, id_b) = (id_of_multiaddress(&ma), id_of_multiaddress(&mb));
    assert!(!id_a.is_empty() && id_a != id_b);

    let mut in_a = Inbox::new(&slips_a);
    let mut in_b = Inbox::new(&slips_b);
    // B's Slips learns A's address first.
    let pu = in_b
        .wait(WAIT, |g| {
            g.message_type == "peer_update"
                && g.contents["peerid"] == id_a.as_str()
                && g.contents["ip"] == "127.0.0.1"
        })
        .expect("peer_update about A at B");
    assert!(pigeon_subscribed(&redis_a) && pigeon_subscribed(&redis_b));

    // A's Slips asks everybody; B's Slips gets the request from A.
    assert!(slips_a.send(&request_json("1.2.3.4"), "*") >= 1);
    let req = in_b
        .wait(WAIT, |g| g.is_data(&id_a, "request", "1.2.3.4"))
        .expect("request from A at B");
    assert!(pu < req, "the peer_update came before the go_data");
    let update_time = in_b.seen[pu].contents["timestamp"].as_u64().unwrap();
    let report_time = in_b.seen[req].contents["report_time"].as_u64().unwrap();
    assert!(update_time <= report_time);

    // B's Slips answers A (recipient = A's reporter id); A's Slips gets it as B's report.
    slips_b.send(&report_json("1.2.3.4", "0.8", "0.6"), &id_a);
    let ans = in_a
        .wait(WAIT, |g| g.is_data(&id_b, "report", "1.2.3.4"))
        .expect("B's answer at A");
    let msg = in_a.seen[ans].peer_msg.clone().unwrap();
    assert_eq!(msg["evaluation"]["score"], 0.8);
    assert_eq!(msg["evaluation"]["confidence"], 0.6);
    assert!(
        in_a.wait(Duration::ZERO, |g| g.message_type == "peer_update"
            && g.contents["peerid"] == id_b.as_str())
            .is_some_and(|i| i < ans),
        "A's Slips heard of B before B's report"
    );

    // A broadcast report reaches B's Slips as A's report.
    slips_a.send(&report_json("6.6.6.6", "1", "0.9"), "*");
    in_b.wait(WAIT, |g| g.is_data(&id_a, "report", "6.6.6.6"))
        .expect("A's report at B");

    // Redis of B crashes; a request from A arrives meanwhile; Redis comes back.
    redis_b.kill();
    std::thread::sleep(Duration::from_millis(300));
    slips_a.send(&request_json("5.6.7.8"), "*");
    std::thread::sleep(Duration::from_secs(1));
    b.assert_alive();
    redis_b.restart();
    in_b.wait(WAIT, |g| g.is_data(&id_a, "request", "5.6.7.8"))
        .expect("the request queued while Redis was down is delivered");
    assert!(
        redis_b.wait_subscribers("p2p_pygo", 1, WAIT),
        "B resubscribed"
    );

    // Garbage on B's p2p_pygo is dropped; B keeps working.
    for junk in [
        &b"not json"[..],
        b"[1,2,3]",
        b"{}",
        b"\xff\xfe\x00",
        br#"{"message": "!!!", "recipient": "*", "version": "1.1.21"}"#,
        br#"{"message": "WzEsMl0=", "recipient": "*", "version": "1.1.21"}"#,
        br#"{"message": "eyJtZXNzYWdlX3R5cGUiOiAicmVwb3J0In0=", "recipient": "QmNobody", "version": "1.1.21"}"#,
        br#"{"recipient": "*"}"#,
        &vec![b'x'; 100_000][..],
    ] {
        slips_b.publish_raw(junk);
    }
    std::thread::sleep(Duration::from_millis(300));
    b.assert_alive();
    assert!(
        b.stderr().contains("malformed_total"),
        "garbage is counted in the log"
    );
    let status = b.ctl(&["status"]).expect("status");
    let malformed = status["slips"]["malformed"].as_u64().unwrap_or(0)
        + status["slips"]["unknown_recipient"].as_u64().unwrap_or(0);
    assert!(
        malformed >= 8,
        "garbage is counted in status: {}",
        status["slips"]
    );
    assert!(
        status["net"]["rx_datagrams"].as_u64().unwrap_or(0) > 0,
        "network counters are in status: {status}"
    );
    slips_a.send(&request_json("9.9.9.9"), "*");
    in_b.wait(WAIT, |g| g.is_data(&id_a, "request", "9.9.9.9"))
        .expect("B still relays after garbage");
    let status = b.ctl(&["status"]).expect("B answers status");
    assert_eq!(status["mode"], "pigeon");
    assert_eq!(status["redis"], "connected");

    for g in in_a.seen.iter().chain(in_b.seen.iter()) {
        assert_eq!(g.raw["version"], VERSION);
    }
    assert!(a.signal(libc::SIGINT).success());
    assert!(b.signal(libc::SIGTERM).success());
}

#[test]
fn answers_reach_slips_as_they_arrive() {
    let name = "answers_reach_slips_as_they_arrive";
    if !in_private_netns(name) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = ["a", "b", "c"].iter().map(|n| tmp.path().join(n)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    // A waits up to 20 s for its peers, longer than this test waits for any one message: an
    // answer that reaches Slips only when the ask completes would come too late to pass.
    std::fs::write(
        dirs[0].join("roost.toml"),
        "[timers]\nask_deadline_ms = 20000\n",
    )
    .unwrap();
    let redis: Vec<_> = (0..3).map(|_| RedisServer::start()).collect();
    let slips: Vec<_> = redis.iter().map(FakeSlips::start).collect();
    let a = Daemon::pigeon("a", &dirs[0], 40111, redis[0].port);
    let _b = Daemon::pigeon("b", &dirs[1], 40112, redis[1].port);
    let _c = Daemon::pigeon("c", &dirs[2], 40113, redis[2].port);
    let ids: Vec<String> = slips
        .iter()
        .map(|s| id_of_multiaddress(&wait_multiaddress(s, WAIT).expect("multiAddress")))
        .collect();
    let (id_a, id_b, id_c) = (&ids[0], &ids[1], &ids[2]);
    assert!(a.wait_peers(2, WAIT), "A sees B and C");
    let mut in_a = Inbox::new(&slips[0]);
    let mut in_b = Inbox::new(&slips[1]);
    let mut in_c = Inbox::new(&slips[2]);
    for r in &redis {
        assert!(pigeon_subscribed(r));
    }

    slips[0].send(&request_json("1.2.3.4"), "*");
    in_b.wait(WAIT, |g| g.is_data(id_a, "request", "1.2.3.4"))
        .expect("request from A at B");
    in_c.wait(WAIT, |g| g.is_data(id_a, "request", "1.2.3.4"))
        .expect("request from A at C");
    // B answers at once; C (the slow peer) has not answered yet, so A's ask is still open,
    // and B's answer must reach A's Slips anyway.
    slips[1].send(&report_json("1.2.3.4", "0.8", "0.6"), id_a);
    let from_b = in_a
        .wait(WAIT, |g| g.is_data(id_b, "report", "1.2.3.4"))
        .expect("B's answer at A before C answered");
    slips[2].send(&report_json("1.2.3.4", "0.2", "0.9"), id_a);
    let from_c = in_a
        .wait(WAIT, |g| g.is_data(id_c, "report", "1.2.3.4"))
        .expect("C's answer at A (the ask was still open)");
    assert!(from_b < from_c);
    let msg = in_a.seen[from_c].peer_msg.clone().unwrap();
    assert_eq!(msg["evaluation"]["score"], 0.2);
    // C's answer completed the ask; nothing is sent again after it.
    in_a.wait(Duration::from_secs(1), |_| false);
    let count = |id: &str| {
        in_a.seen
            .iter()
            .filter(|g| g.is_data(id, "report", "1.2.3.4"))
            .count()
    };
    assert_eq!((count(id_b), count(id_c)), (1, 1), "each answer once");
    for (who, id) in [(id_b, from_b), (id_c, from_c)] {
        assert!(
            in_a.seen[..id]
                .iter()
                .any(|g| g.message_type == "peer_update"
                    && g.contents["peerid"] == who.as_str()
                    && g.contents["ip"] == "127.0.0.1"),
            "A's Slips knew the peer's address before its answer"
        );
    }
}

fn pigeon_subscribed(r: &RedisServer) -> bool {
    r.wait_subscribers("p2p_pygo", 1, WAIT)
}

/// Installs the binary where Slips expects it, `<root>/p2p4slips/p2p4slips`, with a Slips
/// `VERSION` file at `<root>`, and an empty runtime dir as Slips' cwd for it.
fn slips_layout(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let bin_dir = root.join("p2p4slips");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let bin = bin_dir.join("p2p4slips");
    if std::fs::hard_link(slips_daemon_common::roost_bin(), &bin).is_err() {
        std::fs::copy(slips_daemon_common::roost_bin(), &bin).unwrap();
    }
    std::fs::write(root.join("VERSION"), format!("{VERSION}\n")).unwrap();
    let runtime = root.join("permanent").join("p2p_trust_runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    (bin, runtime)
}

#[test]
fn started_exactly_as_slips_starts_pigeon() {
    let name = "started_exactly_as_slips_starts_pigeon";
    if !in_private_netns(name) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("slips");
    let (bin, runtime) = slips_layout(&root);
    let redis = RedisServer::start();
    let slips = FakeSlips::start(&redis);
    // p2p_trust.py:655-666, after utils.sanitize; no -slips-version, no environment.
    let args: Vec<String> = [
        "-port",
        "32769",
        "-host",
        "127.0.0.1",
        "-key-file",
        "pigeon.keys",
        "--redis-db",
        &format!("localhost:{}", redis.port),
        "-redis-channel-pygo",
        "p2p_pygo",
        "-redis-channel-gopy",
        "p2p_gopy",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut d = Daemon::spawn("pigeon", &bin, &args, &runtime, &[]);
    let ma = wait_multiaddress(&slips, Duration::from_secs(5)).unwrap_or_else(|| {
        panic!("no multiAddress; stderr: {}", d.stderr());
    });
    assert!(ma.starts_with("/ip4/127.0.0.1/udp/32769/p2p/"), "{ma}");
    assert!(redis.wait_subscribers("p2p_pygo", 1, WAIT));
    d.assert_alive();
    // roost keeps its identity and database in the runtime dir (Slips' cwd for it).
    assert!(runtime.join("roost.db").exists());
    assert_eq!(d.ctl(&["status"]).expect("status")["mode"], "pigeon");
    // stop_process (as Slips' publish would wrap it): the network side stops, the process
    // stays up until a signal, like Pigeon.
    slips.publish_raw(format!(
        r#"{{"text": "stop_process", "version": "{VERSION}"}}"#
    ));
    assert!(fake_slips::wait_until(WAIT, || d
        .ctl(&["status"])
        .is_none()));
    std::thread::sleep(Duration::from_millis(500));
    d.assert_alive();
    let st = d.signal(libc::SIGINT);
    assert_eq!(st.code(), Some(0), "{}", d.stderr());
}

#[test]
fn pigeon_exit_codes_match_pigeon() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("rt");
    std::fs::create_dir_all(&cwd).unwrap();
    let bin = Path::new(slips_daemon_common::roost_bin());
    let run = |name: &'static str, args: &[&str]| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut d = Daemon::spawn(name, bin, &args, &cwd, &[]);
        let st = d.wait(Duration::from_secs(20)).expect("exits");
        (st.code(), d.stderr())
    };
    // Unknown flag: usage, 2.
    let (code, err) = run("bad", &["-port", "1", "-bogus"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("Usage of"), "{err}");
    // -help, -test: 0.
    assert_eq!(run("help", &["-help"]).0, Some(0));
    assert_eq!(run("test", &["-port", "1", "-test"]).0, Some(0));
    // No Slips version anywhere: 1.
    let (code, err) = run("nover", &["-port", "1", "--redis-db", "localhost:1"]);
    assert_eq!(code, Some(1), "{err}");
    // Redis down at start: 1 (port 1 is never a Redis).
    let (code, err) = run(
        "noredis",
        &[
            "-port",
            "1",
            "--redis-db",
            "localhost:1",
            "-slips-version",
            VERSION,
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("Redis"), "{err}");
    // Redis up, but the host address belongs to no interface: 2, like Pigeon's panic.
    let redis = RedisServer::start();
    let (code, err) = run(
        "nohost",
        &[
            "-port",
            "40301",
            "-host",
            "203.0.113.77",
            "--redis-db",
            &format!("localhost:{}", redis.port),
            "-slips-version",
            VERSION,
        ],
    );
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn gopy_messages_parse() {
    // The helper itself must refuse a message without the version.
    let r = std::panic::catch_unwind(|| {
        Gopy::parse(r#"{"message_type":"peer_update","message_contents":{}}"#)
    });
    assert!(r.is_err());
}
