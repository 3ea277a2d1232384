//! The store on real SQLite files: opening, migrations, refusals, epoch, round trips, limits.

use std::net::SocketAddr;

use roost::ioc::Ioc;
use roost::store::{
    OpinionRecord, PeerRecord, ReportKind, ReportRecord, Store, StoreError, StoreLimits, StoreOp,
    StoreOptions, SCHEMA_VERSION,
};
use rusqlite::Connection;

fn ip(i: u32) -> Ioc {
    Ioc::ip(std::net::Ipv4Addr::from(0x0a00_0000 + i).into())
}

fn peer(n: u8, last_seen: u64) -> PeerRecord {
    PeerRecord {
        key: [n; 32],
        addr: Some(SocketAddr::from(([192, 168, 1, n], 4000 + u16::from(n)))),
        first_seen: last_seen / 2,
        last_seen,
        version: 1,
        reliability: 0.25 + f64::from(n) / 1000.0,
        evidence_good: 10 + u64::from(n),
        evidence_bad: u64::from(n),
        last_epoch: 3,
    }
}

fn report(p: u8, ioc: Ioc, at: u64) -> ReportRecord {
    ReportRecord {
        peer: [p; 32],
        kind: ReportKind::Blame,
        ioc,
        threat: 0.9,
        confidence: 0.1 + (at % 10) as f64 / 100.0,
        at,
    }
}

#[test]
fn fresh_open_creates_directory_schema_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/roost.db");
    let store = Store::open(&path).unwrap();
    assert!(path.exists());
    assert_eq!(store.peer_count().unwrap(), 0);
    assert_eq!(store.report_count().unwrap(), 0);
    assert_eq!(store.current_epoch().unwrap(), 0);
    assert_eq!(store.load_trust_state().unwrap(), None);
    assert_eq!(store.quick_check().unwrap(), ["ok"]);
    drop(store);
    let raw = Connection::open(&path).unwrap();
    let v: u32 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        ["identity", "opinions", "peers", "reports", "trust_state"]
    );
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let v6: SocketAddr = "[2001:db8::7]:9999".parse().unwrap();
    let mut p2 = peer(2, 2000);
    p2.addr = Some(v6);
    let mut p3 = peer(3, 3000);
    p3.addr = None;
    let url: Ioc = "https://evil.example/x?a=b".parse().unwrap();
    let dom: Ioc = "domain:evil.example".parse().unwrap();
    let op_url = OpinionRecord {
        ioc: url.clone(),
        threat: Some(0.123456789012345),
        confidence: Some(1.0),
        at: 77,
    };
    let op_dom = OpinionRecord {
        ioc: dom.clone(),
        threat: None,
        confidence: None,
        at: 78,
    };
    {
        let mut s = Store::open(&path).unwrap();
        s.apply(&[
            StoreOp::UpsertPeer(peer(1, 1000)),
            StoreOp::UpsertPeer(p2.clone()),
            StoreOp::UpsertPeer(p3.clone()),
            StoreOp::AddReport(report(1, url.clone(), 10)),
            StoreOp::AddReport(ReportRecord {
                kind: ReportKind::Answer,
                ..report(2, url.clone(), 11)
            }),
            StoreOp::AddReport(report(1, dom.clone(), 12)),
            StoreOp::PutOpinion(op_url.clone()),
            StoreOp::PutOpinion(op_dom.clone()),
            StoreOp::PutTrustState(vec![1, 2, 3]),
        ])
        .unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.peer_count().unwrap(), 3);
    assert_eq!(
        s.load_peers(0).unwrap(),
        vec![p3.clone(), p2.clone(), peer(1, 1000)]
    );
    assert_eq!(s.load_peers(1500).unwrap(), vec![p3, p2]);
    assert_eq!(
        s.reports_about(&url).unwrap(),
        vec![
            report(1, url.clone(), 10),
            ReportRecord {
                kind: ReportKind::Answer,
                ..report(2, url.clone(), 11)
            }
        ]
    );
    assert_eq!(
        s.reports_about(&dom).unwrap(),
        vec![report(1, dom.clone(), 12)]
    );
    assert_eq!(s.reports_about(&ip(1)).unwrap(), vec![]);
    assert_eq!(s.opinion(&url).unwrap(), Some(op_url));
    assert_eq!(s.opinion(&dom).unwrap(), Some(op_dom));
    assert_eq!(s.opinion(&ip(1)).unwrap(), None);
    assert_eq!(s.load_trust_state().unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(s.skipped_rows(), 0);
}

