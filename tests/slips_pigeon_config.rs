//! Pigeon mode chosen in the config file (`roost run --config`, `[redis] mode = "pigeon"`)
//! rather than by Slips' argv: the same behaviour towards Slips, over a real redis-server.
//! And a mode the config cannot have is a clear error, not a panic.

mod fake_slips;
mod slips_daemon_common;

use std::time::Duration;

use fake_slips::{report_json, request_json, FakeSlips, RedisServer};
use slips_daemon_common::{id_of_multiaddress, in_private_netns, wait_multiaddress, Daemon, Inbox};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn pigeon_mode_from_the_config_file() {
    let name = "pigeon_mode_from_the_config_file";
    if !in_private_netns(name) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let redis_a = RedisServer::start();
    let redis_b = RedisServer::start();
    let slips_a = FakeSlips::start(&redis_a);
    let slips_b = FakeSlips::start(&redis_b);
    // A from its config file only; B as Slips starts Pigeon, for contrast.
    let mut a = Daemon::with_config(
        "a",
        &tmp.path().join("a"),
        &format!(
            "[net]\ninterface = \"127.0.0.1\"\n\n[redis]\nmode = \"pigeon\"\nurl = \"redis://127.0.0.1:{}/0\"\n",
            redis_a.port
        ),
    );
    let dir_b = tmp.path().join("b");
    std::fs::create_dir_all(&dir_b).unwrap();
    let _b = Daemon::pigeon("b", &dir_b, 40202, redis_b.port);

    let ma = wait_multiaddress(&slips_a, WAIT)
        .unwrap_or_else(|| panic!("A sets multiAddress; log: {}", a.stderr()));
    assert!(ma.starts_with("/ip4/127.0.0.1/udp/"), "{ma}");
    let id_a = id_of_multiaddress(&ma);
    let id_b = id_of_multiaddress(&wait_multiaddress(&slips_b, WAIT).expect("B multiAddress"));
    assert!(
        redis_a.wait_subscribers("p2p_pygo", 1, WAIT),
        "A subscribed"
    );
    assert!(
        redis_b.wait_subscribers("p2p_pygo", 1, WAIT),
        "B subscribed"
    );
    assert_eq!(a.ctl(&["status"]).expect("status")["mode"], "pigeon");

    // Every message parsed here carries "version" (Gopy::parse checks it).
    let mut in_a = Inbox::new(&slips_a);
    let mut in_b = Inbox::new(&slips_b);
    in_a.wait(WAIT, |g| {
        g.message_type == "peer_update"
            && g.contents["peerid"] == id_b.as_str()
            && g.contents["ip"] == "127.0.0.1"
    })
    .expect("peer_update about B on A's gopy");
    assert!(a.wait_peers(1, WAIT));
    slips_a.send(&request_json("1.2.3.4"), "*");
    in_b.wait(WAIT, |g| g.is_data(&id_a, "request", "1.2.3.4"))
        .expect("A's pygo request reaches B's Slips");
    slips_b.send(&report_json("1.2.3.4", "0.8", "0.6"), &id_a);
    in_a.wait(WAIT, |g| g.is_data(&id_b, "report", "1.2.3.4"))
        .expect("B's answer on A's gopy as go_data");
    a.assert_alive();
    assert_eq!(a.signal(libc::SIGINT).code(), Some(0));
}

#[test]
fn an_unknown_mode_in_the_config_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::with_config(
        "bad",
        &tmp.path().join("bad"),
        "[redis]\nmode = \"pidgeon\"\n",
    );
    let st = d.wait(Duration::from_secs(20)).expect("exits at once");
    let log = d.stderr();
    assert_eq!(st.code(), Some(1), "{log}");
    assert!(
        log.contains("roost.toml")
            && log.contains("mode = \"pidgeon\"")
            && ["native", "pigeon", "off"].iter().all(|m| log.contains(m)),
        "the error names the file, the value and the choices: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        !tmp.path().join("bad").join("roost.db").exists(),
        "nothing started"
    );
}
