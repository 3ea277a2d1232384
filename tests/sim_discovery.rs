//! Membership over the simulated network: discovery, liveness, partitions, restarts, Goodbye.

use roost::node::{Command, KnownPeer, NodeConfig, Notification, Persist, Response};
use roost::sim::{NodeIdx, Sim, SimConfig};
use roost::wire::{Frame, Kind, NetworkTag};

/// Short intervals so that a run covers several rounds in little simulated time.
fn fast_cfg() -> NodeConfig {
    NodeConfig {
        announce_interval_ms: 10_000,
        announce_jitter_ms: 1_000,
        startup_jitter_ms: 500,
        ping_after_silence_ms: 12_000,
        ping_timeout_ms: 1_500,
        inactive_after_ms: 20_000,
        ..NodeConfig::default()
    }
}

fn knows_all(sim: &Sim, n: usize) -> usize {
    (0..n)
        .filter(|&i| {
            sim.node(NodeIdx(i))
                .is_some_and(|nd| nd.active_peers() == n - 1)
        })
        .count()
}

#[test]
fn two_hundred_nodes_converge_within_two_announce_rounds_at_ten_percent_loss() {
    let n = 200;
    let mut sim = Sim::new(SimConfig {
        seed: 7,
        loss: 0.10,
        delay_ms: 2,
        jitter_ms: 8,
        ..SimConfig::default()
    });
    let cfg = fast_cfg();
    for _ in 0..n {
        sim.add_node(cfg.clone());
    }
    let start = sim.now();
    let wall = std::time::Instant::now();
    let limit = start + 2 * cfg.announce_interval_ms;
    let mut converged_at = None;
    while sim.now() < limit {
        sim.run_until(sim.now() + 250);
        if knows_all(&sim, n) == n {
            converged_at = Some(sim.now() - start);
            break;
        }
    }
    let st = sim.stats();
    eprintln!(
        "200 nodes: converged at {:?} ms simulated; {} datagrams sent, {} delivered, {} lost; {:?} wall",
        converged_at,
        st.sent,
        st.delivered,
        st.lost,
        wall.elapsed()
    );
    let at = converged_at.unwrap_or_else(|| {
        panic!(
            "not converged after two rounds: {} of {n} nodes know everyone",
            knows_all(&sim, n)
        )
    });
    assert!(at <= 2 * cfg.announce_interval_ms);
    assert!(
        st.lost > 0,
        "the loss model must actually have dropped traffic"
    );
}

/// A small network that has converged.
fn small(n: usize, seed: u64, keep_persists: bool) -> Sim {
    let mut sim = Sim::new(SimConfig {
        seed,
        delay_ms: 3,
        jitter_ms: 4,
        keep_persists,
        ..SimConfig::default()
    });
    for _ in 0..n {
        sim.add_node(fast_cfg());
    }
    sim.run_until(sim.now() + 5_000);
    assert_eq!(knows_all(&sim, n), n, "small network converged");
    sim
}

fn active(sim: &Sim, at: usize, of: usize) -> Option<bool> {
    let key = sim.node(NodeIdx(of))?.public_key();
    sim.node(NodeIdx(at))?.peer(&key).map(|p| p.active)
}

#[test]
fn partition_makes_peers_inactive_and_healing_brings_them_back() {
    let n = 10;
    let mut sim = small(n, 3, false);
    let left: Vec<NodeIdx> = (0..5).map(NodeIdx).collect();
    let right: Vec<NodeIdx> = (5..10).map(NodeIdx).collect();
    sim.partition(&[&left, &right]);
    let cut = sim.now();
    sim.run_until(cut + fast_cfg().inactive_after_ms + 2_000);
    for a in 0..n {
        for b in 0..n {
            if a != b {
                let same_side = (a < 5) == (b < 5);
                assert_eq!(active(&sim, a, b), Some(same_side), "{a} sees {b}");
            }
        }
    }
    let gone = sim
        .take_notifications(NodeIdx(0))
        .into_iter()
        .filter(|(t, x)| *t > cut && matches!(x, Notification::PeerGone { .. }))
        .count();
    assert_eq!(gone, 5);
    sim.heal();
    let healed = sim.now();
    // Within one announce interval (plus jitter) everyone hears everyone again.
    sim.run_until(healed + fast_cfg().announce_interval_ms + fast_cfg().announce_jitter_ms + 100);
    assert_eq!(knows_all(&sim, n), n);
}

