//! The writer thread on real SQLite files: flush semantics, batching, back-pressure, failure
//! isolation and shutdown.

use std::time::{Duration, Instant};

use roost::ioc::Ioc;
use roost::store::{
    OpinionRecord, ReportKind, ReportRecord, Store, StoreError, StoreOp, StoreOptions, StoreWriter,
    WriterConfig,
};
use rusqlite::Connection;

fn ip(i: u32) -> Ioc {
    Ioc::ip(std::net::Ipv4Addr::from(0x0a00_0000 + i).into())
}

fn report(i: u32) -> StoreOp {
    StoreOp::AddReport(ReportRecord {
        peer: [(i % 200) as u8; 32],
        kind: ReportKind::Report,
        ioc: ip(i),
        threat: 0.5,
        confidence: 0.5,
        at: 1_000 + u64::from(i),
    })
}

fn reader(path: &std::path::Path) -> Store {
    Store::open(path).unwrap()
}

#[test]
fn flush_means_committed_and_visible_to_another_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let (h, join) = StoreWriter::spawn(&path).unwrap();
    for i in 0..10 {
        h.submit(report(i)).unwrap();
    }
    h.submit(StoreOp::PutTrustState(vec![9; 9])).unwrap();
    h.flush().unwrap();
    let r = reader(&path);
    assert_eq!(r.report_count().unwrap(), 10);
    assert_eq!(r.load_trust_state().unwrap(), Some(vec![9; 9]));
    let stats = h.shutdown(join).unwrap();
    assert_eq!(stats.ops_written, 11);
    assert_eq!(stats.op_errors, 0);
}

#[test]
fn batching_commits_many_ops_per_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let config = WriterConfig {
        capacity: 4096,
        max_batch: 512,
        ..WriterConfig::default()
    };
    let (h, join) = StoreWriter::spawn_with(&path, config).unwrap();
    for i in 0..3000 {
        h.submit(report(i)).unwrap();
    }
    h.flush().unwrap();
    let stats = h.stats();
    assert_eq!(stats.ops_written, 3000);
    // At most 512 per batch, so at least 6 transactions; one per op would be 3000.
    assert!(
        (6..=60).contains(&stats.batches),
        "3000 ops took {} transactions",
        stats.batches
    );
    // And SQLite agrees: every batch was one commit of many rows.
    assert_eq!(reader(&path).report_count().unwrap(), 3000);
    h.shutdown(join).unwrap();
}

#[test]
fn full_queue_pushes_back_instead_of_dropping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let config = WriterConfig {
        capacity: 4,
        max_batch: 2,
        linger: Duration::ZERO,
        timeout: Duration::from_millis(200),
        store: StoreOptions {
            busy_timeout: Duration::from_secs(20),
            ..StoreOptions::default()
        },
    };
    let (h, join) = StoreWriter::spawn_with(&path, config).unwrap();
    // Another connection holds the write lock: the writer waits on it, the queue fills.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut accepted = 0u32;
    let err = loop {
        match h.submit(report(accepted)) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100, "the queue never filled");
    };
    assert!(matches!(err, StoreError::Timeout { .. }), "{err:?}");
    // The writer holds at most one batch plus the queue.
    assert!((4..=4 + 2).contains(&accepted), "accepted {accepted}");
    blocker.execute_batch("ROLLBACK").unwrap();
    h.flush().unwrap();
    assert_eq!(reader(&path).report_count().unwrap(), u64::from(accepted));
    assert_eq!(h.stats().op_errors, 0);
    h.shutdown(join).unwrap();
}

#[test]
fn invalid_ops_are_refused_at_submit() {
    let dir = tempfile::tempdir().unwrap();
    let (h, join) = StoreWriter::spawn(dir.path().join("roost.db")).unwrap();
    let bad = StoreOp::PutOpinion(OpinionRecord {
        ioc: ip(1),
        threat: Some(f64::NAN),
        confidence: None,
        at: 1,
    });
    assert!(matches!(h.submit(bad), Err(StoreError::Invalid(_))));
    h.flush().unwrap();
    let stats = h.shutdown(join).unwrap();
    assert_eq!((stats.rejected, stats.ops_written), (1, 0));
}

#[test]
fn a_failing_op_is_isolated_and_reported_by_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let config = WriterConfig {
        linger: Duration::from_millis(200),
        ..WriterConfig::default()
    };
    let (h, join) = StoreWriter::spawn_with(&path, config).unwrap();
    // SQLite itself refuses one kind of write, as a full disk or a bug would.
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON opinions
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
        )
        .unwrap();
    h.submit(report(1)).unwrap();
    h.submit(StoreOp::PutOpinion(OpinionRecord {
        ioc: ip(1),
        threat: Some(0.5),
        confidence: Some(0.5),
        at: 1,
    }))
    .unwrap();
    h.submit(report(2)).unwrap();
    let err = h.flush().unwrap_err();
    match &err {
        StoreError::WriteFailed { failed, last } => {
            assert_eq!(*failed, 1);
            assert!(last.contains("refused by test"), "{last}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // The other two ops of the batch were committed anyway.
    assert_eq!(reader(&path).report_count().unwrap(), 2);
    // The failure was reported once; the next flush is clean.
    h.submit(report(3)).unwrap();
    h.flush().unwrap();
    let stats = h.shutdown(join).unwrap();
    assert_eq!((stats.ops_written, stats.op_errors), (3, 1));
}

#[test]
fn shutdown_commits_what_is_queued_and_stops_other_handles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let config = WriterConfig {
        linger: Duration::from_secs(30),
        ..WriterConfig::default()
    };
    let (h, join) = StoreWriter::spawn_with(&path, config).unwrap();
    let other = h.clone();
    for i in 0..100 {
        h.submit(report(i)).unwrap();
    }
    // A 30 s linger would hold the batch; shutdown must not wait for it.
    let start = Instant::now();
    let stats = h.shutdown(join).unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(stats.ops_written, 100);
    assert_eq!(reader(&path).report_count().unwrap(), 100);
    assert!(matches!(
        other.submit(report(1)),
        Err(StoreError::WriterGone)
    ));
    assert!(matches!(other.flush(), Err(StoreError::WriterGone)));
}

#[test]
fn dropping_every_handle_commits_and_ends_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let (h, join) = StoreWriter::spawn(&path).unwrap();
    for i in 0..50 {
        h.submit(report(i)).unwrap();
    }
    drop(h);
    join.join().unwrap().unwrap();
    assert_eq!(reader(&path).report_count().unwrap(), 50);
}

#[test]
fn startup_store_can_be_handed_to_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let mut store = Store::open(&path).unwrap();
    let epoch = store.next_epoch().unwrap();
    let (h, join) = StoreWriter::from_store(store, WriterConfig::default()).unwrap();
    h.submit(report(1)).unwrap();
    h.shutdown(join).unwrap();
    let mut again = reader(&path);
    assert_eq!(again.report_count().unwrap(), 1);
    assert_eq!(again.next_epoch().unwrap(), epoch + 1);
}
