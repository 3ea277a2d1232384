//! Membership over the simulated network: discovery, liveness, partitions, restarts, Goodbye.

use roost::node::{KnownPeer, NodeConfig};
use roost::sim::{NodeIdx, Sim, SimConfig};

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
    assert!(st.lost > 0, "the loss model must actually have dropped traffic");
}
