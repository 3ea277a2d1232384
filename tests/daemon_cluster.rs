//! Several real roost processes on one host, each test in its own network namespace:
//! discovery, asks, blames, restarts and liveness, driven through the CLI as an operator would.

mod support;

use std::time::{Duration, Instant};

use support::{in_own_netns, wait_until, Daemon, FAST_CONFIG};

fn cluster(n: usize, root: &std::path::Path) -> Vec<Daemon> {
    (0..n)
        .map(|i| Daemon::start(&root.join(format!("node{i}")), FAST_CONFIG))
        .collect()
}

#[test]
fn five_nodes_discover_answer_and_spread_blames() {
    if in_own_netns("five_nodes_discover_answer_and_spread_blames") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let nodes = cluster(5, tmp.path());
    let all_up = started.elapsed();
    let ids: Vec<String> = nodes.iter().map(Daemon::id).collect();

    // Discovery: every node sees the four others as active within 2 s of the last start.
    let took = wait_until(Duration::from_secs(2), || {
        nodes.iter().all(|d| d.peers_in("active").len() == 4)
    });
    assert!(
        took.is_some(),
        "not discovered within 2 s (all started after {all_up:?}): {:?}",
        nodes
            .iter()
            .map(|d| d.peers_in("active").len())
            .collect::<Vec<_>>()
    );
    for (i, d) in nodes.iter().enumerate() {
        let mut seen = d.peers_in("active");
        seen.sort();
        let mut others: Vec<String> = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| id.clone())
            .collect();
        others.sort();
        assert_eq!(seen, others, "node {i} sees the wrong peers");
    }

    // Ask: nodes 1..4 know the IoC; node 0's ask gets an answer from each of them.
    for d in &nodes[1..] {
        d.cli(&[
            "report",
            "10.9.9.9",
            "--threat",
            "0.9",
            "--confidence",
            "0.8",
        ]);
    }
    let ask = nodes[0].cli(&["ask", "10.9.9.9"]);
    assert_eq!(ask["ioc"], "10.9.9.9");
    assert_eq!(ask["asked"], 4, "{ask}");
    assert_eq!(ask["answered"], 4, "{ask}");
    let mut answerers: Vec<String> = ask["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["peer"].as_str().unwrap().to_string())
        .collect();
    answerers.sort();
    let mut expected = ids[1..].to_vec();
    expected.sort();
    assert_eq!(answerers, expected);
    let threat = ask["threat"].as_f64().expect("an aggregated threat");
    assert!(threat > 0.5, "four peers said malicious: {ask}");
    assert!(
        ask["elapsed_ms"].as_u64().unwrap() < 2000,
        "the ask must complete when the last answer arrives, not at the deadline: {ask}"
    );
    // Nobody knows this one: the answer is "unknown", not "benign".
    let unknown = nodes[0].cli(&["ask", "10.7.7.7"]);
    assert!(unknown["threat"].is_null(), "{unknown}");
    assert_eq!(unknown["answered"], 4, "{unknown}");

    // Blame: node 0's blame shows up at every other node, attributed to node 0.
    nodes[0].cli(&["blame", "10.6.6.6", "--threat", "1", "--confidence", "0.9"]);
    for d in &nodes[1..] {
        let got = wait_until(Duration::from_secs(2), || {
            let op = d.cli(&["opinion", "10.6.6.6"]);
            op["reports"].as_array().is_some_and(|r| {
                r.iter()
                    .any(|x| x["kind"] == "blame" && x["peer"] == ids[0].as_str())
            })
        });
        assert!(got.is_some(), "blame did not arrive: {}", d.log());
    }
}

#[test]
fn killed_node_remembers_identity_and_peers() {
    if in_own_netns("killed_node_remembers_identity_and_peers") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(3, tmp.path());
    assert!(wait_until(Duration::from_secs(3), || nodes
        .iter()
        .all(|d| d.peers_in("active").len() == 2))
    .is_some());
    let id_before = nodes[2].id();
    // Let the store writer commit the peer rows (it batches for at most 50 ms).
    std::thread::sleep(Duration::from_millis(300));
    nodes[2].restart();
    assert_eq!(nodes[2].id(), id_before, "identity changed across a crash");
    let known = nodes[2].cli(&["peers"]).as_array().unwrap().len();
    assert_eq!(
        known,
        2,
        "peers forgotten across a crash: {}",
        nodes[2].log()
    );
    assert!(
        wait_until(Duration::from_secs(3), || nodes
            .iter()
            .all(|d| d.peers_in("active").len() == 2))
        .is_some(),
        "restarted node not accepted again: {}",
        nodes[0].log()
    );
    // A clean stop exits 0.
    assert_eq!(nodes[2].stop(), Some(0));
}

#[test]
fn silent_node_goes_inactive_and_comes_back() {
    if in_own_netns("silent_node_goes_inactive_and_comes_back") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let nodes = cluster(3, tmp.path());
    assert!(wait_until(Duration::from_secs(3), || nodes
        .iter()
        .all(|d| d.peers_in("active").len() == 2))
    .is_some());
    let silent = nodes[2].id();
    nodes[2].signal(libc::SIGSTOP);
    let gone = wait_until(Duration::from_secs(8), || {
        nodes[..2]
            .iter()
            .all(|d| d.peers_in("inactive").contains(&silent))
    });
    nodes[2].signal(libc::SIGCONT);
    assert!(gone.is_some(), "silent node never became inactive");
    let back = wait_until(Duration::from_secs(5), || {
        nodes[..2]
            .iter()
            .all(|d| d.peers_in("active").contains(&silent))
    });
    assert!(back.is_some(), "node did not come back: {}", nodes[0].log());
}
