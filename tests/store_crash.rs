//! Crash safety with a real process and a real SIGKILL: every op a flush acknowledged is in
//! the database after the writer dies at a random point, and the file passes
//! `PRAGMA integrity_check`.
//!
//! The child is this test binary itself, re-executed to run the ignored `crash_child` entry
//! point. It submits ops as fast as it can and prints `acked N` after each flush; the parent
//! kills it mid-stream, several times over the same database.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use roost::ioc::Ioc;
use roost::store::{PeerRecord, ReportKind, ReportRecord, Store, StoreOp, StoreWriter};

const CHILD_DB: &str = "ROOST_STORE_CRASH_DB";
const CHILD_START: &str = "ROOST_STORE_CRASH_START";
const CHILD_SEED: &str = "ROOST_STORE_CRASH_SEED";

fn ip(i: u32) -> Ioc {
    Ioc::ip(std::net::Ipv4Addr::from(0x0a00_0000 + i).into())
}

/// A trust blob that names the op that wrote it and is long enough to span pages.
fn blob(i: u32) -> Vec<u8> {
    let mut b = i.to_le_bytes().to_vec();
    b.extend((0..(1000 + i % 3000)).map(|k| k.wrapping_mul(i | 1) as u8));
    b
}

fn ops_for(i: u32) -> [StoreOp; 3] {
    [
        StoreOp::AddReport(ReportRecord {
            peer: [(i % 13) as u8; 32],
            kind: ReportKind::Report,
            ioc: ip(i),
            threat: f64::from(i % 101) / 100.0,
            confidence: 0.5,
            at: u64::from(i),
        }),
        StoreOp::UpsertPeer(PeerRecord {
            key: [(i % 251) as u8; 32],
            addr: None,
            first_seen: 0,
            last_seen: u64::from(i),
            version: 1,
            reliability: 0.5,
            evidence_good: u64::from(i),
            evidence_bad: 0,
            last_epoch: 1,
        }),
        StoreOp::PutTrustState(blob(i)),
    ]
}

/// The child side. Does nothing unless re-executed by the parent with its environment.
#[test]
#[ignore = "child process of sigkill_never_loses_acknowledged_ops"]
fn crash_child() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        return;
    };
    let num = |k: &str| -> u64 { std::env::var(k).unwrap().parse().unwrap() };
    let mut i = num(CHILD_START) as u32;
    let mut rng = ChaCha8Rng::seed_from_u64(num(CHILD_SEED));
    let (h, _join) = StoreWriter::spawn(&db).unwrap();
    // Never outlive a parent that failed to kill us.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        for _ in 0..rng.gen_range(1..=40) {
            for op in ops_for(i) {
                h.submit(op).unwrap();
            }
            i += 1;
        }
        h.flush().unwrap();
        println!("acked {}", i - 1);
    }
}

fn check(db: &std::path::Path, acked: u32) {
    let s = Store::open(db).unwrap();
    assert_eq!(s.integrity_check().unwrap(), ["ok"]);
    for i in 0..=acked {
        let reports = s.reports_about(&ip(i)).unwrap();
        assert!(
            reports.iter().any(|r| r.at == u64::from(i)),
            "acknowledged report {i} (of {acked}) is missing"
        );
    }
    let peer = s
        .load_peers(0)
        .unwrap()
        .into_iter()
        .find(|p| p.key == [(acked % 251) as u8; 32])
        .expect("acknowledged peer missing");
    assert!(peer.last_seen >= u64::from(acked));
    // The trust state is the last acknowledged one or a later one, never a torn mix.
    let state = s.load_trust_state().unwrap().expect("trust state missing");
    let j = u32::from_le_bytes(state[..4].try_into().unwrap());
    assert!(
        j >= acked,
        "trust state {j} is older than acknowledged {acked}"
    );
    assert_eq!(state, blob(j));
    assert_eq!(s.skipped_rows(), 0);
}

#[test]
fn sigkill_never_loses_acknowledged_ops() {
    let seed = std::env::var("ROOST_CRASH_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("crash test seed {seed} (set ROOST_CRASH_TEST_SEED to replay)");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/roost.db");
    let exe = std::env::current_exe().unwrap();
    let mut next = 0u32;
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, &db)
            .env(CHILD_START, next.to_string())
            .env(CHILD_SEED, rng.gen::<u64>().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let parse = |line: &str| {
            line.strip_prefix("acked ")
                .and_then(|n| n.parse::<u32>().ok())
        };
        let want = rng.gen_range(1..=30);
        let mut acked = None;
        let mut seen = 0;
        while seen < want {
            let line = lines
                .next()
                .expect("child exited before being killed")
                .unwrap();
            if let Some(n) = parse(&line) {
                acked = Some(n);
                seen += 1;
            }
        }
        // Kill at a random moment, usually in the middle of a batch or a commit.
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..20_000)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "child was not killed");
        // Acks printed before the kill are still in the pipe.
        for line in lines {
            if let Some(n) = parse(&line.unwrap()) {
                acked = Some(n);
            }
        }
        let acked = acked.unwrap();
        eprintln!("round {round}: killed after ack {acked}");
        check(&db, acked);
        next = acked + 1;
    }
}
