//! Hostile and unlucky traffic over the simulator: replays of recorded frames, tampering,
//! floods, duplication and reordering by the network, and determinism of the whole run.

use ed25519_dalek::SigningKey;
use roost::ioc::{Evaluation, Ioc};
use roost::node::{Command, NodeConfig, Notification, RateLimit};
use roost::sim::{NodeIdx, Sim, SimConfig};
use roost::wire::{Message, NetworkTag, Ping, Sealer};

fn ioc() -> Ioc {
    "domain:bad.example.net".parse().unwrap()
}

fn ev() -> Evaluation {
    Evaluation::new(0.8, 0.9).unwrap()
}

fn net(n: usize, cfg: SimConfig) -> Sim {
    let mut sim = Sim::new(cfg);
    for _ in 0..n {
        sim.add_node(NodeConfig::default());
    }
    sim.run_until(sim.now() + 5_000);
    sim
}

fn reports_seen(sim: &mut Sim, at: NodeIdx) -> usize {
    sim.take_notifications(at)
        .iter()
        .filter(|(_, x)| matches!(x, Notification::ReportReceived { .. }))
        .count()
}

#[test]
fn recorded_datagrams_replayed_are_dropped() {
    let mut sim = net(
        4,
        SimConfig {
            seed: 21,
            ..SimConfig::default()
        },
    );
    sim.take_notifications(NodeIdx(0));
    sim.record_sent(true);
    sim.command(
        NodeIdx(1),
        Command::Report {
            ioc: ioc(),
            evaluation: ev(),
        },
    );
    sim.run_until_quiet(sim.now() + 1_000);
    assert_eq!(reports_seen(&mut sim, NodeIdx(0)), 1);
    let sent = sim.take_sent();
    let report = &sent.iter().find(|s| s.from == NodeIdx(1)).unwrap().bytes;
    let before = sim.node(NodeIdx(0)).unwrap().stats().clone();
    for _ in 0..3 {
        sim.inject(NodeIdx(0), Sim::addr_of(1), report, true);
    }
    let after = sim.node(NodeIdx(0)).unwrap().stats().clone();
    assert_eq!(after.dropped("replayed") - before.dropped("replayed"), 3);
    assert_eq!(
        after.verifications, before.verifications,
        "replays cost no verification"
    );
    assert_eq!(reports_seen(&mut sim, NodeIdx(0)), 0);
}

#[test]
fn a_tampered_datagram_never_gets_a_reply() {
    let mut sim = net(
        3,
        SimConfig {
            seed: 22,
            ..SimConfig::default()
        },
    );
    // A real Query from node 1, captured but not delivered: the network loses nothing, so
    // take it from the recording and hand copies to node 0 by hand.
    sim.record_sent(true);
    sim.command(NodeIdx(1), Command::Ask { ioc: ioc() });
    let sent = sim.take_sent();
    let query = sent
        .iter()
        .find(|s| s.from == NodeIdx(1))
        .unwrap()
        .bytes
        .clone();
    sim.run_until_quiet(sim.now() + 5_000);
    // A generous per-source limit, so that every tampered copy reaches the signature check.
    let fresh_node = sim.add_node(NodeConfig {
        source_limit: RateLimit {
            burst: 10_000.0,
            per_sec: 1.0,
        },
        ..NodeConfig::default()
    });
    sim.take_sent();
    let mut replies = 0;
    for i in 12..query.len() {
        let mut bad = query.clone();
        bad[i] ^= 0x01;
        sim.inject(fresh_node, Sim::addr_of(1), &bad, true);
        replies += sim
            .take_sent()
            .iter()
            .filter(|s| s.from == fresh_node)
            .count();
    }
    assert_eq!(replies, 0);
    let st = sim.node(fresh_node).unwrap().stats().clone();
    assert_eq!(st.accepted, 0);
    assert_eq!(st.dropped("rate_source"), 0);
    assert_eq!(st.dropped_total(), (query.len() - 12) as u64);
    // Control: the untampered Query is answered.
    sim.inject(fresh_node, Sim::addr_of(1), &query, true);
    assert_eq!(
        sim.take_sent()
            .iter()
            .filter(|s| s.from == fresh_node)
            .count(),
        1
    );
}

