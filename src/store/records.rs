//! Plain rows that the sans-IO node builds and the store writes.
//!
//! Nothing here knows about SQLite: the node and the trust model stay pure by handing these
//! values to the store thread as [`StoreOp`]s and by receiving them back at startup. Each type
//! checks its own numbers ([`StoreOp::validate`]) so a bad value is refused at the edge,
//! before it can poison a whole batch transaction.

use std::net::SocketAddr;

use crate::ioc::Ioc;

/// Largest integer the store accepts for times and counters: SQLite integers are signed 64-bit,
/// and a value above this is a bug upstream, not something to silently wrap.
pub const MAX_STORED_U64: u64 = i64::MAX as u64;

/// What the node remembers about a peer across restarts, so that trust and reliability are not
/// relearned from scratch and discovery can start from known addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRecord {
    /// The peer's ed25519 public key, which is its identity.
    pub key: [u8; 32],
    /// Where it was last heard from, if anywhere.
    pub addr: Option<SocketAddr>,
    /// When it was first heard from (unix seconds). An upsert never moves this forward.
    pub first_seen: u64,
    /// When it was last heard from (unix seconds); drives forgetting.
    pub last_seen: u64,
    /// The protocol version it last spoke.
    pub version: u8,
    /// How well it follows the protocol, as the node computes it.
    pub reliability: f64,
    /// Count of good protocol behaviour behind `reliability`, so it can be explained.
    pub evidence_good: u64,
    /// Count of bad protocol behaviour behind `reliability`.
    pub evidence_bad: u64,
    /// The highest boot epoch seen from it, so the replay window survives our restart.
    pub last_epoch: u32,
}

/// Which kind of statement a stored report is, because the trust model weighs them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// A peer shared one of its own detections.
    Report,
    /// A peer accused an attacker.
    Blame,
    /// A peer answered one of our queries.
    Answer,
}

impl ReportKind {
    /// The stable number written to the database; changing one is a schema migration.
    pub fn code(self) -> i64 {
        match self {
            ReportKind::Report => 1,
            ReportKind::Blame => 2,
            ReportKind::Answer => 3,
        }
    }

    /// Reads a stored number back; `None` for a number no version of roost wrote.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(ReportKind::Report),
            2 => Some(ReportKind::Blame),
            3 => Some(ReportKind::Answer),
            _ => None,
        }
    }
}

/// A statement a peer made about an IoC, kept so that the trust model can later check the
/// peer against what turned out to be true, and so the CLI can show who said what.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRecord {
    /// Who said it (ed25519 public key).
    pub peer: [u8; 32],
    /// Report, blame or answer.
    pub kind: ReportKind,
    /// What it is about.
    pub ioc: Ioc,
    /// How malicious the peer said it is, in [0, 1].
    pub threat: f64,
    /// How sure the peer said it is, in [0, 1].
    pub confidence: f64,
    /// When we received it (unix seconds).
    pub at: u64,
}

/// Our own aggregated opinion about an IoC, cached with its age so a repeated ask can be
/// answered without querying the network again.
#[derive(Debug, Clone, PartialEq)]
pub struct OpinionRecord {
    /// What it is about.
    pub ioc: Ioc,
    /// Aggregated threat in [0, 1], or `None` when the network knew nothing.
    pub threat: Option<f64>,
    /// Aggregated confidence in [0, 1], or `None` when the network knew nothing.
    pub confidence: Option<f64>,
    /// When the opinion was formed (unix seconds).
    pub at: u64,
}

/// One change the node wants persisted. The node emits these as actions; the store thread
/// applies them in batches.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// Insert or update a peer (its `first_seen` only ever moves back in time).
    UpsertPeer(PeerRecord),
    /// Forget peers last seen before this time (unix seconds).
    ForgetPeersBefore(u64),
    /// Remember a received report, blame or answer.
    AddReport(ReportRecord),
    /// Replace the cached opinion about an IoC.
    PutOpinion(OpinionRecord),
    /// Replace the trust model's opaque serialised state.
    PutTrustState(Vec<u8>),
    /// Drop reports received before this time (unix seconds): retention.
    PruneReportsBefore(u64),
    /// Drop cached opinions formed before this time (unix seconds): retention.
    PruneOpinionsBefore(u64),
}

