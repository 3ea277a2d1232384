//! The store's own thread: ops arrive over a bounded channel and are committed in batches.
//!
//! Submitting blocks (up to a timeout) when the queue is full instead of dropping: losing
//! reports or trust state silently would be wrong, and back-pressure slows the node down
//! only when the disk cannot keep up. An op is acknowledged when a later
//! [`StoreHandle::flush`] returns `Ok`: by then it is committed (and synced, with the default
//! `synchronous = FULL`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};

use super::{Store, StoreError, StoreOp, StoreOptions};

/// Tuning of the writer thread; the defaults suit the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Ops (and flush requests) the queue holds before `submit` blocks.
    pub capacity: usize,
    /// Most ops committed in one transaction, so one batch never holds the lock for long.
    pub max_batch: usize,
    /// After the first op of a batch arrives, how long to wait for more before committing.
    /// Fewer, larger commits mean fewer fsyncs (flash wear); a flush cuts the wait short.
    pub linger: Duration,
    /// How long `submit` and `flush` wait for queue space, and `flush` for its commit.
    pub timeout: Duration,
    /// How the database is opened.
    pub store: StoreOptions,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            capacity: 1024,
            max_batch: 512,
            linger: Duration::from_millis(50),
            timeout: Duration::from_secs(10),
            store: StoreOptions::default(),
        }
    }
}

/// A snapshot of the writer's counters, for `roost status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Ops committed.
    pub ops_written: u64,
    /// Transactions committed (each batch is one; a failed batch retried op by op is more).
    pub batches: u64,
    /// Ops that could not be committed (lost; reported by the next flush).
    pub op_errors: u64,
    /// Ops refused at submit because they failed validation.
    pub rejected: u64,
    /// Ops and flushes waiting in the queue right now.
    pub queued: usize,
}

#[derive(Default)]
struct Counters {
    ops_written: AtomicU64,
    batches: AtomicU64,
    op_errors: AtomicU64,
    rejected: AtomicU64,
}

enum Msg {
    Op(StoreOp),
    Flush(Sender<Result<(), StoreError>>),
    Shutdown,
}

/// The cloneable sending side: the node (and anyone else) submits ops and flushes here.
#[derive(Clone)]
pub struct StoreHandle {
    tx: Sender<Msg>,
    counters: Arc<Counters>,
    timeout: Duration,
}

/// Starts the writer thread.
pub struct StoreWriter;

impl StoreWriter {
    /// Opens the database at `path` (on the calling thread, so that open errors come back
    /// here) and starts the writer with default settings.
    pub fn spawn(
        path: impl AsRef<Path>,
    ) -> Result<(StoreHandle, JoinHandle<Result<(), StoreError>>), StoreError> {
        Self::spawn_with(path, WriterConfig::default())
    }

    /// Like [`StoreWriter::spawn`] with explicit settings.
    pub fn spawn_with(
        path: impl AsRef<Path>,
        config: WriterConfig,
    ) -> Result<(StoreHandle, JoinHandle<Result<(), StoreError>>), StoreError> {
        let store = Store::open_with(path, &config.store)?;
        Self::from_store(store, config)
    }

    /// Moves an already opened store (e.g. the one that served startup reads and
    /// [`Store::next_epoch`]) onto the writer thread.
    pub fn from_store(
        store: Store,
        config: WriterConfig,
    ) -> Result<(StoreHandle, JoinHandle<Result<(), StoreError>>), StoreError> {
        let (tx, rx) = bounded(config.capacity.max(1));
        let counters = Arc::new(Counters::default());
        let handle = StoreHandle {
            tx,
            counters: Arc::clone(&counters),
            timeout: config.timeout,
        };
        let worker = Worker {
            store,
            rx,
            counters,
            max_batch: config.max_batch.max(1),
            linger: config.linger,
            failed: 0,
            last_error: String::new(),
        };
        let join = std::thread::Builder::new()
            .name("roost-store".into())
            .spawn(move || worker.run())
            .map_err(StoreError::Thread)?;
        Ok((handle, join))
    }
}

impl StoreHandle {
    /// Queues one op. Invalid ops are refused here; a full queue blocks up to the configured
    /// timeout, then fails: the caller decides, nothing is dropped silently.
    pub fn submit(&self, op: StoreOp) -> Result<(), StoreError> {
        if let Err(e) = op.validate() {
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(e.into());
        }
        self.send(Msg::Op(op), "accept an op")
    }

    fn send(&self, msg: Msg, what: &'static str) -> Result<(), StoreError> {
        self.tx
            .send_timeout(msg, self.timeout)
            .map_err(|e| match e {
                SendTimeoutError::Timeout(_) => StoreError::Timeout {
                    what,
                    after: self.timeout,
                },
                SendTimeoutError::Disconnected(_) => StoreError::WriterGone,
            })
    }

