//! Throughput and latency of the store writer on a real file (a measurement, not a test).
//!
//! `cargo run --release --example store_bench [DIR]` (DIR defaults to a temp dir; put it on
//! the disk you care about, e.g. the router's flash).

use std::time::{Duration, Instant};

use roost::ioc::Ioc;
use roost::store::{
    ReportKind, ReportRecord, Store, StoreLimits, StoreOp, StoreOptions, StoreWriter, Synchronous,
    WriterConfig,
};

fn report(i: u32) -> StoreOp {
    StoreOp::AddReport(ReportRecord {
        peer: [(i % 100) as u8; 32],
        kind: ReportKind::Report,
        ioc: Ioc::ip(std::net::Ipv4Addr::from(0x0a00_0000 + i).into()),
        threat: 0.5,
        confidence: 0.5,
        at: u64::from(i),
    })
}

fn config(sync: Synchronous) -> WriterConfig {
    WriterConfig {
        capacity: 4096,
        store: StoreOptions {
            synchronous: sync,
            ..StoreOptions::default()
        },
        ..WriterConfig::default()
    }
}

/// Submits `n` ops as fast as possible, then one flush.
fn burst(dir: &std::path::Path, name: &str, sync: Synchronous, start: u32, n: u32) {
    let path = dir.join(format!("{name}.db"));
    let (h, join) = StoreWriter::spawn_with(&path, config(sync)).expect("open");
    let t = Instant::now();
    for i in start..start + n {
        h.submit(report(i)).expect("submit");
    }
    h.flush().expect("flush");
    let dt = t.elapsed();
    let s = h.shutdown(join).expect("shutdown");
    println!(
        "{name:<28} {n:>7} ops in {:>8.1} ms = {:>9.0} ops/s, {} transactions",
        dt.as_secs_f64() * 1e3,
        f64::from(n) / dt.as_secs_f64(),
        s.batches
    );
}

/// Submit one op and flush, `n` times: the latency of one acknowledged write.
fn acked_one_by_one(dir: &std::path::Path, name: &str, sync: Synchronous, n: u32) {
    let path = dir.join(format!("{name}.db"));
    let (h, join) = StoreWriter::spawn_with(&path, config(sync)).expect("open");
    let mut worst = Duration::ZERO;
    let t = Instant::now();
    for i in 0..n {
        let one = Instant::now();
        h.submit(report(i)).expect("submit");
        h.flush().expect("flush");
        worst = worst.max(one.elapsed());
    }
    let dt = t.elapsed();
    h.shutdown(join).expect("shutdown");
    println!(
        "{name:<28} {n:>7} submit+flush: mean {:>6.3} ms, worst {:>6.3} ms",
        dt.as_secs_f64() * 1e3 / f64::from(n),
        worst.as_secs_f64() * 1e3
    );
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_owned());
    println!("store bench in {}", dir.display());
    burst(&dir, "burst FULL", Synchronous::Full, 0, 50_000);
    burst(&dir, "burst NORMAL", Synchronous::Normal, 0, 50_000);
    acked_one_by_one(&dir, "acked FULL", Synchronous::Full, 300);
    acked_one_by_one(&dir, "acked NORMAL", Synchronous::Normal, 300);
    // At the default report cap every batch also trims the oldest rows.
    let cap = StoreLimits::default().reports_total;
    let full = dir.join("at-cap.db");
    {
        let mut s = Store::open(&full).expect("open");
        let ops: Vec<_> = (0..cap).map(report).collect();
        for chunk in ops.chunks(10_000) {
            s.apply(chunk).expect("fill");
        }
    }
    burst(&dir, "at-cap", Synchronous::Full, cap, 50_000);
    let size = std::fs::metadata(&full).map(|m| m.len()).unwrap_or(0);
    let t = Instant::now();
    let s = Store::open(&full).expect("reopen");
    let open = t.elapsed();
    println!(
        "at-cap db: {} reports, {:.1} MB, open with quick_check {:.1} ms",
        s.report_count().expect("count"),
        size as f64 / 1e6,
        open.as_secs_f64() * 1e3
    );
}