#[test]
fn a_flood_from_one_source_costs_no_signature_checks() {
    let mut sim = net(
        3,
        SimConfig {
            seed: 23,
            ..SimConfig::default()
        },
    );
    let victim = NodeIdx(0);
    let before = sim.node(victim).unwrap().stats().clone();
    let mut attacker = Sealer::new(
        SigningKey::from_bytes(&[66; 32]),
        NetworkTag::derive("slips"),
        1,
    );
    let from = "10.0.9.9:4444".parse().unwrap();
    let now = sim.now();
    sim.record_sent(true);
    for nonce in 0..5_000 {
        let f = attacker.seal(now, &Message::Ping(Ping { nonce })).unwrap();
        sim.inject(victim, from, &f, false);
    }
    let after = sim.node(victim).unwrap().stats().clone();
    let burst = NodeConfig::default().source_limit.burst as u64;
    assert_eq!(after.verifications - before.verifications, burst);
    assert_eq!(
        after.dropped("rate_source") - before.dropped("rate_source"),
        5_000 - burst
    );
    let pongs = sim.take_sent().iter().filter(|s| s.from == victim).count() as u64;
    assert!(pongs <= burst);
    // Legitimate peers are unaffected.
    sim.run_until(sim.now() + 40_000);
    for i in [1, 2] {
        let k = sim.node(NodeIdx(i)).unwrap().public_key();
        assert_eq!(
            sim.node(victim).unwrap().peer(&k).map(|p| p.active),
            Some(true)
        );
    }
}

#[test]
fn network_duplicates_and_resent_reports_are_deduplicated() {
    let mut sim = net(
        5,
        SimConfig {
            seed: 24,
            dup: 0.5,
            reorder: 0.3,
            reorder_ms: 50,
            jitter_ms: 10,
            ..SimConfig::default()
        },
    );
    for i in 0..5 {
        sim.take_notifications(NodeIdx(i));
    }
    sim.command(
        NodeIdx(1),
        Command::Report {
            ioc: ioc(),
            evaluation: ev(),
        },
    );
    sim.command(
        NodeIdx(1),
        Command::Blame {
            ioc: ioc(),
            evaluation: ev(),
        },
    );
    sim.run_until_quiet(sim.now() + 1_000);
    // The same detection again, from a node that restarts and so has forgotten it sent it.
    sim.stop_node(NodeIdx(1), false);
    sim.restart_node(NodeIdx(1), NodeConfig::default(), 2, vec![]);
    sim.run_until(sim.now() + 3_000);
    sim.command(
        NodeIdx(1),
        Command::Report {
            ioc: ioc(),
            evaluation: ev(),
        },
    );
    sim.run_until_quiet(sim.now() + 1_000);
    assert!(sim.stats().duplicated > 0);
    for i in [0, 2, 3, 4] {
        assert_eq!(
            reports_seen(&mut sim, NodeIdx(i)),
            2,
            "one report and one blame at {i}"
        );
        let st = sim.node(NodeIdx(i)).unwrap().stats().clone();
        assert_eq!(
            st.dropped("report_duplicate"),
            1,
            "the re-sent report at {i}"
        );
    }
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut sim = net(
            12,
            SimConfig {
                seed,
                loss: 0.2,
                jitter_ms: 30,
                dup: 0.1,
                ..SimConfig::default()
            },
        );
        sim.command(NodeIdx(0), Command::Ask { ioc: ioc() });
        sim.run_until(sim.now() + 60_000);
        let s = sim.stats();
        let nodes: Vec<_> = (0..12)
            .map(|i| sim.node(NodeIdx(i)).unwrap().stats().clone())
            .collect();
        (s, nodes)
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5).0, run(6).0);
}