    /// Returns once every op submitted before this call is committed: the acknowledgement
    /// point. Fails if any op since the previous flush could not be committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (reply_tx, reply_rx) = bounded(1);
        let start = Instant::now();
        self.send(Msg::Flush(reply_tx), "accept a flush")?;
        let left = self.timeout.saturating_sub(start.elapsed());
        match reply_rx.recv_timeout(left) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(StoreError::Timeout {
                what: "commit before flush",
                after: self.timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(StoreError::WriterGone),
        }
    }

    /// The writer's counters now.
    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            ops_written: c.ops_written.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            op_errors: c.op_errors.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            queued: self.tx.len(),
        }
    }

    /// Commits everything queued, stops the thread and waits for it. Other clones of the
    /// handle get [`StoreError::WriterGone`] afterwards. Returns the final counters.
    pub fn shutdown(
        self,
        thread: JoinHandle<Result<(), StoreError>>,
    ) -> Result<StoreStats, StoreError> {
        // A blocking send: the writer drains steadily, and stopping without the last batch
        // would lose acknowledged-to-be data. If the writer is already gone, just join.
        let _ = self.tx.send(Msg::Shutdown);
        let result = thread.join().map_err(|_| StoreError::WriterPanicked)?;
        let stats = self.stats();
        result.map(|()| stats)
    }
}

struct Worker {
    store: Store,
    rx: Receiver<Msg>,
    counters: Arc<Counters>,
    max_batch: usize,
    linger: Duration,
    /// Ops lost since the last flush reply.
    failed: u64,
    last_error: String,
}

impl Worker {
    fn run(mut self) -> Result<(), StoreError> {
        let mut batch: Vec<StoreOp> = Vec::with_capacity(self.max_batch);
        let mut waiters: Vec<Sender<Result<(), StoreError>>> = Vec::new();
        loop {
            // All handles dropped: same as a shutdown.
            let Ok(first) = self.rx.recv() else { break };
            let mut stop = Self::take(first, &mut batch, &mut waiters);
            let deadline = Instant::now() + self.linger;
            while !stop && batch.len() < self.max_batch {
                let next = if waiters.is_empty() {
                    self.rx.recv_deadline(deadline).map_err(|e| match e {
                        RecvTimeoutError::Timeout => false,
                        RecvTimeoutError::Disconnected => true,
                    })
                } else {
                    // Someone waits: take only what is already queued, then commit.
                    self.rx.try_recv().map_err(|e| e.is_disconnected())
                };
                match next {
                    Ok(msg) => stop = Self::take(msg, &mut batch, &mut waiters),
                    Err(disconnected) => {
                        stop = disconnected;
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                self.commit(&batch);
                batch.clear();
            }
            if !waiters.is_empty() {
                let outcome = self.take_outcome();
                for w in waiters.drain(..) {
                    let reply = match &outcome {
                        None => Ok(()),
                        Some((failed, last)) => Err(StoreError::WriteFailed {
                            failed: *failed,
                            last: last.clone(),
                        }),
                    };
                    // A waiter that gave up (timed out) is not an error here.
                    let _ = w.send(reply);
                }
            }
            if stop {
                break;
            }
        }
        match self.take_outcome() {
            None => Ok(()),
            Some((failed, last)) => Err(StoreError::WriteFailed { failed, last }),
        }
    }

    /// Files a message; returns true when it asks the thread to stop.
    fn take(
        msg: Msg,
        batch: &mut Vec<StoreOp>,
        waiters: &mut Vec<Sender<Result<(), StoreError>>>,
    ) -> bool {
        match msg {
            Msg::Op(op) => {
                batch.push(op);
                false
            }
            Msg::Flush(w) => {
                waiters.push(w);
                false
            }
            Msg::Shutdown => true,
        }
    }

    fn take_outcome(&mut self) -> Option<(u64, String)> {
        if self.failed == 0 {
            return None;
        }
        let out = (self.failed, std::mem::take(&mut self.last_error));
        self.failed = 0;
        Some(out)
    }

    /// One transaction for the batch; if it fails, op by op so that one bad op (or a
    /// transient error) does not take the others down with it.
    fn commit(&mut self, batch: &[StoreOp]) {
        let n = batch.len() as u64;
        match self.store.apply(batch) {
            Ok(_) => {
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
                self.counters.ops_written.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) if batch.len() == 1 => self.lose(1, &e),
            Err(e) => {
                tracing::warn!(error = %e, ops = n, "store batch failed; retrying op by op");
                for op in batch {
                    match self.store.apply(std::slice::from_ref(op)) {
                        Ok(_) => {
                            self.counters.batches.fetch_add(1, Ordering::Relaxed);
                            self.counters.ops_written.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => self.lose(1, &e),
                    }
                }
            }
        }
    }

    fn lose(&mut self, n: u64, e: &StoreError) {
        tracing::warn!(error = %e, ops = n, "store op lost");
        self.counters.op_errors.fetch_add(n, Ordering::Relaxed);
        self.failed = self.failed.saturating_add(n);
        self.last_error = e.to_string();
    }
}
