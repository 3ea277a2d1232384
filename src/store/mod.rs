//! Persistence: the only room that touches SQLite.
//!
//! The node and the trust model are sans-IO; they describe what to remember as plain
//! [`records`] and [`StoreOp`]s, and this room makes it durable:
//!
//! - [`Store`] is one SQLite connection (WAL, versioned migrations, `synchronous = FULL`) with
//!   the startup and CLI read queries and the durable identity epoch counter.
//! - [`StoreWriter`] moves a `Store` onto its own thread, fed by a bounded channel through a
//!   cloneable [`StoreHandle`]. Ops are applied in batches, one transaction per batch, and
//!   [`StoreHandle::flush`] returns once everything submitted before it is committed and
//!   synced: that is the point where an op counts as acknowledged and survives `kill -9`
//!   (and, with `synchronous = FULL`, a power cut).
//! - Size limits ([`StoreLimits`]) cap what a hostile peer can make us store.

mod db;
pub mod records;
mod schema;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

pub use db::{Store, StoreLimits, StoreOptions, Synchronous};
pub use records::{
    InvalidRecord, OpinionRecord, PeerRecord, ReportKind, ReportRecord, StoreOp, MAX_STORED_U64,
};
pub use schema::SCHEMA_VERSION;
pub use writer::{StoreHandle, StoreStats, StoreWriter, WriterConfig};

/// Everything that can go wrong in the store, separated by what the operator or the caller
/// should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created or the database file not opened.
    #[error("cannot use the database location {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a SQLite database, or SQLite found it damaged.
    #[error("{path} is not a usable roost database ({detail}); move it away to start afresh")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The database was written by a newer roost; guessing at its layout could lose data.
    #[error("the database has schema version {found} but this roost supports up to {supported}; upgrade roost or use another data directory")]
    NewerSchema {
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// SQLite refused write-ahead logging (e.g. a network filesystem without shared memory).
    #[error("cannot enable WAL on {path} (journal mode stays {mode:?}); put the data directory on a local filesystem")]
    NoWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// Any other SQLite failure (disk full, I/O error, locked for too long, ...).
    #[error("SQLite: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// The op carries a value that cannot be stored faithfully; nothing was queued.
    #[error(transparent)]
    Invalid(#[from] InvalidRecord),
    /// The identity epoch reached its maximum; counters could no longer be kept unique.
    #[error("the identity epoch is exhausted; generate a new identity")]
    EpochExhausted,
    /// The writer did not take or finish the work in time (queue full, or SQLite stuck).
    #[error("store writer did not {what} within {after:?}")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long.
        after: Duration,
    },
    /// The writer thread has stopped; nothing more can be persisted through this handle.
    #[error("store writer has stopped")]
    WriterGone,
    /// Some ops submitted since the previous flush could not be committed.
    #[error("store writer could not commit {failed} op(s); last error: {last}")]
    WriteFailed {
        /// How many ops were lost.
        failed: u64,
        /// The last SQLite error seen.
        last: String,
    },
    /// The OS would not start the writer thread (out of memory or thread limit).
    #[error("cannot start the store writer thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The writer thread panicked (a bug); its last batch may be lost.
    #[error("store writer thread panicked")]
    WriterPanicked,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}
