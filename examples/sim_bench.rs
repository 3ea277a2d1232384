//! Speed and convergence of the simulator with real nodes: `cargo run --release --example
//! sim_bench [nodes] [loss]`. Prints simulated convergence time, wall time, and datagrams
//! delivered per wall second (each delivery is one real signature verification).

use std::time::Instant;

use roost::ioc::Ioc;
use roost::node::{Command, NodeConfig, Response};
use roost::sim::{NodeIdx, Sim, SimConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let loss: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0.1);
    let cfg = NodeConfig {
        announce_interval_ms: 10_000,
        announce_jitter_ms: 1_000,
        // The default ratios, scaled down 3x: ping after two missed Announces.
        ping_after_silence_ms: 22_000,
        ping_timeout_ms: 1_500,
        inactive_after_ms: 30_000,
        ..NodeConfig::default()
    };
    let mut sim = Sim::new(SimConfig {
        seed: 1,
        loss,
        delay_ms: 2,
        jitter_ms: 8,
        ..SimConfig::default()
    });
    for _ in 0..n {
        sim.add_node(cfg.clone());
    }
    let start = sim.now();
    let wall = Instant::now();
    let mut converged = None;
    while sim.now() < start + 60_000 {
        sim.run_until(sim.now() + 250);
        let all = (0..n).all(|i| {
            sim.node(NodeIdx(i))
                .is_some_and(|x| x.active_peers() == n - 1)
        });
        if all {
            converged = Some(sim.now() - start);
            break;
        }
    }
    let el = wall.elapsed();
    let st = sim.stats();
    println!(
        "{n} nodes, loss {loss}: converged at {converged:?} ms simulated, {:.2} s wall, \
         {} sent, {} delivered ({:.0} deliveries/s), {} events",
        el.as_secs_f64(),
        st.sent,
        st.delivered,
        st.delivered as f64 / el.as_secs_f64(),
        st.events
    );
    let ioc: Ioc = "192.0.2.1".parse().unwrap_or_else(|_| unreachable!());
    let t0 = sim.now();
    sim.command(NodeIdx(0), Command::Ask { ioc });
    sim.run_until(t0 + 5_000);
    for (_, _, r) in sim.take_replies(NodeIdx(0)) {
        if let Response::Ask(a) = r {
            println!(
                "ask: asked {}, answered {}, elapsed {} ms",
                a.asked, a.answered, a.elapsed_ms
            );
        }
    }
    let idle_wall = Instant::now();
    let before = sim.stats();
    sim.run_until(sim.now() + 60_000);
    let after = sim.stats();
    println!(
        "steady state: 60 s simulated in {:.2} s wall, {} datagrams sent ({:.1}/node/min)",
        idle_wall.elapsed().as_secs_f64(),
        after.sent - before.sent,
        (after.sent - before.sent) as f64 / n as f64
    );
}
