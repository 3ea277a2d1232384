//! Asking the network over the simulator: completion on the last answer, the deadline,
//! coalescing, caching, and Slips answering in Pigeon mode.

use roost::ioc::{Evaluation, Ioc};
use roost::node::{AskResponse, Command, NodeConfig, Notification, Response};
use roost::sim::{NodeIdx, Sim, SimConfig};
use roost::wire::Kind;

fn cfg() -> NodeConfig {
    NodeConfig {
        announce_interval_ms: 10_000,
        announce_jitter_ms: 1_000,
        ping_after_silence_ms: 12_000,
        ping_timeout_ms: 1_500,
        inactive_after_ms: 20_000,
        ..NodeConfig::default()
    }
}

fn ioc() -> Ioc {
    "198.51.100.7".parse().unwrap()
}

fn ev(t: f64, c: f64) -> Evaluation {
    Evaluation::new(t, c).unwrap()
}

fn network(n: usize, seed: u64, trace: bool, node_cfg: NodeConfig) -> Sim {
    let mut sim = Sim::new(SimConfig {
        seed,
        delay_ms: 5,
        jitter_ms: 20,
        trace,
        ..SimConfig::default()
    });
    for _ in 0..n {
        sim.add_node(node_cfg.clone());
    }
    sim.run_until(sim.now() + 5_000);
    for i in 0..n {
        assert_eq!(sim.node(NodeIdx(i)).unwrap().active_peers(), n - 1);
    }
    sim
}

fn asks(replies: Vec<(u64, u64, Response)>) -> Vec<(u64, u64, AskResponse)> {
    replies
        .into_iter()
        .filter_map(|(at, tok, r)| match r {
            Response::Ask(a) => Some((at, tok, a)),
            _ => None,
        })
        .collect()
}

#[test]
fn ask_over_fifty_nodes_completes_when_the_last_answer_arrives() {
    let n = 50;
    let mut sim = network(n, 11, true, cfg());
    // Ten nodes have their own detection of the IoC.
    for i in 1..=10 {
        sim.command(
            NodeIdx(i),
            Command::Report {
                ioc: ioc(),
                evaluation: ev(0.9, 0.8),
            },
        );
    }
    sim.run_until_quiet(sim.now() + 1_000);
    let asked_at = sim.now();
    let token = sim.command(NodeIdx(0), Command::Ask { ioc: ioc() });
    assert!(sim.run_until_quiet(asked_at + 10_000));
    let replies = asks(sim.take_replies(NodeIdx(0)));
    assert_eq!(replies.len(), 1);
    let (at, tok, r) = &replies[0];
    assert_eq!(*tok, token);
    assert_eq!((r.asked, r.answered), (n - 1, n - 1));
    assert_eq!(r.answers.len(), 10, "only answers with data are listed");
    assert!((r.threat.unwrap() - 0.9).abs() < 1e-9);
    let last_answer = sim
        .trace()
        .iter()
        .filter(|d| d.to == NodeIdx(0) && d.kind == Kind::Answer as u8 && d.at_ms >= asked_at)
        .map(|d| d.at_ms)
        .max()
        .unwrap();
    assert_eq!(*at, last_answer, "the reply left with the last answer");
    assert_eq!(r.elapsed_ms, last_answer - asked_at);
    assert!(
        r.elapsed_ms <= 2 * (5 + 20),
        "two network delays, not the 3 s deadline"
    );
    let st = sim.node(NodeIdx(0)).unwrap().stats();
    assert_eq!((st.asks_complete, st.asks_deadline), (1, 0));
    eprintln!("ask over {n} nodes: elapsed {} ms", r.elapsed_ms);
}

#[test]
fn a_silent_peer_makes_the_ask_wait_for_the_deadline() {
    let n = 8;
    let mut sim = network(n, 12, false, cfg());
    sim.stop_node(NodeIdx(7), false); // vanishes without a Goodbye: still active for a while
    let asked_at = sim.now();
    sim.command(NodeIdx(0), Command::Ask { ioc: ioc() });
    sim.run_until(asked_at + 5_000);
    let replies = asks(sim.take_replies(NodeIdx(0)));
    let (at, _, r) = &replies[0];
    assert_eq!((r.asked, r.answered), (n - 1, n - 2));
    assert_eq!(r.elapsed_ms, cfg().ask_deadline_ms);
    assert_eq!(*at, asked_at + cfg().ask_deadline_ms);
    assert_eq!((r.threat, r.confidence), (None, None), "nobody knew");
}

#[test]
fn a_goodbye_during_an_ask_completes_it_early() {
    let n = 6;
    let mut sim = network(n, 13, false, cfg());
    let asked_at = sim.now();
    sim.command(NodeIdx(0), Command::Ask { ioc: ioc() });
    sim.stop_node(NodeIdx(5), true); // leaves before answering
    sim.run_until_quiet(asked_at + 1_000);
    let replies = asks(sim.take_replies(NodeIdx(0)));
    assert_eq!(replies.len(), 1);
    assert!(replies[0].2.elapsed_ms < 100);
    assert_eq!(replies[0].2.answered, n - 2);
}