#[test]
fn goodbye_marks_inactive_at_once() {
    let n = 6;
    let mut sim = small(n, 4, false);
    let before = sim.now();
    sim.stop_node(NodeIdx(2), true);
    assert!(sim.run_until_quiet(before + 1_000));
    assert!(sim.now() - before <= 7, "one network delay, not a timeout");
    for i in (0..n).filter(|&i| i != 2) {
        let key = sim.key(NodeIdx(2)).unwrap().verifying_key().to_bytes();
        assert_eq!(
            sim.node(NodeIdx(i)).unwrap().peer(&key).map(|p| p.active),
            Some(false)
        );
        assert!(sim
            .take_notifications(NodeIdx(i))
            .iter()
            .any(|(_, x)| matches!(x, Notification::PeerGone { .. })));
    }
}

/// The peer records a node's store would hold: the latest PeerSeen per key.
fn remembered(persists: Vec<(u64, Persist)>) -> Vec<KnownPeer> {
    let mut out: Vec<KnownPeer> = Vec::new();
    for (_, p) in persists {
        if let Persist::PeerSeen(k) = p {
            out.retain(|o| o.key != k.key);
            out.push(k);
        }
    }
    out
}

#[test]
fn restart_with_higher_epoch_is_accepted_and_old_epoch_frames_are_refused() {
    let n = 5;
    let mut sim = small(n, 5, true);
    sim.record_sent(true);
    sim.run_until(sim.now() + 12_000); // a periodic Announce from everyone
    let old_frames: Vec<Vec<u8>> = sim
        .take_sent()
        .into_iter()
        .filter(|s| s.from == NodeIdx(1))
        .map(|s| s.bytes)
        .collect();
    assert!(!old_frames.is_empty());
    sim.record_sent(false);
    sim.stop_node(NodeIdx(1), true);
    sim.run_until_quiet(sim.now() + 1_000);
    let store = remembered(sim.take_persists(NodeIdx(1)));
    assert_eq!(store.len(), n - 1);
    assert!(store.iter().all(|k| k.last_epoch == 1));
    sim.restart_node(NodeIdx(1), fast_cfg(), 2, store);
    let b = sim.node(NodeIdx(1)).unwrap();
    assert_eq!(
        b.peer_views().len(),
        n - 1,
        "remembered peers are known at once"
    );
    assert_eq!(b.active_peers(), 0, "but inactive until they talk");
    sim.run_until(sim.now() + 5_000);
    assert_eq!(knows_all(&sim, n), n, "restarted node is accepted");
    let key1 = sim.key(NodeIdx(1)).unwrap().verifying_key().to_bytes();
    let p = sim.node(NodeIdx(0)).unwrap().peer(&key1).unwrap();
    assert_eq!(p.epoch, Some(2));
    // Frames of the old boot, replayed now (fresh enough for the clock check), are refused.
    let drops = |sim: &Sim| sim.node(NodeIdx(0)).unwrap().stats().dropped("stale_epoch");
    let before = drops(&sim);
    let net = NetworkTag::derive("slips");
    let mut replayed = 0;
    for f in &old_frames {
        let fr = Frame::parse(f, &net).unwrap();
        assert_eq!(fr.epoch(), 1);
        if fr.kind() == Kind::Announce {
            sim.inject(NodeIdx(0), Sim::addr_of(1), f, true);
            replayed += 1;
        }
    }
    assert!(replayed > 0);
    assert_eq!(drops(&sim) - before, replayed);
    let t = sim.command(NodeIdx(0), Command::Status);
    let st = sim.take_replies(NodeIdx(0));
    assert!(st.iter().any(
        |(_, tok, r)| *tok == t && matches!(r, Response::Status(s) if s.peers_active == n - 1)
    ));
}