#[test]
fn upsert_updates_but_never_moves_first_seen_forward() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path().join("roost.db")).unwrap();
    s.apply(&[StoreOp::UpsertPeer(peer(1, 100))]).unwrap();
    let mut later = peer(1, 500);
    later.first_seen = 400;
    later.reliability = 0.75;
    later.addr = None;
    s.apply(&[StoreOp::UpsertPeer(later.clone())]).unwrap();
    let got = s.load_peers(0).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].first_seen, 50);
    assert_eq!(got[0].last_seen, 500);
    assert_eq!(got[0].reliability, 0.75);
    assert_eq!(got[0].addr, None);
}

#[test]
fn newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, supported } if supported == i64::from(SCHEMA_VERSION)),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade roost"), "{err}");
}

#[test]
fn garbage_file_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let garbage: Vec<u8> = (0..16384u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("roost.db") && msg.contains("not a usable"),
        "{msg}"
    );
    // Nothing was written over the operator's file.
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn damaged_database_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    {
        let mut s = Store::open(&path).unwrap();
        let ops: Vec<_> = (0..2000)
            .map(|i| StoreOp::AddReport(report((i % 5) as u8, ip(i), u64::from(i))))
            .collect();
        s.apply(&ops).unwrap();
    }
    // Closing the last connection checkpointed the WAL into the main file.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 8 * 4096,
        "database too small: {}",
        bytes.len()
    );
    for b in &mut bytes[3 * 4096..6 * 4096] {
        *b = 0xa5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn epoch_strictly_increases_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let mut seen = Vec::new();
    for _ in 0..5 {
        let mut s = Store::open(&path).unwrap();
        seen.push(s.next_epoch().unwrap());
        seen.push(s.next_epoch().unwrap());
        assert_eq!(s.current_epoch().unwrap(), *seen.last().unwrap());
    }
    assert_eq!(seen, (1..=10).collect::<Vec<u32>>());
}

#[test]
fn epoch_exhaustion_is_an_error_not_a_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE identity SET epoch = ?1", [u32::MAX])
        .unwrap();
    let mut s = Store::open(&path).unwrap();
    assert!(matches!(s.next_epoch(), Err(StoreError::EpochExhausted)));
    assert_eq!(s.current_epoch().unwrap(), u32::MAX);
}

#[test]
fn trust_blob_round_trips_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let big: Vec<u8> = (0..1_000_003u32)
        .map(|i| (i.wrapping_mul(2246822519) >> 7) as u8)
        .collect();
    let blobs = [
        Vec::new(),
        vec![0u8],
        (0..=255u8).collect(),
        vec![0u8; 4096],
        big,
    ];
    for blob in blobs {
        {
            let mut s = Store::open(&path).unwrap();
            s.apply(&[StoreOp::PutTrustState(blob.clone())]).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.load_trust_state().unwrap().as_deref(), Some(&blob[..]));
    }
}

#[test]
fn report_limits_keep_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        limits: StoreLimits {
            reports_per_peer_ioc: 3,
            reports_per_peer: 10,
            reports_total: 25,
            opinions_total: 4,
            peers_total: 5,
        },
        ..StoreOptions::default()
    };
    let mut s = Store::open_with(dir.path().join("roost.db"), &opts).unwrap();
    // One peer repeating itself about one IoC: only the 3 latest stay.
    let ops: Vec<_> = (0..20)
        .map(|t| StoreOp::AddReport(report(1, ip(1), 100 - t)))
        .collect();
    s.apply(&ops).unwrap();
    let ats: Vec<u64> = s
        .reports_about(&ip(1))
        .unwrap()
        .iter()
        .map(|r| r.at)
        .collect();
    assert_eq!(ats, [98, 99, 100]);
    // One peer spraying many IoCs: only its 10 latest stay.
    for i in 0..30u32 {
        s.apply(&[StoreOp::AddReport(report(
            2,
            ip(100 + i),
            1000 + u64::from(i),
        ))])
        .unwrap();
    }
    let from2: Vec<u64> = s
        .recent_reports(0, 1000)
        .unwrap()
        .iter()
        .filter(|r| r.peer == [2; 32])
        .map(|r| r.at)
        .collect();
    assert_eq!(from2, (1020..1030).rev().collect::<Vec<u64>>());
    // Many peers (forged identities): the total stays at 25, the oldest went first.
    let ops: Vec<_> = (10..40u8)
        .map(|p| StoreOp::AddReport(report(p, ip(7), 2000 + u64::from(p))))
        .collect();
    s.apply(&ops).unwrap();
    assert_eq!(s.report_count().unwrap(), 25);
    assert_eq!(s.recent_reports(0, 1000).unwrap().last().unwrap().at, 2015);
    // Opinions and peers are capped too, keeping the newest.
    let ops: Vec<_> = (0..10u32)
        .map(|i| {
            StoreOp::PutOpinion(OpinionRecord {
                ioc: ip(i),
                threat: Some(0.5),
                confidence: Some(0.5),
                at: u64::from(i),
            })
        })
        .chain((1..=9u8).map(|n| StoreOp::UpsertPeer(peer(n, u64::from(n) * 10))))
        .collect();
    s.apply(&ops).unwrap();
    assert!(s.opinion(&ip(5)).unwrap().is_none());
    assert!(s.opinion(&ip(6)).unwrap().is_some());
    let keys: Vec<u8> = s.load_peers(0).unwrap().iter().map(|p| p.key[0]).collect();
    assert_eq!(keys, [9, 8, 7, 6, 5]);
}