#[test]
fn concurrent_asks_are_coalesced_and_then_cached() {
    let n = 10;
    let mut sim = network(n, 14, false, cfg());
    sim.command(
        NodeIdx(3),
        Command::Blame {
            ioc: ioc(),
            evaluation: ev(1.0, 0.5),
        },
    );
    sim.run_until_quiet(sim.now() + 1_000);
    let before = sim.stats().sent;
    let tokens: Vec<u64> = (0..3)
        .map(|_| sim.command(NodeIdx(0), Command::Ask { ioc: ioc() }))
        .collect();
    sim.run_until_quiet(sim.now() + 5_000);
    let st = sim.node(NodeIdx(0)).unwrap().stats().clone();
    assert_eq!(st.queries_sent, 1);
    assert_eq!(st.asks_coalesced, 2);
    // One Query out and one Answer back per peer.
    assert_eq!(sim.stats().sent - before, 1 + (n as u64 - 1));
    let replies = asks(sim.take_replies(NodeIdx(0)));
    let mut got: Vec<u64> = replies.iter().map(|r| r.1).collect();
    got.sort();
    assert_eq!(got, tokens);
    assert!(replies.iter().all(|r| r.2 == replies[0].2));
    assert_eq!(replies[0].2.threat, Some(1.0));
    // Soon after: served from the cache, no new Query.
    sim.run_until(sim.now() + 1_000);
    sim.command(NodeIdx(0), Command::Ask { ioc: ioc() });
    let cached = asks(sim.take_replies(NodeIdx(0)));
    assert_eq!(cached.len(), 1);
    assert_eq!(cached[0].2.elapsed_ms, 0);
    assert_eq!(sim.node(NodeIdx(0)).unwrap().stats().queries_sent, 1);
    // After the cache time: a new Query.
    sim.run_until(sim.now() + cfg().ask_cache_ms + 1_000);
    sim.command(NodeIdx(0), Command::Ask { ioc: ioc() });
    sim.run_until_quiet(sim.now() + 5_000);
    assert_eq!(sim.node(NodeIdx(0)).unwrap().stats().queries_sent, 2);
}

#[test]
fn pigeon_mode_lets_slips_answer() {
    let relay_answers = NodeConfig {
        answer_queries: false,
        ..cfg()
    };
    let mut sim = Sim::new(SimConfig {
        seed: 15,
        delay_ms: 5,
        ..SimConfig::default()
    });
    let a = sim.add_node(cfg());
    let b = sim.add_node(relay_answers);
    sim.run_until(sim.now() + 3_000);
    sim.command(a, Command::Ask { ioc: ioc() });
    sim.run_until_quiet(sim.now() + 1_000);
    let (peer, request) = sim
        .take_notifications(b)
        .into_iter()
        .find_map(|(_, x)| match x {
            Notification::QueryReceived {
                peer,
                request,
                ioc: i,
            } if i == ioc() => Some((peer, request)),
            _ => None,
        })
        .unwrap();
    assert_eq!(peer, sim.node(a).unwrap().id());
    assert!(asks(sim.take_replies(a)).is_empty(), "b waits for Slips");
    sim.command(
        b,
        Command::AnswerQuery {
            peer: peer.clone(),
            request,
            evaluation: Some(ev(0.2, 0.9)),
        },
    );
    sim.run_until_quiet(sim.now() + 1_000);
    let r = asks(sim.take_replies(a));
    assert_eq!(r[0].2.answered, 1);
    assert_eq!(r[0].2.threat, Some(0.2));
    // A second answer to the same Query is refused: nothing unsolicited leaves the node.
    sim.command(
        b,
        Command::AnswerQuery {
            peer,
            request,
            evaluation: None,
        },
    );
    assert!(matches!(
        sim.take_replies(b).last(),
        Some((_, _, Response::Error(_)))
    ));
}

#[test]
fn under_loss_a_unicast_retry_recovers_answers() {
    let run = |retry: u64| {
        let node_cfg = NodeConfig {
            ask_retry_ms: retry,
            ..cfg()
        };
        let mut sim = Sim::new(SimConfig {
            seed: 16,
            loss: 0.2,
            delay_ms: 5,
            ..SimConfig::default()
        });
        for _ in 0..30 {
            sim.add_node(node_cfg.clone());
        }
        sim.run_until(sim.now() + 15_000);
        sim.command(NodeIdx(0), Command::Ask { ioc: ioc() });
        sim.run_until(sim.now() + 5_000);
        let r = asks(sim.take_replies(NodeIdx(0))).remove(0).2;
        let retried = sim.node(NodeIdx(0)).unwrap().stats().queries_retried;
        (r.asked, r.answered, retried)
    };
    let (asked0, without, retried0) = run(0);
    let (asked1, with, retried1) = run(1_500);
    eprintln!("20 % loss: {without}/{asked0} answers without retry, {with}/{asked1} with");
    assert_eq!(retried0, 0);
    assert!(retried1 > 0);
    assert!(with > without);
    assert!(with as f64 >= 0.85 * asked1 as f64);
}
