//! The daemon side of the control channel: one accept thread plus one short-lived thread per
//! connection (at most [`ServerLimits::max_clients`] at once), each with read and write
//! timeouts, so a stuck or malicious local client can hold at most one slot for a few seconds
//! and never blocks the others or the node.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use serde::Serialize;

use super::{socket_path, ControlError, ControlRequest, ControlResponse, MAX_REQUEST_BYTES};

/// What the server hands the node: the request and where to send the one response.
pub type NodeRequest = (ControlRequest, Sender<ControlResponse>);

/// Knobs that bound what one client can cost the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long the server waits for a request line (and for the client to take the answer).
    pub io_timeout: Duration,
    /// How long the server waits for the node's answer; must exceed the ask deadline.
    pub reply_timeout: Duration,
    /// Connections served at once; more are refused with an error response.
    pub max_clients: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            io_timeout: Duration::from_secs(5),
            // Covers the largest ask deadline the config accepts (60 s) plus a margin.
            reply_timeout: Duration::from_secs(65),
            max_clients: 8,
        }
    }
}

/// Live counters of the control server.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    malformed: AtomicU64,
    oversized: AtomicU64,
    refused_busy: AtomicU64,
    node_unavailable: AtomicU64,
    node_timeouts: AtomicU64,
}

/// A snapshot of the server's counters, for status output and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ControlStats {
    /// Well-formed requests passed to the node.
    pub requests: u64,
    /// Lines that were not a valid request (answered with an error).
    pub malformed: u64,
    /// Request lines over the size cap (connection closed).
    pub oversized: u64,
    /// Connections refused because all slots were taken.
    pub refused_busy: u64,
    /// Requests the node could not take (its channel full or closed).
    pub node_unavailable: u64,
    /// Requests the node did not answer within the reply timeout.
    pub node_timeouts: u64,
}

/// Shared state of the accept thread and the connection threads.
struct Shared {
    to_node: Sender<NodeRequest>,
    limits: ServerLimits,
    counters: Counters,
    active: AtomicUsize,
    stop: AtomicBool,
}

/// Namespace for starting the control server.
pub struct ControlServer;

/// The running server: stop it with [`ControlHandle::shutdown`] (or drop it), which removes
/// the socket file.
pub struct ControlHandle {
    shared: Arc<Shared>,
    path: PathBuf,
    thread: Option<JoinHandle<()>>,
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> ControlError {
    move |source| ControlError::Io { what, source }
}

impl ControlServer {
    /// Starts the server on `<data_dir>/control.sock` with default limits.
    pub fn spawn(
        data_dir: &Path,
        to_node: Sender<NodeRequest>,
    ) -> Result<ControlHandle, ControlError> {
        Self::spawn_with(data_dir, to_node, ServerLimits::default())
    }

    /// Starts the server with explicit limits.
    ///
    /// Creates the data dir (mode 0700) when missing. A socket file left by a crashed daemon
    /// (nobody accepts on it) is replaced; a live one is [`ControlError::AlreadyRunning`].
    pub fn spawn_with(
        data_dir: &Path,
        to_node: Sender<NodeRequest>,
        limits: ServerLimits,
    ) -> Result<ControlHandle, ControlError> {
        if !data_dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .map_err(io_err(format!(
                    "cannot create data dir {}",
                    data_dir.display()
                )))?;
        }
        let path = socket_path(data_dir);
        remove_if_stale(&path, data_dir)?;
        let listener = UnixListener::bind(&path)
            .map_err(io_err(format!("cannot create {}", path.display())))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(format!("cannot chmod 0600 {}", path.display())))?;

        let shared = Arc::new(Shared {
            to_node,
            limits,
            counters: Counters::default(),
            active: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("roost-control".into())
            .spawn(move || accept_loop(listener, s))
            .map_err(io_err("cannot start the control thread".into()))?;
        tracing::info!(socket = %path.display(), "control socket listening");
        Ok(ControlHandle {
            shared,
            path,
            thread: Some(thread),
        })
    }
}

/// Leaves the way clear for a new socket, or explains why it cannot be.
fn remove_if_stale(path: &Path, data_dir: &Path) -> Result<(), ControlError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("cannot inspect {}", path.display()))(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket(path.to_path_buf()));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(ControlError::AlreadyRunning(data_dir.to_path_buf())),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            Err(ControlError::PermissionDenied(path.to_path_buf()))
        }
        Err(_) => {
            tracing::info!(socket = %path.display(), "replacing stale control socket");
            match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err(format!("cannot remove stale {}", path.display()))(e)),
            }
        }
    }
}

fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("control accept failed: {e}");
                continue;
            }
        };
        let taken = shared.active.fetch_add(1, Ordering::SeqCst);
        if taken >= shared.limits.max_clients {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            shared.counters.refused_busy.fetch_add(1, Ordering::Relaxed);
            let mut s = stream;
            let _ = s.set_write_timeout(Some(shared.limits.io_timeout));
            let _ = write_response(
                &mut s,
                &ControlResponse::err("too many control connections, try again"),
            );
            continue;
        }
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("roost-control-conn".into())
            .spawn(move || {
                serve(stream, &s);
                s.active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!("cannot start a control connection thread: {e}");
        }
    }
}

fn write_response(stream: &mut UnixStream, resp: &ControlResponse) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(resp).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    stream.flush()
}

/// Serves one connection: any number of request lines until EOF, a timeout or an error.
fn serve(stream: UnixStream, shared: &Shared) {
    let limits = shared.limits;
    if stream.set_read_timeout(Some(limits.io_timeout)).is_err()
        || stream.set_write_timeout(Some(limits.io_timeout)).is_err()
    {
        return;
    }
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let c = &shared.counters;
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = (MAX_REQUEST_BYTES + 1) as u64;
        match (&mut reader).take(limit).read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            // Timeout or reset: the client is gone or stuck; free the slot.
            Err(_) => return,
        }
        // A line without its newline is either the last one before EOF (accepted as is) or
        // one that hit the size cap.
        if line.last() != Some(&b'\n') && line.len() > MAX_REQUEST_BYTES {
            c.oversized.fetch_add(1, Ordering::Relaxed);
            let _ = write_response(
                &mut writer,
                &ControlResponse::err(format!("request larger than {MAX_REQUEST_BYTES} bytes")),
            );
            return;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let resp = match serde_json::from_slice::<ControlRequest>(&line) {
            Ok(req) => ask_node(shared, req),
            Err(e) => {
                c.malformed.fetch_add(1, Ordering::Relaxed);
                ControlResponse::err(format!("malformed request: {e}"))
            }
        };
        if write_response(&mut writer, &resp).is_err() {
            return;
        }
    }
}

/// Passes one request to the node and waits (bounded) for its answer.
fn ask_node(shared: &Shared, req: ControlRequest) -> ControlResponse {
    let c = &shared.counters;
    let (tx, rx) = crossbeam_channel::bounded(1);
    match shared.to_node.try_send((req, tx)) {
        Ok(()) => {
            c.requests.fetch_add(1, Ordering::Relaxed);
        }
        Err(TrySendError::Full(_)) => {
            c.node_unavailable.fetch_add(1, Ordering::Relaxed);
            return ControlResponse::err("the daemon is busy, try again");
        }
        Err(TrySendError::Disconnected(_)) => {
            c.node_unavailable.fetch_add(1, Ordering::Relaxed);
            return ControlResponse::err("the daemon is shutting down");
        }
    }
    match rx.recv_timeout(shared.limits.reply_timeout) {
        Ok(resp) => resp,
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
            c.node_unavailable.fetch_add(1, Ordering::Relaxed);
            ControlResponse::err("the daemon stopped before answering")
        }
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
            c.node_timeouts.fetch_add(1, Ordering::Relaxed);
            ControlResponse::err(format!(
                "the daemon did not answer within {:?}",
                shared.limits.reply_timeout
            ))
        }
    }
}

impl ControlHandle {
    /// Path of the socket file, for logs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ControlStats {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ControlStats {
            requests: g(&c.requests),
            malformed: g(&c.malformed),
            oversized: g(&c.oversized),
            refused_busy: g(&c.refused_busy),
            node_unavailable: g(&c.node_unavailable),
            node_timeouts: g(&c.node_timeouts),
        }
    }

    /// Stops accepting, waits for the accept thread and removes the socket file.
    /// Connections in progress finish on their own (bounded by the timeouts).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        if UnixStream::connect(&self.path).is_ok() {
            if thread.join().is_err() {
                tracing::error!("control thread panicked");
            }
        } else {
            tracing::warn!("could not wake the control thread; leaving it detached");
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for ControlHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