/// Why an op was refused before reaching SQLite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid {field}: {why}")]
pub struct InvalidRecord {
    /// Which field is wrong.
    pub field: &'static str,
    /// What is wrong with it.
    pub why: &'static str,
}

fn unit_interval(field: &'static str, v: f64) -> Result<(), InvalidRecord> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(InvalidRecord {
            field,
            why: "must be a finite number in [0, 1]",
        })
    }
}

fn storable(field: &'static str, v: u64) -> Result<(), InvalidRecord> {
    if v <= MAX_STORED_U64 {
        Ok(())
    } else {
        Err(InvalidRecord {
            field,
            why: "larger than a signed 64-bit integer",
        })
    }
}

impl PeerRecord {
    /// Checks the numbers SQLite could not store faithfully (NaN, huge integers).
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        if !self.reliability.is_finite() {
            return Err(InvalidRecord {
                field: "reliability",
                why: "must be a finite number",
            });
        }
        storable("first_seen", self.first_seen)?;
        storable("last_seen", self.last_seen)?;
        storable("evidence_good", self.evidence_good)?;
        storable("evidence_bad", self.evidence_bad)
    }
}

impl ReportRecord {
    /// Checks that the evaluation is in range and the time storable.
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        unit_interval("threat", self.threat)?;
        unit_interval("confidence", self.confidence)?;
        storable("at", self.at)
    }
}

impl OpinionRecord {
    /// Checks that the evaluation, when present, is in range and the time storable.
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        if let Some(t) = self.threat {
            unit_interval("threat", t)?;
        }
        if let Some(c) = self.confidence {
            unit_interval("confidence", c)?;
        }
        storable("at", self.at)
    }
}

impl StoreOp {
    /// Refuses an op that SQLite would reject or store wrongly, so that it is reported to the
    /// caller instead of failing a batch later.
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        match self {
            StoreOp::UpsertPeer(p) => p.validate(),
            StoreOp::AddReport(r) => r.validate(),
            StoreOp::PutOpinion(o) => o.validate(),
            StoreOp::ForgetPeersBefore(t)
            | StoreOp::PruneReportsBefore(t)
            | StoreOp::PruneOpinionsBefore(t) => storable("time", *t),
            StoreOp::PutTrustState(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_round_trip_and_unknown_is_none() {
        for k in [ReportKind::Report, ReportKind::Blame, ReportKind::Answer] {
            assert_eq!(ReportKind::from_code(k.code()), Some(k));
        }
        assert_eq!(ReportKind::from_code(0), None);
        assert_eq!(ReportKind::from_code(4), None);
    }

    #[test]
    fn validation_refuses_bad_numbers() {
        let ioc: Ioc = "1.2.3.4".parse().unwrap();
        let r = ReportRecord {
            peer: [1; 32],
            kind: ReportKind::Report,
            ioc: ioc.clone(),
            threat: 0.5,
            confidence: 1.0,
            at: 10,
        };
        assert!(r.validate().is_ok());
        for (t, c, at) in [
            (f64::NAN, 0.5, 1),
            (0.5, -0.1, 1),
            (1.5, 0.5, 1),
            (0.5, 0.5, u64::MAX),
        ] {
            let bad = ReportRecord {
                threat: t,
                confidence: c,
                at,
                ..r.clone()
            };
            assert!(StoreOp::AddReport(bad).validate().is_err());
        }
        let o = OpinionRecord {
            ioc,
            threat: None,
            confidence: Some(f64::INFINITY),
            at: 1,
        };
        assert!(StoreOp::PutOpinion(o).validate().is_err());
        assert!(StoreOp::ForgetPeersBefore(u64::MAX).validate().is_err());
    }
}