#[test]
fn retention_prunes_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path().join("roost.db")).unwrap();
    let mut ops: Vec<_> = (0..10u32)
        .map(|i| StoreOp::AddReport(report(1, ip(i), u64::from(i) * 100)))
        .collect();
    ops.extend((1..=4u8).map(|n| StoreOp::UpsertPeer(peer(n, u64::from(n) * 100))));
    ops.extend((0..4u32).map(|i| {
        StoreOp::PutOpinion(OpinionRecord {
            ioc: ip(i),
            threat: Some(0.1),
            confidence: Some(0.2),
            at: u64::from(i) * 100,
        })
    }));
    s.apply(&ops).unwrap();
    s.apply(&[
        StoreOp::PruneReportsBefore(500),
        StoreOp::ForgetPeersBefore(300),
        StoreOp::PruneOpinionsBefore(200),
    ])
    .unwrap();
    assert_eq!(s.report_count().unwrap(), 5);
    assert!(s.reports_about(&ip(4)).unwrap().is_empty());
    assert_eq!(s.reports_about(&ip(5)).unwrap().len(), 1);
    let keys: Vec<u8> = s.load_peers(0).unwrap().iter().map(|p| p.key[0]).collect();
    assert_eq!(keys, [4, 3]);
    assert!(s.opinion(&ip(1)).unwrap().is_none());
    assert!(s.opinion(&ip(2)).unwrap().is_some());
}

#[test]
fn unreadable_rows_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roost.db");
    let mut s = Store::open(&path).unwrap();
    s.apply(&[
        StoreOp::AddReport(report(1, ip(1), 10)),
        StoreOp::UpsertPeer(peer(1, 10)),
    ])
    .unwrap();
    let raw = Connection::open(&path).unwrap();
    let key = [9u8; 32];
    for (kind, ioc, threat) in [
        (1, "not an ioc at all", 0.5),
        (99, "10.0.0.1", 0.5),
        (1, "10.0.0.1", 5.0),
        (1, "md5:abcd", 0.5),
    ] {
        raw.execute(
            "INSERT INTO reports (peer, kind, ioc, threat, confidence, at)
             VALUES (?1, ?2, ?3, ?4, 0.5, 20)",
            rusqlite::params![&key[..], kind, ioc, threat],
        )
        .unwrap();
    }
    raw.execute(
        "INSERT INTO peers VALUES (?1, 'not an address', 1, 30, 1, 0.5, 1, 0, 1)",
        [&[7u8; 32][..]],
    )
    .unwrap();
    raw.execute(
        "INSERT INTO peers VALUES (?1, NULL, 1, 30, 300, 0.5, 1, 0, 1)",
        [&[8u8; 32][..]],
    )
    .unwrap();
    let recent = s.recent_reports(0, 100).unwrap();
    assert_eq!(recent, vec![report(1, ip(1), 10)]);
    assert_eq!(s.skipped_rows(), 4);
    assert_eq!(s.reports_about(&ip(1)).unwrap(), vec![report(1, ip(1), 10)]);
    assert_eq!(s.skipped_rows(), 6);
    // Bad address: the peer is kept without it. Bad version (300): the row is skipped.
    let peers = s.load_peers(0).unwrap();
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[0].key, [7; 32]);
    assert_eq!(peers[0].addr, None);
    assert_eq!(s.skipped_rows(), 8);
}

#[test]
fn invalid_op_fails_the_whole_apply_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path().join("roost.db")).unwrap();
    let mut bad = report(1, ip(2), 10);
    bad.threat = f64::NAN;
    let err = s
        .apply(&[
            StoreOp::AddReport(report(1, ip(1), 10)),
            StoreOp::AddReport(bad),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(s.report_count().unwrap(), 0);
}
